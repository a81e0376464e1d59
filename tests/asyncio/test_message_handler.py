"""For frameworks on top: set_message_handler(), on_close() and send_nowait()."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

import switchboard
from switchboard import WebSocket

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def test_messages_go_to_the_handler_in_order_fragmented_ones_whole() -> None:
    received: list[object] = []
    ready = asyncio.Event()

    async def handler(ws: WebSocket) -> None:
        await asyncio.sleep(0.05)  # some messages are queued before the handler is set
        ws.set_message_handler(received.append)
        closed = asyncio.Event()
        ws.on_close(closed.set)
        ready.set()
        await closed.wait()

    async with switchboard.serve(handler, "127.0.0.1", 0) as server:
        async with switchboard.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("early")
            await ws.send(b"bytes")
            await ready.wait()
            await ws.send(["frag", "mented"])
            await ws.send("late")
            for _ in range(500):  # bounded: 5 s at most
                if len(received) == 4:
                    break
                await asyncio.sleep(0.01)
    assert received == ["early", b"bytes", "fragmented", "late"]


async def test_a_failing_handler_fails_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    def explode(message: object) -> None:
        raise ValueError("boom")

    async def handler(ws: WebSocket) -> None:
        ws.set_message_handler(explode)
        await ws.wait_closed()

    async with switchboard.serve(handler, "127.0.0.1", 0) as server:
        ws = await switchboard.connect(f"ws://127.0.0.1:{server.port}/")
        with caplog.at_level(logging.ERROR, "switchboard"):
            await ws.send("hi")
            await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (1011, "internal error")
    assert any("message handler failed" in r.getMessage() for r in caplog.records)


async def test_send_nowait_closes_a_slow_consumer() -> None:
    results: list[bool] = []
    done = asyncio.Event()

    async def handler(ws: WebSocket) -> None:
        ws.write_budget = 128 * 1024
        for _ in range(100):
            results.append(ws.send_nowait(b"x" * 65536))
            await asyncio.sleep(0)
        done.set()
        await ws.wait_closed()

    async with switchboard.serve(handler, "127.0.0.1", 0, compression=None) as server:
        slow = socket.create_connection(("127.0.0.1", server.port))  # never reads
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(UPGRADE)
        await asyncio.wait_for(done.wait(), 10)
        slow.close()
    assert results[0] is True
    assert results[-1] is False  # closed as a slow consumer, and nothing sent after
    assert results.count(True) < 100

"""What a lost connection does to the calls waiting on it, and what the server
logs per connection: real loopback sockets, a raw peer where it must misbehave."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import pytest

import switchboard
from switchboard import ConnectionClosedError, WebSocket
from switchboard.protocol.handshake import accept_key


class SilentPeer:
    """A raw server that completes the handshake, then reads nothing and answers
    nothing; ``drop()`` cuts TCP without a close frame."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.upgraded = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = re.search(rb"Sec-WebSocket-Key: *(\S+)", head, re.IGNORECASE)
        assert key is not None
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: %s\r\n\r\n" % accept_key(key[1].decode()).encode()
        )
        self.writers.append(writer)
        self.upgraded.set()

    def drop(self) -> None:
        for writer in self.writers:
            writer.transport.abort()


@pytest.fixture
async def silent() -> AsyncIterator[tuple[SilentPeer, str]]:
    peer = SilentPeer()
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield peer, f"ws://127.0.0.1:{port}/"
        peer.drop()


async def test_a_pending_ping_fails_when_the_peer_vanishes(silent: tuple[SilentPeer, str]) -> None:
    peer, url = silent
    ws = await switchboard.connect(url, ping_interval=None, compression=None)
    ping = asyncio.ensure_future(ws.ping())
    await asyncio.sleep(0.05)
    assert not ping.done()  # no pong from a silent peer
    peer.drop()
    with pytest.raises(ConnectionClosedError) as info:
        await asyncio.wait_for(ping, 5)
    assert info.value.code == 1006
    assert str(info.value) == "connection dropped without a closing handshake (1006)"


async def test_a_blocked_send_fails_when_the_peer_vanishes(silent: tuple[SilentPeer, str]) -> None:
    peer, url = silent
    ws = await switchboard.connect(url, ping_interval=None, compression=None, write_limit=1024)
    chunk = b"x" * 256 * 1024
    for _ in range(1000):  # bounded: kernel buffers take a few MiB at most
        send = asyncio.ensure_future(ws.send(chunk))
        done, _ = await asyncio.wait([send], timeout=0.2)
        if not done:
            break
    else:
        pytest.fail("send() never waited for a peer that does not read")
    peer.drop()
    with pytest.raises(ConnectionClosedError) as info:
        await asyncio.wait_for(send, 5)
    assert info.value.code == 1006


async def test_the_server_logs_each_connection_at_info(caplog: pytest.LogCaptureFixture) -> None:
    async def drain(ws: WebSocket) -> None:
        async for _ in ws:
            pass

    caplog.set_level(logging.INFO, logger="switchboard.server")
    async with switchboard.serve(drain, "127.0.0.1", 0) as srv:
        ws = await switchboard.connect(f"ws://127.0.0.1:{srv.port}/room?x=1")
        peer = ws.local_address
        await ws.close(4000, "bye")  # the server logs the code and reason it received
        for _ in range(100):  # bounded: the handler's bookkeeping follows the close
            if not srv.connections:
                break
            await asyncio.sleep(0.01)
    lines = [r.getMessage() for r in caplog.records if r.name == "switchboard.server"]
    assert f"connection open: {peer} /room?x=1" in lines
    closed = [line for line in lines if line.startswith("connection closed:")]
    assert len(closed) == 1
    assert re.fullmatch(
        rf"connection closed: {re.escape(str(peer))} /room\?x=1 code=4000 reason='bye' "
        r"duration=\d+\.\d{3}s",
        closed[0],
    )


async def test_the_server_logs_nothing_per_connection_by_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="switchboard.server")
    async with switchboard.serve(lambda ws: ws.close(), "127.0.0.1", 0) as srv:
        async with switchboard.connect(f"ws://127.0.0.1:{srv.port}/") as ws:
            await ws.wait_closed()
    assert not [r for r in caplog.records if r.name == "switchboard.server"]

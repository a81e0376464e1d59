"""A real FastAPI app's own WebSocket routes served by Switchboard
(``serve(router, asgi=app)``), next to native WebSocket routes on the same port;
Switchboard's client and the ``websockets`` library as clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import connect as websockets_connect

import switchboard

DISCONNECTS: asyncio.Queue[tuple[int, str]]


def make_api() -> FastAPI:
    api = FastAPI()

    @api.websocket("/ws/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept(headers=[(b"x-from", b"fastapi")])
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                await DISCONNECTS.put((message["code"], message.get("reason") or ""))
                return
            if message.get("text") is not None:
                await ws.send_text(message["text"])
            else:
                await ws.send_bytes(message["bytes"])

    @api.websocket("/ws/chat")
    async def chat(ws: WebSocket) -> None:
        chosen = "chat.v2" if "chat.v2" in ws.scope["subprotocols"] else None
        await ws.accept(subprotocol=chosen)
        await ws.send_json({"subprotocol": chosen, "path": ws.url.path, "query": ws.url.query})
        await ws.close(4001, "bye from the app")

    @api.websocket("/ws/private")
    async def private(ws: WebSocket) -> None:
        await ws.close(1008)  # before accepting: a refusal

    @api.websocket("/ws/boom")
    async def boom(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()
        raise RuntimeError("the secret password is hunter2")

    @api.websocket("/ws/boom-early")
    async def boom_early(ws: WebSocket) -> None:
        raise RuntimeError("before accepting")

    return api


def native_router() -> switchboard.Router:
    router = switchboard.Router()

    @router.websocket("/native")
    async def native(ws: switchboard.WebSocket) -> None:
        async for message in ws:
            assert isinstance(message, str)
            await ws.send(f"native: {message}")

    return router


@contextlib.asynccontextmanager
async def serving(**options: Any) -> AsyncIterator[switchboard.Server]:
    global DISCONNECTS
    DISCONNECTS = asyncio.Queue()
    async with switchboard.serve(
        native_router(), "127.0.0.1", 0, asgi=make_api(), **options
    ) as server:
        yield server


async def test_echo_through_the_apps_route_next_to_a_native_one() -> None:
    async with serving() as server:
        base = f"ws://127.0.0.1:{server.port}"
        async with switchboard.connect(f"{base}/ws/echo") as ws:
            assert ws.response is not None
            assert ws.response.headers["x-from"] == "fastapi"
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(b"\x00\x01" * 100_000)  # 200 kB, binary
            assert await ws.recv() == b"\x00\x01" * 100_000
            assert await ws.ping() >= 0  # answered by the WebSocket, not the app
            assert len(server.connections) == 1  # the server's: shutdown and /metrics
        assert await asyncio.wait_for(DISCONNECTS.get(), 5) == (1000, "")
        async with switchboard.connect(f"{base}/native") as ws:  # the router's comes first
            await ws.send("hi")
            assert await ws.recv() == "native: hi"


async def test_the_websockets_library_with_compression() -> None:
    async with serving() as server:
        async with websockets_connect(f"ws://127.0.0.1:{server.port}/ws/echo") as ws:
            assert ws.response is not None
            assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
            await ws.send("a" * 50_000)
            assert await ws.recv() == "a" * 50_000
            await ws.close(4321, "done here")
        assert await asyncio.wait_for(DISCONNECTS.get(), 5) == (4321, "done here")


async def test_subprotocol_and_close_code_from_the_app() -> None:
    async with serving() as server:
        uri = f"ws://127.0.0.1:{server.port}/ws/chat?room=1"
        async with switchboard.connect(uri, subprotocols=["chat.v1", "chat.v2"]) as ws:
            assert ws.subprotocol == "chat.v2"
            assert await ws.recv() == '{"subprotocol":"chat.v2","path":"/ws/chat","query":"room=1"}'
            with pytest.raises(switchboard.ConnectionClosed) as closed:
                await ws.recv()
            assert (closed.value.code, closed.value.reason) == (4001, "bye from the app")
        async with websockets_connect(uri) as other:  # offered none: none chosen
            assert other.subprotocol is None
            assert '"subprotocol":null' in str(await other.recv())


async def test_closing_before_accepting_is_a_403() -> None:
    async with serving() as server:
        with pytest.raises(switchboard.InvalidHandshake) as refused:
            await switchboard.connect(f"ws://127.0.0.1:{server.port}/ws/private")
        assert refused.value.status == 403
        with pytest.raises(websockets.InvalidStatus) as rejected:
            await websockets_connect(f"ws://127.0.0.1:{server.port}/ws/nowhere")
        assert rejected.value.response.status_code == 403  # FastAPI: no such route


async def test_the_app_raising_closes_with_1011(caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    async with serving() as server:
        async with switchboard.connect(f"ws://127.0.0.1:{server.port}/ws/boom") as ws:
            await ws.send("go")
            with pytest.raises(switchboard.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.code == 1011
            assert "hunter2" not in closed.value.reason
        with pytest.raises(switchboard.InvalidHandshake) as refused:
            await switchboard.connect(f"ws://127.0.0.1:{server.port}/ws/boom-early")
        assert refused.value.status == 500
        assert b"hunter2" not in refused.value.body
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert len(failures) == 2  # each logged once, with its traceback


async def test_client_disconnect_reaches_the_app() -> None:
    async with serving() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101 ")
        writer.transport.abort()  # gone without a close frame
        assert await asyncio.wait_for(DISCONNECTS.get(), 5) == (1006, "")


async def test_shutdown_closes_the_apps_websockets_with_1001() -> None:
    async with serving() as server:
        async with switchboard.connect(f"ws://127.0.0.1:{server.port}/ws/echo") as ws:
            server.close()
            with pytest.raises(switchboard.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.code == 1001
            await server.wait_closed()
    assert DISCONNECTS.get_nowait()[0] == 1001


async def test_the_servers_limits_hold_for_the_apps_websockets() -> None:
    limits = switchboard.Limits(max_message_size=1000)
    async with serving(limits=limits) as server:
        async with switchboard.connect(f"ws://127.0.0.1:{server.port}/ws/echo") as ws:
            await ws.send("x" * 1001)
            with pytest.raises(switchboard.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.code == 1009  # message too big, from the WebSocket
        assert (await asyncio.wait_for(DISCONNECTS.get(), 5))[0] == 1009

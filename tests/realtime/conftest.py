"""A hub on a real server on 127.0.0.1, and real clients (the Python client, or raw
WebSockets speaking switchboard.v1 for what a well-behaved client never sends)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import switchboard
from switchboard.realtime import SUBPROTOCOL, Hub, HubClient, connect, wire


class Served:
    """A running hub: ``url``, ``client(...)`` for Python clients, ``raw()`` for raw sockets."""

    def __init__(self, hub: Hub, server: switchboard.Server) -> None:
        self.hub = hub
        self.server = server
        self.url = f"ws://127.0.0.1:{server.port}/rt"
        self._clients: list[HubClient] = []
        self._raw: list[switchboard.WebSocket] = []

    async def client(self, **options: Any) -> HubClient:
        options.setdefault("backoff", (0.05, 0.2))
        client = await connect(self.url, **options)
        self._clients.append(client)
        return client

    async def raw(self, hello: dict[str, Any] | None = None) -> switchboard.WebSocket:
        """A raw WebSocket; sends ``hello`` (default: a plain one) and reads the welcome."""
        ws = await switchboard.connect(self.url, subprotocols=[SUBPROTOCOL])
        self._raw.append(ws)
        if hello is not False:
            await ws.send(json.dumps(hello or {"t": "hello", "v": 1}))
            welcome = await recv_json(ws)
            assert welcome["t"] == "welcome", welcome
        return ws

    async def close(self) -> None:
        for client in self._clients:
            await client.close()
        for ws in self._raw:
            await ws.close()


async def recv_json(ws: switchboard.WebSocket, timeout: float = 5.0) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(message, str)
    value = json.loads(message)
    assert isinstance(value, dict)
    return value


async def recv_until(ws: switchboard.WebSocket, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """Read messages until one of type ``kind`` (answering pings on the way)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        message = await recv_json(ws, max(left, 0.001))
        if message["t"] == kind:
            return message
        if message["t"] == "ping":
            await ws.send('{"t":"pong"}')


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check()`` is true (polling: for conditions without an event)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve_hub() -> AsyncIterator[Serve]:
    """``await serve_hub(hub)``: the hub mounted at /rt on a fresh server."""
    started: list[tuple[Served, Any]] = []

    async def start(hub: Hub, **options: Any) -> Served:
        router = switchboard.Router()
        router.mount("/rt", hub)
        context = switchboard.serve(router, "127.0.0.1", 0, **options)
        server = await context.__aenter__()
        served = Served(hub, server)
        started.append((served, context))
        return served

    yield start
    for served, context in reversed(started):
        await served.close()
        await context.__aexit__(None, None, None)
        await served.hub.close()


@pytest.fixture(params=["json", "orjson"])
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with each JSON library the wire can use: the json module, and
    orjson (the ``orjson`` extra, which ./dev installs)."""
    if request.param == "json":
        monkeypatch.setattr(wire, "dumps", wire._json_dumps)
        monkeypatch.setattr(wire, "loads", wire._json_loads)
    else:
        orjson = pytest.importorskip("orjson")
        monkeypatch.setattr(wire, "dumps", wire._orjson_dumps)
        monkeypatch.setattr(wire, "loads", orjson.loads)
    return str(request.param)

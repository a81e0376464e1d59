"""A Router as an ASGI app under real uvicorn: HTTP routes, WebSocket handlers with
the same WebSocket API as on serve(), lifespan hooks, root_path under a mount."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest
from fastapi import FastAPI

import switchboard
from switchboard import Request, WebSocket

from .conftest import fetch, uvicorn_serving


def echo_router() -> switchboard.Router:
    router = switchboard.Router()

    @router.get("/api/rooms/{room}")
    def room(request: Request) -> dict[str, object]:
        return {"room": request.path_params["room"], "q": request.query_params}

    @router.post("/api/echo")
    async def echo_body(request: Request) -> bytes:
        return request.body

    @router.websocket("/ws/{name}")
    async def echo(ws: WebSocket) -> None:
        assert ws.request is not None
        await ws.send(f"hello {ws.request.path_params['name']}")
        async for message in ws:
            if message == "close please":
                await ws.close(4001, "as you wish")
                return
            await ws.send(message)

    @router.websocket("/ws-fail")
    async def fail(ws: WebSocket) -> None:
        raise RuntimeError("a bug")

    return router


async def test_http_routes_answer_under_uvicorn() -> None:
    async with uvicorn_serving(echo_router().asgi()) as port:
        response = await fetch(port, "GET", "/api/rooms/lobby%20one?x=1")
        assert response.status == 200
        assert response.body == b'{"room":"lobby one","q":{"x":["1"]}}'
        posted = await fetch(port, "POST", "/api/echo", b"x" * 100_000)
        assert posted.body == b"x" * 100_000
        assert (await fetch(port, "GET", "/nowhere")).status == 404
        assert (await fetch(port, "DELETE", "/api/echo")).status == 405
        head = await fetch(port, "HEAD", "/api/rooms/a")
        assert head.status == 200 and head.body == b""
        assert head.headers["Content-Length"] == str(len(b'{"room":"a","q":{}}'))


async def test_a_body_over_the_limit_is_refused_with_413() -> None:
    app = echo_router().asgi(limits=switchboard.Limits(max_body_size=1000))
    async with uvicorn_serving(app) as port:
        assert (await fetch(port, "POST", "/api/echo", b"x" * 1000)).status == 200
        refused = await fetch(port, "POST", "/api/echo", b"x" * 5000)
        assert (refused.status, refused.body) == (413, b"request body too large\n")


async def test_websocket_messages_fragments_and_close_codes() -> None:
    async with uvicorn_serving(echo_router().asgi(), ws_max_size=4 << 20) as port:
        async with switchboard.connect(f"ws://127.0.0.1:{port}/ws/ada") as ws:
            assert await ws.recv() == "hello ada"
            await ws.send(b"\x00\x01")
            assert await ws.recv() == b"\x00\x01"
            big = "é" * 300_000  # 600 KB: several frames on the way, one message
            await ws.send(big)
            assert await ws.recv() == big
            await ws.send("close please")
            await ws.wait_closed()
            assert (ws.close_code, ws.close_reason) == (4001, "as you wish")


async def test_a_failing_handler_closes_with_1011() -> None:
    async with uvicorn_serving(echo_router().asgi()) as port:
        ws = await switchboard.connect(f"ws://127.0.0.1:{port}/ws-fail")
        await ws.wait_closed()
        assert (ws.close_code, ws.close_reason) == (1011, "internal error")


async def test_an_unrouted_websocket_is_refused() -> None:
    async with uvicorn_serving(echo_router().asgi()) as port:
        with pytest.raises(switchboard.InvalidHandshake) as refused:
            await switchboard.connect(f"ws://127.0.0.1:{port}/nowhere")
        assert refused.value.status == 403


async def test_pings_are_answered_by_the_transport() -> None:
    router = echo_router()

    @router.websocket("/ws-ping")
    async def ping(ws: WebSocket) -> None:
        rtt = await asyncio.wait_for(ws.ping(), 5)
        await ws.send(f"pong after {rtt >= 0}")
        await asyncio.sleep(0.3)  # 15 keepalive intervals: each ping needs its pong
        await ws.send(f"still {ws.state.name}")

    app = router.asgi(ping_interval=0.02, ping_timeout=0.05)
    async with uvicorn_serving(app) as port:
        async with switchboard.connect(f"ws://127.0.0.1:{port}/ws-ping") as ws:
            assert await ws.recv() == "pong after True"
            assert await ws.recv() == "still OPEN"


async def test_a_client_that_reads_nothing_is_closed_as_a_slow_consumer() -> None:
    router = echo_router()
    causes: list[str | None] = []

    @router.websocket("/ws-flood")
    async def flood(ws: WebSocket) -> None:
        members = switchboard.Group([ws])
        for _ in range(2000):  # 128 MB at most: far beyond every buffer on the way
            if ws.state.name != "OPEN":
                break
            switchboard.broadcast(members, b"x" * 65536)
            await asyncio.sleep(0)
        await ws.wait_closed()
        causes.append(ws.close_cause)

    app = router.asgi(write_budget=1 << 20, close_timeout=0.2)
    async with uvicorn_serving(app) as port:
        # A raw TCP client: the handshake, then it reads nothing at all.
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /ws-flood HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        for _ in range(1000):  # bounded: 10 s
            if causes:
                break
            await asyncio.sleep(0.01)
        assert causes == ["slow consumer"]  # while the client is still there, unread
        writer.close()


async def test_lifespan_runs_the_routers_hooks() -> None:
    router = echo_router()
    events: list[str] = []

    async def started() -> None:
        events.append("startup")

    async def stopped() -> None:
        events.append("shutdown")

    router.add_startup(started)
    router.add_shutdown(stopped)
    async with uvicorn_serving(router.asgi()):
        assert events == ["startup"]
    assert events == ["startup", "shutdown"]


async def test_a_failing_startup_hook_reports_startup_failed() -> None:
    # Driven by hand: uvicorn in-process would exit the test's event loop (SystemExit).
    router = switchboard.Router()

    async def broken() -> None:
        raise OSError("the database is down")

    router.add_startup(broken)
    inbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
    replies: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    await asyncio.wait_for(router.asgi()(scope, inbox.get, replies.put), 5)
    assert await replies.get() == {
        "type": "lifespan.startup.failed",
        "message": "the database is down",
    }


async def test_mounted_in_fastapi_the_router_sees_paths_below_the_mount() -> None:
    api = FastAPI()
    api.mount("/sb", echo_router().asgi())
    async with uvicorn_serving(api) as port:
        response = await fetch(port, "GET", "/sb/api/rooms/kitchen")
        assert response.body == b'{"room":"kitchen","q":{}}'
        async with switchboard.connect(f"ws://127.0.0.1:{port}/sb/ws/bob") as ws:
            assert await ws.recv() == "hello bob"

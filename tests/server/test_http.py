"""The HTTP/1.1 side of the server: bad input, limits, keep-alive, timeouts, capacity."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from server_helpers import UPGRADE, Raw, fetch, until

import switchboard
from switchboard import Limits, Request, Router, WebSocket


async def echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


def make_router() -> Router:
    router = Router()
    release = asyncio.Event()

    @router.get("/hello")
    def hello(request: Request) -> str:
        return "hello"

    @router.post("/size")
    def size(request: Request) -> dict[str, int]:
        return {"size": len(request.body)}

    @router.get("/wait")
    async def wait(request: Request) -> str:
        await release.wait()
        return "released"

    @router.get("/release")
    def do_release(request: Request) -> str:
        release.set()
        return "ok"

    router.websocket("/ws")(echo)
    return router


@pytest.fixture
async def server() -> AsyncIterator[switchboard.Server]:
    limits = Limits(max_body_size=1000, max_header_size=4096, max_line_length=1024)
    async with switchboard.serve(make_router(), "127.0.0.1", 0, limits=limits) as srv:
        yield srv


async def bad(port: int, data: bytes) -> tuple[int, str, bool]:
    """Send ``data``; return the status, the body and whether the server then closed."""
    raw = await Raw.open(port)
    raw.send(data)
    reply = await raw.reply()
    closed = await raw.at_eof()
    await raw.close()
    return reply.status, reply.text(), closed


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"GARBAGE\r\n\r\n", 400, "invalid request line b'GARBAGE'"),
        (b"GET / HTTP/1.1\nHost: x\n\n", 400, "line ends with a bare LF instead of CRLF"),
        (b"GET / HTTP/1.1\r\n\r\n", 400, "missing Host header"),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
            400,
            "obsolete line folding: b' folded'",
        ),
        (
            b"POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            400,
            "both Transfer-Encoding and Content-Length",
        ),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0 is not supported"),
        (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n", 414, "request line too long"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 2000 + b"\r\n", 431, "header line too long"),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" * 200,
            431,
            "header section too long",
        ),
        (
            b"POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
            413,
            "body too large: Content-Length 1001",
        ),
        (
            b"POST /size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3e8\r\n" + b"a" * 1000 + b"\r\n1\r\n",
            413,
            "body too large",
        ),
        (
            b"POST /size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
            "unsupported transfer coding 'gzip'",
        ),
    ],
)
async def test_bad_requests_get_their_status_and_close(
    server: switchboard.Server, data: bytes, status: int, reason: str
) -> None:
    assert await bad(server.port, data) == (status, reason + "\n", True)


async def test_bodies_up_to_the_limit_are_accepted(server: switchboard.Server) -> None:
    reply = await fetch(server.port, "POST", "/size", body=b"x" * 1000)
    assert json.loads(reply.body) == {"size": 1000}
    raw = await Raw.open(server.port)
    raw.send(
        b"POST /size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    assert json.loads((await raw.reply()).body) == {"size": 11}
    await raw.close()


async def test_keep_alive_serves_many_requests_on_one_connection(
    server: switchboard.Server,
) -> None:
    raw = await Raw.open(server.port)
    for i in range(5):
        reply = await raw.request("POST", "/size", body=b"x" * i)
        assert json.loads(reply.body) == {"size": i}
        assert "connection" not in reply.headers
    reply = await raw.request("GET", "/hello", "Connection: close")
    assert (reply.body, reply.headers["connection"]) == (b"hello", "close")
    assert await raw.at_eof()
    await raw.close()


async def test_http_10_keep_alive_only_when_asked(server: switchboard.Server) -> None:
    raw = await Raw.open(server.port)
    raw.send(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    reply = await raw.reply()
    assert (reply.body, reply.headers["connection"]) == (b"hello", "keep-alive")
    raw.send(b"GET /hello HTTP/1.0\r\n\r\n")
    reply = await raw.reply()
    assert (reply.body, reply.headers["connection"]) == (b"hello", "close")
    assert await raw.at_eof()
    await raw.close()


async def test_half_closed_client_still_gets_its_answer(server: switchboard.Server) -> None:
    raw = await Raw.open(server.port)
    raw.send(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
    raw.writer.write_eof()
    await asyncio.sleep(0.05)  # let the server see the EOF while the handler waits
    assert (await fetch(server.port, "GET", "/release")).body == b"ok"
    assert (await raw.reply()).body == b"released"
    assert await raw.at_eof()
    await raw.close()


async def test_request_that_never_completes_is_dropped_after_open_timeout() -> None:
    async with switchboard.serve(echo, "127.0.0.1", 0, open_timeout=0.2) as srv:
        silent = await Raw.open(srv.port)  # sends nothing at all
        partial = await Raw.open(srv.port)
        partial.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never ends its headers
        upgrade = await Raw.open(srv.port)
        upgrade.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + "\r\n".join(UPGRADE).encode())
        for raw in (silent, partial, upgrade):
            assert await raw.at_eof()
            await raw.close()


async def test_idle_keep_alive_connection_is_closed_after_open_timeout() -> None:
    router = Router()
    router.get("/")(lambda request: "ok")
    async with switchboard.serve(router, "127.0.0.1", 0, open_timeout=0.2) as srv:
        raw = await Raw.open(srv.port)
        assert (await raw.request("GET", "/")).body == b"ok"
        assert await raw.at_eof()
        await raw.close()


async def test_slow_handshake_hook_is_bounded_by_open_timeout() -> None:
    async def never(request: Request) -> None:
        await asyncio.sleep(60)

    async with switchboard.serve(
        echo, "127.0.0.1", 0, open_timeout=0.2, process_request=never
    ) as srv:
        with pytest.raises((ConnectionError, switchboard.InvalidHandshake)):
            await switchboard.connect(f"ws://127.0.0.1:{srv.port}/")
        await until(lambda: not srv._tasks)  # the hook was cancelled: nobody is waiting
        assert srv.metrics.handshakes == {"accepted": 0, "rejected": 0, "failed": 1}


async def test_max_connections_answers_503_for_http_and_websocket() -> None:
    async with switchboard.serve(make_router(), "127.0.0.1", 0, max_connections=2) as srv:
        url = f"ws://127.0.0.1:{srv.port}/ws"
        first = await switchboard.connect(url)
        idle = await Raw.open(srv.port)  # an HTTP connection counts too
        reply = await fetch(srv.port, "GET", "/hello")
        assert (reply.status, reply.text()) == (503, "server at capacity\n")
        assert reply.headers["connection"] == "close"
        with pytest.raises(switchboard.InvalidHandshake) as info:
            await switchboard.connect(url)
        assert (info.value.status, info.value.body) == (503, b"server at capacity\n")
        await idle.close()
        await first.close()
        await until(lambda: not srv.connections and not srv._http)
        async with switchboard.connect(url) as ws:
            await ws.send("in again")
            assert await ws.recv() == "in again"
        assert srv.metrics.handshakes == {"accepted": 2, "rejected": 1, "failed": 0}
        assert srv.metrics.http_requests[503] == 2


async def test_health_endpoint_counts_websockets(server: switchboard.Server) -> None:
    async with switchboard.connect(f"ws://127.0.0.1:{server.port}/ws"):
        reply = await fetch(server.port, "GET", "/healthz")
        assert json.loads(reply.body) == {"status": "ok", "connections": 1}
        assert reply.headers["cache-control"] == "no-store"
    reply = await fetch(server.port, "POST", "/healthz")
    assert (reply.status, reply.headers["allow"]) == (405, "GET, HEAD")


async def test_health_and_metrics_can_be_disabled() -> None:
    async with switchboard.serve(
        make_router(), "127.0.0.1", 0, health_path=None, metrics_path=None
    ) as srv:
        assert (await fetch(srv.port, "GET", "/healthz")).status == 404
        assert (await fetch(srv.port, "GET", "/metrics")).status == 404
    async with switchboard.serve(echo, "127.0.0.1", 0, health_path="/up") as srv:
        assert (await fetch(srv.port, "GET", "/up")).status == 200
        assert (await fetch(srv.port, "GET", "/healthz")).status == 426


async def test_plain_handler_serves_websocket_on_every_path() -> None:
    async with switchboard.serve(echo, "127.0.0.1", 0) as srv:
        for path in ("/", "/any/deep/path?x=1"):
            async with switchboard.connect(f"ws://127.0.0.1:{srv.port}{path}") as ws:
                await ws.send(path)
                assert await ws.recv() == path
        reply = await fetch(srv.port, "GET", "/page")
        assert (reply.status, reply.headers["upgrade"]) == (426, "websocket")
        assert (await fetch(srv.port, "POST", "/page")).status == 405
        assert (await fetch(srv.port, "GET", "/healthz")).status == 200


async def test_the_websocket_keeps_its_handshake_compact_and_readable() -> None:
    seen: list[tuple[object, ...]] = []

    async def handler(ws: WebSocket) -> None:
        assert ws.request is not None and ws.response is not None
        headers = ws.request.headers
        seen.append(
            (
                headers._index,
                ws.response.headers._index,
                headers["user-agent"],
                ws.request.cookies,
                ws.response.headers.get_all("Sec-WebSocket-Accept") != [],
            )
        )
        await ws.send("ok")

    async with switchboard.serve(handler, "127.0.0.1", 0) as server:
        headers = {"User-Agent": "test/1", "Cookie": "sid=abc"}
        async with switchboard.connect(f"ws://127.0.0.1:{server.port}/", headers=headers) as ws:
            assert await ws.recv() == "ok"
    assert seen == [(None, None, "switchboard/0.1, test/1", {"sid": "abc"}, True)]

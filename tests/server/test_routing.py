"""Routes over real sockets: methods, path parameters, JSON, return values, errors."""

from __future__ import annotations

import asyncio
import html
import http.client
import json
import logging
from collections.abc import AsyncIterator

import pytest
from server_helpers import Raw, fetch

import switchboard
from switchboard import HTTPError, Request, Response, Router, WebSocket
from switchboard.server.responses import to_response


def make_router() -> Router:
    router = Router()

    @router.get("/api/items")
    async def items(request: Request) -> list[int]:
        return [1, 2, 3]

    @router.get("/api/items/{item}")
    def item(request: Request) -> dict[str, str]:  # a sync handler
        return {"item": request.path_params["item"]}

    @router.post("/api/items")
    async def create(request: Request) -> Response:
        data = request.json()
        return switchboard.server.json_response({"created": data}, 201)

    @router.route("/api/echo", methods=["PUT", "PATCH"])
    def echo(request: Request) -> bytes:
        return request.body

    @router.delete("/api/items/{item}")
    def delete(request: Request) -> None:
        return None

    @router.get("/files/{rest:path}")
    def files(request: Request) -> str:
        return request.path_params["rest"]

    @router.get("/text")
    def text(request: Request) -> str:
        return "héllo"

    @router.get("/private")
    def private(request: Request) -> str:
        if request.cookies.get("session") != "s3cret":
            raise HTTPError(401, "log in first", headers=[("WWW-Authenticate", "Cookie")])
        return "welcome"

    @router.get("/boom")
    async def boom(request: Request) -> str:
        raise RuntimeError("secret detail")

    @router.get("/bad-return")
    def bad_return(request: Request) -> object:
        return 42

    @router.get("/bad-header")
    def bad_header(request: Request) -> Response:
        return Response(200, headers=switchboard.Headers({"X-Evil": "a\r\nSet-Cookie: x=1"}))

    @router.get("/slow")
    async def slow(request: Request) -> str:
        await asyncio.sleep(0.05)
        return "slow"

    @router.websocket("/ws/{room}")
    async def room(ws: WebSocket) -> None:
        assert ws.request is not None
        await ws.send(ws.request.path_params["room"])

    return router


@pytest.fixture
async def server() -> AsyncIterator[switchboard.Server]:
    async with switchboard.serve(make_router(), "127.0.0.1", 0) as srv:
        yield srv


async def test_json_list_from_async_handler(server: switchboard.Server) -> None:
    reply = await fetch(server.port, "GET", "/api/items")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert json.loads(reply.body) == [1, 2, 3]
    assert reply.headers["date"].endswith(" GMT")


async def test_path_parameters_are_decoded_once(server: switchboard.Server) -> None:
    reply = await fetch(server.port, "GET", "/api/items/caf%C3%A9")
    assert json.loads(reply.body) == {"item": "café"}
    # An encoded slash stays inside its segment, decoded in the value.
    reply = await fetch(server.port, "GET", "/api/items/a%2Fb")
    assert json.loads(reply.body) == {"item": "a/b"}
    reply = await fetch(server.port, "GET", "/api/items/%2541")
    assert json.loads(reply.body) == {"item": "%41"}
    # {item} matches one segment only.
    assert (await fetch(server.port, "GET", "/api/items/a/b")).status == 404
    reply = await fetch(server.port, "GET", "/files/a/b/c.txt")
    assert reply.body == b"a/b/c.txt"


async def test_json_body_in_and_out(server: switchboard.Server) -> None:
    body = json.dumps({"name": "ünïcode", "n": [1, 2]}).encode()
    reply = await fetch(server.port, "POST", "/api/items", body=body)
    assert reply.status == 201
    assert json.loads(reply.body) == {"created": {"name": "ünïcode", "n": [1, 2]}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "invalid JSON body: Expecting property name enclosed in double quotes"),
        (b"", "invalid JSON body: Expecting value: line 1 column 1 (char 0)"),
        (b'"\x80"', "invalid JSON body: 'utf-8' codec can't decode byte 0x80"),
        (b"[" * 100_000, "invalid JSON body: nested too deeply"),
    ],
)
async def test_invalid_json_is_400(server: switchboard.Server, body: bytes, message: str) -> None:
    reply = await fetch(server.port, "POST", "/api/items", body=body)
    assert reply.status == 400
    assert reply.text().startswith(message)
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"


async def test_return_value_conversions(server: switchboard.Server) -> None:
    reply = await fetch(server.port, "GET", "/text")
    assert (reply.status, reply.headers["content-type"]) == (200, "text/plain; charset=utf-8")
    assert reply.body == "héllo".encode()
    reply = await fetch(server.port, "PUT", "/api/echo", body=b"\x00\x01")
    assert reply.headers["content-type"] == "application/octet-stream"
    assert reply.body == b"\x00\x01"
    reply = await fetch(server.port, "PATCH", "/api/echo", body=b"p")
    assert reply.body == b"p"
    reply = await fetch(server.port, "DELETE", "/api/items/7")
    assert (reply.status, reply.body) == (204, b"")
    assert "content-length" not in reply.headers


async def test_html_response_from_a_route() -> None:
    router = Router()

    @router.get("/page/{name}")
    def page(request: Request) -> Response:
        name = html.escape(request.path_params["name"])
        return switchboard.html_response(f"<h1>{name}</h1>", 201, [("Cache-Control", "no-store")])

    async with switchboard.serve(router, "127.0.0.1", 0) as srv:
        reply = await fetch(srv.port, "GET", "/page/caf%C3%A9%3Cb%3E")
    assert reply.status == 201
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["cache-control"] == "no-store"
    assert reply.body == "<h1>café&lt;b&gt;</h1>".encode()


async def test_http_error_and_cookies(server: switchboard.Server) -> None:
    reply = await fetch(server.port, "GET", "/private", "Cookie: session=wrong")
    assert reply.status == 401
    assert reply.text() == "log in first\n"
    assert reply.headers["www-authenticate"] == "Cookie"
    reply = await fetch(server.port, "GET", "/private", 'Cookie: theme=dark; session="s3cret"')
    assert (reply.status, reply.body) == (200, b"welcome")


async def test_handler_exception_is_a_logged_generic_500(
    server: switchboard.Server, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "switchboard.http"):
        reply = await fetch(server.port, "GET", "/boom")
        assert reply.status == 500
        assert reply.text() == "500 Internal Server Error\n"  # nothing about the cause
        reply = await fetch(server.port, "GET", "/bad-return")
        assert reply.status == 500
    messages = [(r.getMessage(), str(r.exc_info[1])) for r in caplog.records if r.exc_info]
    assert messages == [
        ("handler failed: GET /boom", "secret detail"),
        ("handler failed: GET /bad-return", "a handler returned int, not a Response or a body"),
    ]


async def test_invalid_response_header_gives_500_and_close(server: switchboard.Server) -> None:
    raw = await Raw.open(server.port)
    reply = await raw.request("GET", "/bad-header")
    assert reply.status == 500
    assert reply.headers["connection"] == "close"
    assert "set-cookie" not in reply.headers
    assert await raw.at_eof()
    await raw.close()


async def test_404_405_and_426(server: switchboard.Server) -> None:
    reply = await fetch(server.port, "GET", "/nowhere")
    assert (reply.status, reply.text()) == (404, "404 Not Found\n")
    reply = await fetch(server.port, "POST", "/text")
    assert reply.status == 405
    assert reply.headers["allow"] == "GET, HEAD"
    reply = await fetch(server.port, "DELETE", "/api/items")
    assert reply.headers["allow"] == "GET, HEAD, POST"
    # A WebSocket-only path: a plain GET needs an upgrade, other methods are not allowed.
    reply = await fetch(server.port, "GET", "/ws/lobby")
    assert reply.status == 426
    assert reply.headers["upgrade"] == "websocket"
    assert reply.headers["sec-websocket-version"] == "13"
    assert reply.headers["connection"] == "Upgrade"
    reply = await fetch(server.port, "POST", "/ws/lobby")
    assert (reply.status, reply.headers["allow"]) == (405, "GET")


async def test_websocket_route_with_path_parameter(server: switchboard.Server) -> None:
    async with switchboard.connect(f"ws://127.0.0.1:{server.port}/ws/caf%C3%A9") as ws:
        assert await ws.recv() == "café"
    with pytest.raises(switchboard.InvalidHandshake) as info:
        await switchboard.connect(f"ws://127.0.0.1:{server.port}/api/items")
    assert info.value.status == 404
    assert info.value.body == b"no WebSocket endpoint at /api/items\n"


async def test_head_strips_the_body_and_keeps_its_length(server: switchboard.Server) -> None:
    raw = await Raw.open(server.port)
    # Pipelined: if HEAD leaked a body, the next response would not parse.
    raw.send(
        b"HEAD /api/items HTTP/1.1\r\nHost: x\r\n\r\n"
        b"HEAD /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /text HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    head = await raw.reply(head=True)
    assert (head.status, head.headers["content-length"], head.body) == (200, "7", b"")
    missing = await raw.reply(head=True)
    assert (missing.status, missing.headers["content-length"]) == (404, "14")
    assert (await raw.reply()).body == "héllo".encode()
    await raw.close()


async def test_keep_alive_with_http_client(server: switchboard.Server) -> None:
    """The standard library's client, in a thread: several requests, one connection."""

    def run() -> list[tuple[int, bytes]]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        results = []
        sockets = set()
        for method, path in [("GET", "/api/items"), ("HEAD", "/text"), ("GET", "/text")]:
            conn.request(method, path)
            response = conn.getresponse()
            results.append((response.status, response.read()))
            sockets.add(conn.sock)  # None if the server closed the connection
        conn.close()
        assert len(sockets) == 1 and None not in sockets  # one connection throughout
        return results

    results = await asyncio.to_thread(run)
    assert results == [(200, b"[1,2,3]"), (200, b""), (200, "héllo".encode())]


async def test_pipelined_requests_are_answered_in_order(server: switchboard.Server) -> None:
    raw = await Raw.open(server.port)
    raw.send(
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /text HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /api/items/2 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    bodies = [(await raw.reply()).body for _ in range(4)]
    assert bodies == [b"slow", "héllo".encode(), b'{"item":"2"}', b"slow"]
    assert await raw.at_eof()
    await raw.close()


async def test_access_log_line_per_request(
    server: switchboard.Server, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "switchboard.http"):
        await fetch(server.port, "GET", "/api/items?x=1")
        await fetch(server.port, "POST", "/text")
    lines = [r.getMessage() for r in caplog.records if r.name == "switchboard.http"]
    assert len(lines) == 2
    assert lines[0].startswith("127.0.0.1:")
    assert '"GET /api/items?x=1 HTTP/1.1" 200 7 ' in lines[0]
    assert '"POST /text HTTP/1.1" 405 25 ' in lines[1]


def test_mistakes_from_other_frameworks_are_explained() -> None:
    router = Router()
    with pytest.raises(TypeError, match=r"a route path must be a string.*@router\.get\('/path'\)"):
        router.get(lambda request: "no path")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a route path must be a string"):
        router.websocket(room_handler)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"tuple, .*: for another status, return json_response"):
        to_response(("created", 201))


def test_router_refuses_bad_routes() -> None:
    router = Router()
    router.get("/a")(lambda request: "a")
    with pytest.raises(ValueError, match="GET /a is already routed"):
        router.get("/a")(lambda request: "b")
    with pytest.raises(ValueError, match="must start with '/'"):
        router.get("a")
    with pytest.raises(ValueError, match=r"use \{name\} or \{name:path\}"):
        router.get("/x/{id:int}")
    with pytest.raises(ValueError, match="redefinition of group name"):
        router.get("/x/{a}/{a}")
    with pytest.raises(ValueError, match="invalid HTTP method"):
        router.route("/m", methods=["GE T"])
    router.websocket("/ws")(room_handler)
    with pytest.raises(ValueError, match="WebSocket /ws is already routed"):
        router.websocket("/ws")(room_handler)
    with pytest.raises(ValueError, match="is not a directory"):
        router.static("/static", "/nonexistent/directory")


async def room_handler(ws: WebSocket) -> None:
    pass


async def test_exact_paths_win_over_templates() -> None:
    router = Router()
    router.get("/users/{name}")(lambda request: "template")
    router.get("/users/me")(lambda request: "exact")
    async with switchboard.serve(router, "127.0.0.1", 0) as srv:
        assert (await fetch(srv.port, "GET", "/users/me")).body == b"exact"
        assert (await fetch(srv.port, "GET", "/users/ann")).body == b"template"

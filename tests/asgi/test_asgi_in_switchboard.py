"""Real FastAPI and Starlette apps served by Switchboard (``serve(router, asgi=app)``)
next to native routes and the hub on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi import Request as FastAPIRequest
from fastapi.responses import StreamingResponse
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import switchboard
from switchboard.realtime import Hub, connect
from switchboard.server.asgi_host import LifespanFailed

from .conftest import asgi_errors, fetch, http_client

EVENTS: list[str] = []
PRODUCED: list[int] = []  # pieces of /api/big made so far
BIG_PIECES = 800  # of 64 KiB: 50 MiB, more than the kernel's buffers hold


def make_api() -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        EVENTS.append("startup")
        yield {"greeting": "hello from lifespan"}
        EVENTS.append("shutdown")

    api = FastAPI(lifespan=lifespan)

    @api.get("/api/items/{n}")
    async def item(n: int, request: FastAPIRequest) -> dict[str, Any]:
        assert request.client is not None
        return {
            "n": n,
            "greeting": request.state.greeting,
            "client": request.client.host,
            "root_path": request.scope["root_path"],
            "url": str(request.url_for("item", n=n)),
        }

    @api.post("/api/upload")
    async def upload(request: FastAPIRequest) -> dict[str, int]:
        sizes = [len(chunk) async for chunk in request.stream()]
        return {"size": sum(sizes), "pieces": len([s for s in sizes if s])}

    @api.get("/api/stream")
    async def stream() -> StreamingResponse:
        async def lines() -> AsyncIterator[str]:
            for i in range(3):
                yield f"line {i}\n"
                await asyncio.sleep(0)

        return StreamingResponse(lines(), media_type="text/plain")

    @api.api_route("/api/both", methods=["GET", "HEAD"])
    async def both() -> dict[str, str]:
        return {"method": "either"}

    @api.get("/api/big")
    async def big() -> StreamingResponse:
        async def pieces() -> AsyncIterator[bytes]:
            for _ in range(BIG_PIECES):
                PRODUCED.append(1)
                yield b"x" * 65536

        return StreamingResponse(pieces(), media_type="application/octet-stream")

    @api.get("/api/boom")
    async def boom() -> None:
        raise RuntimeError("the secret password is hunter2")

    return api


def native_router() -> switchboard.Router:
    router = switchboard.Router()

    @router.get("/native")
    def native(request: switchboard.Request) -> dict[str, bool]:
        return {"native": True}

    return router


@contextlib.asynccontextmanager
async def serving(app: Any, router: switchboard.Router | None = None, **options: Any) -> Any:
    router = router or native_router()
    async with switchboard.serve(router, "127.0.0.1", 0, asgi=app, **options) as server:
        yield server


async def test_json_routes_with_lifespan_state_and_the_client_address() -> None:
    async with serving(make_api()) as server:
        response = await fetch(server.port, "GET", "/api/items/7")
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        assert json.loads(response.body) == {
            "n": 7,
            "greeting": "hello from lifespan",
            "client": "127.0.0.1",
            "root_path": "",
            "url": "http://127.0.0.1/api/items/7",
        }
        assert (await fetch(server.port, "GET", "/native")).body == b'{"native":true}'
        assert (await fetch(server.port, "GET", "/healthz")).status == 200
        missing = await fetch(server.port, "GET", "/nowhere")
        assert (missing.status, missing.body) == (404, b'{"detail":"Not Found"}')  # FastAPI's


async def test_lifespan_runs_around_the_server() -> None:
    EVENTS.clear()
    async with serving(make_api()):
        assert EVENTS == ["startup"]
    assert EVENTS == ["startup", "shutdown"]


async def test_a_failed_lifespan_startup_stops_serve() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise OSError("no database")
        yield

    with pytest.raises(LifespanFailed, match="no database"):
        async with serving(FastAPI(lifespan=lifespan)):
            pass


async def test_a_failing_startup_hook_shuts_the_apps_lifespan_down() -> None:
    EVENTS.clear()
    router = native_router()

    async def broken() -> None:
        raise OSError("the hub's broker is down")

    router.add_startup(broken)
    with pytest.raises(OSError, match="broker is down"):
        async with serving(make_api(), router):
            pass
    assert EVENTS == ["startup", "shutdown"]


async def test_the_apps_startup_runs_before_the_server_listens() -> None:
    with socket.socket() as probe:  # a free port, then free again
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused: list[bool] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            refused.append(False)
        except ConnectionRefusedError:
            refused.append(True)
        yield

    async with switchboard.serve(
        native_router(), "127.0.0.1", port, asgi=FastAPI(lifespan=lifespan)
    ):
        assert (await fetch(port, "GET", "/native")).status == 200
    assert refused == [True]


async def test_an_app_without_lifespan_support_is_served() -> None:
    async def bare(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError("http only")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"bare"})

    async with serving(bare) as server:
        assert (await fetch(server.port, "GET", "/x")).body == b"bare"


async def test_a_large_upload_reaches_the_app_in_pieces() -> None:
    async with serving(make_api(), limits=switchboard.Limits(max_body_size=4 << 20)) as server:
        response = await fetch(server.port, "POST", "/api/upload", b"x" * 1_000_000)
        got = json.loads(response.body)
        assert got["size"] == 1_000_000
        assert got["pieces"] >= 4  # as read from the socket: at most 256 KiB a read


async def test_a_streaming_response_is_chunked_and_keeps_the_connection() -> None:
    async with serving(make_api()) as server:
        async with http_client(server.port) as client:
            first = await client.request("GET", "/api/stream")
            assert first.headers["Transfer-Encoding"] == "chunked"
            assert first.body == b"line 0\nline 1\nline 2\n"
            second = await client.request("GET", "/api/items/1")  # same connection
            assert second.status == 200
            third = await client.request("GET", "/native")
            assert third.body == b'{"native":true}'


async def test_http_10_gets_a_content_length_and_a_close() -> None:
    async with serving(make_api()) as server:
        async with http_client(server.port) as client:
            response = await client.request("GET", "/api/stream", version="HTTP/1.0")
            assert response.headers["Content-Length"] == str(len(response.body))
            assert response.body == b"line 0\nline 1\nline 2\n"
            assert await client.closed_by_server()


async def test_head_gets_headers_without_a_body() -> None:
    async with serving(make_api()) as server:
        async with http_client(server.port) as client:
            head = await client.request("HEAD", "/api/both")
            assert head.status == 200 and head.body == b""
            assert head.headers["Content-Length"] == str(len(b'{"method":"either"}'))
            after = await client.request("GET", "/api/both")  # the stream is still in step
            assert after.body == b'{"method":"either"}'


async def test_a_client_that_does_not_read_pauses_a_streaming_app() -> None:
    PRODUCED.clear()
    async with serving(make_api()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /api/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await asyncio.sleep(0.5)  # we read nothing: the app must stop producing
        assert 0 < len(PRODUCED) < BIG_PIECES / 2
        received = len(await asyncio.wait_for(reader.read(), 30))
        writer.close()
        assert len(PRODUCED) == BIG_PIECES
        assert received > BIG_PIECES * 65536  # the body, its head and chunk sizes


async def test_an_app_error_is_a_500_that_reveals_nothing_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving(make_api()) as server:
        async with http_client(server.port) as client:
            response = await client.request("GET", "/api/boom")
            assert response.status == 500
            assert b"hunter2" not in response.body and b"Traceback" not in response.body
            again = await client.request("GET", "/api/items/2")  # Starlette's 500 was whole
            assert again.status == 200
    errors = asgi_errors(caplog)
    assert len(errors) == 1 and "GET /api/boom" in errors[0].getMessage()


async def test_an_app_failing_before_answering_gets_our_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raise KeyError("secret")

    async with serving(broken) as server:
        response = await fetch(server.port, "GET", "/x")
        assert response.status == 500 and b"secret" not in response.body
    assert len(asgi_errors(caplog)) == 1


async def test_an_app_that_sends_nothing_gets_a_500(caplog: pytest.LogCaptureFixture) -> None:
    async def silent(scope: Any, receive: Any, send: Any) -> None:
        return None

    async with serving(silent) as server:
        assert (await fetch(server.port, "GET", "/x")).status == 500
    assert "sent no response" in asgi_errors(caplog)[0].getMessage()


async def test_root_path_is_in_the_scope_and_in_urls() -> None:
    async with serving(make_api(), root_path="/api-v1") as server:
        response = await fetch(server.port, "GET", "/api/items/3")
        body = json.loads(response.body)
        assert body["root_path"] == "/api-v1"
        assert body["url"] == "http://127.0.0.1/api-v1/api/items/3"


def test_an_invalid_root_path_is_refused() -> None:
    with pytest.raises(ValueError, match="root_path must start with '/'"):
        switchboard.serve(native_router(), asgi=make_api(), root_path="api/")


async def test_starlette_next_to_the_native_hub_on_one_port() -> None:
    def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse(f"hello {request.path_params['name']}")

    app = Starlette(routes=[Route("/hello/{name}", hello)])
    hub = Hub()

    @hub.on("echo")
    def echo(session: Any, data: Any) -> Any:
        return data

    router = native_router()
    router.mount("/rt", hub)
    async with serving(app, router) as server:
        assert (await fetch(server.port, "GET", "/hello/ada")).body == b"hello ada"
        async with connect(f"ws://127.0.0.1:{server.port}/rt") as client:
            assert await client.emit("echo", {"x": 1}) == {"x": 1}
        # Unrouted upgrades are the app's: Starlette has no WebSocket route there, and
        # closes before accepting, which is a 403.
        with pytest.raises(switchboard.InvalidHandshake) as refused:
            await switchboard.connect(f"ws://127.0.0.1:{server.port}/hello/ws")
        assert refused.value.status == 403

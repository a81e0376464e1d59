"""Request bodies streaming into an ASGI app served by Switchboard: pieces as they
arrive, reading paused while the app does not ask, ``max_body_size`` enforced,
chunked bodies, keep-alive after them. Real FastAPI and plain ASGI apps, raw
HTTP/1.1 on real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi import Request as FastAPIRequest
from starlette.requests import ClientDisconnect

import switchboard
from switchboard.protocol.http11 import Response, ResponseParser

from .conftest import HTTPClient, http_client

FIRST_PIECE: asyncio.Event
GO: asyncio.Event
GONE: asyncio.Event


def make_api() -> FastAPI:
    api = FastAPI()

    @api.post("/upload")
    async def upload(request: FastAPIRequest) -> dict[str, int]:
        size = pieces = 0
        try:
            async for chunk in request.stream():
                if chunk and not pieces:
                    FIRST_PIECE.set()
                size, pieces = size + len(chunk), pieces + bool(chunk)
        except ClientDisconnect:
            GONE.set()
            raise
        return {"size": size, "pieces": pieces}

    @api.post("/later")
    async def later(request: FastAPIRequest) -> dict[str, int]:
        stream, size = request.stream(), 0
        while size < 1 << 20:  # a few reads from the socket
            size += len(await anext(stream))
        FIRST_PIECE.set()
        await GO.wait()  # not reading on: the client must be held back
        async for piece in stream:
            size += len(piece)
        return {"size": size}

    @api.post("/ignore")
    async def ignore() -> dict[str, bool]:
        return {"read": False}

    return api


@contextlib.asynccontextmanager
async def serving(app: Any = None, **options: Any) -> AsyncIterator[switchboard.Server]:
    global FIRST_PIECE, GO, GONE
    FIRST_PIECE, GO, GONE = asyncio.Event(), asyncio.Event(), asyncio.Event()
    async with switchboard.serve(
        switchboard.Router(), "127.0.0.1", 0, asgi=app or make_api(), **options
    ) as server:
        yield server


async def read_response(client: HTTPClient, parser: ResponseParser | None = None) -> Response:
    """The next response on ``client`` (``parser``: one that may hold it already)."""
    parser = parser or ResponseParser()
    while (response := parser.next_response()) is None:
        data = await asyncio.wait_for(client.reader.read(65536), 10)
        if not data:
            raise ConnectionError("the server closed the connection mid-response")
        parser.feed(data)
    return response


def head(target: str, framing: str) -> bytes:
    return f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{framing}\r\n\r\n".encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_the_app_reads_the_first_piece_before_the_last_is_sent(chunked: bool) -> None:
    piece = b"p" * 100_000
    async with serving() as server, http_client(server.port) as client:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {5 * len(piece)}"
        client.writer.write(head("/upload", framing))
        for _ in range(4):
            client.writer.write(chunk(piece) if chunked else piece)
        # The app has the first piece while the last is not sent: proof it streams.
        await asyncio.wait_for(FIRST_PIECE.wait(), 10)
        client.writer.write(chunk(piece) + b"0\r\n\r\n" if chunked else piece)
        response = await read_response(client)
        assert response.status == 200
        got = json.loads(response.body)
        assert got["size"] == 500_000
        assert got["pieces"] >= 2
        # Keep-alive: the next request on the same connection.
        again = await client.request("POST", "/upload", b"tiny")
        assert json.loads(again.body) == {"size": 4, "pieces": 1}


async def test_reading_pauses_while_the_app_does_not_ask() -> None:
    size = 64 << 20  # far more than the kernel's socket buffers hold
    async with serving(limits=switchboard.Limits(max_body_size=size)) as server:
        async with http_client(server.port) as client:
            client.writer.write(head("/later", f"Content-Length: {size}") + b"z" * size)
            await asyncio.wait_for(FIRST_PIECE.wait(), 10)
            transport = client.writer.transport
            unsent, steady = transport.get_write_buffer_size(), 0
            for _ in range(1000):  # bounded: until the client's buffer stops shrinking
                await asyncio.sleep(0.01)
                now = transport.get_write_buffer_size()
                steady = steady + 1 if now == unsent else 0
                unsent = now
                if steady >= 20:
                    break
            # The server took at most what the kernel buffers plus one read.
            assert unsent > size - (32 << 20)
            GO.set()
            response = await read_response(client)
            assert json.loads(response.body) == {"size": size}


async def test_a_chunked_body_over_the_limit_is_a_413_before_the_response() -> None:
    async with serving(limits=switchboard.Limits(max_body_size=300_000)) as server:
        async with http_client(server.port) as client:
            client.writer.write(head("/upload", "Transfer-Encoding: chunked"))
            client.writer.write(chunk(b"a" * 200_000) * 2)
            response = await read_response(client)
            assert response.status == 413
            assert response.headers["Connection"] == "close"
            assert await client.closed_by_server()
        await asyncio.wait_for(GONE.wait(), 5)  # the app saw http.disconnect


async def test_over_the_limit_after_the_response_started_the_connection_closes() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"started", "more_body": True})
        while (message := await receive())["type"] == "http.request":
            pass
        seen.append(message["type"])

    async with serving(app, limits=switchboard.Limits(max_body_size=300_000)) as server:
        async with http_client(server.port) as client:
            client.writer.write(head("/any", "Transfer-Encoding: chunked"))
            client.writer.write(chunk(b"a" * 200_000) * 2)
            received = b""
            for _ in range(100):  # bounded: until EOF
                data = await asyncio.wait_for(client.reader.read(65536), 10)
                if not data:
                    break
                received += data
            assert received.startswith(b"HTTP/1.1 200 OK\r\n")
            assert received.endswith(b"7\r\nstarted\r\n")  # cut: no last chunk
    assert seen == ["http.disconnect"]


async def test_an_invalid_chunk_is_a_400() -> None:
    async with serving() as server, http_client(server.port) as client:
        client.writer.write(head("/upload", "Transfer-Encoding: chunked") + b"zz\r\nhello\r\n")
        response = await read_response(client)
        assert response.status == 400
        assert b"invalid chunk size line" in response.body


async def test_a_pipelined_request_after_a_chunked_body() -> None:
    async with serving() as server, http_client(server.port) as client:
        client.writer.write(
            head("/upload", "Transfer-Encoding: chunked")
            + chunk(b"hello")
            + chunk(b" world")
            + b"0\r\nX-Trailer: yes\r\n\r\n"
            + head("/upload", "Content-Length: 3")
            + b"abc"
        )
        parser = ResponseParser()
        first, second = await read_response(client, parser), await read_response(client, parser)
        assert json.loads(first.body)["size"] == 11
        assert json.loads(second.body) == {"size": 3, "pieces": 1}


async def test_an_unread_body_closes_the_connection_after_the_response() -> None:
    async with serving() as server, http_client(server.port) as client:
        client.writer.write(head("/ignore", "Content-Length: 1000000") + b"q" * 100_000)
        response = await read_response(client)
        assert json.loads(response.body) == {"read": False}
        assert response.headers["Connection"] == "close"  # the rest of the body is unread
        assert await client.closed_by_server()


async def test_the_client_leaving_mid_body_reaches_the_app() -> None:
    async with serving() as server:
        async with http_client(server.port) as client:
            client.writer.write(head("/upload", "Content-Length: 1000") + b"x" * 10)
            await asyncio.wait_for(FIRST_PIECE.wait(), 10)
            client.writer.transport.abort()
        await asyncio.wait_for(GONE.wait(), 5)


async def test_a_client_that_stops_sending_mid_body_gets_a_408() -> None:
    async with serving(open_timeout=0.5) as server, http_client(server.port) as client:
        client.writer.write(head("/upload", "Content-Length: 1000") + b"x" * 10)
        response = await read_response(client)  # within open_timeout of the app asking
        assert response.status == 408
        await asyncio.wait_for(GONE.wait(), 5)  # the app saw http.disconnect

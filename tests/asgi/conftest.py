"""ASGI both ways: real uvicorn servers in-process on 127.0.0.1, Switchboard servers
hosting real FastAPI and Starlette apps, and an HTTP/1.1 client on a real socket
(parsed by Switchboard's own response parser, so keep-alive can be checked)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from switchboard.protocol.http11 import (
    Headers,
    Request,
    Response,
    ResponseParser,
    serialize_request,
)


@contextlib.asynccontextmanager
async def uvicorn_serving(app: Any, **options: Any) -> AsyncIterator[int]:
    """Run ``app`` under a real uvicorn on a free port of 127.0.0.1; yields the port."""
    options.setdefault("lifespan", "on")
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **options)
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    for _ in range(500):  # bounded: 5 s
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        task.result() if task.done() else task.cancel()
        raise RuntimeError("uvicorn did not start")
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


class HTTPClient:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:``port``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> HTTPClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        version: str = "HTTP/1.1",
    ) -> Response:
        fields = Headers([("Host", "127.0.0.1"), *(headers or [])])
        self.writer.write(serialize_request(Request(method, target, fields, body, version)))
        parser = ResponseParser(head=method == "HEAD")
        while (response := parser.next_response()) is None:
            data = await asyncio.wait_for(self.reader.read(65536), 10)
            if not data:
                parser.feed_eof()
                response = parser.next_response()
                if response is None:
                    raise ConnectionError("the server closed the connection mid-response")
                break
            parser.feed(data)
        return response

    async def closed_by_server(self) -> bool:
        """Whether the server closes the connection (EOF) within 5 s."""
        try:
            return await asyncio.wait_for(self.reader.read(1), 5) == b""
        except (asyncio.TimeoutError, ConnectionError):
            return False

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def http_client(port: int) -> AsyncIterator[HTTPClient]:
    """An :class:`HTTPClient` connection, closed at the end."""
    client = await HTTPClient.open(port)
    try:
        yield client
    finally:
        await client.close()


async def fetch(port: int, method: str, target: str, body: bytes = b"") -> Response:
    """One request on a connection of its own."""
    async with http_client(port) as client:
        return await client.request(method, target, body)


def asgi_errors(caplog: Any) -> list[logging.LogRecord]:
    """The records logged at ERROR by switchboard.asgi."""
    return [
        r for r in caplog.records if r.name == "switchboard.asgi" and r.levelno >= logging.ERROR
    ]

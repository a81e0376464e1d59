"""A raw HTTP/1.1 client for server tests: real sockets, its own minimal response
reader (independent of switchboard's parser), every wait bounded."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass

TIMEOUT = 10.0


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # names lowercased
    body: bytes

    def text(self) -> str:
        return self.body.decode()


class Raw:
    """One TCP connection: write bytes, read responses one by one."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, *, ssl_context: ssl.SSLContext | None = None) -> Raw:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1",
            port,
            ssl=ssl_context,
            server_hostname="localhost" if ssl_context else None,
        )
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def reply(self, *, head: bool = False) -> Reply:
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                assert name.lower() not in headers, f"repeated header {name}"
                headers[name.lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if head or status in (204, 304) or status < 200:
            length = 0
        body = await asyncio.wait_for(self.reader.readexactly(length), TIMEOUT)
        return Reply(status, headers, body)

    async def request(self, method: str, target: str, *headers: str, body: bytes = b"") -> Reply:
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *headers]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return await self.reply(head=method == "HEAD")

    async def at_eof(self) -> bool:
        """Whether the server closes the connection (reads until EOF, bounded)."""
        try:
            rest = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
        except ConnectionResetError:
            return True
        return rest == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


async def fetch(port: int, method: str, target: str, *headers: str, body: bytes = b"") -> Reply:
    """One request on a fresh connection."""
    raw = await Raw.open(port)
    try:
        return await raw.request(method, target, *headers, body=body)
    finally:
        await raw.close()


UPGRADE = (
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
)


async def until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds, polling; fail after TIMEOUT seconds."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), TIMEOUT)

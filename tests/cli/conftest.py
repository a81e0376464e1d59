"""Fixtures for the command-line tests: real servers on 127.0.0.1, in a thread.

The CLI runs as a subprocess and tests wait on it synchronously (pipes, pexpect),
so the servers run on their own event loop in a background thread rather than on
the test's loop. (tests/cli is a package so that this conftest does not shadow
tests/conftest.py for ``from conftest import``.)
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

import switchboard
from switchboard.protocol.handshake import build_response, reject
from switchboard.protocol.http11 import Request, Response, serialize_response

sys.path.insert(0, str(Path(__file__).parent.parent / "client"))
from client_helpers import ConnectProxy  # a real HTTP CONNECT proxy

T = TypeVar("T")


async def handler(ws: switchboard.WebSocket) -> None:
    """Echo, except on /close1011 (one message, then close 1011 'boom') and on
    /greet (a 'welcome' message first)."""
    assert ws.request is not None
    if ws.request.path == "/close1011":
        await ws.recv()
        await ws.close(1011, "boom")
        return
    if ws.request.path == "/greet":
        await ws.send("welcome")
    async for message in ws:
        await ws.send(message)


def refuse(request: Request) -> Response | None:
    """Refuse /refuse with 403 and a body, as an auth check would."""
    return reject(403, "go away: no token") if request.path == "/refuse" else None


async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept the handshake, then drop TCP at the first frame (no close frame: 1006)."""
    request = await reader.readuntil(b"\r\n\r\n")
    match = re.search(rb"sec-websocket-key: *(\S+)", request, re.IGNORECASE)
    assert match is not None
    writer.write(serialize_response(build_response(match.group(1).decode())))
    await reader.read(1)
    writer.transport.abort()


@dataclass
class Servers:
    port: int  # the switchboard server: see handler() and refuse()
    drop_port: int  # see drop()
    proxy: ConnectProxy

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def drop_url(self) -> str:
        return f"ws://127.0.0.1:{self.drop_port}/"


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def call(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(10)

    async def start() -> tuple[switchboard.Server, asyncio.Server, ConnectProxy]:
        server = await switchboard.serve(
            handler,
            "127.0.0.1",
            0,
            subprotocols=["chat.v1"],
            process_request=refuse,
            # An extension parameter in the response, for probe to report (the same
            # response with and without zlib-ng: see switchboard.protocol.deflate).
            compression=switchboard.DeflateOptions(
                server_max_window_bits=12, client_no_context_takeover=False
            ),
        )
        dropper = await asyncio.start_server(drop, "127.0.0.1", 0)
        proxy = ConnectProxy()
        await proxy.start()
        return server, dropper, proxy

    async def stop() -> None:
        server.close()
        dropper.close()
        await proxy.stop()
        await server.wait_closed()

    server, dropper, proxy = call(start())
    try:
        yield Servers(server.port, dropper.sockets[0].getsockname()[1], proxy)
    finally:
        call(stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

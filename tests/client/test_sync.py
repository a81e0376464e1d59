"""The threaded client against real servers: switchboard's and the websockets library's.

Each test runs its server on the test's event loop and the sync client in a worker
thread (``asyncio.to_thread``), so both really run concurrently.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import websockets.asyncio.server
from client_helpers import ConnectProxy, echo, url

import switchboard
from switchboard import (
    ConnectionClosedError,
    ConnectionClosedOK,
    Headers,
    InvalidHandshake,
    Limits,
    RedirectError,
    Response,
)
from switchboard.protocol import State
from switchboard.sync import WebSocket, connect

if TYPE_CHECKING:
    from conftest import TLS

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=[True, False], ids=["deflate", "plain"])
def compression(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def exchange(ws: WebSocket) -> None:
    """Echo a text, a binary and a large, compressible message."""
    ws.send("Hello")
    assert ws.recv(timeout=5) == "Hello"
    ws.send(b"\x00\xff")
    assert ws.recv(timeout=5) == b"\x00\xff"
    big = "switchboard " * 50_000  # 600 kB
    ws.send(big)
    assert ws.recv(timeout=5) == big


async def test_switchboard_server(compression: bool) -> None:
    async with switchboard.serve(echo, "127.0.0.1", 0) as srv:

        def client() -> None:
            options = {} if compression else {"compression": None}
            with connect(url(srv), **options) as ws:  # type: ignore[arg-type]
                assert (ws.protocol.deflate is not None) is compression
                assert ws.response.headers.get("Server", "").startswith("switchboard")
                exchange(ws)
                assert ws.ping(timeout=5) >= 0.0
            assert ws.state is State.CLOSED
            assert ws.close_code == 1000

        await asyncio.to_thread(client)


@pytest.fixture
async def websockets_server(compression: bool) -> AsyncIterator[int]:
    async def handler(ws: websockets.asyncio.server.ServerConnection) -> None:
        async for message in ws:
            if message == "close 4000":
                await ws.close(4000, "app says bye")
            else:
                await ws.send(message)

    async with websockets.asyncio.server.serve(
        handler, "127.0.0.1", 0, compression="deflate" if compression else None
    ) as server:
        yield server.sockets[0].getsockname()[1]


async def test_websockets_server(compression: bool, websockets_server: int) -> None:
    def client() -> None:
        with connect(f"ws://127.0.0.1:{websockets_server}/") as ws:
            assert ws.response.headers["Server"].startswith("Python/")
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert extensions.startswith("permessage-deflate") is compression
            assert (ws.protocol.deflate is not None) is compression
            exchange(ws)
            ws.send("close 4000")
            with pytest.raises(ConnectionClosedError) as info:
                ws.recv(timeout=5)
            assert (info.value.code, info.value.reason) == (4000, "app says bye")

    await asyncio.to_thread(client)


async def test_iteration_recv_timeout_and_fragments() -> None:
    async def handler(ws: switchboard.WebSocket) -> None:
        await ws.recv()  # wait for the go-ahead
        for text in ("a", "b", "c"):
            await ws.send(text)
        await ws.send(["frag", "ment", "ed"])
        await ws.send([b"\x01", b"\x02"])

    async with switchboard.serve(handler, "127.0.0.1", 0) as srv:

        def client() -> None:
            with connect(url(srv)) as ws:
                with pytest.raises(TimeoutError, match=r"no message within 0\.05 s"):
                    ws.recv(timeout=0.05)
                ws.send("go")
                assert list(ws) == ["a", "b", "c", "fragmented", b"\x01\x02"]
                with pytest.raises(ConnectionClosedOK):
                    ws.recv()
                with pytest.raises(ConnectionClosedOK):
                    ws.send("too late")

        await asyncio.to_thread(client)


async def test_close_code_from_the_server() -> None:
    async def handler(ws: switchboard.WebSocket) -> None:
        await ws.close(4001, "bye now")

    async with switchboard.serve(handler, "127.0.0.1", 0) as srv:

        def client() -> None:
            ws = connect(url(srv))
            with pytest.raises(ConnectionClosedError) as info:
                ws.recv(timeout=5)
            assert info.value.rcvd is not None and info.value.rcvd.code == 4001
            ws.close()
            assert (ws.close_code, ws.close_reason) == (4001, "bye now")

        await asyncio.to_thread(client)


async def test_many_threads_send_while_one_receives(compression: bool) -> None:
    async with switchboard.serve(echo, "127.0.0.1", 0) as srv:

        def client() -> None:
            options = {} if compression else {"compression": None}
            with connect(url(srv), **options) as ws:  # type: ignore[arg-type]

                def send(n: int) -> None:
                    for i in range(100):
                        ws.send(f"{n}:{i}:" + "x" * (i * 37))

                threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
                for thread in threads:
                    thread.start()
                received = [ws.recv(timeout=10) for _ in range(400)]
                for thread in threads:
                    thread.join()
            expected = {f"{n}:{i}:" + "x" * (i * 37) for n in range(4) for i in range(100)}
            assert set(received) == expected and len(received) == 400
            for n in range(4):  # each sender's messages arrive in its order
                mine = [m for m in received if m.startswith(f"{n}:")]  # type: ignore[union-attr]
                assert [int(m.split(":")[1]) for m in mine] == list(range(100))  # type: ignore[union-attr]

        await asyncio.to_thread(client)


async def test_small_max_queue_loses_nothing() -> None:
    async def handler(ws: switchboard.WebSocket) -> None:
        for i in range(200):
            await ws.send(str(i))

    async with switchboard.serve(handler, "127.0.0.1", 0) as srv:

        def client() -> None:
            with connect(url(srv), max_queue=2) as ws:
                assert list(ws) == [str(i) for i in range(200)]

        await asyncio.to_thread(client)


async def test_message_too_big_fails_with_1009() -> None:
    async def handler(ws: switchboard.WebSocket) -> None:
        await ws.send("x" * 2000)
        await ws.wait_closed()

    async with switchboard.serve(handler, "127.0.0.1", 0) as srv:

        def client() -> None:
            with connect(url(srv), limits=Limits(max_message_size=1000)) as ws:
                with pytest.raises(ConnectionClosedError) as info:
                    ws.recv(timeout=5)
            assert info.value.sent is not None and info.value.sent.code == 1009

        await asyncio.to_thread(client)


async def test_keepalive_measures_latency() -> None:
    async with switchboard.serve(echo, "127.0.0.1", 0) as srv:

        def client() -> None:
            with connect(url(srv), ping_interval=0.02, ping_timeout=5) as ws:
                assert ws.latency == 0.0
                for _ in range(500):  # until a keepalive pong came back (bounded)
                    if ws.latency > 0:
                        break
                    threading.Event().wait(0.01)
                assert ws.latency > 0

        await asyncio.to_thread(client)


async def test_keepalive_timeout_closes_with_1011() -> None:
    """A server that stops reading never answers pings: the client gives up with 1011."""

    async def handler(ws: switchboard.WebSocket) -> None:
        await ws.wait_closed()  # never receives: with max_queue=1, reading pauses

    async with switchboard.serve(
        handler, "127.0.0.1", 0, max_queue=1, ping_interval=None, close_timeout=0.2
    ) as srv:

        def client() -> None:
            ws = connect(url(srv), ping_interval=0.05, ping_timeout=0.1, close_timeout=0.2)
            ws.send("fills the server's queue")
            ws.send("and pauses its reading")
            with pytest.raises(ConnectionClosedError) as info:
                ws.recv(timeout=10)
            ws.close()
            assert info.value.sent is not None
            assert (info.value.sent.code, info.value.sent.reason) == (1011, "keepalive timeout")

        await asyncio.to_thread(client)


async def test_handshake_errors() -> None:
    def missing(request: switchboard.Request) -> Response:
        return Response(404, body=b"nothing here")

    async with switchboard.serve(echo, "127.0.0.1", 0, process_request=missing) as srv:

        def client() -> None:
            with pytest.raises(InvalidHandshake) as info:
                connect(url(srv))
            assert (info.value.status, info.value.body) == (404, b"nothing here")

        await asyncio.to_thread(client)

    with pytest.raises(switchboard.InvalidURI):
        connect("wss://")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.to_thread(connect, f"ws://127.0.0.1:{port}/")


async def test_open_timeout() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    try:
        port = listener.getsockname()[1]
        with pytest.raises(TimeoutError, match=r"within open_timeout=0.2 s"):
            await asyncio.to_thread(connect, f"ws://127.0.0.1:{port}/", open_timeout=0.2)
    finally:
        listener.close()


async def test_wss(tls: TLS) -> None:
    async with switchboard.serve(echo, "127.0.0.1", 0, ssl=tls.server) as srv:
        uri = f"wss://localhost:{srv.port}/"

        def client() -> None:
            with connect(uri, ssl=tls.client) as ws:
                assert isinstance(ws.socket, ssl.SSLSocket)
                exchange(ws)
            with pytest.raises(ssl.SSLCertVerificationError):
                connect(uri)

        await asyncio.to_thread(client)


async def test_redirects() -> None:
    def hook(request: switchboard.Request) -> Response | None:
        if request.path == "/loop":
            return Response(302, headers=Headers({"Location": "/loop"}))
        if request.path == "/old":
            return Response(308, headers=Headers({"Location": "/new"}))
        return None

    async with switchboard.serve(echo, "127.0.0.1", 0, process_request=hook) as srv:

        def client() -> None:
            with connect(url(srv, "/old")) as ws:
                assert ws.request.target == "/new"
                ws.send("moved")
                assert ws.recv(timeout=5) == "moved"
            with pytest.raises(RedirectError, match="max_redirects is 2"):
                connect(url(srv, "/loop"), max_redirects=2)

        await asyncio.to_thread(client)


async def test_through_a_proxy(
    tls: TLS, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("https_proxy", proxy.url)
    async with switchboard.serve(echo, "127.0.0.1", 0) as plain:
        async with switchboard.serve(echo, "127.0.0.1", 0, ssl=tls.server) as secure:

            def client() -> None:
                with connect(url(plain), proxy=proxy.url) as ws:
                    exchange(ws)
                with connect(f"wss://localhost:{secure.port}/", ssl=tls.client) as ws:
                    exchange(ws)

            await asyncio.to_thread(client)
            assert [r[1] for r in proxy.requests] == [
                f"127.0.0.1:{plain.port}",
                f"localhost:{secure.port}",
            ]

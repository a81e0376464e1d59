"""The asyncio server and client against each other, over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

import switchboard
from switchboard import ConnectionClosedError, ConnectionClosedOK, Limits, WebSocket
from switchboard.protocol.frames import Opcode, encode_frame

if TYPE_CHECKING:
    from conftest import TLS


async def echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


@pytest.fixture
async def server() -> AsyncIterator[switchboard.Server]:
    async with switchboard.serve(echo, "127.0.0.1", 0) as srv:
        yield srv


def url(server: switchboard.Server, path: str = "/") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


async def test_echo_text_and_binary(server: switchboard.Server) -> None:
    async with switchboard.connect(url(server)) as ws:
        await ws.send("Hello")
        assert await ws.recv() == "Hello"
        await ws.send(b"\x00\x01")
        assert await ws.recv() == b"\x00\x01"
        assert ws.protocol.deflate is not None  # compression negotiated by default
    assert ws.close_code == 1000


async def test_lone_messages_of_every_kind_and_size(server: switchboard.Server) -> None:
    # The lone-message fast path (one C call each way) against the general one: both
    # types, at the sizes where framing changes, one at a time and pipelined.
    sizes = [0, 1, 125, 126, 16384, 16385, 65535, 65536, 300_000]
    messages: list[str | bytes] = [b"\xa5" * n for n in sizes] + ["é" * (n // 2) for n in sizes]
    async with switchboard.connect(url(server)) as ws:
        for message in messages:
            await ws.send(message)
            assert await ws.recv() == message
        for message in messages:
            await ws.send(message)
        for message in messages:
            assert await ws.recv() == message
        assert [ws.messages_in, ws.messages_out] == [2 * len(messages)] * 2


async def test_iterating_ends_at_a_normal_close_and_recv_then_raises() -> None:
    async def two_then_close(ws: WebSocket) -> None:
        await ws.send("a")
        await ws.send(b"b")
        await ws.close()

    async with switchboard.serve(two_then_close, "127.0.0.1", 0) as srv:
        async with switchboard.connect(url(srv)) as ws:
            assert [m async for m in ws] == ["a", b"b"]
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()


def test_websocket_has_no_instance_dict() -> None:
    # Slots: measured, 1.4 KiB less for every open connection.
    assert "__dict__" not in dir(WebSocket) and WebSocket.__slots__


async def test_without_compression(server: switchboard.Server) -> None:
    async with switchboard.connect(url(server), compression=None) as ws:
        await ws.send("x" * 5000)
        assert await ws.recv() == "x" * 5000
        assert ws.protocol.deflate is None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers  # type: ignore[union-attr]


async def test_request_details_reach_the_handler() -> None:
    seen: list[object] = []

    async def handler(ws: WebSocket) -> None:
        assert ws.request is not None
        seen.append((ws.request.path, ws.request.query, ws.request.headers.get("Origin")))
        seen.append(ws.subprotocol)
        seen.append(ws.remote_address[0])

    async with switchboard.serve(
        handler, "127.0.0.1", 0, subprotocols=["chat.v2", "chat"], origins=["http://example.test"]
    ) as srv:
        async with switchboard.connect(
            url(srv, "/room/1?user=ann"), origin="http://example.test", subprotocols=["chat"]
        ) as ws:
            assert ws.subprotocol == "chat"
            await ws.wait_closed()
    assert seen == [("/room/1", "user=ann", "http://example.test"), "chat", "127.0.0.1"]


async def test_large_messages_and_fragments(server: switchboard.Server) -> None:
    async with switchboard.connect(url(server)) as ws:
        big = bytes(range(256)) * 4000  # 1,024,000 bytes: just under the 1 MiB default
        await ws.send(big)
        assert await ws.recv() == big
        await ws.send(["Hel", "lo ", "world"])
        assert await ws.recv() == "Hello world"

        async def pieces() -> AsyncIterator[bytes]:
            for i in range(3):
                yield bytes([i]) * 10

        await ws.send(pieces())
        assert await ws.recv() == b"\x00" * 10 + b"\x01" * 10 + b"\x02" * 10


async def test_recv_streaming_yields_fragments() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.send(["a", "b", "c"])
        await ws.recv()

    async with switchboard.serve(handler, "127.0.0.1", 0) as srv:
        async with switchboard.connect(url(srv)) as ws:
            # Frames that arrive together may come as one piece.
            assert "".join([piece async for piece in ws.recv_streaming()]) == "abc"  # type: ignore[arg-type]


async def count_pieces(ws: WebSocket) -> None:
    """Echo each message, then send how many pieces recv_streaming() gave for it."""
    while True:
        pieces = [piece async for piece in ws.recv_streaming()]
        if isinstance(pieces[0], str):
            await ws.send("".join(pieces))  # type: ignore[arg-type]
        else:
            await ws.send(b"".join(pieces))  # type: ignore[arg-type]
        await ws.send(str(len(pieces)))


async def test_a_message_in_many_fragments_arrives_in_few_pieces() -> None:
    text = "κόσμε 😀 " * 2000
    data = text.encode()
    frames = [  # one byte per frame: characters are split across frames
        encode_frame(
            Opcode.CONT if i else Opcode.TEXT, data[i : i + 1], fin=i == len(data) - 1, mask=b"abcd"
        )
        for i in range(len(data))
    ]
    limits = Limits(max_fragments=None)
    async with switchboard.serve(count_pieces, "127.0.0.1", 0, limits=limits) as srv:
        async with switchboard.connect(url(srv), compression=None) as ws:
            assert ws._transport is not None
            ws._transport.write(b"".join(frames))  # 32,000 frames, 224 KB
            assert await ws.recv() == text
            assert int(await ws.recv()) <= 100  # pieces scale with reads, not frames
            await ws.send([bytes([i % 256]) for i in range(20_000)])
            assert await ws.recv() == bytes(i % 256 for i in range(20_000))
            assert int(await ws.recv()) <= 100


async def test_recv_streaming_yields_pieces_as_they_arrive() -> None:
    first_piece = asyncio.Event()

    async def handler(ws: WebSocket) -> None:
        total, count = b"", 0
        async for piece in ws.recv_streaming():
            total += piece  # type: ignore[operator]
            count += 1
            first_piece.set()
        await ws.send(total)
        await ws.send(str(count))

    async def pieces() -> AsyncIterator[bytes]:
        for _ in range(5000):
            yield b"x"
        await first_piece.wait()  # the server has data before the message is complete
        for _ in range(5000):
            yield b"y"

    async with switchboard.serve(handler, "127.0.0.1", 0, limits=Limits(max_fragments=None)) as srv:
        async with switchboard.connect(url(srv), compression=None) as ws:
            await asyncio.wait_for(ws.send(pieces()), 10)
            assert await ws.recv() == b"x" * 5000 + b"y" * 5000
            assert 2 <= int(await ws.recv()) <= 100  # before and after the wait; few


async def test_a_big_read_lets_the_loop_run_before_the_next(server: switchboard.Server) -> None:
    # uvloop reads a busy socket up to 32 times in a row: after a big read, reading
    # pauses for one loop iteration, so other connections get their turn.
    limits = Limits(max_fragments=None)
    async with switchboard.connect(url(server), compression=None, limits=limits) as ws:
        assert ws._transport is not None
        # As the server would send them: a binary frame, then 40,000 empty continuations.
        ws.data_received(b"\x02\x00" + b"\x00\x00" * 40_000)
        assert not ws._transport.is_reading()
        await asyncio.sleep(0)
        assert ws._transport.is_reading()
        ws.data_received(b"\x80\x01!")  # the end of the message
        assert await ws.recv() == b"!"


async def test_too_many_fragments_close_with_1009() -> None:
    async with switchboard.serve(count_pieces, "127.0.0.1", 0) as srv:
        async with switchboard.connect(url(srv), compression=None) as ws:
            await ws.send(["x"] * 4096)  # the default limit, reached
            assert await ws.recv() == "x" * 4096
            await ws.recv()
            # The server may fail the connection before we are done.
            with contextlib.suppress(switchboard.ConnectionClosed):
                await ws.send(["x"] * 5000)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
    assert info.value.code == 1009
    assert info.value.reason == "too many fragments: the limit is 4096"


async def test_ping_returns_round_trip(server: switchboard.Server) -> None:
    async with switchboard.connect(url(server)) as ws:
        rtt = await ws.ping()
        assert 0 < rtt < 5
        assert ws.latency == rtt


async def test_handler_close_code_reaches_client() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.close(4001, "kicked out")

    async with switchboard.serve(handler, "127.0.0.1", 0) as srv:
        async with switchboard.connect(url(srv)) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
    assert info.value.code == 4001 and info.value.reason == "kicked out"
    assert info.value.rcvd_then_sent is True


async def test_handler_exception_closes_with_1011() -> None:
    async def handler(ws: WebSocket) -> None:
        raise RuntimeError("boom")

    async with switchboard.serve(handler, "127.0.0.1", 0) as srv:
        async with switchboard.connect(url(srv)) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
    assert info.value.code == 1011


async def test_iteration_ends_on_normal_close() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.send("one")
        await ws.send("two")

    async with switchboard.serve(handler, "127.0.0.1", 0) as srv:
        async with switchboard.connect(url(srv)) as ws:
            assert [m async for m in ws] == ["one", "two"]
            with pytest.raises(ConnectionClosedOK):
                await ws.send("after")


async def test_message_too_big_closes_with_1009() -> None:
    async with switchboard.serve(echo, "127.0.0.1", 0, limits=Limits(max_message_size=1000)) as srv:
        async with switchboard.connect(url(srv), compression=None) as ws:
            await ws.send("x" * 1001)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
    assert info.value.code == 1009
    assert "message too big" in info.value.reason


async def test_compression_bomb_is_refused() -> None:
    async with switchboard.serve(
        echo, "127.0.0.1", 0, limits=Limits(max_message_size=100_000)
    ) as srv:
        async with switchboard.connect(url(srv)) as ws:
            await ws.send(b"\x00" * 200_000)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
    assert info.value.code == 1009


async def test_peer_vanishing_gives_1006() -> None:
    closed: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    async def handler(ws: WebSocket) -> None:
        try:
            await ws.recv()
        except Exception as exc:
            closed.set_result(exc)

    async with switchboard.serve(handler, "127.0.0.1", 0) as srv:
        ws = await switchboard.connect(url(srv))
        assert ws._transport is not None
        ws._transport.abort()  # no close frame: like a crashed client
        exc = await asyncio.wait_for(closed, 5)
    assert isinstance(exc, ConnectionClosedError) and exc.code == 1006


async def test_keepalive_timeout_closes_with_1011() -> None:
    """A peer that stops answering pings is dropped with 1011 'keepalive timeout'."""
    result: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    async def handler(ws: WebSocket) -> None:
        try:
            await ws.recv()
        except Exception as exc:
            result.set_result(exc)

    async with switchboard.serve(
        handler, "127.0.0.1", 0, ping_interval=0.05, ping_timeout=0.1
    ) as srv:
        # A raw client that completes the handshake and then never reads again.
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await reader.readuntil(b"\r\n\r\n")
        exc = await asyncio.wait_for(result, 5)
        writer.close()
    assert isinstance(exc, ConnectionClosedError)
    assert exc.sent is not None and exc.sent.code == 1011 and exc.sent.reason == "keepalive timeout"


async def test_send_waits_when_peer_does_not_read() -> None:
    """Backpressure: send() blocks instead of buffering without bound."""
    sent = 0
    blocked = asyncio.Event()

    async def handler(ws: WebSocket) -> None:
        nonlocal sent
        while True:
            task = asyncio.ensure_future(ws.send(b"x" * 65536))
            done, _ = await asyncio.wait([task], timeout=0.5)
            if not done:
                blocked.set()
                task.cancel()
                return
            sent += 1

    async with switchboard.serve(handler, "127.0.0.1", 0, compression=None) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await asyncio.wait_for(blocked.wait(), 10)
        sock.close()
    # Kernel buffers absorb some megabytes at most; the rest waited in send().
    assert sent < 200


async def test_wss_round_trip(tls: TLS) -> None:
    async with switchboard.serve(echo, "127.0.0.1", 0, ssl=tls.server) as srv:
        async with switchboard.connect(f"wss://localhost:{srv.port}/", ssl=tls.client) as ws:
            await ws.send("secure")
            assert await ws.recv() == "secure"


async def test_wss_rejects_untrusted_certificate(tls: TLS) -> None:
    import ssl

    async with switchboard.serve(echo, "127.0.0.1", 0, ssl=tls.server) as srv:
        with pytest.raises(ssl.SSLCertVerificationError):
            await switchboard.connect(f"wss://localhost:{srv.port}/")


async def test_plain_http_request_gets_426(server: switchboard.Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 426 ")
    assert b"Sec-WebSocket-Version: 13" in head
    writer.close()


async def test_wrong_version_gets_426_and_client_sees_status(server: switchboard.Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 426 ")
    writer.close()


async def test_process_request_can_refuse() -> None:
    def auth(request: switchboard.Request) -> switchboard.Response | None:
        if request.headers.get("Authorization") != "Bearer good":
            raise switchboard.HandshakeRejected("bad token", 401)
        return None

    async with switchboard.serve(echo, "127.0.0.1", 0, process_request=auth) as srv:
        with pytest.raises(switchboard.InvalidHandshake) as info:
            await switchboard.connect(url(srv))
        assert info.value.status == 401
        assert b"bad token" in info.value.body
        async with switchboard.connect(url(srv), headers={"Authorization": "Bearer good"}) as ws:
            await ws.send("in")
            assert await ws.recv() == "in"


async def test_async_process_request_and_origin_allow_list() -> None:
    async def slow_ok(request: switchboard.Request) -> None:
        await asyncio.sleep(0.01)

    async with switchboard.serve(
        echo, "127.0.0.1", 0, process_request=slow_ok, origins=["http://good.test"]
    ) as srv:
        with pytest.raises(switchboard.InvalidHandshake) as info:
            await switchboard.connect(url(srv), origin="http://evil.test")
        assert info.value.status == 403
        async with switchboard.connect(url(srv), origin="http://good.test") as ws:
            await ws.send("ok")
            assert await ws.recv() == "ok"


async def test_handshake_timeout_drops_slow_client() -> None:
    async with switchboard.serve(echo, "127.0.0.1", 0, open_timeout=0.2) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finishes the headers
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_connect_errors_are_typed() -> None:
    with pytest.raises(switchboard.InvalidURI, match="scheme"):
        switchboard.connect("http://127.0.0.1/")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ConnectionRefusedError):
        await switchboard.connect(f"ws://127.0.0.1:{port}/")


async def test_server_close_sends_1001() -> None:
    async with switchboard.serve(echo, "127.0.0.1", 0) as srv:
        ws = await switchboard.connect(url(srv))
        srv.close()
        with pytest.raises(ConnectionClosedOK) as info:
            await ws.recv()
        await srv.wait_closed()
    assert info.value.code == 1001


async def test_works_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> str | bytes:
        async with switchboard.serve(echo, "127.0.0.1", 0) as srv:
            async with switchboard.connect(url(srv)) as ws:
                await ws.send("uv")
                return await ws.recv()

    result = await asyncio.get_running_loop().run_in_executor(None, uvloop.run, main())
    assert result == "uv"


async def test_frame_trace_at_debug_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="switchboard.frames")
    async with switchboard.serve(echo, "127.0.0.1", 0) as srv:
        async with switchboard.connect(url(srv)) as ws:
            await ws.send("traced")
            assert await ws.recv() == "traced"
            await ws.ping(b"pp")
    lines = [r.getMessage() for r in caplog.records if r.name == "switchboard.frames"]
    # Each side logs what it sends (>) and receives (<).
    assert sum(" > text 6 chars: 'traced'" in line for line in lines) == 2
    assert sum(" < text 6 chars: 'traced'" in line for line in lines) == 2
    assert any(" > Ping(data=b'pp')" in line for line in lines)
    assert any(" < Pong(data=b'pp'" in line for line in lines)
    assert any(" > 1000 (normal closure)" in line for line in lines)


async def test_no_frame_trace_by_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with switchboard.serve(echo, "127.0.0.1", 0) as srv:
        async with switchboard.connect(url(srv)) as ws:
            await ws.send("quiet")
            await ws.recv()
    assert not [r for r in caplog.records if r.name == "switchboard.frames"]

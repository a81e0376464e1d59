"""The `websockets` library (v14+, new asyncio API) as a client of our server and as a
server for our client: echoes, fragments, a 1.2 MB message, pings, close codes, with
and without permessage-deflate, over ws:// and wss://."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import pytest
import websockets
from websockets.asyncio.client import connect as their_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as their_serve

import switchboard
from switchboard import ConnectionClosed, ConnectionClosedError, WebSocket

if TYPE_CHECKING:  # at run time, "conftest" may be another folder's conftest.py
    from conftest import TLS

pytestmark = pytest.mark.timeout(120)

BIG = 1_200_000  # over both libraries' 1 MiB default limit: each side raises its own
OUR_LIMITS = switchboard.Limits(max_message_size=2 << 20, max_frame_size=2 << 20)
THEIR_MAX_SIZE = 2 << 20
# Options for every connection: no proxy from the environment, no keepalive noise.
THEIR_CLIENT: dict[str, Any] = dict(
    proxy=None, ping_interval=None, open_timeout=10, close_timeout=10
)
OURS: dict[str, Any] = dict(ping_interval=None)

MESSAGES: list[str | bytes] = [
    "Hello",
    "",
    "héllo wörld ✓ — 日本語 😀",
    b"\x00\x01\xfe\xff",
    b"",
    "€" * (BIG // 3),  # compressible text, 1.2 MB of UTF-8
    random.Random(6455).randbytes(BIG),  # incompressible binary
]

# (ours, theirs): permessage-deflate on each side; negotiated only when both are on.
COMPRESSION = pytest.mark.parametrize(
    ("ours", "theirs"),
    [(True, True), (True, False), (False, True)],
    ids=["both", "ours-only", "theirs-only"],
)


def our_compression(on: bool) -> switchboard.DeflateOptions | None:
    return switchboard.DeflateOptions() if on else None


def their_compression(on: bool) -> str | None:
    return "deflate" if on else None


async def exchange(ws: Any) -> None:
    """The client's half of the conversation; works with either library's client."""
    for message in MESSAGES:
        await ws.send(message)
        assert await ws.recv() == message
    await ws.send(["frag", "mented ", "✓"])  # both libraries send an iterable in pieces
    assert await ws.recv() == "fragmented ✓"
    await ws.send([b"\x01\x02", b"", b"\x03"])
    assert await ws.recv() == b"\x01\x02\x03"
    await ws.send("ping me")  # the server pings the client, then answers
    assert await ws.recv() == "pinged"


# -- websockets as a client of our server -------------------------------------------


class OurServer:
    """Our echo handler; it records what the server side saw."""

    def __init__(self) -> None:
        self.deflate: list[bool] = []
        self.closed: list[ConnectionClosed] = []

    async def __call__(self, ws: WebSocket) -> None:
        self.deflate.append(ws.protocol.deflate is not None)
        try:
            while True:
                message = await ws.recv()
                if message == "close 4000":
                    await ws.close(4000, "bye")
                elif message == "ping me":
                    assert await ws.ping(b"our ping") >= 0.0
                    await ws.send("pinged")
                else:
                    await ws.send(message)
        except ConnectionClosed as exc:
            self.closed.append(exc)


async def their_client_session(url: str, **options: Any) -> None:
    async with their_connect(url, max_size=THEIR_MAX_SIZE, **THEIR_CLIENT, **options) as theirs:
        await exchange(theirs)
        assert await (await theirs.ping(b"their ping")) >= 0.0
        await theirs.close(4003, "their client is done")
    # They see our answer: the code echoed without a reason.
    assert (theirs.close_code, theirs.close_reason) == (4003, "")

    async with their_connect(url, **THEIR_CLIENT, **options) as theirs:
        await theirs.send("close 4000")
        with pytest.raises(websockets.ConnectionClosedError) as caught:
            await theirs.recv()
    assert caught.value.rcvd is not None
    assert (caught.value.rcvd.code, caught.value.rcvd.reason) == (4000, "bye")


def check_our_side(recorder: OurServer, deflate: bool) -> None:
    """What our server saw of their_client_session (once its handlers are done)."""
    assert recorder.deflate == [deflate, deflate]
    closes = [(type(c), c.code, c.reason, c.rcvd_then_sent) for c in recorder.closed]
    assert closes == [
        (ConnectionClosedError, 4003, "their client is done", True),
        (ConnectionClosedError, 4000, "bye", False),
    ]


@COMPRESSION
async def test_their_client_our_server(ours: bool, theirs: bool) -> None:
    recorder = OurServer()
    async with switchboard.serve(
        recorder, "127.0.0.1", 0, compression=our_compression(ours), limits=OUR_LIMITS, **OURS
    ) as server:
        await their_client_session(
            f"ws://127.0.0.1:{server.port}/", compression=their_compression(theirs)
        )
    check_our_side(recorder, ours and theirs)


async def test_their_client_our_server_tls(tls: TLS) -> None:
    recorder = OurServer()
    async with switchboard.serve(
        recorder, "127.0.0.1", 0, ssl=tls.server, limits=OUR_LIMITS, **OURS
    ) as server:
        await their_client_session(f"wss://localhost:{server.port}/", ssl=tls.client)
    check_our_side(recorder, True)


async def test_their_client_over_our_limit() -> None:
    recorder = OurServer()
    async with switchboard.serve(recorder, "127.0.0.1", 0, **OURS) as server:  # 1 MiB limits
        async with their_connect(
            f"ws://127.0.0.1:{server.port}/", compression=None, **THEIR_CLIENT
        ) as theirs:
            await theirs.send(b"x" * ((1 << 20) + 1))
            with pytest.raises(websockets.ConnectionClosedError) as caught:
                await theirs.recv()
    reason = "frame too big: 1048577 bytes; the limit is 1048576"
    assert caught.value.rcvd is not None
    assert (caught.value.rcvd.code, caught.value.rcvd.reason) == (1009, reason)
    assert [(c.code, c.reason) for c in recorder.closed] == [(1009, reason)]


# -- websockets as a server for our client ------------------------------------------


class TheirServer:
    """Their echo handler; it records what their side saw."""

    def __init__(self) -> None:
        self.extensions: list[list[str]] = []
        self.closes: list[tuple[int | None, str | None]] = []

    async def __call__(self, ws: ServerConnection) -> None:
        self.extensions.append([e.name for e in ws.protocol.extensions])
        try:
            async for message in ws:
                if message == "close 4000":
                    await ws.close(4000, "bye")
                elif message == "ping me":
                    assert await (await ws.ping(b"their ping")) >= 0.0
                    await ws.send("pinged")
                else:
                    await ws.send(message)
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
        self.closes.append((ws.close_code, ws.close_reason))


def their_server(handler: TheirServer, compression: bool, **options: Any) -> Any:
    """Their server on 127.0.0.1, with limits raised like ours."""
    return their_serve(
        handler,
        "127.0.0.1",
        0,
        compression=their_compression(compression),
        max_size=THEIR_MAX_SIZE,
        ping_interval=None,
        **options,
    )


def port_of(server: Any) -> int:
    return int(next(iter(server.sockets)).getsockname()[1])


async def our_client_session(url: str, **options: Any) -> bool:
    """Our client's conversation with their server; return whether deflate was on."""
    async with switchboard.connect(url, limits=OUR_LIMITS, **OURS, **options) as ours:
        await exchange(ours)
        assert await ours.ping(b"our ping") >= 0.0
        negotiated = ours.protocol.deflate is not None
        await ours.close(4003, "our client is done")
    # websockets echoes the close frame whole, reason included.
    assert (ours.close_code, ours.close_reason) == (4003, "our client is done")

    async with switchboard.connect(url, **OURS, **options) as ours:
        await ours.send("close 4000")
        with pytest.raises(ConnectionClosedError) as caught:
            await ours.recv()
    assert (caught.value.code, caught.value.reason, caught.value.rcvd_then_sent) == (
        4000,
        "bye",
        True,
    )
    return negotiated


def check_their_side(handler: TheirServer, deflate: bool) -> None:
    """What their server saw of our_client_session (once its handlers are done)."""
    assert handler.extensions == [["permessage-deflate"] if deflate else []] * 2
    # Their close_code/close_reason come from the close frame they received.
    assert handler.closes == [(4003, "our client is done"), (4000, "")]


@COMPRESSION
async def test_our_client_their_server(ours: bool, theirs: bool) -> None:
    handler = TheirServer()
    async with their_server(handler, theirs) as server:
        url = f"ws://127.0.0.1:{port_of(server)}/"
        negotiated = await our_client_session(url, compression=our_compression(ours))
    assert negotiated == (ours and theirs)
    check_their_side(handler, ours and theirs)


async def test_our_client_their_server_tls(tls: TLS) -> None:
    handler = TheirServer()
    async with their_server(handler, True, ssl=tls.server) as server:
        url = f"wss://localhost:{port_of(server)}/"
        assert await our_client_session(url, ssl=tls.client)
    check_their_side(handler, True)


async def test_our_client_over_their_limit() -> None:
    handler = TheirServer()
    async with their_server(handler, False) as server:
        url = f"ws://127.0.0.1:{port_of(server)}/"
        async with switchboard.connect(url, compression=None, **OURS) as ours:
            await ours.send(b"x" * (THEIR_MAX_SIZE + 1))
            with pytest.raises(ConnectionClosedError) as caught:
                await ours.recv()
    reason = f"frame with {THEIR_MAX_SIZE + 1} bytes exceeds limit of {THEIR_MAX_SIZE} bytes"
    assert (caught.value.code, caught.value.reason) == (1009, reason)

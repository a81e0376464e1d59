"""Refusals on a real socket: whatever a client sends, it gets a 101 or a 4xx it can
read (never a 500, a traceback, or a connection reset), and the server lets go of
the connection within its bounds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from server_helpers import TIMEOUT, UPGRADE, Raw, until

import switchboard
from switchboard import Limits, Router, WebSocket

pytestmark = pytest.mark.timeout(120)


async def echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


@pytest.fixture
async def server() -> AsyncIterator[switchboard.Server]:
    router = Router()
    router.get("/hello")(lambda request: "hello")
    router.websocket("/chat")(echo)
    limits = Limits(max_body_size=1000, max_header_size=4096, max_line_length=1024)
    async with switchboard.serve(router, "127.0.0.1", 0, limits=limits) as srv:
        yield srv


# -- malformed handshakes: 101 or 4xx, no ERROR line ------------------------------

HANDSHAKE = [
    ("Host", "127.0.0.1"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Protocol", "chat"),
    ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
    ("Origin", "http://127.0.0.1"),
]
TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# What the parser passes through as a value: latin-1 without CR, LF and NUL.
field_values = st.one_of(
    st.text(st.characters(codec="latin-1", exclude_characters="\r\n\0"), max_size=30),
    st.builds(lambda c, n: c * n, st.sampled_from("aé\x9b="), st.integers(60, 900)),
)
field_names = st.one_of(
    st.sampled_from([name for name, _ in HANDSHAKE]),
    st.text(TCHARS, min_size=1, max_size=12),
    st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), min_size=1, max_size=8),
)


@st.composite
def handshakes(draw: st.DrawFn) -> bytes:
    """One complete request: the handshake with headers dropped, changed, repeated
    and added. Values never contain CR or LF, so it stays exactly one request."""
    fields = []
    for name, value in HANDSHAKE:
        action = draw(st.sampled_from(("keep", "keep", "drop", "change", "repeat")))
        if action in ("keep", "repeat"):
            fields.append((name, value))
        if action in ("change", "repeat"):
            fields.append((name, draw(field_values)))
    fields += draw(st.lists(st.tuples(field_names, field_values), max_size=3))
    fields = draw(st.permutations(fields))
    lines = ["GET /chat HTTP/1.1", *(f"{name}: {value}" for name, value in fields)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _with(name: str, value: str) -> bytes:
    lines = ["GET /chat HTTP/1.1"]
    lines += [f"{n}: {value if n == name else v}" for n, v in HANDSHAKE]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=handshakes())
@example(request=_with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=é"))  # was a 500
@example(request=_with("Origin", "http://" + "é" * 900))
@example(request=_with("Sec-WebSocket-Protocol", "\x9b" * 900))
async def test_any_handshake_gets_101_or_a_4xx_and_no_error_log(
    server: switchboard.Server, caplog: pytest.LogCaptureFixture, request: bytes
) -> None:
    caplog.set_level(logging.INFO, logger="switchboard")
    caplog.clear()
    raw = await Raw.open(server.port)
    try:
        raw.send(request)
        reply = await raw.reply()  # logged before it was written
    finally:
        await raw.close()
    assert reply.status == 101 or 400 <= reply.status < 500, (reply.status, reply.body)
    if reply.status != 101:
        assert 0 < len(reply.body) <= 400, reply.body
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]
    refusals = [r for r in caplog.records if r.getMessage().startswith("handshake ")]
    assert len(refusals) <= 1
    assert all(len(r.getMessage()) <= 600 for r in refusals)


async def test_a_non_ascii_key_is_a_400_not_a_hook_failure(
    server: switchboard.Server, caplog: pytest.LogCaptureFixture
) -> None:
    raw = await Raw.open(server.port)
    raw.send(_with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=é"))
    reply = await raw.reply()
    await raw.close()
    assert (reply.status, reply.text()) == (
        400,
        "invalid Sec-WebSocket-Key 'dGhlIHNhbXBsZSBub25jZQ=é'\n",
    )
    assert server.metrics.handshakes == {"accepted": 0, "rejected": 0, "failed": 1}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- refusals while the client is still sending -----------------------------------

PAD = b"X-Pad: " + b"a" * 1000 + b"\r\n"
# Each starts a request the server refuses before it has read all of it.
OVERRUNS = {
    431: b"GET /hello HTTP/1.1\r\nHost: x\r\n" + PAD * 8,  # header section over 4096
    414: b"GET /" + b"a" * 2000,  # request line over 1024, still going
    413: b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n",
    400: b"GARBAGE\r\n",
    # A WebSocket handshake refused (no such route) while the client sends on.
    404: b"GET /nowhere HTTP/1.1\r\nHost: x\r\n" + "\r\n".join(UPGRADE).encode() + b"\r\n\r\n",
}


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    """Status, body and whatever came after the body up to EOF. A connection reset
    raises ConnectionResetError."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
    rest = await asyncio.wait_for(reader.read(), TIMEOUT)  # until EOF
    return int(lines[0].split(" ")[1]), body, rest


async def overrun(
    port: int, start: bytes, *, forever: bool = False
) -> tuple[int, bytes, bytes, BaseException | None]:
    """Send ``start``, then keep sending padding while reading the answer.

    The sender stops once the answer and EOF are read, unless ``forever``: then it
    sends until the server drops the connection (a send error, returned last).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = asyncio.Event()
    send_error: BaseException | None = None

    async def send() -> None:
        nonlocal send_error
        # A first burst larger than one read, so input is pending when the server
        # refuses; then a steady stream.
        writer.write(start + PAD * 300)
        try:
            while forever or not done.is_set():
                writer.write(PAD * 16)
                await writer.drain()
                await asyncio.sleep(0)  # drain() need not yield: let the reader read
        except (ConnectionError, OSError) as exc:
            send_error = exc

    sender = asyncio.ensure_future(send())
    try:
        status, body, rest = await read_response(reader)
    finally:
        done.set()
    await asyncio.wait_for(sender, TIMEOUT)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return status, body, rest, send_error


@pytest.mark.parametrize("status", list(OVERRUNS))
async def test_refusal_is_read_whole_while_the_client_keeps_sending(
    server: switchboard.Server, status: int
) -> None:
    got, body, rest, _ = await overrun(server.port, OVERRUNS[status])
    assert (got, rest) == (status, b"")
    assert body.endswith(b"\n") and len(body) > 1
    await until(lambda: not server._http)


async def test_50_clients_refused_at_once_all_read_their_status(
    server: switchboard.Server,
) -> None:
    results = await asyncio.gather(
        *(overrun(server.port, OVERRUNS[431]) for _ in range(50)), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException) or (r[0], r[2]) != (431, b"")]
    assert not failures, f"{len(failures)} of 50 did not read their 431: {failures[:3]}"
    await until(lambda: not server._http)
    assert server.metrics.http_requests == {431: 50}


async def test_a_client_that_never_stops_sending_is_dropped(
    server: switchboard.Server,
) -> None:
    got, _, rest, send_error = await overrun(server.port, OVERRUNS[431], forever=True)
    assert (got, rest) == (431, b"")  # it read the refusal first
    assert isinstance(send_error, ConnectionError)  # then the server let go
    await until(lambda: not server._http)
    metrics = await Raw.open(server.port)
    text = (await metrics.request("GET", "/metrics")).text()
    await metrics.close()
    assert "switchboard_http_connections_open 1\n" in text  # the scrape's own


async def test_a_slow_client_that_never_stops_sending_is_dropped(
    server: switchboard.Server,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    # More than one read, so input is pending at the refusal; far less than the
    # discard bound, which the trickle after it never reaches: time ends it.
    writer.write(OVERRUNS[400] + PAD * 300)
    status, _, rest = await read_response(reader)
    assert (status, rest) == (400, b"")

    async def trickle() -> None:
        while True:
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.02)

    with pytest.raises(ConnectionError):
        await asyncio.wait_for(trickle(), TIMEOUT)
    writer.close()
    await until(lambda: not server._http)

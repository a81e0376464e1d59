"""Property tests of the parsers: the frame parser and the HTTP/1.1 parser.

(a) feeding a valid frame stream in any split gives the same events as feeding it
whole; (b) what one Connection sends, the other parses back unchanged, with and
without a negotiated permessage-deflate; (c) arbitrary bytes never raise anything but
the documented errors, never leave data buffered after a failure, and never hang.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from switchboard.protocol.connection import Connection, Role, State
from switchboard.protocol.deflate import (
    EXTENSION,
    DeflateOptions,
    PerMessageDeflate,
    client_accept,
    client_offer,
    server_negotiate,
)
from switchboard.protocol.errors import (
    Close,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHTTP,
    ProtocolError,
)
from switchboard.protocol.events import Event, Fragment, Message, Ping, Pong
from switchboard.protocol.frames import Opcode, encode_frame
from switchboard.protocol.http11 import RequestParser, ResponseParser
from switchboard.protocol.limits import Limits

# The file's budget is ~20 s on a shared 2-core machine: modest example counts, no
# per-example deadline (a hang is caught by the timeout mark instead).
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.timeout(120)

# Sizes at the edges of the 7-bit, 16-bit and 64-bit length encodings.
EDGE_SIZES = (125, 126, 127, 65535, 65536)

# -- strategies -----------------------------------------------------------------


def split(data: Any, cuts: Sequence[int]) -> list[Any]:
    """``data`` cut at ``cuts`` (positions in any order; empty pieces included)."""
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _fill(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


payloads = st.one_of(
    st.binary(max_size=300),
    st.builds(_fill, st.sampled_from(EDGE_SIZES), st.integers(0, 2**32)),
)
texts = st.one_of(
    st.text(max_size=200),
    st.builds(lambda n, c: c * n, st.sampled_from((43, 65536)), st.sampled_from("aé€😀")),
)
control_payloads = st.binary(max_size=125)
masks = st.binary(min_size=4, max_size=4)


@dataclass(frozen=True)
class Sent:
    """One thing a peer sends: a message (whole or in pieces), or a control frame."""

    kind: str  # "message", "ping" or "pong"
    data: str | bytes  # the message, or the control payload
    pieces: tuple[str | bytes, ...] = ()  # fragments; empty for a single frame
    compress: bool | None = None


@st.composite
def messages(draw: st.DrawFn) -> Sent:
    data: str | bytes = draw(st.one_of(texts, payloads))
    compress = draw(st.sampled_from((None, True, False)))
    if not draw(st.booleans()):
        return Sent("message", data, compress=compress)
    # Cut the message at random points; empty pieces are legal frames.
    pieces = split(data, draw(st.lists(st.integers(0, len(data)), max_size=4)))
    return Sent("message", data, tuple(pieces), compress)


controls = st.builds(Sent, st.sampled_from(("ping", "pong")), control_payloads)
items = st.lists(st.one_of(messages(), controls), max_size=8)


def reassemble(events: list[Event]) -> list[object]:
    """Messages joined from their fragments, and control events, in order."""
    out: list[object] = []
    parts: list[str | bytes] = []
    for item in events:
        if isinstance(item, Fragment):
            parts.append(item.data)
            if item.fin:
                out.append("".join(parts) if isinstance(item.data, str) else b"".join(parts))  # type: ignore[arg-type]
                parts = []
        elif isinstance(item, Message):
            out.append(item.data)
        else:
            out.append(item)
    assert parts == [], "a fragmented message never ended"
    return out


# Sent between the first two fragments of a message in several pieces: control frames
# may come in the middle of a fragmented message (RFC 6455 5.4).
MID = b"between fragments"


def expected(sent: list[Sent]) -> list[object]:
    """What ``reassemble`` gives for ``sent`` on the receiving side (pongs carry no
    acknowledgement: the receiver sent no pings)."""
    out: list[object] = []
    for item in sent:
        if len(item.pieces) > 1:
            out.append(Ping(MID))  # it arrives before the message is complete
        if item.kind == "ping":
            out.append(Ping(bytes(item.data)))  # type: ignore[arg-type]
        elif item.kind == "pong":
            out.append(Pong(bytes(item.data)))  # type: ignore[arg-type]
        else:
            out.append(item.data)
    return out


def raw_stream(
    sent: list[Sent], draw: Callable[[st.SearchStrategy[Any]], Any], *, mask: bool, deflate: bool
) -> bytes:
    """Frames for ``sent`` built by hand with ``encode_frame``, as a client (masked)
    or a server would send them. A message in several ``pieces`` is cut again at
    random bytes (so text is split inside characters), with a MID ping in it."""
    codec = PerMessageDeflate() if deflate else None
    frames: list[bytes] = []

    def frame(opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False) -> None:
        key = draw(masks) if mask else None
        frames.append(encode_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=key))

    for item in sent:
        if item.kind != "message":
            frame(Opcode.PING if item.kind == "ping" else Opcode.PONG, bytes(item.data))  # type: ignore[arg-type]
            continue
        opcode = Opcode.TEXT if isinstance(item.data, str) else Opcode.BINARY
        data = item.data.encode() if isinstance(item.data, str) else item.data
        compressed = codec is not None and item.compress is not False
        if not item.pieces:
            frame(opcode, codec.compress(data) if codec and compressed else data, rsv1=compressed)
            continue
        n = len(item.pieces) - 1  # as many cuts as the item has, at other places
        pieces = split(data, draw(st.lists(st.integers(0, len(data)), min_size=n, max_size=n)))
        for i, piece in enumerate(pieces):
            fin = i == len(pieces) - 1
            if codec is not None and compressed:
                piece = codec.compress(piece, fin)
            frame(Opcode.CONT if i else opcode, piece, fin, rsv1=compressed and i == 0)
            if i == 0 and len(item.pieces) > 1:
                frame(Opcode.PING, MID)
    return b"".join(frames)


def feed_in_pieces(conn: Connection, data: bytes, cuts: list[int]) -> None:
    for piece in split(data, cuts):
        conn.receive_data(piece)


BIG = Limits(max_message_size=None, max_frame_size=None)

# -- (a) any split gives the same events ------------------------------------------


@FAST
@given(sent=items, deflate=st.booleans(), data=st.data())
def test_any_split_gives_the_same_events(
    sent: list[Sent], deflate: bool, data: st.DataObject
) -> None:
    stream = raw_stream(sent, data.draw, mask=True, deflate=deflate)
    whole = Connection(Role.SERVER, deflate=PerMessageDeflate() if deflate else None, limits=BIG)
    whole.receive_data(stream)
    events = whole.events_received()
    pongs = b"".join(whole.data_to_send())

    if len(stream) < 2000 and data.draw(st.booleans()):
        cuts = list(range(len(stream)))  # byte by byte
    else:
        cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    pieced = Connection(Role.SERVER, deflate=PerMessageDeflate() if deflate else None, limits=BIG)
    feed_in_pieces(pieced, stream, cuts)
    # The same messages and control frames; fragments follow the reads, not the frames.
    assert reassemble(pieced.events_received()) == reassemble(events)
    assert b"".join(pieced.data_to_send()) == pongs  # the same pongs, in the same order
    assert pieced.failure is None and whole.failure is None

    # And the events are the messages that were framed.
    assert reassemble(events) == expected(sent)


# -- (b) serialize then parse is the identity -------------------------------------

window_bits = st.one_of(st.none(), st.integers(8, 15))
deflate_options = st.builds(
    DeflateOptions,
    level=st.sampled_from((0, 1, 6, 9)),
    mem_level=st.sampled_from((1, 8, 9)),
    server_max_window_bits=window_bits,
    client_max_window_bits=window_bits,
    server_no_context_takeover=st.booleans(),
    client_no_context_takeover=st.booleans(),
    threshold=st.sampled_from((0, 1, 128)),
)


def negotiate(
    client_options: DeflateOptions, server_options: DeflateOptions
) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """Run the permessage-deflate negotiation; return (client codec, server codec)."""
    answer = server_negotiate([client_offer(client_options)], server_options)
    if answer is None:
        # Only a server that must limit the client's window may decline, and our
        # client always offers client_max_window_bits.
        raise AssertionError("the server declined our own client's offer")
    params, server_codec = answer
    client_codec = client_accept([(EXTENSION, params)], client_options)
    assert client_codec is not None
    # Each side's compressor matches the other's decompressor.
    assert client_codec.local_max_window_bits == server_codec.remote_max_window_bits
    assert server_codec.local_max_window_bits == client_codec.remote_max_window_bits
    assert client_codec.local_no_context_takeover == server_codec.remote_no_context_takeover
    assert server_codec.local_no_context_takeover == client_codec.remote_no_context_takeover
    return client_codec, server_codec


def send(conn: Connection, item: Sent) -> list[bytes]:
    """Send ``item`` with the Connection API; return the payloads of the pings sent."""
    if item.kind == "ping":
        return [conn.send_ping(bytes(item.data))]  # type: ignore[arg-type]
    if item.kind == "pong":
        conn.send_pong(bytes(item.data))  # type: ignore[arg-type]
        return []
    if not item.pieces:
        if isinstance(item.data, str):
            conn.send_text(item.data, compress=item.compress)
        else:
            conn.send_binary(item.data, compress=item.compress)
        return []
    pings = []
    for i, piece in enumerate(item.pieces):
        conn.send_fragment(piece, fin=i == len(item.pieces) - 1, compress=item.compress)
        if i == 0 and len(item.pieces) > 1:
            pings.append(conn.send_ping(MID))
    return pings


close_codes = st.one_of(
    st.sampled_from((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014, 1005)),
    st.integers(3000, 4999),
)
reasons = st.text(max_size=40)


@FAST
@given(
    sent=items,
    options=st.one_of(st.none(), st.tuples(deflate_options, deflate_options)),
    sender_role=st.sampled_from(Role),
    code=close_codes,
    reason=reasons,
    data=st.data(),
)
def test_what_one_side_sends_the_other_parses_back(
    sent: list[Sent],
    options: tuple[DeflateOptions, DeflateOptions] | None,
    sender_role: Role,
    code: int,
    reason: str,
    data: st.DataObject,
) -> None:
    client_codec = server_codec = None
    if options is not None:
        client_codec, server_codec = negotiate(*options)
    client = Connection(Role.CLIENT, deflate=client_codec, limits=BIG)
    server = Connection(Role.SERVER, deflate=server_codec, limits=BIG)
    sender, receiver = (client, server) if sender_role is Role.CLIENT else (server, client)

    pings = [ping for item in sent for ping in send(sender, item)]
    if len(reason.encode()) > 123 or code == 1005:
        reason = ""
    sender.send_close(code, reason)

    wire = b"".join(sender.data_to_send())
    feed_in_pieces(receiver, wire, data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    assert receiver.failure is None
    assert reassemble(receiver.events_received()) == [*expected(sent), Close(code, reason)]

    # The receiver answered each ping and echoed the close code; the sender sees both.
    # A pong acknowledges its ping and any earlier one; a payload is outstanding once.
    outstanding = list(dict.fromkeys(pings))
    pongs = []
    for ping in pings:
        acknowledged: tuple[bytes, ...] = ()
        if ping in outstanding:
            acknowledged = tuple(outstanding[: outstanding.index(ping) + 1])
            del outstanding[: len(acknowledged)]
        pongs.append(Pong(ping, acknowledged))
    sender.receive_data(b"".join(receiver.data_to_send()))
    assert sender.events_received() == [*pongs, Close(code, "")]
    assert sender.failure is None
    assert sender.close_rcvd_then_sent is False and receiver.close_rcvd_then_sent is True
    assert sender.state is State.CLOSING and receiver.state is State.CLOSING
    kind = ConnectionClosedOK if code in (1000, 1001, 1005) else ConnectionClosedError
    for conn in (sender, receiver):
        assert type(conn.closed_exception()) is kind
        assert conn.closed_exception().code == code
    assert server.should_close_transport


@FAST
@given(client_options=deflate_options, server_options=deflate_options)
def test_negotiation_always_agrees(
    client_options: DeflateOptions, server_options: DeflateOptions
) -> None:
    client_codec, server_codec = negotiate(client_options, server_options)
    # What was asked for is honoured.
    for asked, got in (
        (client_options.server_max_window_bits, server_codec.local_max_window_bits),
        (server_options.server_max_window_bits, server_codec.local_max_window_bits),
        (client_options.client_max_window_bits, client_codec.local_max_window_bits),
        (server_options.client_max_window_bits, client_codec.local_max_window_bits),
    ):
        assert asked is None or got <= asked
    if client_options.server_no_context_takeover or server_options.server_no_context_takeover:
        assert server_codec.local_no_context_takeover
    if client_options.client_no_context_takeover or server_options.client_no_context_takeover:
        assert client_codec.local_no_context_takeover


# -- (c) arbitrary bytes ------------------------------------------------------------

limits = st.builds(
    Limits,
    max_message_size=st.sampled_from((None, 0, 16, 200, 1 << 20)),
    max_frame_size=st.sampled_from((None, 0, 16, 200, 1 << 20)),
    max_fragments=st.sampled_from((None, 1, 3)),
)


@st.composite
def hostile_streams(draw: st.DrawFn, mask: bool) -> bytes:
    """Random bytes (a quarter of the time), or a valid stream with bytes overwritten,
    frames and headers inserted, and the end cut off."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.binary(max_size=400))
    stream = bytearray(raw_stream(draw(items), draw, mask=mask, deflate=draw(st.booleans())))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(stream)))
        action = draw(st.sampled_from(("set", "insert", "truncate", "header", "frame")))
        if action == "set" and pos < len(stream):
            stream[pos] = draw(st.integers(0, 255))
        elif action == "insert":
            stream[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif action == "truncate":
            del stream[pos:]
        elif action == "frame":  # well framed, with any opcode, RSV1 and payload
            opcode = draw(st.sampled_from((0, 1, 2, 8, 9, 10, 3, 11)))
            payload = draw(st.binary(max_size=40))
            fin, rsv1 = draw(st.booleans()), draw(st.booleans())
            key = draw(masks) if mask else None
            stream[pos:pos] = encode_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=key)
        else:  # a random frame header: opcode, flags and lengths at the edges
            first = draw(st.integers(0, 255))
            length = draw(st.sampled_from((0, 1, 2, 125, 126, 127)))
            extra = draw(st.binary(min_size=0, max_size=8))
            stream[pos:pos] = bytes((first, length | (0x80 if mask else 0))) + extra
    return bytes(stream)


def feed_hostile(
    role: Role, deflate: bool, limits: Limits, stream: bytes, cuts: list[int]
) -> Connection:
    """Feed ``stream`` in pieces and check how the connection copes; return it."""
    conn = Connection(role, deflate=PerMessageDeflate() if deflate else None, limits=limits)
    for piece in split(stream, cuts):
        conn.receive_data(piece)  # never raises
        # Buffered input is bounded: at most one frame header plus one frame's payload
        # (the message limit bounds a data frame too, unless it is compressed; a control
        # frame is at most 125 bytes). After a failure: test_failure_keeps_nothing_buffered.
        bound = limits.max_frame_size
        if not deflate and limits.max_message_size is not None:
            bound = min(bound or limits.max_message_size, limits.max_message_size)
        if conn.failure is None and bound is not None:
            assert len(conn._buf) <= 14 + max(bound, 125)

    events = conn.events_received()
    assert all(isinstance(e, (Message, Fragment, Ping, Pong, Close)) for e in events)
    out = b"".join(conn.data_to_send())
    event(f"closed by the peer: {conn.close_rcvd is not None}")
    event(f"failure: {conn.failure and conn.failure.code}")
    if conn.failure is not None:
        failure = conn.failure
        assert isinstance(failure, ProtocolError)
        assert failure.code in (1002, 1007, 1009), failure
        assert conn.state is State.CLOSING and not conn.should_close_transport
        # The close frame that fails the connection is the last thing written.
        if conn.close_rcvd is None:
            assert conn.close_sent is not None and conn.close_sent.code == failure.code
            peer = Connection(Role.CLIENT if role is Role.SERVER else Role.SERVER, limits=BIG)
            peer.receive_data(out)
            assert peer.failure is None
            assert peer.events_received()[-1] == conn.close_sent
        # Nothing more is parsed, written or buffered.
        kept = len(conn._buf)
        conn.receive_data(stream or b"\x81\x00")
        assert conn.events_received() == [] and conn.data_to_send() == []
        assert len(conn._buf) == kept
    return conn


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(role=st.sampled_from(Role), deflate=st.booleans(), limits=limits, data=st.data())
def test_arbitrary_bytes_fail_cleanly(
    role: Role, deflate: bool, limits: Limits, data: st.DataObject
) -> None:
    stream = data.draw(hostile_streams(mask=role is Role.SERVER))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    conn = feed_hostile(role, deflate, limits, stream, cuts)
    conn.receive_eof()
    assert conn.state is State.CLOSED and len(conn._buf) == 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    role=st.sampled_from(Role),
    deflate=st.booleans(),
    limits=limits,
    stream=st.one_of(hostile_streams(mask=True), hostile_streams(mask=False)),
    cuts=st.lists(st.integers(0, 600), max_size=6),
)
# A continuation frame without a message to continue, its header split in two.
@example(role=Role.SERVER, deflate=False, limits=Limits(), stream=b"\x00\x00", cuts=[1])
def test_failure_keeps_nothing_buffered(
    role: Role, deflate: bool, limits: Limits, stream: bytes, cuts: list[int]
) -> None:
    conn = feed_hostile(role, deflate, limits, stream, [min(c, len(stream)) for c in cuts])
    assert conn.failure is None or len(conn._buf) == 0


def join(parts: list[str | bytes]) -> str | bytes:
    return "".join(parts) if parts and isinstance(parts[0], str) else b"".join(parts)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(role=st.sampled_from(Role), deflate=st.booleans(), limits=limits, data=st.data())
def test_coalesced_fragments_change_only_the_number_of_events(
    role: Role, deflate: bool, limits: Limits, data: st.DataObject
) -> None:
    """A read reports at most one Fragment per message it ends, plus one; otherwise
    the messages, the failure and what is sent are those of one Fragment per frame
    (but for the unfinished message's data before a failure, which is dropped)."""
    stream = data.draw(hostile_streams(mask=role is Role.SERVER))
    pieces = split(stream, data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    results = []
    for coalesce in (True, False):
        conn = Connection(role, deflate=PerMessageDeflate() if deflate else None, limits=limits)
        conn.coalesce_fragments = coalesce
        out: list[object] = []
        parts: list[str | bytes] = []
        for piece in pieces:
            conn.receive_data(piece)
            read = conn.events_received()
            fragments = [e for e in read if isinstance(e, Fragment)]
            assert not coalesce or len(fragments) <= 1 + sum(e.fin for e in fragments)
            for item in read:
                if isinstance(item, Fragment):
                    parts.append(item.data)
                    if item.fin:
                        out.append(join(parts))
                        parts = []
                else:
                    out.append(item)
        failure = conn.failure and (conn.failure.code, conn.failure.reason)
        if failure is None and any(parts):  # what arrived of an unfinished message
            out.append(join(parts))
        sent = b"".join(conn.data_to_send()) if role is Role.SERVER else b""  # unmasked
        results.append((failure, sent, out))
    assert results[0] == results[1]


# -- HTTP/1.1 ------------------------------------------------------------------------

http_limits = st.builds(
    Limits,
    max_line_length=st.sampled_from((16, 64, 8192)),
    max_header_count=st.sampled_from((1, 4, 128)),
    max_header_size=st.sampled_from((64, 256, 65536)),
    max_body_size=st.sampled_from((0, 10, 1 << 20)),
)

REQUEST = (
    b"GET /chat?x=1 HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
    b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;ext=1\r\nabc\r\n0\r\nTrailer: t\r\n\r\n"
    b"GET /old HTTP/1.0\r\n\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    b"HTTP/1.0 200 OK\r\n\r\nuntil eof"
)
# Bytes that matter to the grammar, to make mutations hit the interesting paths.
HTTP_BYTES = st.sampled_from(b"\r\n :;\t\x00\x7f\x80\xff0aZ/-")


@st.composite
def http_streams(draw: st.DrawFn, valid: bytes) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    stream = bytearray(valid)
    for _ in range(draw(st.integers(1, 5))):
        pos = draw(st.integers(0, len(stream)))
        action = draw(st.sampled_from(("set", "insert", "delete", "truncate")))
        if action == "set" and pos < len(stream):
            stream[pos] = draw(HTTP_BYTES)
        elif action == "insert":
            stream[pos:pos] = bytes(draw(st.lists(HTTP_BYTES, min_size=1, max_size=6)))
        elif action == "delete":
            del stream[pos : pos + draw(st.integers(1, 4))]
        else:
            del stream[pos:]
    return bytes(stream)


HTTP_STATUSES = {400, 413, 414, 431, 501, 505}


def drain_http(
    parser: RequestParser | ResponseParser, stream: bytes, cuts: list[int]
) -> list[object]:
    """Feed ``stream`` in pieces, then EOF, taking every complete message; return them.

    Raises only InvalidHTTP (which ends the parse, as it ends a server connection).
    """
    take = parser.next_request if isinstance(parser, RequestParser) else parser.next_response
    messages: list[object] = []

    def take_all() -> None:
        for _ in range(len(stream) + 1):  # each message uses at least one byte
            if (message := take()) is None:
                return
            messages.append(message)
        raise AssertionError("the parser returned more messages than bytes fed")

    for piece in split(stream, cuts):
        parser.feed(piece)
        take_all()
    parser.feed_eof()
    take_all()
    return messages


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limits=http_limits, response=st.booleans(), data=st.data())
def test_http_parsers_only_raise_invalid_http(
    limits: Limits, response: bool, data: st.DataObject
) -> None:
    stream = data.draw(http_streams(RESPONSE if response else REQUEST))
    parser = ResponseParser(limits) if response else RequestParser(limits)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    try:
        event(f"messages: {len(drain_http(parser, stream, cuts))}")
    except InvalidHTTP as exc:
        event(f"InvalidHTTP {exc.status}")
        assert exc.status in HTTP_STATUSES, exc
        assert exc.reason


@FAST
@given(data=st.data(), response=st.booleans())
def test_http_any_split_gives_the_same_messages(data: st.DataObject, response: bool) -> None:
    valid = RESPONSE if response else REQUEST
    cuts = data.draw(st.lists(st.integers(0, len(valid)), max_size=10))
    parser = ResponseParser if response else RequestParser
    whole = drain_http(parser(), valid, [])
    assert len(whole) == 4
    assert drain_http(parser(), valid, cuts) == whole

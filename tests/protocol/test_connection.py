"""The connection state machine, by RFC 6455 section: bytes in, events and bytes out."""

from __future__ import annotations

import pytest

from switchboard.protocol.connection import Connection, Role, State
from switchboard.protocol.errors import (
    Close,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
)
from switchboard.protocol.events import Fragment, Message, Ping, Pong
from switchboard.protocol.frames import Opcode, encode_close, encode_frame
from switchboard.protocol.limits import Limits

MASK = b"\x01\x02\x03\x04"


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """A frame as a client sends it (masked), for feeding a server."""
    return encode_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=MASK)


def server(**kwargs: object) -> Connection:
    return Connection(Role.SERVER, **kwargs)  # type: ignore[arg-type]


def closed_with(conn: Connection, code: int) -> None:
    """The connection failed and queued a close frame with ``code``."""
    assert conn.failure is not None and conn.failure.code == code, conn.failure
    assert conn.close_sent is not None and conn.close_sent.code == code
    out = b"".join(conn.data_to_send())
    assert out[:1] == b"\x88" and int.from_bytes(out[2:4], "big") == code
    # The peer gets time to read the close frame before the transport closes.
    assert not conn.should_close_transport


# -- 5.2 base framing -----------------------------------------------------------


def test_text_and_binary_messages() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.TEXT, "café".encode()))
    conn.receive_data(client_frame(Opcode.BINARY, b"\x00\xff"))
    assert conn.events_received() == [Message("café"), Message(b"\x00\xff")]


def test_any_split_gives_same_events() -> None:
    stream = client_frame(Opcode.TEXT, b"x" * 300) + client_frame(Opcode.PING, b"p")
    for step in (1, 2, 3, 7, 130, 1000):
        conn = server()
        for i in range(0, len(stream), step):
            conn.receive_data(stream[i : i + step])
        assert conn.events_received() == [Message("x" * 300), Ping(b"p")], step


def test_64bit_length() -> None:
    conn = server(limits=Limits(max_message_size=None, max_frame_size=None))
    conn.receive_data(client_frame(Opcode.BINARY, b"a" * 70000))
    assert conn.events_received() == [Message(b"a" * 70000)]


def test_64bit_length_with_high_bit_fails() -> None:
    conn = server()
    conn.receive_data(b"\x82\xff" + b"\x80" + b"\x00" * 7 + MASK)
    closed_with(conn, 1002)


@pytest.mark.parametrize("first", [0x83, 0x87, 0x8B, 0x8F])
def test_reserved_opcodes_fail(first: int) -> None:
    conn = server()
    conn.receive_data(bytes([first, 0x80]) + MASK)
    closed_with(conn, 1002)
    assert "reserved opcode" in conn.failure.reason  # type: ignore[union-attr]


@pytest.mark.parametrize("bits", [0x40, 0x20, 0x10])
def test_reserved_bits_fail_without_extension(bits: int) -> None:
    conn = server()
    conn.receive_data(bytes([0x81 | bits, 0x80]) + MASK)
    closed_with(conn, 1002)


# -- 5.3 masking ------------------------------------------------------------------


def test_server_rejects_unmasked_frames() -> None:
    conn = server()
    conn.receive_data(encode_frame(Opcode.TEXT, b"hi"))
    closed_with(conn, 1002)
    assert conn.failure.reason == "client frames must be masked"  # type: ignore[union-attr]


def test_client_rejects_masked_frames() -> None:
    conn = Connection(Role.CLIENT)
    conn.receive_data(client_frame(Opcode.TEXT, b"hi"))
    assert conn.failure is not None and conn.failure.code == 1002


def test_client_masks_and_server_does_not() -> None:
    client = Connection(Role.CLIENT)
    client.send_text("Hello")
    frame = b"".join(client.data_to_send())
    assert frame[:2] == b"\x81\x85"
    srv = server()
    srv.receive_data(frame)
    assert srv.events_received() == [Message("Hello")]
    srv.send_text("Hello")
    assert srv.data_to_send() == [b"\x81\x05Hello"]


# -- 5.4 fragmentation ------------------------------------------------------------


def test_fragments_with_interleaved_control_frames() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.TEXT, b"Hel", fin=False))
    conn.receive_data(client_frame(Opcode.PING, b"!"))
    conn.receive_data(client_frame(Opcode.CONT, b"lo"))
    assert conn.events_received() == [Fragment("Hel", False), Ping(b"!"), Fragment("lo", True)]
    assert conn.data_to_send() == [b"\x8a\x01!"]


def test_utf8_character_split_across_fragments() -> None:
    conn = server()
    data = "€".encode()
    conn.receive_data(client_frame(Opcode.TEXT, data[:1], fin=False))
    conn.receive_data(client_frame(Opcode.CONT, data[1:]))
    assert conn.events_received() == [Fragment("€", True)]  # no empty piece before it


def fragmented(opcode: int, pieces: list[bytes]) -> list[bytes]:
    """The frames of one message sent as ``pieces``, as a client sends them."""
    return [
        client_frame(Opcode.CONT if i else opcode, piece, fin=i == len(pieces) - 1)
        for i, piece in enumerate(pieces)
    ]


def test_fragments_in_one_read_give_one_event() -> None:
    frames = fragmented(Opcode.BINARY, [bytes([i % 256]) for i in range(1000)])
    conn = server(limits=Limits(max_fragments=None))
    conn.receive_data(b"".join(frames))
    assert conn.events_received() == [Fragment(bytes(i % 256 for i in range(1000)), True)]
    # In two reads: one event per read, whatever the number of frames.
    conn.receive_data(b"".join(frames[:600]) + frames[600][:3])
    conn.receive_data(frames[600][3:] + b"".join(frames[601:]))
    events = conn.events_received()
    assert [len(e.data) for e in events] == [600, 400]  # type: ignore[union-attr]
    assert [e.fin for e in events] == [False, True]  # type: ignore[union-attr]
    # Empty frames add nothing: no event until there is data or the end.
    conn.receive_data(b"".join(fragmented(Opcode.BINARY, [b""] * 500)[:-1]))
    assert conn.events_received() == []
    conn.receive_data(client_frame(Opcode.CONT, b""))
    assert conn.events_received() == [Fragment(b"", True)]
    # With coalescing off (what `connect --trace` needs): one event per frame again.
    conn = server(limits=Limits(max_fragments=None))
    conn.coalesce_fragments = False
    conn.receive_data(b"".join(frames))
    assert len(conn.events_received()) == 1000


def test_coalesced_fragments_and_control_frames() -> None:
    conn = server()
    text = fragmented(Opcode.TEXT, [b"He", b"l", b"lo"])
    conn.receive_data(text[0] + client_frame(Opcode.PING, b"!") + text[1] + text[2])
    # Control frames are reported as they come; the data of the read, once, at its end
    # (or with the message's last frame).
    assert conn.events_received() == [Ping(b"!"), Fragment("Hello", True)]
    assert conn.data_to_send() == [b"\x8a\x01!"]
    # The data before a close frame comes before the Close event.
    binary = fragmented(Opcode.BINARY, [b"a", b"b", b"c"])
    conn.receive_data(binary[0] + binary[1] + client_frame(Opcode.CLOSE, encode_close(1000)))
    assert conn.events_received() == [Fragment(b"ab", False), Close(1000, "")]


def test_text_split_inside_characters_across_many_fragments() -> None:
    text = "κόσμε €uro 😀 " * 50
    data = text.encode()
    frames = fragmented(Opcode.TEXT, [data[i : i + 1] for i in range(len(data))])
    conn = server(limits=Limits(max_fragments=None))
    conn.receive_data(b"".join(frames))
    assert conn.events_received() == [Fragment(text, True)]
    # In reads that end inside frames and inside characters: the same text.
    stream = b"".join(frames)
    for step in (5, 13, 1000):
        conn = server(limits=Limits(max_fragments=None))
        for i in range(0, len(stream), step):
            conn.receive_data(stream[i : i + step])
        events = conn.events_received()
        assert "".join(e.data for e in events) == text, step  # type: ignore[misc, union-attr]
        assert len(events) <= len(stream) // step + 1


def test_invalid_utf8_in_coalesced_fragments_fails_fast() -> None:
    conn = server()
    valid = fragmented(Opcode.TEXT, [b"o", b"k", b"!", b"!"])
    conn.receive_data(b"".join(valid[:3]))
    assert conn.events_received() == [Fragment("ok!", False)]
    # The bad byte fails the connection before the ping after it in the same read is
    # answered, and before anything after it counts.
    conn.receive_data(
        client_frame(Opcode.CONT, b"\xff", fin=False)
        + client_frame(Opcode.PING, b"?")
        + client_frame(Opcode.CONT, b"x")
    )
    closed_with(conn, 1007)
    assert conn.events_received() == []


def test_default_limit_on_fragments() -> None:
    assert Limits().max_fragments == 4096
    frames = fragmented(Opcode.BINARY, [b"x"] * 4097)
    conn = server()
    conn.receive_data(b"".join(frames[:4096]))  # 4096 frames are fine
    assert conn.failure is None
    conn.receive_data(frames[4096][:2])  # the header of one more fails at once
    closed_with(conn, 1009)
    assert conn.failure.reason == "too many fragments: the limit is 4096"  # type: ignore[union-attr]
    conn = server()
    conn.receive_data(b"".join(frames[:4095]) + frames[-1])  # a message of 4096 frames
    assert conn.events_received() == [Fragment(b"x" * 4096, True)]


def test_continuation_without_start_fails() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.CONT, b"x"))
    closed_with(conn, 1002)


def test_new_message_inside_fragmented_message_fails() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.TEXT, b"a", fin=False))
    conn.receive_data(client_frame(Opcode.TEXT, b"b"))
    closed_with(conn, 1002)


def test_send_fragments() -> None:
    conn = server()
    conn.send_fragment("Hel", fin=False)
    conn.send_fragment("lo", fin=True)
    assert conn.data_to_send() == [b"\x01\x03Hel", b"\x80\x02lo"]
    conn.send_fragment(b"a", fin=False)
    with pytest.raises(TypeError):
        conn.send_fragment("b", fin=True)
    with pytest.raises(RuntimeError):
        conn.send_text("interleaved")


# -- 5.5 control frames -----------------------------------------------------------


def test_control_frame_too_long_fails() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.PING, b"x" * 126))
    closed_with(conn, 1002)


def test_fragmented_control_frame_fails() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.PING, b"x", fin=False))
    closed_with(conn, 1002)


def test_ping_is_answered_with_same_payload() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.PING, b"abc"))
    assert conn.events_received() == [Ping(b"abc")]
    assert conn.data_to_send() == [b"\x8a\x03abc"]


def test_pongs_are_matched_to_pings() -> None:
    conn = server()
    first = conn.send_ping()
    second = conn.send_ping(b"two")
    conn.send_ping(b"three")
    conn.receive_data(client_frame(Opcode.PONG, b"unsolicited"))
    conn.receive_data(client_frame(Opcode.PONG, b"two"))
    assert conn.events_received() == [Pong(b"unsolicited", ()), Pong(b"two", (first, second))]
    conn.receive_data(client_frame(Opcode.PONG, b"three"))
    assert conn.events_received() == [Pong(b"three", (b"three",))]


# -- 5.6 data frames / 8.1 UTF-8 --------------------------------------------------


def test_invalid_utf8_fails_with_1007() -> None:
    conn = server()
    conn.receive_data(
        client_frame(Opcode.TEXT, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80")
    )
    closed_with(conn, 1007)


def test_invalid_utf8_fails_as_soon_as_the_fragment_arrives() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.TEXT, b"ok", fin=False))
    conn.receive_data(client_frame(Opcode.CONT, b"\xff", fin=False))
    closed_with(conn, 1007)
    assert conn.events_received() == [Fragment("ok", False)]


def test_invalid_utf8_fails_before_the_frame_is_complete() -> None:
    # Autobahn 6.4.3: a single frame arriving in chops fails at the bad chop.
    payload = "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"edited" * 100
    frame = client_frame(Opcode.TEXT, payload)
    conn = server()
    conn.receive_data(frame[:10])
    assert conn.failure is None
    conn.receive_data(frame[10:24])  # now includes the invalid sequence
    closed_with(conn, 1007)


def test_invalid_utf8_in_a_partial_continuation_frame() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.TEXT, b"\xce", fin=False))  # half a character
    frame = client_frame(Opcode.CONT, b"\xba" + b"\xff" + b"x" * 300)
    conn.receive_data(frame[:9])
    assert conn.failure is None  # the character completes correctly
    conn.receive_data(frame[9:12])
    closed_with(conn, 1007)


def test_valid_text_split_across_reads_is_unaffected() -> None:
    text = "€uro " * 1000
    frame = client_frame(Opcode.TEXT, text.encode())
    conn = server()
    for i in range(0, len(frame), 7):
        conn.receive_data(frame[i : i + 7])
    assert conn.events_received() == [Message(text)]


# -- receive_message(): the lone small message in one call ------------------------------


def test_receive_message_returns_a_lone_message_and_reports_no_event() -> None:
    conn = server()
    assert conn.receive_message(client_frame(Opcode.TEXT, "café".encode())) == "café"
    assert conn.receive_message(client_frame(Opcode.BINARY, b"\x00")) == b"\x00"
    assert conn.events_received() == []


def test_receive_message_takes_anything_else_as_receive_data_does() -> None:
    conn = server()
    frame = client_frame(Opcode.TEXT, b"hello")
    assert conn.receive_message(frame[:3]) is None  # incomplete
    assert conn.receive_message(frame[3:]) is None  # completes a buffered frame
    assert conn.receive_message(frame + client_frame(Opcode.PING, b"p")) is None
    assert conn.events_received() == [Message("hello"), Message("hello"), Ping(b"p")]
    conn.data_to_send()
    assert conn.receive_message(client_frame(Opcode.TEXT, b"\xff")) is None
    closed_with(conn, 1007)
    assert conn.receive_message(client_frame(Opcode.TEXT, b"late")) is None  # discarded
    assert conn.events_received() == []


def test_receive_message_keeps_order_with_events_not_taken_yet() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.TEXT, b"first"))
    assert conn.receive_message(client_frame(Opcode.TEXT, b"second")) is None
    assert conn.events_received() == [Message("first"), Message("second")]


def test_receive_message_takes_the_general_path_past_a_subclass_that_watches_input() -> None:
    seen: list[bytes] = []

    class Watched(Connection):
        def receive_data(self, data: bytes | bytearray | memoryview) -> None:
            seen.append(bytes(data))
            super().receive_data(data)

    conn = Watched(Role.SERVER)
    frame = client_frame(Opcode.TEXT, b"hi")
    assert conn.receive_message(frame) is None
    assert seen == [frame] and conn.events_received() == [Message("hi")]


def test_connection_has_no_instance_dict() -> None:
    # Slots: an idle connection's state costs no dict (measured: 1.3 KiB less).
    conn = server()
    assert not hasattr(conn, "__dict__")
    conn.coalesce_fragments = False
    assert conn.coalesce_fragments is False


def test_receive_message_respects_the_limits() -> None:
    conn = server(limits=Limits(max_message_size=4))
    assert conn.receive_message(client_frame(Opcode.BINARY, b"12345")) is None
    closed_with(conn, 1009)


def test_send_after_close_or_while_fragmenting_is_refused() -> None:
    conn = server()
    conn.send_fragment("a", fin=False)
    with pytest.raises(RuntimeError, match="fragmented message"):
        conn.send_text("b")
    conn.send_fragment("c", fin=True)
    conn.send_text("d")
    assert conn.data_to_send() == [b"\x01\x01a", b"\x80\x01c", b"\x81\x01d"]
    conn.send_close()
    with pytest.raises(ConnectionClosed):
        conn.send_binary(b"e")


# -- large frames: gathered as they arrive, joined and unmasked once --------------------


LARGE = bytes(range(256)) * 1024  # 256 KiB: over the size a frame is gathered from


@pytest.mark.parametrize("role", [Role.SERVER, Role.CLIENT])
@pytest.mark.parametrize("step", [1000, 65536, 100_003])
def test_large_frame_in_many_reads_then_more_frames(role: Role, step: int) -> None:
    mask = MASK if role is Role.SERVER else None
    stream = encode_frame(Opcode.BINARY, LARGE, mask=mask) + encode_frame(
        Opcode.TEXT, b"after", mask=mask
    )
    conn = Connection(role)
    for i in range(0, len(stream), step):
        # A reused buffer, as a caller reading into one would pass: kept only as copies.
        chunk = bytearray(stream[i : i + step])
        conn.receive_data(chunk)
        chunk[:] = b"\0" * len(chunk)
    assert conn.events_received() == [Message(LARGE), Message("after")]


def test_large_text_frame_fails_at_the_read_with_invalid_utf8() -> None:
    payload = "é".encode() * 50_000 + b"\xff" + b"x" * 100_000
    frame = client_frame(Opcode.TEXT, payload)
    conn = server()
    conn.receive_data(frame[:70_000])
    conn.receive_data(frame[70_000:100_000])
    assert conn.failure is None
    conn.receive_data(frame[100_000:100_020])  # the invalid byte is at 100,008
    closed_with(conn, 1007)
    conn.receive_data(frame[100_020:])
    assert conn.events_received() == []


def test_large_text_split_inside_characters() -> None:
    text = "€" * 40_000 + "ok"
    frame = client_frame(Opcode.TEXT, text.encode())
    conn = server()
    for i in range(0, len(frame), 65_537):  # each cut inside a 3-byte character
        conn.receive_data(memoryview(frame)[i : i + 65_537])
    assert conn.events_received() == [Message(text)]


def test_large_continuation_frame() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.BINARY, b"head", fin=False))
    frame = client_frame(Opcode.CONT, LARGE)
    conn.receive_data(frame[:100])
    conn.receive_data(frame[100:])
    assert b"".join(e.data for e in conn.events_received()) == b"head" + LARGE  # type: ignore[union-attr, misc]


def test_eof_during_large_frame() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.BINARY, LARGE)[:70_000])
    conn.receive_eof()
    assert conn.state is State.CLOSED and conn.events_received() == []


# -- limits -------------------------------------------------------------------------


def test_message_too_big_fails_before_payload_arrives() -> None:
    conn = server(limits=Limits(max_message_size=10))
    frame = client_frame(Opcode.BINARY, b"x" * 11)
    conn.receive_data(frame[:8])  # header only: the limit is checked right away
    closed_with(conn, 1009)


def test_fragmented_message_too_big() -> None:
    conn = server(limits=Limits(max_message_size=10))
    conn.receive_data(client_frame(Opcode.BINARY, b"x" * 6, fin=False))
    conn.receive_data(client_frame(Opcode.CONT, b"x" * 6))
    closed_with(conn, 1009)


def test_frame_too_big() -> None:
    conn = server(limits=Limits(max_frame_size=4, max_message_size=100))
    conn.receive_data(client_frame(Opcode.BINARY, b"x" * 5, fin=False))
    closed_with(conn, 1009)


def test_too_many_fragments() -> None:
    conn = server(limits=Limits(max_fragments=2))
    for _ in range(3):
        conn.receive_data(client_frame(Opcode.BINARY if _ == 0 else Opcode.CONT, b"x", fin=False))
    closed_with(conn, 1009)


def test_nothing_is_buffered_after_failure() -> None:
    conn = server(limits=Limits(max_message_size=10))
    conn.receive_data(client_frame(Opcode.BINARY, b"x" * 11)[:4])
    conn.receive_data(b"y" * 100_000)
    assert len(conn._buf) == 0


# -- 7 closing ------------------------------------------------------------------------


def test_peer_initiated_close() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.CLOSE, encode_close(1000, "bye")))
    assert conn.events_received() == [Close(1000, "bye")]
    assert conn.data_to_send() == [b"\x88\x02\x03\xe8"]
    assert conn.close_sent == Close(1000, "")  # the code echoed, not the reason
    assert conn.state is State.CLOSING
    assert conn.should_close_transport  # the server closes TCP first (7.1.1)
    conn.receive_eof()
    assert conn.state is State.CLOSED
    exc = conn.closed_exception()
    assert isinstance(exc, ConnectionClosedOK)
    assert exc.rcvd_then_sent is True and exc.code == 1000 and exc.reason == "bye"


def test_locally_initiated_close() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_close(1001, "going")
    assert conn.state is State.CLOSING
    assert not conn.should_close_transport  # the client waits for the server
    conn.receive_data(encode_frame(Opcode.CLOSE, encode_close(1001)))
    assert conn.events_received() == [Close(1001, "")]
    assert conn.data_to_send()[0][:2] == b"\x88\x87"  # only our close frame was sent
    assert conn.closed_exception().rcvd_then_sent is False
    with pytest.raises(ConnectionClosed):
        conn.send_text("too late")


def test_close_without_reason_is_echoed() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.CLOSE, encode_close(4000)))
    assert conn.data_to_send() == [b"\x88\x02\x0f\xa0"]
    assert conn.close_rcvd == conn.close_sent == Close(4000, "")
    assert conn.closed_exception().rcvd_then_sent is True


def test_close_without_code_is_answered_without_code() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.CLOSE, b""))
    assert conn.events_received() == [Close(1005, "")]
    assert conn.data_to_send() == [b"\x88\x00"]
    conn.receive_eof()
    assert isinstance(conn.closed_exception(), ConnectionClosedOK)


def test_data_after_close_is_ignored() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.CLOSE, b"") + client_frame(Opcode.TEXT, b"late"))
    assert conn.events_received() == [Close(1005, "")]


def test_abnormal_closure() -> None:
    conn = server()
    conn.receive_eof()
    exc = conn.closed_exception()
    assert isinstance(exc, ConnectionClosedError)
    assert exc.code == 1006 and exc.rcvd is None and exc.sent is None


def test_error_close_code_is_not_ok() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.CLOSE, encode_close(1011, "oops")))
    conn.receive_eof()
    assert isinstance(conn.closed_exception(), ConnectionClosedError)


def test_invalid_close_code_fails_with_1002() -> None:
    conn = server()
    conn.receive_data(client_frame(Opcode.CLOSE, b"\x03\xed"))  # 1005 on the wire
    closed_with(conn, 1002)


def test_send_close_validates_arguments() -> None:
    conn = server()
    with pytest.raises(ValueError):
        conn.send_close(1006)
    assert conn.state is State.OPEN
    conn.send_close(4000, "custom")
    conn.send_close(1000)  # a second call is a no-op
    assert conn.data_to_send() == [b"\x88\x08\x0f\xa0custom"]


def test_encode_message_frames_what_needs_nothing_of_the_connection() -> None:
    from switchboard.protocol.frames import parse_message

    server = Connection(Role.SERVER)
    frame = server.encode_message("hé")
    assert frame == b"\x81\x03" + "hé".encode() and server.data_to_send() == []
    assert server.encode_message(b"\x00" * 10) == b"\x82\x0a" + b"\x00" * 10
    assert server.encode_message(b"\x00" * 5000) is None  # large: sent without a copy
    server.send_ping(b"p")  # something queued: it must go first
    assert server.encode_message("x") is None
    server.data_to_send()
    assert parse_message(server.encode_message("x") or b"", False, 100) == "x"
    server.send_close(1000)
    assert server.encode_message("x") is None  # closing
    client = Connection(Role.CLIENT)
    assert client.encode_message("x") is None  # a client's frames are masked
    from switchboard.protocol.deflate import PerMessageDeflate

    compressed = Connection(Role.SERVER, deflate=PerMessageDeflate())
    assert compressed.encode_message("x") is None  # the codec decides

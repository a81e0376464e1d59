"""RFC 6455 section 5 building blocks: masking, headers, close payloads."""

from __future__ import annotations

import os

import pytest

from switchboard.protocol import frames
from switchboard.protocol.errors import Close, ProtocolError
from switchboard.protocol.frames import (
    Opcode,
    apply_mask,
    decode_close,
    encode_close,
    encode_frame,
    encode_header,
)

MASK = b"\x01\x02\x03\x04"


# RFC 6455 5.7 examples.
def test_unmasked_text_frame() -> None:
    assert encode_frame(Opcode.TEXT, b"Hello") == bytes.fromhex("810548656c6c6f")


def test_masked_text_frame() -> None:
    frame = encode_frame(Opcode.TEXT, b"Hello", mask=bytes.fromhex("37fa213d"))
    assert frame == bytes.fromhex("818537fa213d7f9f4d5158")


def test_fragmented_and_ping_examples() -> None:
    assert encode_frame(Opcode.TEXT, b"Hel", fin=False) == bytes.fromhex("010348656c")
    assert encode_frame(Opcode.CONT, b"lo") == bytes.fromhex("80026c6f")
    assert encode_frame(Opcode.PING, b"Hello") == bytes.fromhex("890548656c6c6f")


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (125, "827d"),
        (126, "827e007e"),
        (65535, "827effff"),
        (65536, "827f0000000000010000"),
    ],
)
def test_length_encodings(length: int, header: str) -> None:
    # 7-bit, 16-bit and 64-bit lengths, each at its boundary (RFC 6455 5.2).
    assert encode_header(0x82, length) == bytes.fromhex(header)


@pytest.mark.parametrize("size", [0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 65537])
def test_mask_matches_bytewise_xor_and_python_fallback(size: int) -> None:
    data, mask = os.urandom(size), os.urandom(4)
    expected = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    assert apply_mask(data, mask) == expected
    assert frames._apply_mask_python(data, mask) == expected
    assert apply_mask(memoryview(bytearray(data)), mask) == expected


@pytest.mark.parametrize("sizes", [[], [0], [1, 2, 3], [5, 64, 7], [65, 0, 1000, 3], [70_001] * 3])
def test_unmask_join_matches_mask_of_the_joined_chunks(sizes: list[int]) -> None:
    # Chunks of every phase of the mask, as reads cut a frame; views and bytearrays too.
    chunks: list[bytes | bytearray | memoryview] = [os.urandom(n) for n in sizes]
    mask = os.urandom(4)
    expected = apply_mask(b"".join(chunks), mask)
    assert frames.unmask_join(chunks, mask) == expected
    assert frames._unmask_join_python(chunks, mask) == expected
    mixed = [memoryview(c) if i % 2 else bytearray(c) for i, c in enumerate(chunks)]
    assert frames.unmask_join(tuple(mixed), mask) == expected


def test_unmask_join_rejects_a_bad_mask() -> None:
    with pytest.raises(ValueError, match="mask must be 4 bytes"):
        frames.unmask_join([b"abc"], b"abc")
    with pytest.raises(TypeError):
        frames.unmask_join([b"abc", 3], b"abcd")  # type: ignore[list-item]
    with pytest.raises(TypeError, match="sequence of buffers"):
        frames.unmask_join(3, b"abcd")  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 600, 65535])
@pytest.mark.parametrize("masked", [True, False])
def test_parse_message_is_the_message_of_exactly_one_small_frame(size: int, masked: bool) -> None:
    mask = MASK if masked else None
    text = ("é" * size)[: size // 2] + "x" * (size % 2)
    data = os.urandom(size)
    cases: list[tuple[int, bytes, str | bytes]] = [
        (Opcode.TEXT, text.encode(), text),
        (Opcode.BINARY, data, data),
    ]
    for opcode, payload, message in cases:
        frame = encode_frame(opcode, payload, mask=mask)
        assert frames.parse_message(frame, masked, 1 << 20) == message
        assert frames.parse_message(frame, not masked, 1 << 20) is None  # wrong role
        assert frames.parse_message(frame + b"\x81", masked, 1 << 20) is None  # more follows
        assert frames.parse_message(frame[:-1], masked, 1 << 20) is None  # incomplete
        assert frames.parse_message(frame, masked, len(payload) - 1) is None  # over the limit


@pytest.mark.parametrize(
    "frame",
    [
        encode_frame(Opcode.TEXT, b"\xff", mask=MASK),  # invalid UTF-8: the general parser fails it
        encode_frame(Opcode.TEXT, b"ab", fin=False, mask=MASK),
        encode_frame(Opcode.BINARY, b"ab", rsv1=True, mask=MASK),
        encode_frame(Opcode.PING, b"ab", mask=MASK),
        encode_frame(Opcode.CONT, b"ab", mask=MASK),
        encode_frame(Opcode.BINARY, b"x" * 65536, mask=MASK),  # a 64-bit length
        b"\x82",
        b"",
    ],
)
def test_parse_message_leaves_every_other_frame_to_the_general_parser(frame: bytes) -> None:
    assert frames.parse_message(frame, True, 1 << 20) is None
    assert frames.parse_message(bytearray(frame), True, 1 << 20) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_frame_message_matches_encode_frame(size: int) -> None:
    payload = os.urandom(size)
    assert frames.frame_message(0x82, payload) == encode_frame(Opcode.BINARY, payload)
    assert frames.frame_message(0x82, memoryview(payload)) == encode_frame(Opcode.BINARY, payload)
    text = "€" * (size // 3)
    assert frames.frame_message(0x81, text) == encode_frame(Opcode.TEXT, text.encode())
    with pytest.raises(UnicodeEncodeError):
        frames.frame_message(0x81, "\ud800")


def test_c_accelerator_is_built() -> None:
    # The test command installs a compiler, so the fast path must be the one in use.
    assert frames.apply_mask is not frames._apply_mask_python
    assert frames.unmask_join is not frames._unmask_join_python
    assert frames.parse_message.__module__ == "switchboard._speedups"


# RFC 6455 5.5.1 and 7.4: close payloads and codes.
def test_close_round_trip() -> None:
    assert decode_close(encode_close(1000, "bye")) == Close(1000, "bye")
    assert decode_close(b"") == Close(1005, "")
    assert encode_close(4999, "") == b"\x13\x87"


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000])
def test_invalid_close_codes_on_the_wire(code: int) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_close(code.to_bytes(2, "big"))
    assert info.value.code == 1002
    if code != 1005:
        with pytest.raises(ValueError, match=f"close code {code}"):
            encode_close(code)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999])
def test_valid_close_codes(code: int) -> None:
    assert decode_close(code.to_bytes(2, "big")).code == code


def test_close_payload_errors() -> None:
    with pytest.raises(ProtocolError, match="1-byte"):
        decode_close(b"\x03")
    with pytest.raises(ProtocolError) as info:
        decode_close(b"\x03\xe8\xff")
    assert info.value.code == 1007
    with pytest.raises(ValueError, match="123"):
        encode_close(1000, "x" * 124)
    with pytest.raises(ValueError, match="1005"):
        encode_close(1005, "reason")


def test_close_str_explains_code() -> None:
    assert str(Close(1006, "")) == "1006 (connection dropped without a closing handshake)"
    assert str(Close(4000, "kicked")) == "4000 (private application code) 'kicked'"

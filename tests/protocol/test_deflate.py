"""permessage-deflate (RFC 7692): options, codec, bomb defence and negotiation."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import itertools
import os
import random
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.protocol import deflate
from switchboard.protocol.connection import Connection, Role
from switchboard.protocol.deflate import (
    DeflateOptions,
    Params,
    PerMessageDeflate,
    client_accept,
    client_offer,
    compress_message,
    server_negotiate,
)
from switchboard.protocol.errors import NegotiationError, PayloadTooBig, ProtocolError

PMD = "permessage-deflate"
HELLO = bytes.fromhex("f248cdc9c90700")  # RFC 7692 7.2.3.1
MiB = 1 << 20


# Every test runs with each compressor library installed (./dev installs zlib-ng);
# those about zlib's own state pin "zlib".
BACKENDS = ["zlib"] + (["zlib-ng"] if importlib.util.find_spec("zlib_ng") else [])
only_zlib = pytest.mark.parametrize("backend", ["zlib"], indirect=True)


@pytest.fixture(params=BACKENDS, autouse=True)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = request.param
    library = zlib if name == "zlib" else importlib.import_module("zlib_ng.zlib_ng")
    monkeypatch.setattr(deflate, "_deflate", library)
    return name


def test_backend_is_zlib_ng_when_installed() -> None:
    expected = "zlib-ng" if "zlib-ng" in BACKENDS else "zlib"
    assert expected == deflate.BACKEND
    assert (
        deflate._compressor_library().__name__
        == {"zlib": "zlib", "zlib-ng": "zlib_ng.zlib_ng"}[expected]
    )


def test_doctests() -> None:
    assert doctest.testmod(deflate).failed == 0


def negotiate(
    client_options: DeflateOptions, server_options: DeflateOptions
) -> tuple[PerMessageDeflate, PerMessageDeflate, Params]:
    result = server_negotiate([client_offer(client_options)], server_options)
    assert result is not None
    params, server = result
    client = client_accept([(PMD, params)], client_options)
    assert client is not None
    return client, server, params


def roundtrip(sender: PerMessageDeflate, receiver: PerMessageDeflate, data: bytes) -> bytes:
    return receiver.decompress(sender.compress(data), True, None)


# -- options ------------------------------------------------------------------


def test_options_defaults() -> None:
    options = DeflateOptions()
    assert (options.level, options.mem_level, options.threshold) == (1, None, 128)
    codec = PerMessageDeflate()
    assert (codec.level, codec.mem_level, codec.threshold) == (1, 8, 128)
    assert codec.local_window_bits == 15


@pytest.mark.parametrize(("bits", "mem_level"), [(15, 8), (14, 7), (12, 5), (9, 2), (8, 2)])
def test_mem_level_follows_the_window(bits: int, mem_level: int) -> None:
    assert PerMessageDeflate(local_max_window_bits=bits).mem_level == mem_level
    assert PerMessageDeflate(local_max_window_bits=15, local_window_bits=bits).mem_level == (
        mem_level
    )
    assert PerMessageDeflate(local_max_window_bits=bits, mem_level=9).mem_level == 9


@only_zlib  # the exact parameters: zlib-ng adds client_no_context_takeover
def test_server_compresses_with_a_small_window_unless_configured() -> None:
    # Its own window is not announced (a smaller window than agreed is always valid):
    # the codec's negotiated limit stays 15 and the compressor uses 12 bits, memLevel 4.
    # The client's window it limits to 12, since the offer allows it.
    client, codec, params = negotiate(DeflateOptions(), DeflateOptions())
    assert params == [("client_max_window_bits", "12")]
    assert (codec.local_max_window_bits, codec.local_window_bits) == (15, 12)
    assert codec.params_key == (12, 1, 4)
    assert codec.remote_max_window_bits == client.local_max_window_bits == 12
    assert client.params_key == (12, 1, 5)  # a client's memLevel follows its window
    # A configured memLevel wins; a smaller window asked for keeps its own memLevel.
    _, codec, _ = negotiate(DeflateOptions(), DeflateOptions(mem_level=8))
    assert codec.params_key == (12, 1, 8)
    # A client asking for less gets less; a server configured for 15 uses 15.
    _, codec, _ = negotiate(DeflateOptions(server_max_window_bits=10), DeflateOptions())
    assert (codec.local_max_window_bits, codec.local_window_bits, codec.mem_level) == (10, 10, 3)
    _, codec, params = negotiate(DeflateOptions(), DeflateOptions(server_max_window_bits=15))
    assert params == [("server_max_window_bits", "15"), ("client_max_window_bits", "12")]
    assert (codec.local_window_bits, codec.params_key) == (15, (15, 1, 8))
    # A client offering a smaller window than 12 keeps it; one configured for 15 gets 15.
    _, codec, params = negotiate(DeflateOptions(client_max_window_bits=9), DeflateOptions())
    assert (params, codec.remote_max_window_bits) == ([("client_max_window_bits", "9")], 9)
    _, codec, params = negotiate(DeflateOptions(), DeflateOptions(client_max_window_bits=15))
    assert (params, codec.remote_max_window_bits) == ([("client_max_window_bits", "15")], 15)


@only_zlib  # the exact parameters: zlib-ng adds client_no_context_takeover
def test_server_cannot_limit_a_client_that_does_not_offer_it() -> None:
    # Without client_max_window_bits in the offer, the client may use 15 bits: the
    # server accepts that rather than decline (RFC 7692 7.1.2.2).
    result = server_negotiate([(PMD, [])], DeflateOptions())
    assert result is not None
    params, codec = result
    assert (params, codec.remote_max_window_bits) == ([], 15)


def test_small_window_output_is_valid_for_the_negotiated_decoder() -> None:
    client, server, _ = negotiate(DeflateOptions(), DeflateOptions())
    messages = [os.urandom(3000) * 3, b"abc" * 5000, os.urandom(9000) * 2]
    for message in messages:
        assert roundtrip(server, client, message) == message


@only_zlib
def test_memory_estimate_matches_what_zlib_allocates() -> None:
    for codec in (PerMessageDeflate(), PerMessageDeflate(local_window_bits=12)):
        tracemalloc.start()
        try:
            codec.decompress(PerMessageDeflate().compress(os.urandom(200)), True, None)
            codec.compress(os.urandom(200))
            allocated = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert 0.9 < allocated / codec.memory < 1.1, (allocated, codec.memory)


@only_zlib
def test_release_frees_the_zlib_state() -> None:
    codec = PerMessageDeflate()
    codec.decompress(codec.compress(MESSAGE), True, None)
    assert codec._encoder is not None and codec._decoder is not None
    codec.release()
    assert codec._encoder is None and codec._decoder is None
    codec.release()  # idempotent


@only_zlib
def test_connection_releases_the_codec_when_the_transport_closes() -> None:
    codec = PerMessageDeflate(threshold=0)
    conn = Connection(Role.SERVER, deflate=codec)
    conn.send_text("Hello")
    client = Connection(Role.CLIENT, deflate=PerMessageDeflate(threshold=0))
    client.send_binary(MESSAGE)
    conn.receive_data(b"".join(client.data_to_send()))
    assert conn.events_received()[0].data == MESSAGE  # type: ignore[union-attr]
    assert codec._encoder is not None and codec._decoder is not None
    conn.receive_eof()
    assert codec._encoder is None and codec._decoder is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("level", -1),
        ("level", 10),
        ("mem_level", 0),
        ("mem_level", 10),
        ("server_max_window_bits", 7),
        ("server_max_window_bits", 16),
        ("client_max_window_bits", 7),
        ("client_max_window_bits", 16),
        ("threshold", -1),
    ],
)
def test_options_validation(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be"):
        DeflateOptions(**{field: value})  # type: ignore[arg-type]


def test_codec_validates_window_bits() -> None:
    with pytest.raises(ValueError, match=r"^local_max_window_bits must be"):
        PerMessageDeflate(local_max_window_bits=16)
    with pytest.raises(ValueError, match=r"^remote_max_window_bits must be"):
        PerMessageDeflate(remote_max_window_bits=7)


# -- codec: RFC 7692 examples -------------------------------------------------


def test_rfc_hello() -> None:
    assert PerMessageDeflate().compress(b"Hello") == HELLO
    assert compress_message(b"Hello") == HELLO
    assert PerMessageDeflate().decompress(HELLO, True, None) == b"Hello"


@only_zlib
def test_rfc_shared_window() -> None:  # 7.2.3.2
    sender, receiver = PerMessageDeflate(), PerMessageDeflate()
    assert sender.compress(b"Hello") == HELLO
    assert sender.compress(b"Hello") == bytes.fromhex("f200110000")
    assert receiver.decompress(HELLO, True, None) == b"Hello"
    assert receiver.decompress(bytes.fromhex("f200110000"), True, None) == b"Hello"


@pytest.mark.parametrize(
    "payload",
    [
        "000500faff48656c6c6f00",  # 7.2.3.3 a block with no compression
        "f248050000 00ffff cac9c90700",  # 7.2.3.5 two blocks in one message
    ],
)
def test_rfc_other_encodings(payload: str) -> None:
    assert PerMessageDeflate().decompress(bytes.fromhex(payload), True, None) == b"Hello"


def test_rfc_bfinal_then_next_message() -> None:  # 7.2.3.4
    receiver = PerMessageDeflate()
    assert receiver.decompress(bytes.fromhex("f348cdc9c907 0000"), True, None) == b"Hello"
    # The stream ended: the next message needs (and gets) a fresh decoder.
    assert receiver.decompress(HELLO, True, None) == b"Hello"


def test_empty_message() -> None:  # 7.2.3.6
    codec = PerMessageDeflate()
    assert codec.compress(b"") == b"\x00"
    assert codec.compress(b"") == b"\x00"
    assert PerMessageDeflate().decompress(b"\x00", True, 0) == b""
    assert compress_message(b"") == b"\x00"


# -- codec: context takeover --------------------------------------------------

MESSAGE = b'{"type": "chat", "room": "lobby", "text": "hello there, how are you?"}' * 3


@only_zlib
def test_context_takeover_shrinks_repeats() -> None:
    sender, receiver = PerMessageDeflate(), PerMessageDeflate()
    first, second = sender.compress(MESSAGE), sender.compress(MESSAGE)
    assert len(second) < len(first) // 4
    assert receiver.decompress(first, True, None) == MESSAGE
    assert receiver.decompress(second, True, None) == MESSAGE


def test_no_context_takeover_resets_compressor() -> None:
    sender = PerMessageDeflate(local_no_context_takeover=True)
    receiver = PerMessageDeflate(remote_no_context_takeover=True)
    first, second = sender.compress(MESSAGE), sender.compress(MESSAGE)
    assert first == second == compress_message(MESSAGE)
    assert receiver.decompress(first, True, None) == MESSAGE
    assert receiver.decompress(second, True, None) == MESSAGE


def test_no_context_takeover_resets_decompressor() -> None:
    # The RFC's second "Hello" refers back to the first: fine with context takeover,
    # corrupt once the decoder was reset.
    receiver = PerMessageDeflate(remote_no_context_takeover=True)
    assert receiver.decompress(HELLO, True, None) == b"Hello"
    with pytest.raises(ProtocolError, match="invalid compressed data") as info:
        receiver.decompress(bytes.fromhex("f200110000"), True, None)
    assert info.value.code == 1007


@only_zlib
def test_compressor_dropped_between_messages_without_context_takeover() -> None:
    codec = PerMessageDeflate(local_no_context_takeover=True, remote_no_context_takeover=True)
    assert codec._encoder is None and codec._decoder is None  # lazy
    codec.compress(MESSAGE, fin=False)
    assert codec._encoder is not None  # kept within a message
    codec.compress(MESSAGE)
    assert codec._encoder is None
    codec.decompress(PerMessageDeflate().compress(MESSAGE, fin=False), False, None)
    assert codec._decoder is not None
    codec.decompress(b"\x00", True, None)
    assert codec._decoder is None
    kept = PerMessageDeflate()
    kept.decompress(kept.compress(MESSAGE), True, None)
    assert kept._encoder is not None and kept._decoder is not None


def test_params_key_and_compress_message() -> None:
    codec = PerMessageDeflate(
        local_max_window_bits=11, local_no_context_takeover=True, level=3, mem_level=5
    )
    assert codec.params_key == (11, 3, 5)
    data = os.urandom(100) * 20
    shared = compress_message(data, *codec.params_key)
    assert codec.compress(data) == shared
    assert codec.compress(data) == shared
    # zlib can't do 8 bits, so 8 and 9 produce the same bytes and share a key.
    assert PerMessageDeflate(local_max_window_bits=8).params_key == (9, 1, 2)
    assert PerMessageDeflate(local_max_window_bits=9).params_key == (9, 1, 2)


# -- codec: fragments ---------------------------------------------------------


def test_fragments_streamed() -> None:
    sender, receiver = PerMessageDeflate(), PerMessageDeflate()
    parts = [b"first part " * 20, b"", b"second part " * 30, b"last"]
    frames = [sender.compress(p, fin=i == len(parts) - 1) for i, p in enumerate(parts)]
    # Non-final frames keep the flush marker so the peer can inflate them at once.
    assert all(f.endswith(b"\x00\x00\xff\xff") for f in frames[:-1])
    assert not frames[-1].endswith(b"\x00\x00\xff\xff")
    out = [receiver.decompress(f, i == len(frames) - 1, None) for i, f in enumerate(frames)]
    assert out == parts
    # The same stream continues into the next message.
    assert roundtrip(sender, receiver, MESSAGE) == MESSAGE


def test_fragments_without_context_takeover() -> None:
    sender = PerMessageDeflate(local_no_context_takeover=True)
    receiver = PerMessageDeflate(remote_no_context_takeover=True)
    for _ in range(2):
        a = sender.compress(b"abc" * 50, fin=False)
        b = sender.compress(b"abc" * 50, fin=True)
        assert receiver.decompress(a, False, None) + receiver.decompress(b, True, None) == (
            b"abc" * 100
        )


# -- codec: all window sizes, and the 8-bit window --------------------------


@pytest.mark.parametrize(("local", "remote"), list(itertools.product(range(8, 16), range(8, 16))))
def test_window_bits_roundtrip(local: int, remote: int) -> None:
    a = PerMessageDeflate(local_max_window_bits=local, remote_max_window_bits=remote)
    b = PerMessageDeflate(local_max_window_bits=remote, remote_max_window_bits=local)
    rng = random.Random(local * 16 + remote)
    block = rng.randbytes(300)
    data = block * 50 + rng.randbytes(5000) + block * 10
    for _ in range(3):
        assert roundtrip(a, b, data) == data
        assert roundtrip(b, a, data) == data


def inflate_bytewise(stream: bytes, wbits: int) -> bytes:
    """Inflate one output byte per call: zlib only checks distances against its
    window for references outside the current call's output, so this makes every
    reference go through the window."""
    decoder = zlib.decompressobj(wbits)
    out = []
    while stream:
        out.append(decoder.decompress(stream, 1))
        stream = decoder.unconsumed_tail
    return b"".join(out) + decoder.flush()


def test_zlib_9_bit_window_output_decodes_with_8_bits() -> None:
    rng = random.Random(8)
    # Repeats at distances below, around and above 256 and 512.
    data = b"".join(rng.randbytes(n) * 4 for n in (3, 100, 250, 251, 255, 256, 300, 600))
    data += bytes(5000) + b"abcdefgh" * 500
    nine = zlib.compressobj(9, zlib.DEFLATED, -9)
    assert inflate_bytewise(nine.compress(data) + nine.flush(), -8) == data
    # The check can fail: the same data from a 15-bit window needs more than 8 bits.
    fifteen = zlib.compressobj(9, zlib.DEFLATED, -15)
    with pytest.raises(zlib.error, match="too far back"):
        inflate_bytewise(fifteen.compress(data) + fifteen.flush(), -8)
    with pytest.raises(ValueError):
        zlib.compressobj(6, zlib.DEFLATED, -8)  # why the codec uses 9
    # And so does the codec's own output for a negotiated 8-bit window.
    codec = PerMessageDeflate(local_max_window_bits=8)
    assert inflate_bytewise(codec.compress(data) + b"\x00\x00\xff\xff", -8) == data


@only_zlib
def test_decoder_window_is_the_negotiated_one() -> None:
    block = random.Random(1).randbytes(1000)
    sender = PerMessageDeflate()
    first, second = sender.compress(block), sender.compress(block)
    assert len(second) < 20  # one match, 1000 bytes back into the previous message
    wide = PerMessageDeflate(remote_max_window_bits=10)
    assert [wide.decompress(p, True, None) for p in (first, second)] == [block, block]
    narrow = PerMessageDeflate(remote_max_window_bits=9)
    assert narrow.decompress(first, True, None) == block
    with pytest.raises(ProtocolError, match="too far back") as info:
        narrow.decompress(second, True, None)
    assert info.value.code == 1007


def test_corrupt_data() -> None:
    with pytest.raises(ProtocolError, match=r"^invalid compressed data") as info:
        PerMessageDeflate().decompress(b"\xff\xff\xff\xff", True, None)
    assert info.value.code == 1007


# -- codec: size limit and decompression bombs --------------------------------


def test_bomb_refused_without_inflating() -> None:
    bomb = compress_message(bytes(10_000_000), level=9)
    assert len(bomb) < 11_000

    returned: list[int] = []
    real = zlib.decompressobj

    class Spy:
        def __init__(self, wbits: int) -> None:
            self._d = real(wbits)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            out = self._d.decompress(data, max_length)
            returned.append(len(out))
            return out

    codec = PerMessageDeflate()
    codec._decoder = Spy(-15)  # type: ignore[assignment]
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooBig, match=f"over {MiB} bytes after decompression") as info:
            codec.decompress(bomb, True, MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == 1009
    assert sum(returned) == MiB + 1
    assert peak < 3 * MiB


@pytest.mark.parametrize("fin", [True, False])
def test_size_limit_is_exact(fin: bool) -> None:
    data = os.urandom(1000) + bytes(1000)
    payload = PerMessageDeflate().compress(data, fin)
    assert PerMessageDeflate().decompress(payload, fin, 2000) == data
    with pytest.raises(PayloadTooBig, match=r"^message too big: over 1999 bytes"):
        PerMessageDeflate().decompress(payload, fin, 1999)


def test_size_limit_counts_stored_bytes_completed_by_the_tail() -> None:
    # A frame cut inside a stored block: the appended tail is data, and counts.
    payload = bytes.fromhex("000800f7ff") + b"abcd"
    assert PerMessageDeflate().decompress(payload, True, 8) == b"abcd\x00\x00\xff\xff"
    with pytest.raises(PayloadTooBig):
        PerMessageDeflate().decompress(payload, True, 7)


def test_size_limit_zero_and_negative() -> None:
    assert PerMessageDeflate().decompress(b"\x00", True, 0) == b""
    with pytest.raises(PayloadTooBig, match="over 0 bytes"):
        PerMessageDeflate().decompress(HELLO, True, 0)
    with pytest.raises(PayloadTooBig):
        PerMessageDeflate().decompress(HELLO, True, -5)


# -- codec: property-based ----------------------------------------------------

windows = st.integers(min_value=8, max_value=15)


@settings(max_examples=150, deadline=None)
@given(
    messages=st.lists(
        st.tuples(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=4)),
        min_size=1,
        max_size=4,
    ),
    bits=windows,
    nct=st.booleans(),
    level=st.integers(0, 9),
)
def test_roundtrip_property(
    messages: list[tuple[bytes, list[int]]], bits: int, nct: bool, level: int
) -> None:
    sender = PerMessageDeflate(
        local_max_window_bits=bits, local_no_context_takeover=nct, level=level
    )
    receiver = PerMessageDeflate(remote_max_window_bits=bits, remote_no_context_takeover=nct)
    # The receiver's own sending side must not interfere with its decoder.
    receiver.compress(b"noise " * 10)
    for data, cuts in messages:
        bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
        parts = [data[a:b] for a, b in itertools.pairwise(bounds)]
        frames = [sender.compress(p, fin=i == len(parts) - 1) for i, p in enumerate(parts)]
        out = b""
        for i, frame in enumerate(frames):
            out += receiver.decompress(frame, i == len(frames) - 1, len(data) - len(out))
        assert out == data


# -- negotiation: the offer ---------------------------------------------------


@pytest.mark.parametrize(
    ("options", "params"),
    [
        (DeflateOptions(), [("client_max_window_bits", None)]),
        (DeflateOptions(client_max_window_bits=10), [("client_max_window_bits", "10")]),
        (
            DeflateOptions(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=8,
                client_max_window_bits=12,
            ),
            [
                ("server_no_context_takeover", None),
                ("client_no_context_takeover", None),
                ("server_max_window_bits", "8"),
                ("client_max_window_bits", "12"),
            ],
        ),
    ],
)
def test_client_offer(options: DeflateOptions, params: Params) -> None:
    assert client_offer(options) == (PMD, params)


# -- negotiation: the server --------------------------------------------------


def codec_state(codec: PerMessageDeflate) -> tuple[int, int, bool, bool]:
    return (
        codec.local_max_window_bits,
        codec.remote_max_window_bits,
        codec.local_no_context_takeover,
        codec.remote_no_context_takeover,
    )


@only_zlib  # the exact parameters: zlib-ng adds client_no_context_takeover
@pytest.mark.parametrize(
    ("offer", "options", "params", "state"),
    [
        ([], DeflateOptions(), [], (15, 15, False, False)),
        (
            [("client_max_window_bits", None)],
            DeflateOptions(),
            [("client_max_window_bits", "12")],
            (15, 12, False, False),
        ),
        (
            [("client_max_window_bits", "10")],
            DeflateOptions(),
            [("client_max_window_bits", "10")],
            (15, 10, False, False),
        ),
        (
            [("client_max_window_bits", "10")],
            DeflateOptions(client_max_window_bits=9),
            [("client_max_window_bits", "9")],
            (15, 9, False, False),
        ),
        (
            [("client_max_window_bits", "10")],
            DeflateOptions(client_max_window_bits=12),
            [("client_max_window_bits", "10")],
            (15, 10, False, False),
        ),
        (
            [("client_max_window_bits", None)],
            DeflateOptions(client_max_window_bits=11),
            [("client_max_window_bits", "11")],
            (15, 11, False, False),
        ),
        (
            [("server_max_window_bits", "8")],
            DeflateOptions(),
            [("server_max_window_bits", "8")],
            (8, 15, False, False),
        ),
        (
            [("server_max_window_bits", "10")],
            DeflateOptions(server_max_window_bits=12),
            [("server_max_window_bits", "10")],
            (10, 15, False, False),
        ),
        (
            [("server_max_window_bits", "14")],
            DeflateOptions(server_max_window_bits=12),
            [("server_max_window_bits", "12")],
            (12, 15, False, False),
        ),
        (
            [],
            DeflateOptions(server_max_window_bits=12),
            [("server_max_window_bits", "12")],
            (12, 15, False, False),
        ),
        (
            [("server_no_context_takeover", None)],
            DeflateOptions(),
            [("server_no_context_takeover", None)],
            (15, 15, True, False),
        ),
        (
            [],
            DeflateOptions(server_no_context_takeover=True),
            [("server_no_context_takeover", None)],
            (15, 15, True, False),
        ),
        (
            [("client_no_context_takeover", None)],
            DeflateOptions(),
            [("client_no_context_takeover", None)],
            (15, 15, False, True),
        ),
        (
            [],
            DeflateOptions(client_no_context_takeover=True),
            [("client_no_context_takeover", None)],
            (15, 15, False, True),
        ),
        (  # Autobahn 13.7-style: everything at once
            [
                ("client_max_window_bits", None),
                ("server_max_window_bits", "9"),
                ("client_no_context_takeover", None),
                ("server_no_context_takeover", None),
            ],
            DeflateOptions(),
            [
                ("server_no_context_takeover", None),
                ("client_no_context_takeover", None),
                ("server_max_window_bits", "9"),
                ("client_max_window_bits", "12"),
            ],
            (9, 12, True, True),
        ),
    ],
)
def test_server_accepts(
    offer: Params, options: DeflateOptions, params: Params, state: tuple[int, int, bool, bool]
) -> None:
    result = server_negotiate([(PMD, offer)], options)
    assert result is not None
    assert result[0] == params
    assert codec_state(result[1]) == state


def test_server_passes_options_to_codec() -> None:
    result = server_negotiate([(PMD, [])], DeflateOptions(level=1, mem_level=4, threshold=0))
    assert result is not None
    codec = result[1]
    assert (codec.level, codec.mem_level, codec.threshold) == (1, 4, 0)


@only_zlib  # the exact parameters: zlib-ng adds client_no_context_takeover
@pytest.mark.parametrize(
    "bad",
    [
        [("unknown", None)],
        [("server_no_context_takeover", None), ("server_no_context_takeover", None)],
        [("client_max_window_bits", None), ("client_max_window_bits", "10")],
        [("server_no_context_takeover", "1")],
        [("client_no_context_takeover", "")],
        [("server_max_window_bits", None)],
        [("server_max_window_bits", "7")],
        [("server_max_window_bits", "16")],
        [("server_max_window_bits", "08")],
        [("client_max_window_bits", "abc")],
        [("client_max_window_bits", " 9")],
    ],
)
def test_server_skips_invalid_offer(bad: Params) -> None:
    assert server_negotiate([(PMD, bad)], DeflateOptions()) is None
    result = server_negotiate(
        [(PMD, bad), (PMD, [("server_max_window_bits", "11")])], DeflateOptions()
    )
    assert result is not None
    assert result[0] == [("server_max_window_bits", "11")]


@only_zlib  # the exact parameters: zlib-ng adds client_no_context_takeover
def test_server_takes_first_acceptable_offer() -> None:
    offers: list[tuple[str, Params]] = [
        ("x-webkit-deflate-frame", []),
        (PMD, [("server_max_window_bits", "10")]),
        (PMD, [("server_no_context_takeover", None)]),
    ]
    result = server_negotiate(offers, DeflateOptions())
    assert result is not None
    assert result[0] == [("server_max_window_bits", "10")]


def test_server_extension_name_is_case_insensitive() -> None:
    assert server_negotiate([("PerMessage-Deflate", [])], DeflateOptions()) is not None


@only_zlib  # the exact parameters: zlib-ng adds client_no_context_takeover
def test_server_declines() -> None:
    assert server_negotiate([], DeflateOptions()) is None
    assert server_negotiate([("x-other", [])], DeflateOptions()) is None
    # A server limiting the client's window can't accept an offer that can't be limited.
    limited = DeflateOptions(client_max_window_bits=10)
    assert server_negotiate([(PMD, [])], limited) is None
    result = server_negotiate([(PMD, []), (PMD, [("client_max_window_bits", None)])], limited)
    assert result is not None
    assert result[0] == [("client_max_window_bits", "10")]


# -- negotiation: the client --------------------------------------------------


@pytest.mark.parametrize(
    ("options", "params", "state"),
    [
        (DeflateOptions(), [], (15, 15, False, False)),
        (
            DeflateOptions(),
            [("server_no_context_takeover", None)],  # allowed unrequested
            (15, 15, False, True),
        ),
        (DeflateOptions(), [("client_no_context_takeover", None)], (15, 15, True, False)),
        (DeflateOptions(client_no_context_takeover=True), [], (15, 15, True, False)),
        (DeflateOptions(), [("server_max_window_bits", "9")], (15, 9, False, False)),
        (DeflateOptions(), [("client_max_window_bits", "8")], (8, 15, False, False)),
        (DeflateOptions(client_max_window_bits=12), [], (12, 15, False, False)),
        (
            DeflateOptions(client_max_window_bits=12),
            [("client_max_window_bits", "10")],
            (10, 15, False, False),
        ),
        (
            DeflateOptions(server_max_window_bits=10, server_no_context_takeover=True),
            [("server_max_window_bits", "10"), ("server_no_context_takeover", None)],
            (15, 10, False, True),
        ),
        (
            DeflateOptions(server_max_window_bits=10),
            [("server_max_window_bits", "8")],
            (15, 8, False, False),
        ),
    ],
)
def test_client_accepts(
    options: DeflateOptions, params: Params, state: tuple[int, int, bool, bool]
) -> None:
    codec = client_accept([(PMD, params)], options)
    assert codec is not None
    assert codec_state(codec) == state


def test_client_no_extension() -> None:
    assert client_accept([], DeflateOptions()) is None


def test_client_passes_options_to_codec() -> None:
    codec = client_accept([(PMD, [])], DeflateOptions(level=9, mem_level=9, threshold=7))
    assert codec is not None
    assert (codec.level, codec.mem_level, codec.threshold) == (9, 9, 7)


@pytest.mark.parametrize(
    ("response", "options", "message"),
    [
        ([("x-other", [])], DeflateOptions(), "server accepted extension x-other that we"),
        ([(PMD, []), (PMD, [])], DeflateOptions(), "accepted permessage-deflate more than once"),
        ([(PMD, [("foo", None)])], DeflateOptions(), "unknown parameter foo"),
        (
            [(PMD, [("client_no_context_takeover", None)] * 2)],
            DeflateOptions(),
            "duplicate parameter client_no_context_takeover",
        ),
        (
            [(PMD, [("server_no_context_takeover", "x")])],
            DeflateOptions(),
            "server_no_context_takeover takes no value",
        ),
        (
            [(PMD, [("client_max_window_bits", None)])],
            DeflateOptions(),
            "client_max_window_bits needs a value",
        ),
        (
            [(PMD, [("server_max_window_bits", None)])],
            DeflateOptions(),
            "server_max_window_bits needs a value",
        ),
        (
            [(PMD, [("server_max_window_bits", "16")])],
            DeflateOptions(),
            "server_max_window_bits='16' is not an integer from 8 to 15",
        ),
        (
            [(PMD, [("client_max_window_bits", "7")])],
            DeflateOptions(),
            "client_max_window_bits='7' is not an integer from 8 to 15",
        ),
        (
            [(PMD, [("server_max_window_bits", "12")])],
            DeflateOptions(server_max_window_bits=10),
            "server_max_window_bits=12 exceeds the 10 we requested",
        ),
        (
            [(PMD, [])],
            DeflateOptions(server_max_window_bits=10),
            "missing server_max_window_bits",
        ),
        (
            [(PMD, [])],
            DeflateOptions(server_no_context_takeover=True),
            "missing server_no_context_takeover",
        ),
        (
            [(PMD, [("client_max_window_bits", "11")])],
            DeflateOptions(client_max_window_bits=10),
            "client_max_window_bits=11 exceeds the 10 we offered",
        ),
    ],
)
def test_client_rejects(
    response: list[tuple[str, Params]], options: DeflateOptions, message: str
) -> None:
    with pytest.raises(NegotiationError, match=message) as info:
        client_accept(response, options)
    assert info.value.status == 0


# -- negotiation end to end ---------------------------------------------------

BITS = [None, 8, 12, 15]
NCT = [False, True]


@pytest.mark.parametrize(
    ("ssb", "csb", "snct", "cnct", "server_side"),
    list(itertools.product(BITS, BITS, NCT, NCT, [False, True])),
)
def test_negotiated_roundtrips(
    ssb: int | None, csb: int | None, snct: bool, cnct: bool, server_side: bool, backend: str
) -> None:
    configured = DeflateOptions(
        server_max_window_bits=ssb,
        client_max_window_bits=csb,
        server_no_context_takeover=snct,
        client_no_context_takeover=cnct,
    )
    # The settings come from the client's offer or from the server's options.
    client_options = DeflateOptions() if server_side else configured
    server_options = configured if server_side else DeflateOptions()
    client, server, _ = negotiate(client_options, server_options)
    # Both ends agree on each direction, and the settings were honoured; unless told
    # otherwise, the server limits the client's window to CLIENT_WINDOW_BITS.
    server_csb = csb if server_side else None
    client_bits = min(csb or 15, deflate.CLIENT_WINDOW_BITS) if server_csb is None else csb
    assert client.local_max_window_bits == server.remote_max_window_bits == client_bits
    assert server.local_max_window_bits == client.remote_max_window_bits == (ssb or 15)
    # A server with zlib-ng asks for client_no_context_takeover unless told not to.
    client_nct = cnct or (backend == "zlib-ng" and not server_side)
    assert client.local_no_context_takeover == server.remote_no_context_takeover == client_nct
    assert server.local_no_context_takeover == client.remote_no_context_takeover == snct
    rng = random.Random(1)
    block = rng.randbytes(700)
    messages = [MESSAGE, block * 20, b"", rng.randbytes(3000), block * 5 + MESSAGE]
    for data in messages * 2:
        assert roundtrip(client, server, data) == data
        assert roundtrip(server, client, data) == data
    # Context takeover is on exactly when not disabled, and never with zlib-ng.
    fresh = b"a message not sent before, " * 4
    first, second = client.compress(fresh), client.compress(fresh)
    assert (first == second) == (cnct or backend == "zlib-ng")
    first, second = server.compress(fresh), server.compress(fresh)
    assert (first == second) == (snct or backend == "zlib-ng")


# -- the zlib-ng compressor ---------------------------------------------------

needs_zlib_ng = pytest.mark.skipif("zlib-ng" not in BACKENDS, reason="zlib-ng not installed")


@needs_zlib_ng
@pytest.mark.parametrize("backend", ["zlib-ng"], indirect=True)
def test_zlib_ng_compresses_and_keeps_no_compressor_between_messages() -> None:
    codec = PerMessageDeflate(local_window_bits=12)
    receiver = PerMessageDeflate(remote_max_window_bits=12)
    rng = random.Random(2)
    data = b"".join(
        rng.choice([b'{"id": 1, ', b'"name": "x", ', b'"tags": []}']) for _ in range(3000)
    )
    # A fragmented message keeps its compressor until the last fragment.
    parts = [codec.compress(data[:9000], fin=False)]
    assert codec._encoder is not None
    parts.append(codec.compress(data[9000:], fin=True))
    assert codec._encoder is None
    assert (
        receiver.decompress(parts[0], False, None) + receiver.decompress(parts[1], True, None)
        == data
    )
    # zlib-ng's output differs from zlib's at the same settings: it is really in use,
    # and zlib (our decompressor, and any peer's) reads it.
    assert codec.compress(data) != zlib_compress_sync(data)
    assert receiver.decompress(codec.compress(data), True, None) == data
    assert (
        zlib.decompressobj(-12).decompress(compress_message(data, 12) + b"\x00\x00\xff\xff") == data
    )
    assert receiver._decoder is not None  # inflating is zlib's, with context takeover
    assert type(receiver._decoder).__module__ == "zlib"


@needs_zlib_ng
@pytest.mark.parametrize("backend", ["zlib-ng"], indirect=True)
def test_a_zlib_ng_server_asks_clients_to_reset_and_inflates_with_zlib_ng() -> None:
    offer = client_offer(DeflateOptions())
    result = server_negotiate([offer], DeflateOptions())
    assert result is not None
    params, server = result
    assert params == [("client_no_context_takeover", None), ("client_max_window_bits", "12")]
    client = client_accept([(PMD, params)], DeflateOptions())
    assert client.local_no_context_takeover and server.remote_no_context_takeover
    for data in [MESSAGE, MESSAGE, b"x" * 5000]:  # each message inflated on its own
        assert server.decompress(client.compress(data), True, 1 << 20) == data
        assert server._decoder is None  # nothing kept between messages
    # A fragmented message keeps its zlib-ng inflater until its last frame.
    first = server.decompress(client.compress(MESSAGE[:100], fin=False), False, None)
    assert type(server._decoder).__module__ == "zlib_ng"
    assert first + server.decompress(client.compress(MESSAGE[100:]), True, None) == MESSAGE
    # Corrupt input is zlib-ng's own error class: still a 1007, not a crash.
    with pytest.raises(ProtocolError, match="invalid compressed data") as caught:
        server.decompress(b"\xff\xff\xff\xff", True, None)
    assert caught.value.code == 1007
    # Told to keep the clients' context: not asked, and zlib inflates.
    result = server_negotiate([offer], DeflateOptions(client_no_context_takeover=False))
    assert result is not None and ("client_no_context_takeover", None) not in result[0]
    keeps_context = PerMessageDeflate(local_max_window_bits=12)
    result[1].decompress(keeps_context.compress(MESSAGE), True, None)
    assert type(result[1]._decoder).__module__ == "zlib"


@needs_zlib_ng
@pytest.mark.parametrize("backend", ["zlib-ng"], indirect=True)
def test_zlib_ng_holds_no_memory_between_messages() -> None:
    codec = PerMessageDeflate(local_window_bits=12, remote_max_window_bits=12)
    peer = PerMessageDeflate(local_window_bits=12)
    tracemalloc.start()
    try:
        codec.decompress(peer.compress(MESSAGE), True, None)
        codec.compress(MESSAGE)
        allocated = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # Only the 12-bit decompressor is left: about 11 KiB (zlib-ng's compressor: 155).
    assert allocated < 16 * 1024, allocated


def zlib_compress_sync(data: bytes) -> bytes:
    encoder = zlib.compressobj(1, zlib.DEFLATED, -12, 5)
    return encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)[:-4]

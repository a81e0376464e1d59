"""permessage-deflate (RFC 7692): negotiation for both roles and the per-message codec.

Negotiation works on already-parsed ``Sec-WebSocket-Extensions`` values: a list of
``(extension name, params)`` where ``params`` is a list of ``(name, value or None)``.
The handshake layer parses and serializes the header; this module only decides.

>>> offer = client_offer(DeflateOptions())
>>> offer
('permessage-deflate', [('client_max_window_bits', None)])
>>> params, server = server_negotiate([offer], DeflateOptions())
>>> ("client_max_window_bits", "12") in params  # and client_no_context_takeover with zlib-ng
True
>>> client = client_accept([("permessage-deflate", params)], DeflateOptions())
>>> server.decompress(client.compress(b"Hello" * 100), True, 1 << 20) == b"Hello" * 100
True

Memory per connection, from zlib's sizing (``wbits`` = window bits): a compressor
holds about ``(1 << (wbits + 2)) + (1 << (mem_level + 9)) + 6 KiB`` bytes (262 KiB at
15/8, 38 KiB at 12/5), a decompressor about ``(1 << wbits) + 7 KiB`` (39 KiB at 15).
Both are created on first use (a connection that only exchanges messages below the
``threshold`` holds neither), dropped after each message when that direction has no
context takeover, and released when the connection closes (:meth:`PerMessageDeflate.release`).

Defaults, chosen from the measured table in docs/performance.md ("Compression
settings"; ``bench/deflate_table.py`` prints it): level 1, and on a server a 12-bit
window with memLevel 4 for its compressor (:data:`SERVER_WINDOW_BITS`,
:data:`SERVER_MEM_LEVEL`) and a 12-bit
window for the client's (:data:`CLIENT_WINDOW_BITS`, asked for in the response when
the client's offer allows it, as browsers' offers do). Level 1 takes 2.2x less CPU
than zlib's default 6 on 16 KiB JSON messages for output 14-20% larger; the windows
make the zlib state 30 + 11 KiB instead of 262 + 39. ``server_max_window_bits`` and
``client_max_window_bits`` set them explicitly (15: zlib's full 32 KiB window).

Backend: the ``zlib-ng`` package (``pip install switchboard[zlib-ng]``) compresses
when it is installed, :data:`BACKEND` says which one is in use. Its level 1 takes
about 2.7x less CPU than zlib's on 16 KiB JSON, for output about a third larger
(docs/performance.md, "Compression: round two"). Its compressor holds about 155 KiB
whatever the window (a fixed 64 Ki-entry hash table), so with it the compressor is
dropped after each message, as with no context takeover (creating one costs about
3 µs): an idle connection then holds no compressor at all. zlib-ng inflates in half
zlib's time, but its inflater takes 41 KiB at any window (zlib's follows the window:
11 KiB at 12 bits), too much to keep per connection. So a server with zlib-ng asks
its clients for ``client_no_context_takeover`` (RFC 7692 7.1.1.2: a server may,
whatever the offer; browsers comply) and inflates each message with a fresh zlib-ng
inflater: a compressed connection holds no zlib state between messages at all, for
a lower ratio on the clients' own compressed messages. ``DeflateOptions(
client_no_context_takeover=False)`` keeps the clients' context (then zlib inflates,
with a decompressor kept per connection).
"""

from __future__ import annotations

import importlib
import zlib
from dataclasses import dataclass
from types import ModuleType

from .errors import NegotiationError, PayloadTooBig, ProtocolError

__all__ = [
    "BACKEND",
    "EXTENSION",
    "CLIENT_WINDOW_BITS",
    "LEVEL",
    "SERVER_MEM_LEVEL",
    "SERVER_WINDOW_BITS",
    "Params",
    "DeflateOptions",
    "PerMessageDeflate",
    "client_offer",
    "server_negotiate",
    "client_accept",
    "compress_message",
]

Params = list[tuple[str, str | None]]

EXTENSION = "permessage-deflate"

# What Z_SYNC_FLUSH ends with (an empty stored block's LEN/NLEN); RFC 7692 7.2.1
# strips it from each message and the receiver appends it back (7.2.2).
_TAIL = b"\x00\x00\xff\xff"

_SERVER_NCT = "server_no_context_takeover"
_CLIENT_NCT = "client_no_context_takeover"
_SERVER_BITS = "server_max_window_bits"
_CLIENT_BITS = "client_max_window_bits"
_NAMES = frozenset((_SERVER_NCT, _CLIENT_NCT, _SERVER_BITS, _CLIENT_BITS))

# RFC 7692 7.1.2: a decimal integer 8..15 without leading zeros; nothing else.
_BITS = {str(n): n for n in range(8, 16)}

#: The window a server's compressor uses when ``server_max_window_bits`` is not set
#: (and the client allows a larger one): 4 KiB of history, as in websockets.
SERVER_WINDOW_BITS = 12
#: The memLevel of a server's compressor with that window when ``mem_level`` is not
#: set: a 4 KiB hash table instead of 8 (23.7 instead of 29.9 KiB of RSS after a
#: 500-byte message) for 5% more instructions and 2% larger output on 16 KiB JSON.
SERVER_MEM_LEVEL = 4
#: The window a server asks the client's compressor to use when
#: ``client_max_window_bits`` is not set and the offer lets it: the server's
#: decompressor then holds 11 KiB instead of 39.
CLIENT_WINDOW_BITS = 12
#: The default zlib compression level (``DeflateOptions.level``).
LEVEL = 1


def _compressor_library() -> ModuleType:
    """zlib-ng when installed (its ``zlib_ng`` module is API-compatible), else zlib."""
    try:
        return importlib.import_module("zlib_ng.zlib_ng")
    except ImportError:  # the optional extra is not installed
        return zlib


# What compresses; decompression uses zlib unless the peer resets its context after
# every message (the module docstring: memory).
_deflate = _compressor_library()
#: The library that compresses: ``"zlib-ng"`` or ``"zlib"``.
BACKEND = "zlib" if _deflate is zlib else "zlib-ng"
# What corrupt input raises: zlib-ng's error is its own class.
_ERRORS = (zlib.error,) if _deflate is zlib else (zlib.error, _deflate.error)


def _zlib_bits(bits: int) -> int:
    # zlib refuses raw deflate with an 8-bit window. With a 9-bit (512-byte) window
    # it never emits a distance over 250 (MAX_DIST = w_size - MIN_LOOKAHEAD), so its
    # output is valid for an 8-bit decoder; Node.js does the same.
    return 9 if bits == 8 else bits


def _mem_level(bits: int) -> int:
    # A hash table as large as the window (zlib's hash_bits = memLevel + 7): zlib's
    # own default at 15 bits (8), websockets' at 12 (5).
    return max(1, min(8, _zlib_bits(bits) - 7))


def compress_message(
    data: bytes | bytearray | memoryview,
    window_bits: int = 15,
    level: int = LEVEL,
    mem_level: int = 8,
) -> bytes:
    """Compress a whole message with a fresh compressor (no context).

    The result suits every connection whose codec has ``local_no_context_takeover``
    and the same ``params_key``, so a broadcast compresses once per distinct key:
    ``compress_message(data, *codec.params_key)``.

    >>> compress_message(b"Hello").hex()
    'f248cdc9c90700'
    """
    encoder = _deflate.compressobj(level, zlib.DEFLATED, -_zlib_bits(window_bits), mem_level)
    out: bytes = encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)[:-4]
    return out


def _check_bits(name: str, value: int | None) -> None:
    if value is not None and not 8 <= value <= 15:
        raise ValueError(f"{name} must be between 8 and 15, not {value}")


@dataclass(frozen=True, slots=True)
class DeflateOptions:
    """User configuration of permessage-deflate, for a server or a client.

    ``level`` (0-9): 1 (:data:`LEVEL`). On JSON, zlib's default 6 makes output 12-17%
    smaller for 1.3x the CPU on small messages and 2.2x on 16 KiB ones.
    ``mem_level`` (1-9, or None): zlib's memLevel; lower saves compressor memory (see
    the module docstring) at some cost in ratio. ``None``: sized to the compressor's
    window, window bits - 7 (8 at 15 bits, 5 at 12, 2 at 9), except a server's
    default 12-bit window, with :data:`SERVER_MEM_LEVEL` (4).

    ``server_max_window_bits`` / ``client_max_window_bits`` (8-15 or None): on a
    client, the windows to request for the server's compressor and to use for ours;
    on a server, the most we use for ours and allow for the client's (a server with
    ``client_max_window_bits`` declines offers that can't limit the client). A server
    without ``server_max_window_bits`` compresses with :data:`SERVER_WINDOW_BITS`
    (12) without announcing it; one without ``client_max_window_bits`` asks for
    :data:`CLIENT_WINDOW_BITS` (12) when the offer allows it and accepts 15 otherwise.
    Set 15 for zlib's full 32 KiB window.
    ``*_no_context_takeover``: ask (client) or impose (server) a compressor reset
    after every message, trading ratio for memory between messages. A server's
    ``client_no_context_takeover`` ``None`` (the default) imposes it when zlib-ng is
    installed (the server then inflates each message with a fresh zlib-ng inflater:
    half zlib's CPU, no state kept) and not otherwise; a client's ``None`` is
    ``False``.

    ``threshold``: messages shorter than this many bytes are sent uncompressed.
    128 by default: below that a message fits in one TCP segment either way, so
    compressing it saves no packets while roughly doubling the cost of sending it.
    Use 0 to compress everything.

    >>> DeflateOptions(server_max_window_bits=16)
    Traceback (most recent call last):
    ...
    ValueError: server_max_window_bits must be between 8 and 15, not 16
    """

    level: int = LEVEL
    mem_level: int | None = None
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool | None = None
    threshold: int = 128

    def __post_init__(self) -> None:
        if not 0 <= self.level <= 9:
            raise ValueError(f"level must be between 0 and 9, not {self.level}")
        if self.mem_level is not None and not 1 <= self.mem_level <= 9:
            raise ValueError(f"mem_level must be between 1 and 9, not {self.mem_level}")
        _check_bits("server_max_window_bits", self.server_max_window_bits)
        _check_bits("client_max_window_bits", self.client_max_window_bits)
        if self.threshold < 0:
            raise ValueError(f"threshold must be at least 0, not {self.threshold}")


class PerMessageDeflate:
    """The negotiated codec of one connection: ``local`` is our compressor, ``remote``
    the peer's (which our decompressor follows).

    ``local_window_bits`` is the window our compressor uses: ``local_max_window_bits``
    (the negotiated limit) unless a smaller one is given. ``mem_level`` ``None``:
    sized to that window (see :class:`DeflateOptions`).

    ``params_key`` identifies the sending settings, as the arguments of
    :func:`compress_message`; it only lets connections share a compressed message
    when ``local_no_context_takeover`` is true (otherwise each compressor has its own
    history).

    >>> codec = PerMessageDeflate()
    >>> codec.compress(b"Hello").hex()
    'f248cdc9c90700'
    >>> codec.compress(b"Hello").hex() in ("f200110000", "f248cdc9c90700")  # zlib, zlib-ng
    True
    """

    __slots__ = (
        "_decoder",
        "_drop_encoder",
        "_encoder",
        "level",
        "local_max_window_bits",
        "local_no_context_takeover",
        "local_window_bits",
        "mem_level",
        "params_key",
        "remote_max_window_bits",
        "remote_no_context_takeover",
        "threshold",
    )

    def __init__(
        self,
        *,
        local_max_window_bits: int = 15,
        remote_max_window_bits: int = 15,
        local_no_context_takeover: bool = False,
        remote_no_context_takeover: bool = False,
        level: int = LEVEL,
        mem_level: int | None = None,
        threshold: int = 128,
        local_window_bits: int | None = None,
    ) -> None:
        _check_bits("local_max_window_bits", local_max_window_bits)
        _check_bits("remote_max_window_bits", remote_max_window_bits)
        _check_bits("local_window_bits", local_window_bits)
        window = local_max_window_bits
        if local_window_bits is not None:
            window = min(window, local_window_bits)
        self.local_max_window_bits = local_max_window_bits
        self.local_window_bits = window
        self.remote_max_window_bits = remote_max_window_bits
        self.local_no_context_takeover = local_no_context_takeover
        self.remote_no_context_takeover = remote_no_context_takeover
        self.level = level
        self.mem_level = _mem_level(window) if mem_level is None else mem_level
        self.threshold = threshold
        # zlib's window, not the negotiated one: 8 and 9 give identical output.
        self.params_key = (_zlib_bits(window), level, self.mem_level)
        # zlib-ng's compressor is too big to keep between messages (module docstring).
        self._drop_encoder = local_no_context_takeover or _deflate is not zlib
        # Created on first use: many connections never send or receive compressed data.
        self._encoder: zlib._Compress | None = None
        self._decoder: zlib._Decompress | None = None

    @property
    def memory(self) -> int:
        """About how many bytes the zlib state takes with both directions in use
        (the module docstring has the formula).

        >>> PerMessageDeflate().memory // 1024  # KiB at 15/8, both windows 15 bits
        301
        >>> PerMessageDeflate(local_window_bits=12).memory // 1024  # 12/5 to send
        77
        """
        bits = _zlib_bits(self.local_window_bits)
        compressor = (1 << (bits + 2)) + (1 << (self.mem_level + 9)) + 6 * 1024
        return compressor + (1 << self.remote_max_window_bits) + 7 * 1024

    def release(self) -> None:
        """Free the zlib state at once: the connection is closed.

        The :class:`~switchboard.protocol.connection.Connection` calls it when the
        transport closes, so the memory comes back even while the application keeps
        a reference to the connection.
        """
        self._encoder = self._decoder = None

    def compress(self, data: bytes | bytearray | memoryview, fin: bool = True) -> bytes:
        """Compress a message (``fin=True``) or one fragment of a streamed message
        (``fin=False`` for all but the last); return the frame payload.

        >>> PerMessageDeflate().compress(b"")  # RFC 7692 7.2.3.6
        b'\\x00'
        """
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = _deflate.compressobj(
                self.level, zlib.DEFLATED, -_zlib_bits(self.local_window_bits), self.mem_level
            )
        # Sync-flush every frame so the peer can inflate it on arrival.
        head = encoder.compress(data)
        tail = encoder.flush(zlib.Z_SYNC_FLUSH)
        if fin:
            tail = tail[:-4]  # always _TAIL: the flush emits an empty stored block
            if self._drop_encoder:
                self._encoder = None  # frees the state; the next message starts afresh
        return head + tail

    def decompress(self, data: bytes, fin: bool, max_size: int | None) -> bytes:
        """Inflate one frame's payload of a compressed message (``fin=True`` for the
        last frame).

        ``max_size`` is how many bytes the rest of the message may still inflate to
        (``None``: no limit). Going over raises :class:`PayloadTooBig` after
        inflating at most ``max_size + 1`` bytes, however small the input: a
        decompression bomb never gets to allocate its payload. Corrupt data raises
        :class:`ProtocolError` with code 1007 (invalid payload data: the frame was
        well formed, its content was not), as for bad UTF-8.

        >>> PerMessageDeflate().decompress(bytes.fromhex("f248cdc9c90700"), True, None)
        b'Hello'
        """
        decoder = self._decoder
        if decoder is None:
            # A decoder that lives for one message may be zlib-ng's: twice as fast,
            # and its 41 KiB are freed with the message (the module docstring).
            library = _deflate if self.remote_no_context_takeover else zlib
            decoder = self._decoder = library.decompressobj(-self.remote_max_window_bits)
        try:
            if max_size is None:
                out = decoder.decompress(data)
                if fin:
                    out += decoder.decompress(_TAIL)
            else:
                # Ask for one byte more than allowed: getting it proves the excess.
                limit = max(max_size, 0) + 1
                out = decoder.decompress(data, limit)
                if fin and len(out) < limit:
                    # Below the limit zlib consumed all of data, so nothing is left over.
                    out += decoder.decompress(_TAIL, limit - len(out))
                if len(out) > max_size:
                    self._decoder = None
                    raise PayloadTooBig(
                        f"message too big: over {max_size} bytes after decompression"
                    )
        except _ERRORS as exc:
            self._decoder = None
            raise ProtocolError(f"invalid compressed data: {exc}", 1007) from None
        # A block with BFINAL set ends the stream (RFC 7692 7.2.3.4); zlib then sets
        # aside whatever follows (padding and our _TAIL) and the next message needs a
        # fresh decoder.
        if fin and (self.remote_no_context_takeover or decoder.eof):
            self._decoder = None
        return out


def _parse(params: Params, offer: bool) -> dict[str, int | None]:
    """Validate permessage-deflate params; raise ValueError naming the problem."""
    parsed: dict[str, int | None] = {}
    for name, value in params:
        if name not in _NAMES:
            raise ValueError(f"unknown parameter {name}")
        if name in parsed:
            raise ValueError(f"duplicate parameter {name}")
        if name in (_SERVER_NCT, _CLIENT_NCT):
            if value is not None:
                raise ValueError(f"{name} takes no value, got {value!r}")
            parsed[name] = None
        elif value is None:
            # Only an offer's client_max_window_bits may go without a value (7.1.2.2).
            if not (offer and name == _CLIENT_BITS):
                raise ValueError(f"{name} needs a value")
            parsed[name] = None
        elif value in _BITS:
            parsed[name] = _BITS[value]
        else:
            raise ValueError(f"{name}={value!r} is not an integer from 8 to 15")
    return parsed


def client_offer(options: DeflateOptions) -> tuple[str, Params]:
    """The permessage-deflate offer a client sends.

    ``client_max_window_bits`` is always included, without a value unless
    configured, telling the server it may limit our window.

    >>> client_offer(DeflateOptions(server_no_context_takeover=True, server_max_window_bits=10))
    ('permessage-deflate', [('server_no_context_takeover', None), ('server_max_window_bits', '10'), ('client_max_window_bits', None)])
    """  # noqa: E501
    params: Params = []
    if options.server_no_context_takeover:
        params.append((_SERVER_NCT, None))
    if options.client_no_context_takeover:
        params.append((_CLIENT_NCT, None))
    if options.server_max_window_bits is not None:
        params.append((_SERVER_BITS, str(options.server_max_window_bits)))
    bits = options.client_max_window_bits
    params.append((_CLIENT_BITS, None if bits is None else str(bits)))
    return EXTENSION, params


def _min_bits(*values: int | None) -> int:
    return min((v for v in values if v is not None), default=15)


def server_negotiate(
    offers: list[tuple[str, Params]], options: DeflateOptions
) -> tuple[Params, PerMessageDeflate] | None:
    """Accept the first permessage-deflate offer we can honour, in the client's order.

    Return the response params and the codec, or ``None`` to decline (no extension).
    Invalid offers (unknown or duplicate params, bad values) are skipped, as RFC 7692
    section 5 says: declined, not errors.

    >>> offers = [("permessage-deflate", [("server_max_window_bits", "9")])]
    >>> params, codec = server_negotiate(offers, DeflateOptions(client_no_context_takeover=True))
    >>> params
    [('client_no_context_takeover', None), ('server_max_window_bits', '9')]
    """
    # Unless configured, a smaller window than agreed: a 4 KiB history, not 32.
    window = SERVER_WINDOW_BITS if options.server_max_window_bits is None else None
    for name, offer_params in offers:
        if name.lower() != EXTENSION:
            continue
        try:
            offer = _parse(offer_params, offer=True)
        except ValueError:
            continue
        if _CLIENT_BITS not in offer and options.client_max_window_bits is not None:
            continue  # we can't limit this client's window: decline the offer
        server_nct = options.server_no_context_takeover or _SERVER_NCT in offer
        # The client's offer promises it won't use context takeover (7.1.1.2); by
        # default we ask for it when zlib-ng inflates (the module docstring).
        client_nct = _CLIENT_NCT in offer or (
            _deflate is not zlib
            if options.client_no_context_takeover is None
            else options.client_no_context_takeover
        )
        local_bits = _min_bits(offer.get(_SERVER_BITS), options.server_max_window_bits)
        client_limit = options.client_max_window_bits
        if client_limit is None and _CLIENT_BITS in offer:
            client_limit = CLIENT_WINDOW_BITS  # the offer lets us limit it: we do
        remote_bits = _min_bits(offer.get(_CLIENT_BITS), client_limit)
        mem_level = options.mem_level
        if mem_level is None and window is not None and local_bits >= window:
            mem_level = SERVER_MEM_LEVEL  # our default window: our default hash table
        params: Params = []
        if server_nct:
            params.append((_SERVER_NCT, None))
        if client_nct:
            params.append((_CLIENT_NCT, None))
        # Required when offered (7.1.2.1); otherwise tells the client our limit.
        if _SERVER_BITS in offer or options.server_max_window_bits is not None:
            params.append((_SERVER_BITS, str(local_bits)))
        if client_limit is not None:
            params.append((_CLIENT_BITS, str(remote_bits)))
        codec = PerMessageDeflate(
            local_max_window_bits=local_bits,
            remote_max_window_bits=remote_bits,
            local_no_context_takeover=server_nct,
            remote_no_context_takeover=client_nct,
            level=options.level,
            mem_level=mem_level,
            threshold=options.threshold,
            local_window_bits=window,
        )
        return params, codec
    return None


def client_accept(
    response: list[tuple[str, Params]], options: DeflateOptions
) -> PerMessageDeflate | None:
    """Check the server's extensions against our :func:`client_offer`; return the
    codec, or ``None`` when the server accepted no extension.

    Raise :class:`NegotiationError` when the response is not a valid answer to our
    offer (an extension we didn't offer, a duplicate, a bad or unexpected param).

    >>> client_accept([("permessage-deflate", [("server_max_window_bits", "16")])],
    ...               DeflateOptions())
    Traceback (most recent call last):
    ...
    switchboard.protocol.errors.NegotiationError: permessage-deflate response: server_max_window_bits='16' is not an integer from 8 to 15
    """  # noqa: E501
    if not response:
        return None
    for name, _ in response:
        if name.lower() != EXTENSION:
            raise NegotiationError(f"server accepted extension {name} that we didn't offer", 0)
    if len(response) > 1:
        raise NegotiationError(f"server accepted {EXTENSION} more than once", 0)
    try:
        accepted = _parse(response[0][1], offer=False)
    except ValueError as exc:
        raise NegotiationError(f"{EXTENSION} response: {exc}", 0) from None

    if options.server_no_context_takeover and _SERVER_NCT not in accepted:
        raise NegotiationError(f"{EXTENSION} response: missing {_SERVER_NCT}", 0)
    server_bits = accepted.get(_SERVER_BITS)
    requested = options.server_max_window_bits
    if requested is not None:
        if server_bits is None:
            raise NegotiationError(f"{EXTENSION} response: missing {_SERVER_BITS}", 0)
        if server_bits > requested:
            raise NegotiationError(
                f"{EXTENSION} response: {_SERVER_BITS}={server_bits} exceeds the {requested}"
                " we requested",
                0,
            )
    client_bits = accepted.get(_CLIENT_BITS)
    offered = options.client_max_window_bits
    if client_bits is not None and offered is not None and client_bits > offered:
        raise NegotiationError(
            f"{EXTENSION} response: {_CLIENT_BITS}={client_bits} exceeds the {offered} we offered",
            0,
        )
    return PerMessageDeflate(
        local_max_window_bits=_min_bits(client_bits, offered),
        remote_max_window_bits=_min_bits(server_bits),
        local_no_context_takeover=options.client_no_context_takeover or _CLIENT_NCT in accepted,
        remote_no_context_takeover=_SERVER_NCT in accepted,
        level=options.level,
        mem_level=options.mem_level,
        threshold=options.threshold,
    )

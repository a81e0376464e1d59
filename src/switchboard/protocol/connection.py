"""The WebSocket state machine (RFC 6455 sections 5 to 7), for both roles.

Sans-I/O: feed it bytes with :meth:`Connection.receive_data` and
:meth:`Connection.receive_eof`, take what it decoded from
:meth:`Connection.events_received` and what it wants written from
:meth:`Connection.data_to_send`. It never touches a socket or a clock, so every
rule is testable with plain bytes, and any I/O layer (asyncio, threads, trio) is a
thin adapter around it.

Example, a server that answers a client's masked "Hello"::

    >>> conn = Connection(Role.SERVER)
    >>> conn.receive_data(bytes.fromhex("818537fa213d7f9f4d5158"))
    >>> conn.events_received()
    [Message(data='Hello')]
    >>> conn.send_text("Hi")
    >>> conn.data_to_send()
    [b'\\x81\\x02Hi']

The frame parser is an index loop rather than the generator style used for HTTP:
it runs once per frame on the hot path, and a loop over one buffer, with no
generator resumption and no per-frame buffer copies, is several times faster.
"""

from __future__ import annotations

import codecs
import enum
import os
from typing import TYPE_CHECKING

from .errors import (
    Close,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    PayloadTooBig,
    ProtocolError,
)
from .events import Event, Fragment, Message, Ping, Pong
from .frames import (
    apply_mask,
    decode_close,
    encode_close,
    encode_header,
    frame_message,
    parse_message,
    unmask_join,
)
from .limits import Limits

if TYPE_CHECKING:
    from .deflate import PerMessageDeflate

__all__ = ["Connection", "Role", "State"]

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
_OK_CODES = frozenset({1000, 1001, 1005})
# Payloads at most this long are copied into the header's bytes (one write);
# longer ones are handed to the transport as they are (no copy).
_COPY_LIMIT = 4096
# An incomplete frame at least this long is gathered as the reads that bring it,
# then joined (and unmasked) in one pass: no buffer that grows, copy by copy, first.
_GATHER_LIMIT = 65536
# receive_message() parses a frame up to this long in one C call; longer ones cost
# enough work of their own for the general parser's overhead not to matter.
_SMALL_LIMIT = 16384


class Role(enum.Enum):
    """Which end of the connection this is: it decides the masking rules."""

    SERVER = "server"
    CLIENT = "client"


class State(enum.IntEnum):
    """OPEN until a close frame is sent or received (or the connection fails),
    CLOSING until the transport reports end of file, then CLOSED."""

    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class Connection:
    """A WebSocket connection after the opening handshake.

    ``deflate`` is the negotiated permessage-deflate codec, if any; ``limits`` bounds
    every buffer kept for the peer (see :mod:`switchboard.protocol.limits`).

    The frames of a fragmented message that one :meth:`receive_data` call brings are
    reported together, as one :class:`Fragment` at the end of the call (or with the
    message's last frame, or before a close frame): events scale with reads, not
    with frames, so a message cut into a million one-byte frames costs a few dozen
    objects, not a million. Control frames in between are reported as they come,
    so a :class:`Ping` may come before the data of frames that preceded it.
    """

    # Slots: no per-instance dict, about 1.3 KiB less for every open connection.
    __slots__ = (
        "role",
        "deflate",
        "limits",
        "close_rcvd",
        "close_sent",
        "close_rcvd_then_sent",
        "failure",
        "_coalesce",
        "_server",
        "_max_message",
        "_max_frame",
        "_max_fragments",
        "_small_max",
        "_buf",
        "_need",
        "_events",
        "_out",
        "_frag_opcode",
        "_frag_compressed",
        "_frag_size",
        "_frag_count",
        "_frag_decoder",
        "_frag_parts",
        "_frag_text",
        "_send_opcode",
        "_send_compressed",
        "_plain",
        "_fast_send",
        "_pings",
        "_partial",
        "_large",
        "_discard",
        "_eof",
        "__weakref__",
    )

    @property
    def coalesce_fragments(self) -> bool:
        """``False``: one :class:`Fragment` per frame, empty ones included (for tools
        that show every frame, like ``connect --trace``). A subclass may set it as a
        class attribute."""
        return self._coalesce

    @coalesce_fragments.setter
    def coalesce_fragments(self, value: bool) -> None:
        self._coalesce = value

    def __init__(
        self,
        role: Role,
        *,
        deflate: PerMessageDeflate | None = None,
        limits: Limits = Limits(),
    ) -> None:
        self._coalesce = True
        self.role = role
        self.deflate = deflate
        self.limits = limits
        self._server = role is Role.SERVER
        self._max_message = limits.max_message_size
        self._max_frame = limits.max_frame_size
        self._max_fragments = limits.max_fragments
        self._small_max = min(
            _SMALL_LIMIT,
            _SMALL_LIMIT if self._max_frame is None else self._max_frame,
            _SMALL_LIMIT if self._max_message is None else self._max_message,
        )
        cls = type(self)
        if cls.receive_data is not Connection.receive_data or (
            cls.events_received is not Connection.events_received
        ):
            self._small_max = -1  # a subclass watches every input: no fast path past it
        self._buf = bytearray()
        self._need = 0  # bytes the frame at the start of _buf needs in total
        self._events: list[Event] = []
        self._out: list[bytes] = []
        # Incoming fragmented message: its opcode (0 when none), size so far, frames so
        # far, UTF-8 decoder (text), and what this receive_data() call got of it and
        # has not reported yet: payloads, and text decoded from earlier ones.
        self._frag_opcode = 0
        self._frag_compressed = False
        self._frag_size = 0
        self._frag_count = 0
        self._frag_decoder: codecs.IncrementalDecoder | None = None
        self._frag_parts: list[bytes] = []
        self._frag_text: list[str] = []
        # Outgoing fragmented message: its opcode (0 when none) and compression.
        self._send_opcode = 0
        self._send_compressed = False
        # A server without compression, open, not streaming a message: send_text()
        # and send_binary() frame in one call (kept by the methods that change these).
        self._plain = self._server and deflate is None
        self._fast_send = self._plain
        self._pings: dict[bytes, None] = {}  # payloads of unanswered pings, oldest first
        # An incomplete text frame being checked as it arrives: header length,
        # payload length, mask, decoder, payload bytes checked so far.
        self._partial: tuple[int, int, bytes | None, codecs.IncrementalDecoder, int] | None = None
        self._large: _LargeFrame | None = None  # an incomplete frame over _GATHER_LIMIT
        self._discard = False  # after a close frame or a failure, input is ignored
        self._eof = False
        #: The close frame received from the peer, if any.
        self.close_rcvd: Close | None = None
        #: The close frame sent to the peer, if any.
        self.close_sent: Close | None = None
        #: Whether the peer's close frame came before ours (``None`` until both exist).
        self.close_rcvd_then_sent: bool | None = None
        #: The protocol error that failed the connection, if one did.
        self.failure: ProtocolError | None = None

    # -- state ----------------------------------------------------------------

    @property
    def state(self) -> State:
        """The connection's state; see :class:`State`."""
        if self._eof:
            return State.CLOSED
        if self.close_sent or self.close_rcvd or self.failure:
            return State.CLOSING
        return State.OPEN

    @property
    def should_close_transport(self) -> bool:
        """True once the I/O layer should close the TCP connection.

        The server closes it as soon as the closing handshake is complete (RFC 6455
        7.1.1). Otherwise, once a close frame went either way, the I/O layer waits
        for the peer to close, with a timeout: the client after a complete
        handshake, and either side after failing the connection. Closing at once
        after a failure would discard what the peer is still sending, and with
        unread data the kernel resets the connection: the peer would never read
        our close frame, only a 1006.
        """
        return self._server and self.close_sent is not None and self.close_rcvd is not None

    def closed_exception(self) -> ConnectionClosed:
        """The exception that describes how this connection closed (or is closing)."""
        rcvd, sent = self.close_rcvd, self.close_sent
        ok = (
            rcvd is not None
            and sent is not None
            and rcvd.code in _OK_CODES
            and sent.code in _OK_CODES
        )
        cls = ConnectionClosedOK if ok else ConnectionClosedError
        return cls(rcvd, sent, self.close_rcvd_then_sent)

    # -- input ----------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the network."""
        if self._discard:
            return
        if self._large is not None:
            rest = self._receive_large(data)
            if rest is None or self._discard:
                return
            data = rest
        buf = self._buf
        if buf:
            buf += data
            if len(buf) < self._need:
                if self._partial is not None:
                    self._check_partial_text()
                return
            source: bytes | bytearray | memoryview = buf
        else:
            source = data
        try:
            pos = self._parse(source)
            if self._frag_parts or self._frag_text:
                self._report_fragment(False)  # what this call got of a fragmented message
        except ProtocolError as exc:
            self._fail(self._first_error(exc))
        if self._discard:
            buf.clear()
        elif source is buf:
            del buf[:pos]
        elif pos < len(source):
            buf += memoryview(source)[pos:]
        if self._partial is not None:
            self._check_partial_text()

    def receive_message(self, data: bytes | bytearray | memoryview) -> str | bytes | None:
        """:meth:`receive_data`, with a fast path for the lone small message.

        If ``data`` is exactly one complete small data frame (unfragmented,
        uncompressed) and no frame is incomplete, return its message, and
        :meth:`events_received` will not report it: the same result as
        ``receive_data(data)`` then a single :class:`Message` event, in one call.
        Otherwise feed ``data`` to :meth:`receive_data` and return ``None``.
        """
        if not (self._buf or self._large or self._frag_opcode or self._discard or self._events):
            message = parse_message(data, self._server, self._small_max)  # type: ignore[arg-type]
            if message is not None:
                return message
        self.receive_data(data)
        return None

    def _receive_large(
        self, data: bytes | bytearray | memoryview
    ) -> bytes | bytearray | memoryview | None:
        """Add ``data`` to the large frame being gathered; once it is complete, handle
        it and return the bytes after it (else ``None``)."""
        large = self._large
        assert large is not None
        need = large.left
        try:
            if len(data) < need:
                large.add(data)
                return None
            large.add(memoryview(data)[:need] if len(data) > need else data)
            self._large = None
            self._handle_frame(large.b0, large.payload())
        except ProtocolError as exc:
            self._fail(exc)
            return None
        return memoryview(data)[need:]

    def _check_partial_text(self) -> None:
        """Validate the part of an incomplete text frame received so far.

        Invalid UTF-8 then fails the connection as soon as it arrives, not when the
        frame is complete (RFC 6455 8.1 "fail fast"). The bytes are checked again
        with the whole frame: this check is only for speed of failure.
        """
        assert self._partial is not None
        header_len, length, mask, decoder, checked = self._partial
        start = header_len + checked
        end = min(len(self._buf), header_len + length)
        if end <= start:
            return
        chunk: bytes | bytearray = self._buf[start:end]
        if mask is not None:
            shift = checked % 4
            chunk = apply_mask(chunk, mask[shift:] + mask[:shift])
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError:
            self._fail(ProtocolError("invalid UTF-8 in a text message", 1007))
            self._buf.clear()
            return
        self._partial = (header_len, length, mask, decoder, end - header_len)

    def receive_eof(self) -> None:
        """Tell the connection that the peer closed the TCP connection."""
        self._eof = True
        self._discard = True
        self._fast_send = False
        self._buf.clear()
        self._large = None
        if self.deflate is not None:
            self.deflate.release()  # its zlib state is of no more use: free it now

    def events_received(self) -> list[Event]:
        """Take the events decoded since the last call, oldest first."""
        events = self._events
        self._events = []
        return events

    def _parse(self, data: bytes | bytearray | memoryview) -> int:
        """Handle every complete frame in ``data``; return how many bytes were used."""
        n = len(data)
        pos = 0
        server = self._server
        self._need = 0  # set again below if a frame's payload is incomplete
        self._partial = None
        with memoryview(data) as view:
            while n - pos >= 2:
                b0 = view[pos]
                if (
                    not b0 & 0x7F  # a continuation frame without RSV bits
                    and self._frag_opcode
                    and not self._frag_compressed
                    and self.coalesce_fragments
                ):
                    end = self._continuations(view, pos, n)
                    if end > pos:
                        pos = end
                        continue
                b1 = view[pos + 1]
                length = b1 & 0x7F
                p = pos + 2
                if length == 126:
                    if n - p < 2:
                        break
                    length = (view[p] << 8) | view[p + 1]
                    p += 2
                elif length == 127:
                    if n - p < 8:
                        break
                    length = int.from_bytes(view[p : p + 8], "big")
                    p += 8
                    if length >> 63:
                        raise ProtocolError("frame length has its most significant bit set")
                self._check_header(b0, length)
                if b1 & 0x80:
                    if not server:
                        raise ProtocolError("server frames must not be masked")
                    p += 4
                    if p > n:  # the masking key is incomplete
                        break
                elif server:
                    raise ProtocolError("client frames must be masked")
                end = p + length
                if end > n and length >= _GATHER_LIMIT:
                    mask = bytes(view[p - 4 : p]) if server else None
                    self._large = _LargeFrame(b0, length, mask, self._partial_decoder(b0))
                    self._large.add(view[p:n] if type(data) is bytes else bytes(view[p:n]))
                    pos = n
                    break
                if end > n:
                    self._need = end - pos
                    self._watch_partial_text(
                        b0, p - pos, length, view[p - 4 : p] if server else None
                    )
                    break
                if server:
                    payload = apply_mask(view[p:end], view[p - 4 : p])
                else:
                    payload = bytes(view[p:end])
                pos = end
                self._handle_frame(b0, payload)
                if self._discard:
                    break
        return pos

    def _continuations(self, view: memoryview, pos: int, n: int) -> int:
        """The fast path for a run of complete, uncompressed continuation frames (a
        flood of tiny ones is the case it is for): the checks of ``_check_header`` and
        the work of ``_fragment``, inline. Return where the run ends: at the first frame
        that needs more than that (its limits, errors and partial frames are for
        ``_parse``), or after the message's last frame."""
        server = self._server
        parts = self._frag_parts
        count, size = self._frag_count, self._frag_size
        max_count = self._max_fragments
        max_frame = self._max_frame
        max_message = self._max_message
        try:
            while n - pos >= 2:
                b0 = view[pos]
                b1 = view[pos + 1]
                length = b1 & 0x7F
                if b0 & 0x7F or length > 126 or bool(b1 & 0x80) is not server:
                    break
                p = pos + 2
                if length == 126:
                    if n - p < 2:
                        break
                    length = (view[p] << 8) | view[p + 1]
                    p += 2
                if (
                    (max_count is not None and count >= max_count)
                    or (max_frame is not None and length > max_frame)
                    or (max_message is not None and size + length > max_message)
                ):
                    break
                if server:
                    p += 4
                end = p + length
                if end > n:
                    break
                if server:
                    parts.append(apply_mask(view[p:end], view[p - 4 : p]))
                else:
                    parts.append(bytes(view[p:end]))
                count += 1
                size += length
                pos = end
                if b0:  # FIN
                    self._frag_count, self._frag_size = count, size
                    self._report_fragment(True)
                    return pos
        finally:
            if self._frag_opcode:
                self._frag_count, self._frag_size = count, size
        return pos

    def _watch_partial_text(
        self, b0: int, header_len: int, length: int, mask: memoryview | None
    ) -> None:
        """Start checking an incomplete uncompressed text frame as it arrives."""
        decoder = self._partial_decoder(b0)
        if decoder is not None:
            self._partial = (header_len, length, None if mask is None else bytes(mask), decoder, 0)

    def _partial_decoder(self, b0: int) -> codecs.IncrementalDecoder | None:
        """A decoder to check an incomplete frame's text as it arrives, if it is
        uncompressed text: in the state where the message's earlier frames left it."""
        opcode = b0 & 0x0F
        if b0 & 0x40 or not (opcode == 1 or (opcode == 0 and self._frag_decoder is not None)):
            return None
        if opcode == 0 and self._frag_compressed:
            return None
        decoder = _Utf8Decoder()
        if opcode == 0:
            assert self._frag_decoder is not None
            self._decode_fragments()  # the decoder's state after every complete frame
            decoder.setstate(self._frag_decoder.getstate())
        return decoder

    def _check_header(self, b0: int, length: int) -> None:
        """Validate a frame header before its payload arrives (fail fast)."""
        opcode = b0 & 0x0F
        if b0 & 0x30:
            raise ProtocolError("reserved bits RSV2/RSV3 are set without an extension for them")
        if opcode >= 8:
            if opcode > 10:
                raise ProtocolError(f"reserved opcode {opcode:#x}")
            if not b0 & 0x80:
                raise ProtocolError("control frame is fragmented")
            if length > 125:
                raise ProtocolError(f"control frame payload is {length} bytes; the limit is 125")
            if b0 & 0x40:
                raise ProtocolError("control frame has RSV1 set")
            return
        if opcode > 2:
            raise ProtocolError(f"reserved opcode {opcode:#x}")
        if opcode == 0:
            if not self._frag_opcode:
                raise ProtocolError("continuation frame without a message to continue")
            if b0 & 0x40:
                raise ProtocolError("continuation frame has RSV1 set")
            max_fragments = self._max_fragments
            if max_fragments is not None and self._frag_count >= max_fragments:
                raise PayloadTooBig(f"too many fragments: the limit is {max_fragments}")
            compressed = self._frag_compressed
        else:
            if self._frag_opcode:
                raise ProtocolError("new data frame while a fragmented message is incomplete")
            if b0 & 0x40 and self.deflate is None:
                raise ProtocolError("RSV1 is set but permessage-deflate was not negotiated")
            if not b0 & 0x80 and self._max_fragments == 0:
                raise PayloadTooBig("too many fragments: the limit is 0")
            compressed = bool(b0 & 0x40)
        if self._max_frame is not None and length > self._max_frame:
            raise PayloadTooBig(f"frame too big: {length} bytes; the limit is {self._max_frame}")
        limit = self._max_message
        if limit is not None:
            if compressed:
                # Compression can grow incompressible data a little, never by 1%:
                # a bigger compressed frame cannot inflate to an allowed message.
                limit += limit // 100 + 64
            if self._frag_size + length > limit:
                raise self._too_big("")

    def _handle_frame(self, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        if opcode >= 8 and (self._frag_parts or self._frag_text):
            if opcode == 8:
                self._report_fragment(False)  # the data that came first, first
            elif self._frag_decoder is not None:
                self._decode_fragments()  # fail fast: before answering a ping after bad text
        if opcode == 1 or opcode == 2:
            if not b0 & 0x80:
                self._frag_opcode = opcode
                self._frag_compressed = bool(b0 & 0x40)
                self._frag_size = 0
                self._frag_count = 0
                self._frag_decoder = _Utf8Decoder() if opcode == 1 else None
                self._fragment(payload, False)
                return
            if b0 & 0x40:
                payload = self._decompress(payload, True)
            if opcode == 1:
                try:
                    self._events.append(Message(payload.decode()))
                except UnicodeDecodeError:
                    raise ProtocolError("invalid UTF-8 in a text message", 1007) from None
            else:
                self._events.append(Message(payload))
        elif opcode == 0:
            self._fragment(payload, bool(b0 & 0x80))
        elif opcode == 9:
            if self.close_sent is None:
                self._write(0x8A, payload)
            self._events.append(Ping(payload))
        elif opcode == 10:
            acknowledged: tuple[bytes, ...] = ()
            if payload in self._pings:
                pings = list(self._pings)
                acknowledged = tuple(pings[: pings.index(payload) + 1])
                for ping in acknowledged:
                    del self._pings[ping]
            self._events.append(Pong(payload, acknowledged))
        else:
            self._receive_close(decode_close(payload))

    def _decompress(self, payload: bytes, fin: bool) -> bytes:
        assert self.deflate is not None  # RSV1 was checked against the negotiation
        limit = self._max_message
        remaining = None if limit is None else limit - self._frag_size
        try:
            return self.deflate.decompress(payload, fin, remaining)
        except PayloadTooBig:  # reword: the codec only knows the remaining allowance
            raise self._too_big(" after decompression") from None

    def _too_big(self, after: str) -> PayloadTooBig:
        return PayloadTooBig(f"message too big: over {self._max_message} bytes{after}")

    def _fragment(self, payload: bytes, fin: bool) -> None:
        if self._frag_compressed:
            payload = self._decompress(payload, fin)
        # The message size was checked already: by the frame header when uncompressed,
        # by _decompress otherwise; the number of frames by the header.
        self._frag_size += len(payload)
        self._frag_count += 1
        self._frag_parts.append(payload)
        if fin or not self.coalesce_fragments:
            self._report_fragment(fin)

    def _decode_fragments(self, final: bool = False) -> None:
        """Decode (and so check) the text received and not decoded yet."""
        parts = self._frag_parts
        if not parts and not final:
            return
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        parts.clear()
        assert self._frag_decoder is not None
        try:
            self._frag_text.append(self._frag_decoder.decode(data, final))
        except UnicodeDecodeError:
            raise ProtocolError("invalid UTF-8 in a text message", 1007) from None

    def _first_error(self, exc: ProtocolError) -> ProtocolError:
        """``exc``, unless text received before it and not decoded yet is invalid:
        that error came first."""
        if self._frag_decoder is not None and self._frag_parts:
            try:
                self._decode_fragments()
            except ProtocolError as earlier:
                return earlier
        return exc

    def _report_fragment(self, fin: bool) -> None:
        """Report what arrived of the fragmented message since the last Fragment."""
        data: str | bytes
        if self._frag_decoder is not None:
            self._decode_fragments(fin)
            text = self._frag_text
            data = text[0] if len(text) == 1 else "".join(text)
            text.clear()
        else:
            parts = self._frag_parts
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            parts.clear()
        if fin:
            self._frag_opcode = 0
            self._frag_decoder = None
            self._frag_size = 0
        if data or fin or not self.coalesce_fragments:
            self._events.append(Fragment(data, fin))

    def _receive_close(self, close: Close) -> None:
        self.close_rcvd = close
        self._fast_send = False
        if self.close_sent is None:
            self.close_rcvd_then_sent = True
            # RFC 6455 5.5.1: answer with a close frame, echoing the status code (the
            # received Close itself when it has no reason: it is frozen).
            self._send_close_frame(close if not close.reason else Close(close.code, ""))
        elif self.close_rcvd_then_sent is None:
            self.close_rcvd_then_sent = False
        self._discard = True
        self._events.append(close)

    def _fail(self, exc: ProtocolError) -> None:
        """Fail the connection (RFC 6455 7.1.7): send a close frame if we still may."""
        self.failure = exc
        self._discard = True
        self._large = None
        self._frag_parts.clear()
        self._frag_text.clear()
        if self.close_sent is None:
            reason = exc.reason.encode()[:123].decode(errors="ignore")
            self._send_close_frame(Close(exc.code, reason))

    # -- output ---------------------------------------------------------------

    def data_to_send(self) -> list[bytes]:
        """Take the bytes to write to the network, in order."""
        out = self._out
        self._out = []
        return out

    def _write(self, first: int, payload: bytes | bytearray | memoryview) -> None:
        n = len(payload)
        if self._server:
            if n <= _COPY_LIMIT:
                self._out.append(encode_header(first, n) + payload)
            else:
                self._out.append(encode_header(first, n))
                self._out.append(payload)  # type: ignore[arg-type]  # any buffer writes
        else:
            key = os.urandom(4)
            self._out.append(encode_header(first, n, 0x80) + key + apply_mask(payload, key))

    def _check_can_send(self) -> None:
        if self.close_sent is not None or self.close_rcvd is not None or self._eof:
            raise self.closed_exception()

    def send_text(self, data: str | bytes, *, compress: bool | None = None) -> None:
        """Send a text message. ``bytes`` must already be UTF-8 (not checked).

        ``compress``: ``None`` compresses when permessage-deflate was negotiated and
        the message reaches the codec's threshold; ``False`` opts this message out.
        """
        if self._fast_send:
            self._out.append(frame_message(0x81, data))
            return
        payload = data.encode() if isinstance(data, str) else data
        self._send_message(0x81, payload, compress)

    def encode_message(self, data: str | bytes | bytearray | memoryview) -> bytes | None:
        """The frame of a small message (``str``: text), for the caller to write itself,
        when sending it needs nothing of the connection: a server's, open, without
        permessage-deflate, not sending a fragmented message, nothing queued in
        :meth:`data_to_send`. Otherwise ``None``: use :meth:`send_text` or
        :meth:`send_binary` (or, for anything else, :meth:`send_fragment`). One call
        instead of a send and a ``data_to_send()``.
        """
        if self._fast_send and not self._out:
            if type(data) is str:
                return frame_message(0x81, data)
            if isinstance(data, (bytes, bytearray, memoryview)) and len(data) <= _COPY_LIMIT:
                return frame_message(0x82, data)
        return None

    def send_binary(
        self, data: bytes | bytearray | memoryview, *, compress: bool | None = None
    ) -> None:
        """Send a binary message. ``compress`` as for :meth:`send_text`."""
        if self._fast_send and len(data) <= _COPY_LIMIT:
            self._out.append(frame_message(0x82, data))
            return
        self._send_message(0x82, data, compress)

    def _send_message(
        self, first: int, payload: bytes | bytearray | memoryview, compress: bool | None
    ) -> None:
        if self._send_opcode:
            raise RuntimeError("a fragmented message is being sent; finish it first")
        self._check_can_send()
        deflate = self.deflate
        if deflate is not None and (
            len(payload) >= deflate.threshold if compress is None else compress
        ):
            payload = deflate.compress(payload, True)
            first |= 0x40
        self._write(first, payload)

    def send_fragment(self, data: str | bytes, *, fin: bool, compress: bool | None = None) -> None:
        """Send one fragment of a message streamed in pieces (RFC 6455 5.4).

        The first fragment's type decides the message's: ``str`` for text, ``bytes``
        for binary; later fragments must be of the same type. ``fin=True`` ends the
        message. ``compress`` applies to the whole message and is read from the first
        fragment (``None`` compresses when permessage-deflate was negotiated).
        """
        opcode = 1 if isinstance(data, str) else 2
        payload = data.encode() if isinstance(data, str) else data
        if self._send_opcode:
            if opcode != self._send_opcode:
                raise TypeError("fragments of one message must all be str or all be bytes")
            first = 0x00
        else:
            self._check_can_send()
            self._send_opcode = opcode
            self._fast_send = False
            self._send_compressed = self.deflate is not None and compress is not False
            first = opcode | (0x40 if self._send_compressed else 0)
        if self._send_compressed:
            assert self.deflate is not None
            payload = self.deflate.compress(payload, fin)
        if fin:
            first |= 0x80
            self._send_opcode = 0
            self._fast_send = self._plain and self.state is State.OPEN
        self._write(first, payload)

    def send_ping(self, data: bytes | None = None) -> bytes:
        """Send a ping and return its payload (4 random bytes when ``data`` is None).

        A later :class:`Pong` event lists the payload in ``acknowledged``.
        """
        self._check_can_send()
        if data is None:
            data = os.urandom(4)
            while data in self._pings:
                data = os.urandom(4)
        if len(data) > 125:
            raise ValueError(f"ping payload is {len(data)} bytes; the limit is 125")
        self._pings[bytes(data)] = None
        self._write(0x89, data)
        return bytes(data)

    def send_pong(self, data: bytes = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat, RFC 6455 5.5.3)."""
        self._check_can_send()
        if len(data) > 125:
            raise ValueError(f"pong payload is {len(data)} bytes; the limit is 125")
        self._write(0x8A, data)

    def send_close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (or answer one) with ``code`` and ``reason``.

        Does nothing if a close frame was already sent. Raises ``ValueError`` for a
        code that may not be sent or a reason over 123 bytes.
        """
        if self.close_sent is not None or self._eof:
            return
        self._send_close_frame(Close(code, reason))

    def _send_close_frame(self, close: Close) -> None:
        payload = encode_close(close.code, close.reason)  # validates before any state changes
        self.close_sent = close
        self._fast_send = False
        self._write(0x88, payload)


class _LargeFrame:
    """A frame over ``_GATHER_LIMIT`` whose payload is still arriving: its first
    byte, the reads that brought its payload so far, and how many bytes it lacks.
    Text is checked as it arrives, so invalid UTF-8 fails the connection at once."""

    __slots__ = ("b0", "left", "mask", "decoder", "chunks", "received")

    def __init__(
        self, b0: int, length: int, mask: bytes | None, decoder: codecs.IncrementalDecoder | None
    ) -> None:
        self.b0 = b0
        self.left = length
        self.mask = mask
        self.decoder = decoder
        self.chunks: list[bytes | bytearray | memoryview] = []
        self.received = 0

    def add(self, chunk: bytes | bytearray | memoryview) -> None:
        """Keep ``chunk`` (a copy unless it is immutable bytes, or a view of them)."""
        if not (type(chunk) is bytes or (type(chunk) is memoryview and type(chunk.obj) is bytes)):
            chunk = bytes(chunk)  # the caller may reuse its buffer
        self.chunks.append(chunk)
        if self.decoder is not None:
            text = chunk
            if self.mask is not None:
                shift = self.received & 3
                text = apply_mask(chunk, self.mask[shift:] + self.mask[:shift])
            try:
                self.decoder.decode(text)
            except UnicodeDecodeError:
                raise ProtocolError("invalid UTF-8 in a text message", 1007) from None
        self.left -= len(chunk)
        self.received += len(chunk)

    def payload(self) -> bytes:
        """The whole payload, unmasked."""
        if self.mask is not None:
            return unmask_join(self.chunks, self.mask)
        return b"".join(self.chunks)

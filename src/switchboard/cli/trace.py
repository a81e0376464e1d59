"""``connect --trace``: the opening handshake and every frame, both directions.

:class:`TracedConnection` is the sans-I/O :class:`Connection` with a window on
it: it reads frame headers from the bytes going in and out (the connection
itself still parses and validates them), and pairs each frame with what the
connection made of it, so a line shows both the wire (opcode, FIN, RSV1, mask,
length) and the message (its size before compression and a preview):

    14:03:07.512 > TEXT   fin=1 rsv1=1 mask=1 len=23 (40 B uncompressed) '{"hello": ...'
    14:03:07.513 < CLOSE  fin=1 rsv1=0 mask=0 len=2 1000 (normal closure)

Received frames pair with events one to one and in order (every complete data
frame gives a Message or Fragment, every control frame a Ping, Pong or Close),
unless the connection failed or was closing and discarded the rest. Sent data
frames pair with the ``send_*`` calls that produced them; sent control frames
are short and never compressed, so their payload is read from the wire.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

from ..protocol.connection import Connection, Role
from ..protocol.deflate import PerMessageDeflate
from ..protocol.errors import Close, ProtocolError
from ..protocol.events import Event, Fragment, Message, Ping, Pong
from ..protocol.frames import Opcode, apply_mask, decode_close
from ..protocol.http11 import Request, Response
from ..protocol.limits import Limits
from .output import Console, timestamp

__all__ = ["Tracer", "TracedConnection", "FrameScanner", "WireFrame"]

PREVIEW = 60  # characters of payload shown per frame


@dataclass(frozen=True, slots=True)
class WireFrame:
    """A frame header as it crossed the wire; ``control_payload`` is the unmasked
    payload of a control frame (at most 125 bytes), ``b""`` for data frames."""

    opcode: int
    fin: bool
    rsv1: bool
    masked: bool
    length: int
    control_payload: bytes = b""


class FrameScanner:
    """Splits a byte stream into frame headers, for display only.

    A frame is reported as soon as its header is complete, and its payload skipped,
    not buffered; only a valid control frame (125 bytes at most) is held until its
    payload is complete, to show it.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skip = 0  # payload bytes of the last frame still to come

    def feed(self, data: bytes | bytearray | memoryview) -> list[WireFrame]:
        """The frames whose header ``data`` completes, in order."""
        frames: list[WireFrame] = []
        view = memoryview(data)
        if self._skip:
            used = min(self._skip, len(view))
            self._skip -= used
            view = view[used:]
        buf = self._buf
        buf += view
        pos = 0
        while (header := _parse_header(buf, pos)) is not None:
            frame, start = header
            end = start + frame.length
            if frame.opcode >= 8 and frame.length <= 125:
                if end > len(buf):
                    break
                payload = bytes(buf[start:end])
                if frame.masked:
                    payload = apply_mask(payload, buf[start - 4 : start])
                frames.append(dataclasses.replace(frame, control_payload=payload))
                pos = end
            else:
                frames.append(frame)
                if end > len(buf):
                    self._skip = end - len(buf)
                    pos = len(buf)
                    break
                pos = end
        del buf[:pos]
        return frames


def _parse_header(buf: bytearray, pos: int) -> tuple[WireFrame, int] | None:
    """The frame header at ``pos`` and where its payload starts, or ``None`` if incomplete."""
    if len(buf) - pos < 2:
        return None
    b0, b1 = buf[pos], buf[pos + 1]
    length = b1 & 0x7F
    start = pos + 2
    if length >= 126:
        size = 2 if length == 126 else 8
        if len(buf) - start < size:
            return None
        length = int.from_bytes(buf[start : start + size], "big")
        start += size
    masked = bool(b1 & 0x80)
    if masked:
        start += 4
        if len(buf) < start:
            return None
    return WireFrame(b0 & 0x0F, bool(b0 & 0x80), bool(b0 & 0x40), masked, length), start


class Tracer:
    """Formats the handshake and frame lines and writes them to standard error.

    Frame lines that arrive before :meth:`handshake` (bytes that came in with the
    101 response) are held back, so the output reads in wire order.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._incoming = FrameScanner()
        self._outgoing = FrameScanner()
        self._received: deque[WireFrame] = deque()
        # (size, preview) of each data frame queued for sending, oldest first.
        self._sent_data: deque[tuple[int, str]] = deque()
        self._held: list[str] | None = []

    # -- what the connection reports --------------------------------------------

    def bytes_received(self, data: bytes | bytearray | memoryview) -> None:
        self._received.extend(self._incoming.feed(data))

    def events_received(self, events: list[Event], conn: Connection) -> None:
        """Pair ``events`` with the oldest frames received; once ``conn`` reads no more
        (it failed, or got a close frame), report the frames left as not processed."""
        for event in events:
            frame = self._received.popleft()
            self._frame("<", frame, *_describe_event(event))
        if conn.failure is None and conn.close_rcvd is None:
            return  # the frames left are still arriving
        if conn.failure is not None:  # the first frame left failed, the others were ignored
            note, then = f"rejected: {conn.failure.reason}", "discarded"
        else:
            note = then = "discarded after the close frame"
        while self._received:
            frame = self._received.popleft()
            self._frame("<", frame, None, self.console.paint_err(f"({note})", "red"))
            note = then

    def data_frame_queued(self, data: str | bytes | bytearray | memoryview) -> None:
        self._sent_data.append(_describe_data(data))

    def bytes_sent(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            for frame in self._outgoing.feed(chunk):
                if frame.opcode < 8:
                    self._frame(">", frame, *self._sent_data.popleft())
                else:
                    self._frame(">", frame, None, _describe_control(frame))

    # -- output -------------------------------------------------------------------

    def handshake(self, request: Request | None, response: Response | None) -> None:
        """Print the opening handshake, then any frame lines held back until now."""
        paint = self.console.paint_err
        if request is not None:
            self._emit(paint(f"> {request.method} {request.target} {request.version}", "green"))
            for name, value in request.headers.items():
                self._emit(paint(f"> {name}: {value}", "green"))
        if response is not None:
            self._emit(paint(f"< HTTP/1.1 {response.status} {response.reason}", "cyan"))
            for name, value in response.headers.items():
                self._emit(paint(f"< {name}: {value}", "cyan"))
        held, self._held = self._held or [], None
        for line in held:
            self._emit(line)

    def closed(self, text: str) -> None:
        self._emit(self.console.paint_err(text, "yellow"))

    def _frame(self, direction: str, frame: WireFrame, size: int | None, preview: str) -> None:
        name = _opcode_name(frame.opcode)
        parts = [
            timestamp(),
            self.console.paint_err(direction, "green" if direction == ">" else "cyan"),
            self.console.paint_err(f"{name:<6}", "bold"),
            f"fin={frame.fin:d} rsv1={frame.rsv1:d} mask={frame.masked:d} len={frame.length}",
        ]
        if frame.rsv1 and size is not None:
            parts.append(f"({size} B uncompressed)")
        if preview:
            parts.append(preview)
        line = " ".join(parts)
        if self._held is not None:
            self._held.append(line)
        else:
            self._emit(line)

    def _emit(self, line: str) -> None:
        self.console.err(line)


def _opcode_name(opcode: int) -> str:
    try:
        return Opcode(opcode).name
    except ValueError:
        return f"{opcode:#x}"


def _describe_event(event: Event) -> tuple[int | None, str]:
    """Decoded size and preview of what a received frame carried."""
    if isinstance(event, Message | Fragment):
        return _describe_data(event.data)
    if isinstance(event, Ping | Pong):
        return None, event.data.hex()
    if isinstance(event, Close):
        return None, str(event)
    raise AssertionError(f"unexpected event {event!r}")  # pragma: no cover


def _describe_data(data: str | bytes | bytearray | memoryview) -> tuple[int, str]:
    """Size in bytes and preview of a data frame's content (text or binary)."""
    if isinstance(data, str):
        size = len(data.encode())
        preview = repr(data[:PREVIEW]) + ("…" if len(data) > PREVIEW else "")
    else:
        size = len(data)
        preview = bytes(data[: PREVIEW // 2]).hex() + ("…" if size > PREVIEW // 2 else "")
    return size, preview


def _describe_control(frame: WireFrame) -> str:
    if frame.opcode == Opcode.CLOSE:
        try:
            return str(decode_close(frame.control_payload))
        except ProtocolError as exc:
            return f"(invalid close payload: {exc})"
    return frame.control_payload.hex()


class TracedConnection(Connection):
    """A :class:`Connection` that reports its traffic to a :class:`Tracer`."""

    coalesce_fragments = False  # one event per frame, to pair with each frame's line

    def __init__(
        self,
        role: Role,
        *,
        deflate: PerMessageDeflate | None = None,
        limits: Limits = Limits(),
        tracer: Tracer,
    ) -> None:
        super().__init__(role, deflate=deflate, limits=limits)
        self.tracer = tracer

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        self.tracer.bytes_received(data)
        super().receive_data(data)

    def events_received(self) -> list[Event]:
        events = super().events_received()
        self.tracer.events_received(events, self)
        return events

    def data_to_send(self) -> list[bytes]:
        out = super().data_to_send()
        self.tracer.bytes_sent(out)
        return out

    def send_text(self, data: str | bytes, *, compress: bool | None = None) -> None:
        super().send_text(data, compress=compress)
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        self.tracer.data_frame_queued(text)

    def send_binary(
        self, data: bytes | bytearray | memoryview, *, compress: bool | None = None
    ) -> None:
        super().send_binary(data, compress=compress)
        self.tracer.data_frame_queued(data)

    def send_fragment(self, data: str | bytes, *, fin: bool, compress: bool | None = None) -> None:
        super().send_fragment(data, fin=fin, compress=compress)
        self.tracer.data_frame_queued(data)

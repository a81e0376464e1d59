"""``broadcast()``: one message to many connections, framed once, never waiting.

A chat room or a dashboard sends the same message to every subscriber. Calling
``await ws.send()`` for each would frame (and compress) the message once per
connection and let one slow reader hold up everyone behind it. ``broadcast``
builds each distinct frame once and writes it to every connection without waiting.

The price of never waiting is that a reader who does not keep up accumulates data
in its outgoing buffer; past the connection's ``write_budget`` (1 MiB by default)
it is a slow consumer, and it is closed with ``close_code`` (1013 "try again
later" by default, or 1008 "policy violation") rather than allowed to grow the
server's memory. Its ``close_cause`` is then "slow consumer".

Compression: a frame compressed once can be shared only by connections that
negotiated ``server_no_context_takeover`` with the same settings (their
compressors start fresh for every message). Connections with context takeover get
the message uncompressed, which RFC 7692 allows per message, instead of one
compression per connection.

Speed: the frame goes to every connection that can take it straight to its socket
in one C loop of ``send()`` calls (see :mod:`switchboard._direct`); the others
(data still queued, a compressed frame, TLS, a streamed message in progress) get
it through a careful per-connection path, which also makes them ready for the next
time. A :class:`Group` keeps its members' sockets in an array, so broadcasting to
it touches no Python object per connection; any other iterable costs one attribute
read per connection to build that array.
"""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import Iterable, Iterator

from . import _direct
from .protocol.connection import Role
from .protocol.deflate import PerMessageDeflate, compress_message
from .protocol.frames import encode_header
from .websocket import Data, WebSocket

__all__ = ["Group", "broadcast"]

_background: set[asyncio.Future[None]] = set()


class Group:
    """A set of connections to broadcast to; a connection leaves it when it closes.

    It has what a ``set`` of connections needs here: ``add``, ``discard``, ``len``,
    ``in`` and iteration (over a snapshot, so discarding while iterating is fine).
    Adding a connection that is already closed does nothing. Example::

        chat = Group()

        @router.websocket("/ws/chat")
        async def chat_room(ws):
            chat.add(ws)
            async for text in ws:
                broadcast(chat, text)
    """

    def __init__(self, connections: Iterable[WebSocket] = ()) -> None:
        self._members: list[WebSocket] = []
        self._index: dict[WebSocket, int] = {}  # member -> its slot in _members and _fds
        self._fds = array("i")  # the members' sockets, -1 where not directly writable
        for ws in connections:
            self.add(ws)

    def add(self, ws: WebSocket) -> None:
        """Add ``ws``, unless it is a member already or its connection is lost."""
        if ws in self._index or ws._closed.done():
            return
        self._index[ws] = len(self._members)
        self._members.append(ws)
        self._fds.append(ws._socket_fd)
        if ws._groups is None:
            ws._groups = set()
        ws._groups.add(self)

    def discard(self, ws: WebSocket) -> None:
        """Remove ``ws`` if it is a member."""
        i = self._index.pop(ws, None)
        if i is None:
            return
        if ws._groups is not None:
            ws._groups.discard(self)
        last, last_fd = self._members.pop(), self._fds.pop()
        if i < len(self._members):  # move the last member into the hole
            self._members[i], self._fds[i] = last, last_fd
            self._index[last] = i

    def __contains__(self, ws: object) -> bool:
        return ws in self._index

    def __len__(self) -> int:
        return len(self._members)

    def __iter__(self) -> Iterator[WebSocket]:
        return iter(list(self._members))

    def __repr__(self) -> str:
        return f"<Group of {len(self._members)}>"


def broadcast(
    connections: Iterable[WebSocket],
    message: Data,
    *,
    compress: bool | None = None,
    close_code: int = 1013,
    skip: WebSocket | None = None,
) -> int:
    """Send ``message`` to every open connection in ``connections``; return how many.

    Never waits and never raises for a closed or slow connection: closed ones are
    skipped, slow consumers (over ``write_budget``) are closed with ``close_code``.
    ``compress=False`` sends it uncompressed everywhere. ``connections`` can be any
    iterable of connections; a :class:`Group` is the fastest. ``skip``: one
    connection to leave out (the sender, say), without copying the group.

    Example::

        room = Group()

        @router.websocket("/ws/chat")
        async def chat(ws):
            room.add(ws)
            async for text in ws:
                broadcast(room, text)
    """
    frames = _Frames(message, compress)
    if _direct.send_to_ready is None:  # no C extension: every frame goes the careful way
        return sum(_deliver(ws, frames, close_code) for ws in connections if ws is not skip)
    if isinstance(connections, Group):
        members, fds = connections._members, connections._fds
    else:
        members = list(connections)
        fds = array("i", [ws._socket_fd for ws in members])
    # The skipped connection looks not ready to the C loop, which then reports it
    # as missed; it is passed over below and its flag put back.
    skip_fd = -1 if skip is None else skip._socket_fd
    ready = _direct.READY[skip_fd] if skip_fd >= 0 else 0
    if ready:
        _direct.READY[skip_fd] = 0
    missed = _direct.send_to_ready(
        fds, _direct.READY, frames.plain, _direct.MESSAGES, _direct.BYTES
    )
    if ready:
        _direct.READY[skip_fd] = ready
    sent = len(members) - len(missed)
    for ws, done in [(members[i], done) for i, done in missed]:
        if ws is not skip:
            sent += _deliver(ws, frames, close_code, done)
    return sent


class _Frames:
    """A message's frames: uncompressed, and compressed once per deflate setting."""

    def __init__(self, message: Data, compress: bool | None) -> None:
        self.message = message
        self.compress = compress
        if isinstance(message, str):
            self.payload, self.opcode = message.encode(), 0x81
        else:
            self.payload, self.opcode = bytes(message), 0x82
        self.plain = encode_header(self.opcode, len(self.payload)) + self.payload
        self._compressed: dict[tuple[int, int, int], bytes] = {}

    def for_peer(self, deflate: PerMessageDeflate | None) -> bytes:
        """The frame for a connection with this deflate state."""
        if (
            deflate is None
            or not deflate.local_no_context_takeover  # compressing would cost one per peer
            or not (
                len(self.payload) >= deflate.threshold if self.compress is None else self.compress
            )
        ):
            return self.plain
        key = deflate.params_key
        frame = self._compressed.get(key)
        if frame is None:
            data = compress_message(self.payload, *key)
            frame = self._compressed[key] = encode_header(self.opcode | 0x40, len(data)) + data
        return frame


def _deliver(ws: WebSocket, frames: _Frames, close_code: int, done: int = 0) -> int:
    """Send the message to one connection the careful way; return 1 if it went out.

    ``done``: bytes of the plain frame already on the wire (a short direct send),
    whose rest must follow whatever the budget, or the stream would be corrupt.
    """
    conn = ws.protocol
    transport = ws._transport
    if (
        transport is None
        or transport.is_closing()
        or conn.close_sent is not None
        or conn.close_rcvd is not None
    ):
        return 0
    if done:
        frame = frames.plain
        ws._write(frame[done:])
    else:
        if transport.get_write_buffer_size() > ws.write_budget:
            ws._fail(close_code, "slow consumer")
            return 0
        if conn.role is Role.CLIENT or ws._fragmenting is not None:
            # Client frames are masked per connection, and a streamed message must
            # not be interleaved: let send() handle these rare cases.
            task = asyncio.ensure_future(ws.send(frames.message, compress=frames.compress))
            _background.add(task)
            task.add_done_callback(_discard)
            return 1
        frame = frames.for_peer(conn.deflate)
        if ws._pending:
            ws._flush()  # messages queued by send() go first
        ws._write(frame)
    ws._messages_out += 1
    ws._bytes_out += len(frame)
    ws._arm()  # the next broadcast may send to its socket directly
    return 1


def _discard(task: asyncio.Future[None]) -> None:
    _background.discard(task)
    if not task.cancelled():
        task.exception()  # a closed connection is not an error worth reporting

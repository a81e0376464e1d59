"""The asyncio WebSocket connection, shared by the server and the client.

:class:`WebSocket` is an :class:`asyncio.Protocol` wrapped around the sans-I/O
:class:`~switchboard.protocol.connection.Connection`: bytes from the transport go
in, events come out into a receive queue, and bytes to send go straight to the
transport. There are no streams and no per-frame tasks: a message that arrives is
one ``data_received`` call and one ``deque.append``.

Backpressure both ways: :meth:`WebSocket.send` waits while the transport's buffer
is above its high-water mark (``write_limit``), and reading pauses while
``max_queue`` messages wait to be received.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, cast

from . import _direct, _keepalive
from .protocol.connection import Connection, Role, State
from .protocol.errors import Close, ConnectionClosedOK
from .protocol.events import Fragment, Message, Ping, Pong
from .protocol.http11 import Request, Response

if TYPE_CHECKING:
    from .broadcast import Group

__all__ = ["WebSocket", "Data"]

Data = str | bytes
"""A message: ``str`` for text, ``bytes`` for binary."""

logger = logging.getLogger("switchboard")
# One DEBUG line per frame in and out (control frames included), on its own logger
# so it can be turned on alone: logging.getLogger("switchboard.frames").setLevel(DEBUG).
frame_logger = logging.getLogger("switchboard.frames")

# Small messages sent within one event loop iteration are written together, up to
# this many bytes.
_COALESCE_LIMIT = 16 * 1024
# After a read this big (more input is probably waiting), reading pauses until the
# next event loop iteration. uvloop (libuv) reads a socket up to 32 times in a row
# while reads fill its 256 KiB buffer: one connection could hold the loop for 8 MiB
# of input, half a second or more when that is a flood of tiny frames.
_YIELD_AFTER = 64 * 1024
# The receive queue of a connection that never queued a message: shared, and
# replaced by a deque of its own on the first one (an empty deque is 624 bytes;
# an idle connection does not need one). Never appended to: maxlen=0 would drop.
_NO_MESSAGES: deque[Data | Fragment] = deque(maxlen=0)


class WebSocket(asyncio.Protocol):
    """An open WebSocket connection.

    You get one from :func:`switchboard.connect` or as the argument of a
    :func:`switchboard.serve` handler::

        async def echo(ws: WebSocket) -> None:
            async for message in ws:
                await ws.send(message)

    Options (keyword-only, all with safe defaults):

    * ``ping_interval`` (20 s): send a keepalive ping this often; ``None`` disables.
    * ``ping_timeout`` (20 s): close with 1011 "keepalive timeout" when a keepalive
      pong takes longer than this.
    * ``close_timeout`` (10 s): how long the closing handshake may take before the
      TCP connection is dropped.
    * ``max_queue`` (16): received messages kept waiting before reading pauses.
    * ``write_limit`` (64 KiB): transport buffer size above which :meth:`send` waits.
    * ``write_budget`` (1 MiB): the most a connection may have waiting in its outgoing
      buffer; :func:`~switchboard.broadcast`, which never waits, closes a connection
      over budget (a slow consumer) instead of buffering without bound.

    Counters for metrics: ``messages_in``, ``messages_out``, ``bytes_in`` and
    ``bytes_out`` (bytes on the wire). ``close_cause`` says why Switchboard closed
    the connection on its own ("keepalive timeout", "slow consumer"), if it did.
    """

    # Slots: no per-instance dict, about 1.4 KiB less for every open connection.
    __slots__ = (
        "protocol",
        "request",
        "response",
        "subprotocol",
        "_ping_interval",
        "ping_timeout",
        "close_timeout",
        "max_queue",
        "write_limit",
        "write_budget",
        "messages_in",
        "bytes_in",
        "_messages_out",
        "_bytes_out",
        "close_cause",
        "latency",
        "_loop",
        "_transport",
        "_messages",
        "_recv_waiter",
        "_reading_paused",
        "_read_yield",
        "_write_paused",
        "_drain_waiters",
        "_fragmenting",
        "_pings",
        "_keepalive",
        "_keepalive_pings",
        "_close_timer",
        "_closed",
        "_pending",
        "_socket_fd",
        "_groups",
        "_trace",
        "_flush_handle",
        "_on_message",
        "_parts",
        "__weakref__",
    )

    def __init__(
        self,
        connection: Connection,
        *,
        request: Request | None = None,
        response: Response | None = None,
        subprotocol: str | None = None,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 10.0,
        max_queue: int = 16,
        write_limit: int = 64 * 1024,
        write_budget: int = 1024 * 1024,
    ) -> None:
        self.protocol = connection
        #: The opening handshake's request (on the server: path, query, headers).
        self.request = request
        #: The opening handshake's response.
        self.response = response
        #: The negotiated subprotocol, or ``None``.
        self.subprotocol = subprotocol
        self._ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_queue = max_queue
        self.write_limit = write_limit
        self.write_budget = write_budget
        self.messages_in = self.bytes_in = 0
        self._messages_out = self._bytes_out = 0  # plus what broadcast() sent directly
        self.close_cause: str | None = None
        self.latency = 0.0  #: The last measured ping round trip, in seconds.
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._messages = _NO_MESSAGES
        self._recv_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._read_yield = False  # reading paused for one loop iteration (_YIELD_AFTER)
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._fragmenting: asyncio.Future[None] | None = None  # a streamed send runs
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        self._keepalive: float | None = None  # the slot of the next ping in the wheel
        # Unanswered keepalive pings, each with the timer that checks for its pong.
        self._keepalive_pings: dict[bytes, asyncio.TimerHandle] = {}
        self._close_timer: asyncio.TimerHandle | None = None
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._pending = 0  # bytes of small messages queued for the next flush
        # The socket, while it may be written to directly (see _direct), else -1;
        # _direct.READY[fd] says whether broadcast() may use it right now.
        self._socket_fd = -1
        self._groups: set[Group] | None = None  # left when the connection is lost
        self._trace = frame_logger.isEnabledFor(logging.DEBUG)  # read once per connection
        self._flush_handle: asyncio.Handle | None = None
        # set_message_handler(): messages go to it as they arrive, not to the queue.
        self._on_message: Callable[[Data], None] | None = None
        self._parts: list[Data] = []  # a fragmented message being assembled for it

    # -- public API -----------------------------------------------------------

    @property
    def ping_interval(self) -> float | None:
        """Seconds between keepalive pings; ``None``: none. Setting it takes effect at
        once (a framework with a heartbeat of its own turns this one off)."""
        return self._ping_interval

    @ping_interval.setter
    def ping_interval(self, interval: float | None) -> None:
        self._ping_interval = interval
        self._stop_keepalive()
        if self._transport is not None and self.state is State.OPEN:
            self._schedule_keepalive()

    @property
    def state(self) -> State:
        """OPEN, CLOSING or CLOSED (see :class:`~switchboard.protocol.State`)."""
        return self.protocol.state

    @property
    def messages_out(self) -> int:
        """Messages sent, broadcasts included."""
        fd = self._socket_fd
        return self._messages_out + (_direct.MESSAGES[fd] if fd >= 0 else 0)

    @property
    def bytes_out(self) -> int:
        """Bytes sent on the wire (frame headers and control frames included)."""
        fd = self._socket_fd
        return self._bytes_out + (_direct.BYTES[fd] if fd >= 0 else 0)

    @property
    def remote_address(self) -> Any:
        """The peer's address, as the socket reports it (``(host, port)`` for TCP)."""
        return None if self._transport is None else self._transport.get_extra_info("peername")

    @property
    def local_address(self) -> Any:
        """This end's address."""
        return None if self._transport is None else self._transport.get_extra_info("sockname")

    @property
    def close_code(self) -> int | None:
        """The close code once the connection is closed (1006 when it dropped)."""
        return self.protocol.closed_exception().code if self.state is State.CLOSED else None

    @property
    def close_reason(self) -> str | None:
        """The close reason once the connection is closed."""
        return self.protocol.closed_exception().reason if self.state is State.CLOSED else None

    async def recv(self) -> Data:
        """Wait for the next message and return it: ``str`` (text) or ``bytes`` (binary).

        Raises :class:`~switchboard.ConnectionClosed` once the connection is closed
        and every message received before was returned.
        """
        return await self._receive(False)

    async def recv_streaming(self) -> AsyncIterator[Data]:
        """Yield the next message piece by piece, as its frames arrive.

        A message that came in one frame is yielded whole; the frames of a read come
        as one piece (so a message of a million tiny frames is a few pieces). Use it
        for messages too large to hold at once; the pieces are all ``str`` or all
        ``bytes``.
        """
        item = await self._pop()
        if not isinstance(item, Fragment):
            yield item
            return
        yield item.data
        while not item.fin:
            item = cast(Fragment, await self._pop())
            yield item.data

    async def _pop(self) -> Data | Fragment:
        """The next item of the receive queue, waiting for one if needed."""
        while not self._messages:
            await self._wait_for_data()
        item = self._messages.popleft()
        if self._reading_paused:
            self._maybe_resume_reading()
        return item

    def __aiter__(self) -> WebSocket:
        """Iterate over received messages until the connection closes normally.

        Ends quietly on a normal closure (1000/1001); raises
        :class:`~switchboard.ConnectionClosedError` on an abnormal one.
        """
        return self

    def __anext__(self) -> Coroutine[Any, Any, Data]:
        return self._receive(True)

    async def _receive(self, iterating: bool) -> Data:
        """:meth:`recv`, or the next step of ``async for`` when ``iterating`` (a normal
        closure ends it). One coroutine that waits itself, with no helper to resume:
        a lone message wakes one frame, not a stack of them."""
        try:
            while not self._messages:
                await self._wait_for_data()
        except ConnectionClosedOK:
            if iterating:
                raise StopAsyncIteration from None
            raise
        item = self._messages.popleft()
        if self._reading_paused:
            self._maybe_resume_reading()
        if not isinstance(item, Fragment):
            return item
        parts = [item.data]
        while not item.fin:
            item = cast(Fragment, await self._pop())
            parts.append(item.data)
        return "".join(parts) if isinstance(item.data, str) else b"".join(parts)  # type: ignore[arg-type]

    async def send(
        self,
        message: Data | bytearray | memoryview | Iterable[Data] | AsyncIterable[Data],
        *,
        compress: bool | None = None,
    ) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        An iterable or async iterable of ``str`` (or of ``bytes``) is sent as one
        fragmented message, a frame per item. ``compress=False`` opts this message out
        of permessage-deflate (``None``: compress when negotiated and above the
        threshold). Waits while the outgoing buffer is above ``write_limit``.
        """
        while self._fragmenting is not None:  # never interleave with a streamed message
            await asyncio.shield(self._fragmenting)
        if not self._messages and self._write_now(message):  # nothing to coalesce with
            self._messages_out += 1
            if self._write_paused:
                await self._drain()
            return
        conn = self.protocol
        if isinstance(message, str):
            conn.send_text(message, compress=compress)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            conn.send_binary(message, compress=compress)
        else:
            await self._send_fragments(message, compress)
            self._messages_out += 1
            return
        self._messages_out += 1
        if self._trace:
            self._log_frame(">", Message(message))  # type: ignore[arg-type]  # str or bytes-like
        # Coalesce small messages answering a batch of received ones (pipelined
        # requests, say) into one write: one system call, not one each. Only while
        # more received messages wait, so a lone reply goes out at once; bounded,
        # so a producer that never yields still writes every 16 KiB.
        pending = self._pending + len(message)
        if not self._messages or pending >= _COALESCE_LIMIT:
            self._flush()
        else:
            self._pending = pending
            self._disarm()  # a broadcast must not overtake the queued bytes
            if self._flush_handle is None:
                self._flush_handle = self._loop.call_soon(self._flush)
        if self._write_paused:
            await self._drain()

    async def _send_fragments(
        self, message: Iterable[Data] | AsyncIterable[Data], compress: bool | None
    ) -> None:
        done = self._fragmenting = self._loop.create_future()
        self._disarm()
        conn = self.protocol
        pieces = message if isinstance(message, AsyncIterable) else _async_iter(message)
        try:
            previous: Data | None = None
            async for piece in pieces:  # one frame behind: the last one carries FIN
                if previous is not None:
                    conn.send_fragment(previous, fin=False, compress=compress)
                    self._flush()
                    await self._drain()
                previous = piece
            if previous is None:
                raise ValueError("cannot send an empty iterable: it has no message type")
            conn.send_fragment(previous, fin=True, compress=compress)
            self._flush()
            await self._drain()
        except BaseException:
            if conn._send_opcode:  # half a message is on the wire: the peer cannot resync
                self._fail(1011, "error while sending a fragmented message")
            raise
        finally:
            self._fragmenting = None
            done.set_result(None)

    async def ping(self, data: bytes | None = None) -> float:
        """Send a ping and wait for its pong; return the round trip in seconds."""
        payload = self.protocol.send_ping(data)
        if self._trace:
            self._log_frame(">", Ping(payload))
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings[payload] = (waiter, self._loop.time())
        self._flush()
        return await asyncio.shield(waiter)

    async def pong(self, data: bytes = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat)."""
        self.protocol.send_pong(data)
        self._flush()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake and wait until the connection is closed.

        Drops the TCP connection if the peer does not complete the handshake within
        ``close_timeout``. Does nothing more when the connection is already closed.
        """
        if self.state is State.OPEN:
            self.protocol.send_close(code, reason)
            if self._trace:
                self._log_frame(">", Close(code, reason))
            self._flush()
            self._after_close_frames()
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed."""
        await asyncio.shield(self._closed)

    def send_nowait(self, message: Data) -> bool:
        """Send ``message`` without waiting, from code that cannot await (a callback).

        Where :meth:`send` would wait for a slow reader, this closes a connection
        whose outgoing buffer is over ``write_budget`` with 1013 "slow consumer", as
        :func:`~switchboard.broadcast` does. Returns False when nothing was sent
        (the connection is closing, or was just closed for that reason).
        """
        conn = self.protocol
        transport = self._transport
        if (
            transport is None
            or transport.is_closing()
            or conn.close_sent is not None
            or conn.close_rcvd is not None
        ):
            return False
        if transport.get_write_buffer_size() > self.write_budget:
            self._fail(1013, "slow consumer")
            return False
        if self._fragmenting is not None:  # never inside a streamed message: queue it
            task = self._loop.create_task(self.send(message))
            task.add_done_callback(_ignore_closed)
            return True
        self._messages_out += 1
        if self._write_now(message):
            return True
        if isinstance(message, str):
            conn.send_text(message)
        else:
            conn.send_binary(message)
        if self._trace:
            self._log_frame(">", Message(message))
        self._flush()
        return True

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the TCP connection is closed (soon, if it is)."""
        self._closed.add_done_callback(lambda _: callback())

    def set_message_handler(self, handler: Callable[[Data], None] | None) -> None:
        """Hand every message to ``handler(message)`` as it arrives, instead of
        queueing it for :meth:`recv`; ``None`` goes back to the queue.

        For frameworks built on Switchboard (the real-time hub reads its sessions
        this way): no task, no future and no queue per message. Messages already
        queued go to the handler at once, in order; a fragmented message is handed
        over whole. The handler runs inside the protocol's callback, so it must not
        block; reading never pauses for it (apply your own limits). An exception it
        raises is logged and fails the connection with 1011.
        """
        self._on_message = handler
        if handler is not None:
            while self._messages and self._on_message is handler:
                item = self._messages.popleft()
                if isinstance(item, Fragment):
                    self._parts.append(item.data)
                    if not item.fin:
                        continue
                    item = _joined(self._parts)
                self._dispatch(item)
            if self._reading_paused:
                self._maybe_resume_reading()

    def _dispatch(self, message: Data) -> None:
        handler = self._on_message
        assert handler is not None
        try:
            handler(message)
        except Exception:
            self._handler_failed()

    def _handler_failed(self) -> None:
        logger.exception("message handler failed for %s", self.remote_address)
        self._fail(1011, "internal error")

    # -- asyncio.Protocol callbacks -------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        high = self.write_limit
        transport.set_write_buffer_limits(high, high // 4)
        fd = self._socket_fd = _direct.socket_fd(transport)
        if fd >= 0:
            _direct.claim(fd)
        self._schedule_keepalive()

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        conn = self.protocol
        message = conn.receive_message(data)
        if message is not None:  # a lone small message: the common case, in short
            self.messages_in += 1
            if self._trace:
                self._log_frame("<", Message(message))
            handler = self._on_message
            if handler is not None:  # _dispatch(), inline
                try:
                    handler(message)  # what it sends is written as it is sent
                except Exception:
                    self._handler_failed()
                return
            messages = self._queue()
            messages.append(message)
            waiter = self._recv_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if len(messages) >= self.max_queue:
                self._pause_reading()
            return
        events = conn.events_received()
        if events:
            if self._trace:
                for event in events:
                    self._log_frame("<", event)
            self._handle_events(events)
        self._flush()
        if conn.state is not State.OPEN:
            self._after_close_frames()
        elif len(data) >= _YIELD_AFTER and not self._reading_paused and not self._read_yield:
            transport = self._transport
            if transport is not None and not transport.is_closing():
                self._read_yield = True
                transport.pause_reading()
                self._loop.call_soon(self._end_read_yield)

    def _end_read_yield(self) -> None:
        self._read_yield = False
        transport = self._transport
        if not self._reading_paused and transport is not None and not transport.is_closing():
            transport.resume_reading()

    def eof_received(self) -> bool | None:
        return None  # close the transport: a half-open WebSocket is of no use

    def connection_lost(self, exc: Exception | None) -> None:
        if self._groups:
            for group in list(self._groups):  # before the fd is released and reused
                group.discard(self)
        fd = self._socket_fd
        if fd >= 0:
            self._socket_fd = -1
            messages, size = _direct.release(fd)
            self._messages_out += messages
            self._bytes_out += size
        self.protocol.receive_eof()
        self._stop_keepalive()
        if self._close_timer is not None:
            self._close_timer.cancel()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if self._keepalive_pings:
            for check in self._keepalive_pings.values():  # each would keep us 20 s more
                check.cancel()
            self._keepalive_pings.clear()
        # CPython < 3.12: the selector transport holds a bound method of itself, a cycle
        # only a full collection frees, and an idle server runs none: closed transports
        # pinned ~10 KiB each of Python's memory (python/cpython#100348, fixed in 3.12).
        if getattr(self._transport, "_read_ready_cb", None) is not None:
            self._transport._read_ready_cb = None  # type: ignore[union-attr]
        self._wake_receiver()
        if self._pings:  # the exception only for someone waiting for a pong
            closed = self.protocol.closed_exception()
            for waiter, _ in self._pings.values():
                if not waiter.done():
                    waiter.set_exception(closed)
            self._pings.clear()
        self._write_paused = False
        if self._drain_waiters:
            self._wake_drainers()
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._disarm()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drainers()

    # -- internals ------------------------------------------------------------

    def _queue(self) -> deque[Data | Fragment]:
        """The receive queue, to append to."""
        if self._messages is _NO_MESSAGES:
            self._messages = deque()
        return self._messages

    def _handle_events(self, events: list[Any]) -> None:
        messages = self._queue()
        for event in events:
            kind = type(event)
            if kind is Message:
                self.messages_in += 1
                if self._on_message is None:
                    messages.append(event.data)
                else:
                    self._dispatch(event.data)
            elif kind is Fragment:
                self.messages_in += event.fin
                if self._on_message is None:
                    messages.append(event)
                else:
                    self._parts.append(event.data)
                    if event.fin:
                        self._dispatch(_joined(self._parts))
            elif kind is Pong:
                now = self._loop.time()
                for payload in event.acknowledged:
                    waiter, sent = self._pings.pop(payload, (None, 0.0))
                    if waiter is not None and not waiter.done():
                        self.latency = now - sent
                        waiter.set_result(self.latency)
                    check = self._keepalive_pings.pop(payload, None)
                    if check is not None:
                        check.cancel()
            elif kind is not Ping and kind is not Close:  # pragma: no cover
                raise AssertionError(f"unexpected event {event!r}")
        self._wake_receiver()
        if len(messages) >= self.max_queue:
            self._pause_reading()

    def _pause_reading(self) -> None:
        """Stop reading: ``max_queue`` messages wait to be received."""
        if not self._reading_paused:
            assert self._transport is not None
            self._reading_paused = True
            self._transport.pause_reading()

    def _maybe_resume_reading(self) -> None:
        if len(self._messages) <= self.max_queue // 4:
            self._reading_paused = False
            if self._transport is not None and not self._transport.is_closing():
                self._transport.resume_reading()

    def _wake_receiver(self) -> None:
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wait_for_data(self) -> asyncio.Future[None]:
        """A future set when a message arrives (or the connection closes), for a
        receive queue found empty; raises once closed and emptied."""
        conn = self.protocol
        if conn.close_rcvd is not None or conn.state is State.CLOSED:
            raise conn.closed_exception()
        if self._recv_waiter is not None and not self._recv_waiter.done():
            raise RuntimeError("recv() is already waiting in another task")
        waiter = self._recv_waiter = self._loop.create_future()
        return waiter

    def _log_frame(self, direction: str, what: object) -> None:
        if isinstance(what, (Message, Fragment)):
            data = what.data
            fin = "" if isinstance(what, Message) else f" fin={int(what.fin)}"
            kind = "text" if isinstance(data, str) else "binary"
            what = (
                f"{kind}{fin} {len(data)} {'chars' if kind == 'text' else 'bytes'}: {data[:40]!r}"
            )
        frame_logger.debug("%s %s %s", self.remote_address, direction, what)

    def _write_now(self, message: object) -> bool:
        """Write a small message's frame straight to the transport when the protocol
        needs nothing for it (:meth:`Connection.encode_message`) and it is not traced:
        the usual message, without a ``send_text``, ``data_to_send`` and ``_flush``.
        False: it was not written, send it the general way."""
        transport = self._transport
        if self._trace or transport is None:
            return False
        frame = self.protocol.encode_message(message)  # type: ignore[arg-type]  # None if not data
        if frame is None:
            return False
        if self._socket_fd >= 0:  # as _flush() does
            _direct.READY[self._socket_fd] = 0
        self._bytes_out += len(frame)
        transport.write(frame)
        return True

    def _flush(self) -> None:
        """Write everything the protocol has queued, in order."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._pending = 0
        out = self.protocol.data_to_send()
        transport = self._transport
        if not out or transport is None:
            return
        if self._socket_fd >= 0:  # _disarm(), inline: bytes in the transport, so
            _direct.READY[self._socket_fd] = 0  # broadcasts must queue behind them
        if len(out) == 1:
            self._bytes_out += len(out[0])
            transport.write(out[0])
            return
        size = sum(map(len, out))
        self._bytes_out += size
        if size < 65536:
            transport.write(b"".join(out))
        else:
            for chunk in out:  # large payloads go out as they are, without a join copy
                transport.write(chunk)

    def _write(self, data: bytes) -> None:
        """Send a broadcast frame straight to the socket when the transport has
        nothing waiting (see :mod:`switchboard._direct`); the transport takes the rest.

        Only for broadcast(): for send(), measured, the transport's own path is as
        fast on small messages and faster on large ones (one writev of header and
        payload, where a direct send would put the header in a packet of its own).
        """
        transport = self._transport
        assert transport is not None
        fd = self._socket_fd
        if fd >= 0 and not transport.get_write_buffer_size() and not transport.is_closing():
            sent = _direct.send_nowait(fd, data)
            if sent == len(data):
                return
            data = memoryview(data)[sent:]  # type: ignore[assignment]  # bytes-like is fine
        self._disarm()  # the transport holds bytes now: broadcasts must queue behind them
        transport.write(data)

    def _disarm(self) -> None:
        """Stop broadcasts from writing to the socket directly, until
        :meth:`_arm` finds it safe again."""
        if self._socket_fd >= 0:
            _direct.READY[self._socket_fd] = 0

    def _arm(self) -> None:
        """Let broadcasts write to the socket directly, if that is safe now:
        a server connection, open, nothing queued anywhere, not streaming a message,
        and no per-message compression to share."""
        fd = self._socket_fd
        transport = self._transport
        deflate = self.protocol.deflate
        if (
            fd >= 0
            and transport is not None
            and self.protocol.role is Role.SERVER
            and self.protocol.state is State.OPEN
            and not transport.is_closing()
            and not transport.get_write_buffer_size()
            and not self._write_paused
            and not self._pending
            and self._fragmenting is None
            and (deflate is None or not deflate.local_no_context_takeover)
        ):
            _direct.READY[fd] = 1

    async def _drain(self) -> None:
        if not self._write_paused:
            return
        if self.state is State.CLOSED:
            raise self.protocol.closed_exception()
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter
        if self.protocol.state is State.CLOSED:  # woken by connection_lost
            raise self.protocol.closed_exception()

    def _wake_drainers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _after_close_frames(self) -> None:
        """After a close frame went either way: close the transport when the protocol
        says so, else make sure it closes within ``close_timeout``."""
        self._disarm()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        conn = self.protocol
        if conn.should_close_transport:
            transport.close()
            return
        if self._close_timer is not None:
            return  # already waiting
        if conn.failure is not None and transport.can_write_eof():
            # Half-close: the peer reads our close frame, then end of file, while we
            # keep draining what it still sends (closing now would reset the
            # connection and lose the close frame). We close when it does.
            transport.write_eof()
        # Either we wait for the peer's close frame, or (client) for the server to
        # close TCP after the handshake, or for the peer to see our failure: bounded.
        self._abort_later(transport)

    def _abort_later(self, transport: asyncio.Transport) -> None:
        """Drop the connection if it is still open ``close_timeout`` from now."""
        if self._close_timer is None:
            self._close_timer = self._loop.call_later(self.close_timeout, transport.abort)

    def _fail(self, code: int, reason: str) -> None:
        """Close with ``code`` without waiting for the peer's close frame.

        For a peer that stopped answering or reading: the close frame is queued and
        the transport closed; if the peer does not read what is buffered within
        ``close_timeout``, the connection is dropped.
        """
        self.close_cause = reason
        self._disarm()
        if self.protocol.close_sent is None and self.state is not State.CLOSED:
            self.protocol.send_close(code, reason)
            self._flush()
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()
            self._abort_later(transport)

    def _schedule_keepalive(self) -> None:
        if self.ping_interval is not None:
            wheel = _keepalive.wheel(self._loop)
            self._keepalive = wheel.add(self._loop, self, self.ping_interval)

    def _stop_keepalive(self) -> None:
        if self._keepalive is not None:
            _keepalive.wheel(self._loop).discard(self, self._keepalive)
            self._keepalive = None

    def _keepalive_tick(self) -> None:
        """Every ``ping_interval``: send a ping, and check it ``ping_timeout`` later."""
        self._keepalive = None  # the wheel took it out of its slot
        if self.state is not State.OPEN:
            return
        payload = self.protocol.send_ping()
        self._flush()
        if self.ping_timeout is not None:
            self._keepalive_pings[payload] = self._loop.call_later(
                self.ping_timeout, self._keepalive_check, payload
            )
        self._schedule_keepalive()

    def _keepalive_check(self, payload: bytes) -> None:
        if self._keepalive_pings.pop(payload, None) is not None and self.state is State.OPEN:
            logger.warning(
                "keepalive timeout: no pong from %s within %s s",
                self.remote_address,
                self.ping_timeout,
            )
            self._fail(1011, "keepalive timeout")


def _ignore_closed(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # a closed connection is not worth reporting


def _joined(parts: list[Data]) -> Data:
    """A fragmented message's pieces as one message (and ``parts`` emptied)."""
    message: Data = "".join(parts) if isinstance(parts[0], str) else b"".join(parts)  # type: ignore[arg-type]
    parts.clear()
    return message


async def _async_iter(items: Iterable[Data]) -> AsyncIterator[Data]:
    for item in items:
        yield item

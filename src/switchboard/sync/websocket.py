"""The threaded WebSocket connection: a blocking socket, a reader thread, and the
sans-I/O :class:`~switchboard.protocol.connection.Connection` between them.

The reader thread feeds every received byte to the connection, answers pings and
close frames at once, and queues whole messages for :meth:`WebSocket.recv`; it
stops reading while ``max_queue`` messages wait (TCP then slows the server down).
Callers' threads send. One lock orders every change to the connection and every
write to the socket, so frames leave in the order the connection produced them.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..protocol.connection import Connection, State
from ..protocol.errors import ConnectionClosed, ConnectionClosedOK
from ..protocol.events import Close, Fragment, Message, Pong
from ..protocol.http11 import Request, Response
from ..websocket import Data

__all__ = ["WebSocket"]

logger = logging.getLogger("switchboard.client")


@dataclass
class _Ping:
    sent: float
    latency: float | None = None


class WebSocket:
    """An open WebSocket connection for threaded code; :func:`switchboard.sync.connect`
    returns one.

    Example::

        with connect("ws://127.0.0.1:8765/") as ws:
            ws.send("Hello")
            print(ws.recv(timeout=5))

    Any thread may call any method; messages are received in order, each by one
    :meth:`recv` caller.
    """

    def __init__(
        self,
        sock: socket.socket,
        connection: Connection,
        *,
        request: Request,
        response: Response,
        subprotocol: str | None,
        ping_interval: float | None,
        ping_timeout: float | None,
        close_timeout: float,
        max_queue: int,
    ) -> None:
        self.socket = sock
        self.protocol = connection
        #: The opening handshake's request and response.
        self.request = request
        self.response = response
        #: The negotiated subprotocol, or ``None``.
        self.subprotocol = subprotocol
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_queue = max_queue
        self.latency = 0.0  #: The last measured ping round trip, in seconds.
        self.local_address: Any = sock.getsockname()  #: This end's address.
        self.remote_address: Any = sock.getpeername()  #: The peer's address.
        self._send_lock = threading.Lock()  # the connection's state and socket writes
        self._cond = threading.Condition()  # the fields below
        self._messages: deque[Data] = deque()
        self._fragments: list[Data] = []
        self._pings: dict[bytes, _Ping] = {}
        self._closing = False  # close() was called: read past max_queue
        self._eof = False  # the reader thread is done
        self._close_rcvd = False  # the peer's close frame was processed (under _cond)
        self._stopped = threading.Event()
        self._reader = threading.Thread(
            target=self._read, name=f"switchboard reader {self.remote_address}", daemon=True
        )

    def _start(self, leftover: bytes) -> None:
        """Take the bytes that came with the handshake response, then start the threads."""
        if leftover:
            self._receive(leftover)
        self._reader.start()
        if self.ping_interval is not None:
            name = f"switchboard keepalive {self.remote_address}"
            threading.Thread(target=self._keepalive, name=name, daemon=True).start()

    # -- public API -----------------------------------------------------------

    @property
    def state(self) -> State:
        """OPEN, CLOSING or CLOSED (see :class:`~switchboard.protocol.State`)."""
        return self.protocol.state

    @property
    def close_code(self) -> int | None:
        """The close code once the connection is closed (1006 when it dropped)."""
        return self.protocol.closed_exception().code if self.state is State.CLOSED else None

    @property
    def close_reason(self) -> str | None:
        """The close reason once the connection is closed."""
        return self.protocol.closed_exception().reason if self.state is State.CLOSED else None

    def recv(self, timeout: float | None = None) -> Data:
        """Wait for the next message and return it: ``str`` (text) or ``bytes`` (binary).

        Raises :class:`TimeoutError` when none arrives within ``timeout`` seconds
        (``None``: wait as long as it takes), and
        :class:`~switchboard.ConnectionClosed` once the connection is closed and
        every message received before was returned.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._messages or self._closed(), timeout):
                raise TimeoutError(f"no message within {timeout} s")
            if not self._messages:
                raise self.protocol.closed_exception()
            message = self._messages.popleft()
            self._cond.notify_all()  # the reader may wait for room in the queue
            return message

    def __iter__(self) -> Iterator[Data]:
        """Iterate over received messages until the connection closes normally.

        Ends quietly on a normal closure (1000/1001); raises
        :class:`~switchboard.ConnectionClosedError` on an abnormal one.
        """
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    def send(self, message: Data | bytearray | memoryview, *, compress: bool | None = None) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        ``compress=False`` opts this message out of permessage-deflate. Blocks until
        the socket took the bytes; raises :class:`~switchboard.ConnectionClosed` once
        the connection is closed.
        """
        with self._send_lock:
            if isinstance(message, str):
                self.protocol.send_text(message, compress=compress)
            elif isinstance(message, (bytes, bytearray, memoryview)):
                self.protocol.send_binary(message, compress=compress)
            else:
                raise TypeError(f"send() takes str or bytes, not {type(message).__name__}")
            self._flush()

    def ping(self, data: bytes | None = None, *, timeout: float | None = None) -> float:
        """Send a ping, wait for its pong and return the round trip in seconds.

        Raises :class:`TimeoutError` when no pong comes within ``timeout`` seconds.
        """
        with self._send_lock:
            payload = self.protocol.send_ping(data)
            ping = _Ping(time.monotonic())
            with self._cond:
                self._pings[payload] = ping
            self._flush()
        with self._cond:
            if not self._cond.wait_for(lambda: ping.latency is not None or self._eof, timeout):
                self._pings.pop(payload, None)
                raise TimeoutError(f"no pong within {timeout} s")
        if ping.latency is None:
            raise self.protocol.closed_exception()
        return ping.latency

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake and wait until the connection is closed.

        Drops the TCP connection if the server does not complete the handshake
        within ``close_timeout``. Does nothing more when the connection is closed.
        """
        if self._send_lock.acquire(timeout=self.close_timeout):
            try:
                if self.protocol.state is State.OPEN:
                    self.protocol.send_close(code, reason)
                    self._flush(quiet=True)
            finally:
                self._send_lock.release()
        else:  # a send() is stuck: the server stopped reading
            self._shutdown()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._reader.join(self.close_timeout)
        if self._reader.is_alive():
            self._shutdown()
            self._reader.join()

    def __enter__(self) -> WebSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------

    def _closed(self) -> bool:
        """Whether recv() should raise once the queue is empty (called under _cond)."""
        return self._eof or self._close_rcvd

    def _flush(self, *, quiet: bool = False) -> None:
        """Write what the connection wants sent; call with ``_send_lock`` held."""
        try:
            for chunk in self.protocol.data_to_send():
                self.socket.sendall(chunk)
        except OSError:
            self._shutdown()  # the reader thread notices and wraps up
            if not quiet:
                raise self.protocol.closed_exception() from None

    def _shutdown(self) -> None:
        with contextlib.suppress(OSError):  # already shut down or disconnected
            self.socket.shutdown(socket.SHUT_RDWR)

    def _read(self) -> None:
        """The reader thread: receive until EOF, a failure, or close_timeout after the
        closing handshake."""
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(
                        lambda: len(self._messages) < self.max_queue or self._closing
                    )
                try:
                    data = self.socket.recv(65536)
                except OSError:  # including the close_timeout set below
                    break
                if not data or not self._receive(data):
                    break
        finally:
            self._shutdown()
            with self._send_lock:  # no writer is left in sendall() after the shutdown
                self.protocol.receive_eof()
                self.socket.close()
            with self._cond:
                self._eof = True
                self._cond.notify_all()
            self._stopped.set()

    def _receive(self, data: bytes) -> bool:
        """Feed ``data`` to the connection; return whether to keep reading."""
        with self._send_lock:
            conn = self.protocol
            conn.receive_data(data)
            events = conn.events_received()
            self._flush(quiet=True)  # pongs and the answer to a close frame
            keep_reading = not conn.should_close_transport
            closing = conn.state is not State.OPEN
        with self._cond:
            for event in events:
                if type(event) is Message:
                    self._messages.append(event.data)
                elif type(event) is Fragment:
                    self._fragments.append(event.data)
                    if event.fin:
                        parts, self._fragments = self._fragments, []
                        joined = "".join(parts) if isinstance(event.data, str) else b"".join(parts)  # type: ignore[arg-type]
                        self._messages.append(joined)
                elif type(event) is Close:
                    # Set here, under _cond and after the messages before it were
                    # queued: recv() must not see the close before those messages.
                    self._close_rcvd = True
                elif type(event) is Pong:
                    now = time.monotonic()
                    for payload in event.acknowledged:
                        ping = self._pings.pop(payload, None)
                        if ping is not None:
                            ping.latency = self.latency = now - ping.sent
            self._cond.notify_all()
        if closing and keep_reading:
            # Close frames went both ways or one is on its way: the server should
            # close TCP now; don't wait for it longer than close_timeout.
            self.socket.settimeout(self.close_timeout)
        return keep_reading

    def _keepalive(self) -> None:
        """The keepalive thread: a ping every ping_interval; 1011 when one goes unanswered."""
        assert self.ping_interval is not None
        while not self._stopped.wait(self.ping_interval):
            try:
                self.ping(timeout=self.ping_timeout)
            except TimeoutError:
                logger.warning(
                    "keepalive timeout: no pong from %s within %s s",
                    self.remote_address,
                    self.ping_timeout,
                )
                with self._send_lock:
                    if self.protocol.state is State.OPEN:
                        self.protocol.send_close(1011, "keepalive timeout")
                        self._flush(quiet=True)
                self._shutdown()
                return
            except ConnectionClosed:  # nothing left to keep alive
                return

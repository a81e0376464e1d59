"""Writing straight to a socket, past its transport, while the transport is idle.

Fanning one frame out to a thousand connections is a thousand small writes, and a
small write through a transport costs more than the ``send()`` system call itself:
uvloop queues every write until the end of the loop iteration (so the first client
waits until the last write is queued), asyncio runs a page of Python per write.
Measured on a thousand loopback sockets (``bench/run.py --scenarios broadcast``),
sending directly is what puts ``broadcast()`` ahead of picows; ``docs/performance.md``
has the numbers. It is safe under three conditions, all checked here or by callers:

* The transport is one of :data:`DIRECT_TRANSPORTS`: plain TCP or Unix sockets of
  asyncio or uvloop, which count every unsent byte in ``get_write_buffer_size()``
  and close their socket only after ``connection_lost()`` has returned. Not TLS,
  not other event loops: those get ``-1`` from :func:`socket_fd` and the transport.
* Nothing waits in the transport's buffer; otherwise the new bytes would overtake it.
* What ``send()`` does not take goes to ``transport.write()``, which then owns the
  rest, and the error if the peer is gone.

The per-connection state the fan-out needs lives in tables indexed by file
descriptor, so ``broadcast()`` is one C loop over an array of descriptors that
touches no Python object per connection (a :class:`~switchboard.Group` keeps that
array; touching a thousand ``WebSocket`` objects costs as much as the sends save):
:data:`READY` says a socket may take a broadcast frame directly (kept by
:class:`~switchboard.WebSocket`), :data:`MESSAGES` and :data:`BYTES` count what was
sent that way. A descriptor belongs to one connection at a time, from :func:`claim`
in ``connection_made()`` to :func:`release` in ``connection_lost()``, before the
transport closes it.

Without the C extension (``switchboard._speedups``), :func:`socket_fd` is always
``-1`` and every write goes through the transport.
"""

from __future__ import annotations

import asyncio
from array import array

try:
    from ._speedups import send_nowait, send_to_ready
except ImportError:  # no compiler at install time, or Windows
    send_nowait = send_to_ready = None  # type: ignore[assignment]

__all__ = [
    "DIRECT_TRANSPORTS",
    "READY",
    "MESSAGES",
    "BYTES",
    "send_nowait",
    "send_to_ready",
    "socket_fd",
    "claim",
    "release",
]

#: (module, class name) of the transports whose sockets may be written to directly.
DIRECT_TRANSPORTS = {
    ("asyncio.selector_events", "_SelectorSocketTransport"),
    ("uvloop.loop", "TCPTransport"),
    ("uvloop.loop", "UnixTransport"),
}

READY = bytearray()  #: fd -> 1 while a broadcast frame may go straight to the socket
MESSAGES = array("Q")  #: fd -> messages sent by broadcast() straight to the socket
BYTES = array("Q")  #: fd -> bytes sent by broadcast() straight to the socket


# Whether each transport class seen so far is one of DIRECT_TRANSPORTS: asked on
# every connection, and a C class builds its __module__ and __name__ anew each time.
_direct_kinds: dict[type, bool] = {}


def socket_fd(transport: asyncio.BaseTransport) -> int:
    """The transport's socket if it may be written to directly, else -1."""
    if send_nowait is None:
        return -1
    kind = type(transport)
    direct = _direct_kinds.get(kind)
    if direct is None:
        direct = _direct_kinds[kind] = (kind.__module__, kind.__name__) in DIRECT_TRANSPORTS
    if not direct:
        return -1
    sock = transport.get_extra_info("socket")
    return -1 if sock is None else int(sock.fileno())


def claim(fd: int) -> None:
    """Start tracking ``fd`` for a new connection: not ready, counters at zero."""
    if fd >= len(READY):
        grow = max(fd + 1, 2 * len(READY), 1024) - len(READY)
        READY.extend(bytes(grow))
        MESSAGES.frombytes(bytes(8 * grow))
        BYTES.frombytes(bytes(8 * grow))
    READY[fd] = MESSAGES[fd] = BYTES[fd] = 0


def release(fd: int) -> tuple[int, int]:
    """Stop tracking ``fd``; return the messages and bytes sent to it directly."""
    counts = MESSAGES[fd], BYTES[fd]
    READY[fd] = MESSAGES[fd] = BYTES[fd] = 0
    return counts

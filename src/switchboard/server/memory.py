"""Giving memory back to the operating system after many connections closed.

When connections close, Switchboard frees what they held (the zlib state at once,
see :meth:`~switchboard.protocol.deflate.PerMessageDeflate.release`): measured with
``tracemalloc`` and glibc's ``mallinfo2()``, the bytes in use return to their
baseline. The process's RSS does not, for two reasons outside Switchboard:

* glibc's ``malloc`` keeps freed memory in its heap for reuse and returns to the
  system only a free end of the heap (the "top"), which a few live objects
  allocated late pin. zlib's windows and hash tables (up to 64 KiB each, below
  malloc's 128 KiB mmap threshold) are most of that heap with permessage-deflate,
  and each round of connections lays them out differently, touching pages the last
  one left untouched: 2,000 compressed connections at zlib's default settings left
  250, 387 and then 475 MiB of RSS after three rounds, with 4.7 MiB in use.
  ``MALLOC_ARENA_MAX=1`` changes nothing (it is the main heap); ``malloc_trim(0)``,
  which also releases free pages inside the heap, brought it back to 35 MiB.
* CPython's allocator frees a 1 MiB arena only once every object in it is gone,
  and its free lists (tuples, dicts, ...) keep a few objects from every arena a
  burst of connections used: after 10,000 connections closed, 69 arenas held 9 MiB
  of objects; a full garbage collection, which empties the free lists, left 27.

So the server runs a full collection and ``malloc_trim(0)`` (glibc only, through
:mod:`ctypes`) once the connections closed since the last time freed about
``threshold`` bytes, by :class:`MemoryTrimmer`'s estimate: when no connection has
closed for ``delay`` seconds (a burst of closing connections is over), or
``interval`` seconds after reaching the threshold if they keep closing; and at
most once every ``interval`` seconds, or 20 times the last one's duration if that
is longer (at most 5% of the time, and only while connections keep closing). The
event loop waits meanwhile: after 10,000 compressed connections closed, 10 to 30 ms
for the collection and 225 ms for returning 700 MiB; a full collection costs about
50 ms per 100,000 objects (a server with 10,000 open connections has 660,000).
``server.memory.threshold = None`` turns it off. docs/performance.md ("Memory")
has the numbers.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..websocket import WebSocket

__all__ = ["MemoryTrimmer", "malloc_trim", "CONNECTION_MEMORY"]

logger = logging.getLogger("switchboard.server")

#: What a closed connection is assumed to free besides its zlib state; measured,
#: 10 to 12 KiB of RSS per open connection without compression.
CONNECTION_MEMORY = 16 * 1024

_function: Callable[[], int] | None = None
_loaded = False


def malloc_trim() -> bool:
    """Call glibc's ``malloc_trim(0)``; return whether it returned memory to the
    system. ``False`` at once on other platforms and C libraries (musl, macOS)."""
    global _function, _loaded
    if not _loaded:
        _function, _loaded = _load(), True
    return _function is not None and bool(_function())


def _load() -> Callable[[], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        import ctypes

        function = ctypes.CDLL(None).malloc_trim
    except (ValueError, OSError, AttributeError):  # not glibc
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return lambda: int(function(0))


class MemoryTrimmer:
    """Counts what closed connections freed; trims memory when it adds up.

    ``threshold``: bytes freed (estimated: :data:`CONNECTION_MEMORY` per connection
    plus its permessage-deflate codec's ``memory``) that call for a trim; 32 MiB,
    about 350 compressed connections or 2,000 without compression. ``None``: never.
    ``delay`` (1 s): the pause in closing connections to wait for. ``interval`` (5 s):
    the longest wait for it, and the least time between two trims. ``collect``
    (:func:`gc.collect`) then ``trim`` (:func:`malloc_trim`) do the work; ``collect``
    may be ``None``.
    """

    def __init__(
        self,
        threshold: int | None = 32 << 20,
        *,
        delay: float = 1.0,
        interval: float = 5.0,
        collect: Callable[[], object] | None = gc.collect,
        trim: Callable[[], object] = malloc_trim,
    ) -> None:
        self.threshold = threshold
        self.delay = delay
        self.interval = interval
        self.collect = collect
        self.trim = trim
        self.freed = 0  #: estimated bytes freed since the last trim
        self.trims = 0  #: how many times it trimmed
        self._last: float | None = None  # loop time of the last trim
        self._spacing = 0.0  # since the last trim: max(interval, 20 x its duration)
        self._reached = 0.0  # loop time the threshold was reached
        self._closed = 0.0  # loop time of the last connection_closed()
        self._handle: asyncio.TimerHandle | None = None

    def connection_closed(self, ws: WebSocket) -> None:
        """Count what a closed connection freed; schedule a trim if that is enough."""
        deflate = ws.protocol.deflate
        self.freed += CONNECTION_MEMORY + (0 if deflate is None else deflate.memory)
        if self.threshold is None or self.freed < self.threshold:
            return
        loop = asyncio.get_running_loop()
        self._closed = now = loop.time()
        if self._handle is None:
            self._reached = now
            when = now + self.delay
            if self._last is not None:
                when = max(when, self._last + max(self.interval, self._spacing))
            self._handle = loop.call_at(when, self._run)

    def cancel(self) -> None:
        """Drop a scheduled trim (the server is shutting down)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _run(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        quiet = self._closed + self.delay
        if quiet > now and now < self._reached + self.interval:  # still closing: wait
            self._handle = loop.call_at(min(quiet, self._reached + self.interval), self._run)
            return
        self._handle = None
        self._last = now
        freed, self.freed = self.freed, 0
        start = time.perf_counter()
        if self.collect is not None:
            self.collect()
        collected = time.perf_counter()
        self.trim()
        end = time.perf_counter()
        self.trims += 1
        self._spacing = 20 * (end - start)
        logger.debug(
            "memory trim after connections freed about %d KiB: gc %.1f ms, malloc_trim %.1f ms",
            freed >> 10,
            (collected - start) * 1000,
            (end - collected) * 1000,
        )

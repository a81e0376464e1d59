"""Giving memory back to the operating system after many connections closed.

When connections close, Switchboard frees everything they held: measured with
``tracemalloc`` and glibc's ``mallinfo2()``, the bytes in use return to their
baseline. The process's RSS does not: glibc's ``malloc`` keeps freed memory in
its heap for reuse and returns to the system only a free end of the heap (the
"top"), and after a burst of connections the top is pinned by a few live objects
allocated late. zlib's windows and hash tables (up to 64 KiB each, below malloc's
128 KiB mmap threshold) are most of that heap with permessage-deflate, and each
new round of connections lays them out differently, touching pages the last round
left untouched: 2,000 compressed connections at zlib's default settings left
250, 387 and then 475 MiB of RSS after three rounds, with 4.7 MiB in use. Limiting
arenas (``MALLOC_ARENA_MAX=1``) changes nothing, the heap is the main one;
``malloc_trim(0)``, which also releases free pages inside the heap, brought it back
to 35 MiB in 46 ms. docs/performance.md ("Memory") has the numbers.

So the server calls ``malloc_trim(0)`` (glibc only, through :mod:`ctypes`) once
the connections closed since the last call freed about ``threshold`` bytes, by
:class:`MemoryTrimmer`'s estimate: ``delay`` seconds later, so that a burst of
closing connections is over, and at most once every ``interval`` seconds. Each
call costs about 0.1 ms per MiB returned, with the event loop blocked meanwhile;
``server.memory.threshold = None`` turns it off.
"""

from __future__ import annotations

import asyncio
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
    """Counts what closed connections freed; trims the heap when it adds up.

    ``threshold``: bytes freed (estimated: :data:`CONNECTION_MEMORY` per connection
    plus its permessage-deflate codec's ``memory``) that call for a trim; 32 MiB,
    about 350 compressed connections or 2,000 without compression. ``None``: never.
    ``delay`` (1 s): how long after reaching it. ``interval`` (5 s): the least time
    between two trims. ``trim``: the function that trims, :func:`malloc_trim`.
    """

    def __init__(
        self,
        threshold: int | None = 32 << 20,
        *,
        delay: float = 1.0,
        interval: float = 5.0,
        trim: Callable[[], object] = malloc_trim,
    ) -> None:
        self.threshold = threshold
        self.delay = delay
        self.interval = interval
        self.trim = trim
        self.freed = 0  #: estimated bytes freed since the last trim
        self.trims = 0  #: how many times it trimmed
        self._last: float | None = None  # loop time of the last trim
        self._handle: asyncio.TimerHandle | None = None

    def connection_closed(self, ws: WebSocket) -> None:
        """Count what a closed connection freed; schedule a trim if that is enough."""
        deflate = ws.protocol.deflate
        self.freed += CONNECTION_MEMORY + (0 if deflate is None else deflate.memory)
        if self.threshold is None or self.freed < self.threshold or self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + self.delay
        if self._last is not None:
            when = max(when, self._last + self.interval)
        self._handle = loop.call_at(when, self._run)

    def cancel(self) -> None:
        """Drop a scheduled trim (the server is shutting down)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _run(self) -> None:
        self._handle = None
        self._last = asyncio.get_running_loop().time()
        freed, self.freed = self.freed, 0
        start = time.perf_counter()
        self.trim()
        self.trims += 1
        logger.debug(
            "malloc_trim after connections freed about %d KiB: %.1f ms",
            freed >> 10,
            (time.perf_counter() - start) * 1000,
        )

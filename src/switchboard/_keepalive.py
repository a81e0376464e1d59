"""One timer for the keepalive pings of many connections, instead of one each.

An event-loop timer costs about 600 bytes (the handle, its arguments, its place in
the loop's heap), as much as a tenth of what an idle connection holds otherwise.
Keepalive pings need no precision, so :class:`KeepaliveWheel` rounds each due time
up to a slot (an eighth of the interval, at most a second: never early, and late by
at most that) and keeps one timer per slot in use: a few dozen timers for ten
thousand connections, and a dict entry each.
"""

from __future__ import annotations

import asyncio
import logging
import math
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .websocket import WebSocket

__all__ = ["KeepaliveWheel", "wheel"]

logger = logging.getLogger("switchboard")


class KeepaliveWheel:
    """Due keepalive ticks of the connections of one event loop, grouped in slots."""

    __slots__ = ("_slots", "__weakref__")

    def __init__(self) -> None:
        # due time -> (the timer for it, the connections due then, in order)
        self._slots: dict[float, tuple[asyncio.TimerHandle, dict[WebSocket, None]]] = {}

    def add(self, loop: asyncio.AbstractEventLoop, ws: WebSocket, delay: float) -> float:
        """Call ``ws._keepalive_tick()`` about ``delay`` seconds from now; return the
        slot, for :meth:`discard`."""
        step = min(1.0, 2.0 ** math.floor(math.log2(max(delay, 1e-3) / 8)))
        when = math.ceil((loop.time() + delay) / step) * step
        slot = self._slots.get(when)
        if slot is None:
            slot = self._slots[when] = (loop.call_at(when, self._fire, when), {})
        slot[1][ws] = None
        return when

    def discard(self, ws: WebSocket, when: float) -> None:
        """Forget ``ws``'s tick in slot ``when`` (if it is still to come)."""
        slot = self._slots.get(when)
        if slot is not None and ws in slot[1]:
            del slot[1][ws]
            if not slot[1]:
                slot[0].cancel()
                del self._slots[when]

    def __len__(self) -> int:
        """Timers in use."""
        return len(self._slots)

    def _fire(self, when: float) -> None:
        _, due = self._slots.pop(when)
        for ws in due:
            try:
                ws._keepalive_tick()
            except Exception:  # one connection's failure must not stop the others' pings
                logger.exception("keepalive failed for %s", ws.remote_address)


_wheels: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, KeepaliveWheel] = (
    weakref.WeakKeyDictionary()
)


def wheel(loop: asyncio.AbstractEventLoop) -> KeepaliveWheel:
    """The wheel of ``loop`` (it holds no reference to the loop, so both can go)."""
    found = _wheels.get(loop)
    if found is None:
        found = _wheels[loop] = KeepaliveWheel()
    return found

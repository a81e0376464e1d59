"""The in-process broker: the default, for one server process.

Publications are delivered synchronously, in the order they are published, to the
hub that published them; history is a bounded :class:`~switchboard.realtime.history.Stream`
per room; presence is a dict. Nothing leaves the process, and a restart starts
every room in a new epoch (so reconnecting clients are told ``recovered: false``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..history import Stream
from ..wire import event_frame
from .base import Broker, Deliver, HistoryPolicy, Position, PresenceChange, Recovery

__all__ = ["MemoryBroker"]

_SWEEP_INTERVAL = 30.0  # seconds between drops of expired, unwatched streams


class MemoryBroker(Broker):
    """Everything in this process. ``Hub()`` uses one unless given another broker."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._streams: dict[str, Stream] = {}
        self._ttl: dict[str, float] = {}  # the policy ttl each stream was last used with
        self._subscribed: set[str] = set()
        self._presence: dict[str, dict[str, tuple[dict[str, Any], int]]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._loop = asyncio.get_running_loop()
        self._sweeper = self._loop.call_later(_SWEEP_INTERVAL, self._sweep)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._deliver = None

    async def subscribe(self, channel: str) -> None:
        self._subscribed.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._subscribed.discard(channel)

    async def publish(self, channel: str, frame: str, *, skip: str | None = None) -> None:
        if self._deliver is not None:
            self._deliver(channel, frame, skip, 0)

    async def publish_event(
        self,
        room: str,
        event: str,
        data_json: str,
        policy: HistoryPolicy,
        *,
        skip: str | None = None,
    ) -> Position:
        now = self._now()
        stream = self._stream(room, now, policy)
        offset = stream.offset + 1
        frame = event_frame(event, data_json, room, offset, stream.epoch)
        stream.add(offset, frame, skip, now, policy)
        if self._deliver is not None:
            self._deliver(f"room:{room}", frame, skip, offset)
        return stream.position

    async def recover(self, room: str, since: Position | None, policy: HistoryPolicy) -> Recovery:
        now = self._now()
        return self._stream(room, now, policy).recover(since, now, policy)

    async def presence_set(
        self, room: str, user: str, info: dict[str, Any], connections: int
    ) -> int:
        members = self._presence.setdefault(room, {})
        known = user in members
        if connections > 0:
            members[user] = (info, connections)
            return PresenceChange.NONE if known else PresenceChange.APPEARED
        if not known:
            return PresenceChange.NONE
        del members[user]
        if not members:
            del self._presence[room]
        return PresenceChange.DISAPPEARED

    async def presence(self, room: str) -> dict[str, tuple[dict[str, Any], int]]:
        return dict(self._presence.get(room, {}))

    def status(self) -> dict[str, Any]:
        return {
            "ok": True,
            "broker": "memory",
            "streams": len(self._streams),
            "history_size": sum(len(s.entries) for s in self._streams.values()),
        }

    # -- internals --------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _stream(self, room: str, now: float, policy: HistoryPolicy) -> Stream:
        stream = self._streams.get(room)
        if stream is None:
            stream = self._streams[room] = Stream(now)
        self._ttl[room] = policy.ttl
        return stream

    def _sweep(self) -> None:
        """Drop streams whose history has expired and that nobody here watches, so
        rooms that come and go do not grow memory (their next epoch is new)."""
        assert self._loop is not None
        now = self._loop.time()
        for room, stream in list(self._streams.items()):
            ttl = self._ttl.get(room, 0.0)
            if f"room:{room}" not in self._subscribed and stream.touched + ttl < now:
                del self._streams[room]
                self._ttl.pop(room, None)
        self._sweeper = self._loop.call_later(_SWEEP_INTERVAL, self._sweep)

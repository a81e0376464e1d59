"""The in-process broker: the default, for one server process.

Publications are delivered synchronously, in the order they are published, to the
hub that published them; history is a bounded :class:`~switchboard.realtime.history.Stream`
per room; presence is a dict. Nothing leaves the process, and a restart starts
every room in a new epoch (so reconnecting clients are told ``recovered: false``).
"""

from __future__ import annotations

import asyncio
import hmac
from collections import OrderedDict
from typing import Any

from ..history import Stream
from ..wire import event_frame
from .base import (
    Broker,
    Deliver,
    HistoryPolicy,
    Outcome,
    Position,
    PresenceChange,
    Recovery,
    Resync,
    Run,
)

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
        # Parked sessions: id -> (expiry, token, user, rooms), oldest first.
        self._parked: OrderedDict[str, tuple[float, str, str, list[str]]] = OrderedDict()
        # Idempotency keys: user -> key -> (expiry, the first run's outcome).
        self._keys: dict[str, OrderedDict[str, tuple[float, asyncio.Future[Outcome]]]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, deliver: Deliver, resync: Resync) -> None:  # nothing to lose
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

    async def park_session(
        self, session: str, token: str, user: str, rooms: list[str], ttl: float
    ) -> None:
        self._parked[session] = (self._now() + ttl, token, user, rooms)
        self._parked.move_to_end(session)

    async def resume_session(self, session: str, token: str, user: str) -> list[str] | None:
        parked = self._parked.get(session)
        if parked is None or parked[0] < self._now():
            return None
        _, known_token, known_user, rooms = parked
        if not hmac.compare_digest(known_token, token) or known_user != user:
            return None
        del self._parked[session]
        return rooms

    async def idempotent(self, user: str, key: str, window: float, limit: int, run: Run) -> Outcome:
        now = self._now()
        keys = self._keys.setdefault(user, OrderedDict())
        seen = keys.get(key)
        if seen is not None and seen[0] >= now:
            return await asyncio.shield(seen[1])  # a retry: the first run's outcome
        first: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        keys[key] = (now + window, first)
        keys.move_to_end(key)
        while len(keys) > limit:
            keys.popitem(last=False)
        keep = False
        try:
            outcome, keep = await run()
            first.set_result(outcome)
            return outcome
        finally:
            if not keep:  # failed or cancelled: a retry runs again
                if keys.get(key, (0, None))[1] is first:
                    del keys[key]
                if not first.done():
                    first.set_result(("error", {"code": "internal", "message": "interrupted"}))

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
        parked = self._parked
        while parked and next(iter(parked.values()))[0] < now:
            parked.popitem(last=False)
        for user, keys in list(self._keys.items()):
            for key, (expiry, _) in list(keys.items()):
                if expiry < now:
                    del keys[key]
            if not keys:
                del self._keys[user]
        self._sweeper = self._loop.call_later(_SWEEP_INTERVAL, self._sweep)

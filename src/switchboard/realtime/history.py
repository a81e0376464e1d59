"""A room's history, kept in memory: publications numbered by offset, in one epoch.

:class:`Stream` is what :class:`~switchboard.realtime.MemoryBroker` keeps per room
with history on. Offsets start at 1 and increase by one per publication; the epoch
is a random string drawn when the stream is created, so a client holding a position
from an earlier stream (before a restart, or after the stream expired) is told it
cannot be recovered instead of being handed a wrong gap.
"""

from __future__ import annotations

import itertools
import secrets
from collections import deque

from .brokers.base import HistoryPolicy, Position, Recovery

__all__ = ["Stream", "new_epoch"]


def new_epoch() -> str:
    return secrets.token_urlsafe(6)


class Stream:
    """The bounded history of one room: at most ``policy.size`` publications, none
    older than ``policy.ttl`` seconds."""

    __slots__ = ("epoch", "offset", "entries", "touched")

    def __init__(self, now: float) -> None:
        self.epoch = new_epoch()
        self.offset = 0
        self.entries: deque[tuple[int, float, str, str | None]] = (
            deque()
        )  # offset, time, frame, skip
        self.touched = now

    @property
    def position(self) -> Position:
        return Position(self.offset, self.epoch)

    def add(
        self, offset: int, frame: str, skip: str | None, now: float, policy: HistoryPolicy
    ) -> None:
        """Keep the frame of the publication numbered ``offset`` (the next one), and
        the session it was not sent to."""
        self.offset = offset
        self.touched = now
        entries = self.entries
        entries.append((offset, now, frame, skip))
        while len(entries) > policy.size:
            entries.popleft()
        self.expire(now, policy)

    def expire(self, now: float, policy: HistoryPolicy) -> None:
        """Drop publications older than the policy's ttl."""
        entries = self.entries
        limit = now - policy.ttl
        while entries and entries[0][1] < limit:
            entries.popleft()

    def recover(self, since: Position | None, now: float, policy: HistoryPolicy) -> Recovery:
        self.expire(now, policy)
        position = self.position
        if since is None:
            return Recovery(position, None)
        if since.epoch != self.epoch or since.offset > self.offset:
            return Recovery(position, False)
        if since.offset == self.offset:
            return Recovery(position, True)
        entries = self.entries
        oldest = entries[0][0] if entries else self.offset + 1
        if since.offset + 1 < oldest:
            return Recovery(position, False)
        start = since.offset + 1 - oldest
        frames = [(e[0], e[2], e[3]) for e in itertools.islice(entries, start, None)]
        return Recovery(position, True, frames)

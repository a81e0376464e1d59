"""The broker seam: what the hub needs from whatever carries its publications.

A hub never talks to other processes itself. It hands every publication to its
broker, which numbers room publications (offset and epoch), keeps their history,
keeps presence, and delivers each publication to every hub subscribed to its
channel, this one included, by calling ``deliver``. :class:`MemoryBroker` does all
of it in the process; the Redis broker does it across processes. The hub does not
know which it has.

Channels are strings: ``room:<name>``, ``user:<id>``, ``session:<id>`` and ``all``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Broker",
    "Deliver",
    "Resync",
    "Position",
    "HistoryPolicy",
    "Recovery",
    "PresenceChange",
    "Outcome",
    "Run",
]

Resync = Callable[[], Awaitable[None]]
"""Called by a broker that lost state it cannot rebuild alone (its store restarted):
the hub registers its local members again and refreshes their presence."""

Deliver = Callable[[str, str, "str | None", int], None]
"""``deliver(channel, frame, skip, offset)``: hand a frame to the local members of
``channel``, except the session whose id is ``skip``; ``offset`` is the room
publication's offset (0 for frames that are not room publications with history)."""


Outcome = tuple[str, Any]
"""An emit's outcome: ``("data", json text)`` or ``("error", error object)``."""

Run = Callable[[], Awaitable[tuple[Outcome, bool]]]
"""Runs a handler once: its outcome, and whether to keep it for retries."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a room's stream is: the last publication's ``offset`` in ``epoch``."""

    offset: int
    epoch: str

    def to_wire(self) -> dict[str, Any]:
        return {"offset": self.offset, "epoch": self.epoch}


@dataclass(frozen=True, slots=True)
class HistoryPolicy:
    """How much of a room's history to keep: at most ``size`` publications, none
    older than ``ttl`` seconds."""

    size: int
    ttl: float


@dataclass(slots=True)
class Recovery:
    """The answer to "what did I miss since ``since``?".

    ``position`` is the room's position now. ``recovered`` is ``None`` when no
    position was given, ``True`` when ``frames`` (``(offset, frame, skip)``, in
    order) are exactly the publications after it, ``False`` when that is
    impossible (the epoch changed, or the history no longer reaches back).
    ``skip`` is the session a publication was not sent to (its sender), which is
    not sent it on recovery either.
    """

    position: Position
    recovered: bool | None
    frames: list[tuple[int, str, str | None]] = field(default_factory=list)


class PresenceChange:
    """What a presence update did to the room's member list, across all nodes."""

    NONE = 0
    APPEARED = 1
    DISAPPEARED = 2


class Broker(ABC):
    """The interface between a hub and the transport of its publications."""

    @abstractmethod
    async def start(self, deliver: Deliver, resync: Resync) -> None:
        """Begin delivering publications to ``deliver``; call ``resync`` after losing
        shared state (a reconnect). Called once, by the hub."""

    @abstractmethod
    async def close(self) -> None:
        """Stop delivering and release every resource."""

    @abstractmethod
    async def subscribe(self, channel: str) -> None:
        """This node has local members of ``channel``: deliver its publications."""

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None:
        """This node has no local members of ``channel`` any more."""

    @abstractmethod
    async def publish(self, channel: str, frame: str, *, skip: str | None = None) -> None:
        """Deliver ``frame`` to every node's members of ``channel`` (no history)."""

    @abstractmethod
    async def publish_event(
        self,
        room: str,
        event: str,
        data_json: str,
        policy: HistoryPolicy,
        *,
        skip: str | None = None,
    ) -> Position:
        """Number an event published to ``room``, keep it in the room's history
        under ``policy``, and deliver it to every node's members of the room."""

    @abstractmethod
    async def recover(self, room: str, since: Position | None, policy: HistoryPolicy) -> Recovery:
        """The room's position, and what came after ``since`` if it can be told."""

    @abstractmethod
    async def presence_set(
        self, room: str, user: str, info: dict[str, Any], connections: int
    ) -> int:
        """Record that this node has ``connections`` connections of ``user`` in
        ``room`` (0: none); return a :class:`PresenceChange` value."""

    @abstractmethod
    async def presence(self, room: str) -> dict[str, tuple[dict[str, Any], int]]:
        """The room's members across all nodes: ``{user: (info, connections)}``."""

    @abstractmethod
    async def park_session(
        self, session: str, token: str, user: str, rooms: list[str], ttl: float
    ) -> None:
        """Keep a closed session's rooms for ``ttl`` seconds, so that its client can
        resume it, on any node."""

    @abstractmethod
    async def resume_session(self, session: str, token: str, user: str) -> list[str] | None:
        """Take back a parked session: its rooms, if it exists and the token and user
        match (once: a second resume of the same park gets ``None``)."""

    @abstractmethod
    async def idempotent(self, user: str, key: str, window: float, limit: int, run: Run) -> Outcome:
        """Run ``run`` at most once per ``(user, key)`` within ``window`` seconds,
        across all nodes: a second call gets the first one's outcome (waiting for it
        if it is still running). ``limit``: keys kept per user at most."""

    def status(self) -> dict[str, Any]:
        """The broker's state for ``/healthz`` and ``/metrics`` (``"ok": bool``)."""
        return {"ok": True}

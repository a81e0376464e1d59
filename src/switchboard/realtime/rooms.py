"""Rooms: their options, and this node's members of each.

A room exists while it has members or history; nobody creates it. Which rooms keep
history and presence is the hub's ``rooms`` option: one :class:`RoomOptions` for
all, or a function of the room's name (``"chat:" rooms keep 500 messages``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..broadcast import Group, broadcast
from .brokers.base import HistoryPolicy

if TYPE_CHECKING:
    from .session import Session

__all__ = ["RoomOptions", "LocalRoom", "Members", "send_to"]


@dataclass(frozen=True, slots=True)
class RoomOptions:
    """What a room keeps.

    * ``history_size`` (100) and ``history_ttl`` (300 s): how many publications the
      room keeps for recovery, and for how long; ``history_size=0`` turns history
      (and so offsets, epochs and recovery) off for the room.
    * ``presence`` (True): track who is in the room and send join/leave diffs.
    * ``presence_grace`` (5 s): how long a user whose last connection went stays
      listed, so a page reload does not show them leaving and coming back.
    """

    history_size: int = 100
    history_ttl: float = 300.0
    presence: bool = True
    presence_grace: float = 5.0

    def __post_init__(self) -> None:
        if self.history_size < 0 or self.history_ttl <= 0 or self.presence_grace < 0:
            raise ValueError(f"invalid room options: {self}")

    @property
    def history(self) -> HistoryPolicy | None:
        return HistoryPolicy(self.history_size, self.history_ttl) if self.history_size else None


class Members:
    """Sessions to send publications to. Native sessions' connections are in a
    :class:`Group` (a frame is built once and written in one C loop); sessions of
    another wire (Socket.IO) are "relayed": each gets the native frame through
    ``_send_frame``, whose wire encoder builds its own frame once per publication."""

    __slots__ = ("group", "relayed")

    def __init__(self) -> None:
        self.group = Group()
        self.relayed: dict[Session, None] = {}  # insertion-ordered set

    def add(self, session: Session) -> None:
        if session._relayed:
            self.relayed[session] = None
        else:
            self.group.add(session.ws)

    def discard(self, session: Session) -> None:
        if session._relayed:
            self.relayed.pop(session, None)
        else:
            self.group.discard(session.ws)

    def send(self, frame: str, skip: Session | None = None) -> int:
        """Send ``frame`` to every member but ``skip``; how many it reached."""
        sent = broadcast(self.group, frame, skip=None if skip is None else skip.ws)
        if self.relayed:
            sent += _relay(self.relayed, frame, skip)
        return sent


def _relay(sessions: Iterable[Session], frame: str, skip: Session | None) -> int:
    """Send to relayed sessions, each wire's in one batch (its ``_send_many``)."""
    batches: dict[type[Session], list[Session]] = {}
    for session in sessions:  # a snapshot: a send may close a slow one
        if session is not skip:
            batches.setdefault(type(session), []).append(session)
    return sum(kind._send_many(batch, frame) for kind, batch in batches.items())


def send_to(sessions: Iterable[Session], frame: str) -> int:
    """Send ``frame`` to a few sessions of any wire; how many it reached."""
    native: list[Session] = []
    relayed: list[Session] = []
    for session in sessions:
        (relayed if session._relayed else native).append(session)
    sent = broadcast([s.ws for s in native], frame) if native else 0
    return sent + (_relay(relayed, frame, None) if relayed else 0)


class LocalRoom:
    """This node's members of one room (:class:`Members`: an emit is framed once per
    wire), and the members still catching up on missed publications, whose live
    frames wait until they are done."""

    __slots__ = ("name", "options", "group", "sessions", "recovering")

    def __init__(self, name: str, options: RoomOptions) -> None:
        self.name = name
        self.options = options
        self.group = Members()
        self.sessions: dict[str, Session] = {}
        self.recovering: dict[str, list[tuple[int, str]]] = {}

"""Rooms: their options, and this node's members of each.

A room exists while it has members or history; nobody creates it. Which rooms keep
history and presence is the hub's ``rooms`` option: one :class:`RoomOptions` for
all, or a function of the room's name (``"chat:" rooms keep 500 messages``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..broadcast import Group
from .brokers.base import HistoryPolicy

if TYPE_CHECKING:
    from .session import Session

__all__ = ["RoomOptions", "LocalRoom"]


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


class LocalRoom:
    """This node's members of one room: their connections in a :class:`Group` (so an
    emit is framed once and written in one C loop), and the members still catching
    up on missed publications, whose live frames wait until they are done."""

    __slots__ = ("name", "options", "group", "sessions", "recovering")

    def __init__(self, name: str, options: RoomOptions) -> None:
        self.name = name
        self.options = options
        self.group = Group()
        self.sessions: dict[str, Session] = {}
        self.recovering: dict[str, list[tuple[int, str]]] = {}

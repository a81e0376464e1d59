"""The poker app's refusals: each says, in words for people, which rule was broken.

Handlers turn them into ``Rejected(message, details={"reason": reason})`` error acks,
and the HTTP routes into 4xx answers with ``{"error": message, "reason": reason}``.
"""

from __future__ import annotations

from switchboard import SwitchboardError

__all__ = ["PokerError", "InvalidInput", "NotAllowed", "WrongPhase", "RoomGone", "SeatGone"]


class PokerError(SwitchboardError):
    """A request the rules refuse. ``reason`` is for programs, the message for people."""

    reason = "invalid"


class InvalidInput(PokerError):
    """A name, a description or a card that breaks the rules."""

    reason = "invalid_input"


class NotAllowed(PokerError):
    """Not yours to do (a voter sending a moderator's request, say)."""

    reason = "not_allowed"


class WrongPhase(PokerError):
    """Not now: voting has not started, or has, or the round is over."""

    reason = "wrong_phase"


class RoomGone(PokerError):
    """No room with that code (never was, expired, or emptied)."""

    reason = "no_room"


class SeatGone(PokerError):
    """The seat is not in the room (it left, or was removed)."""

    reason = "no_seat"

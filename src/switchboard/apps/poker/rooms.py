"""A room at the table: its seats and rounds, who may do what and when, and what
each person is shown.

A :class:`Table` is one room loaded from the store inside a transaction. Its methods
are the game's moves; each checks the rules first and raises a
:class:`~switchboard.apps.poker.errors.PokerError` without changing anything when
one is broken. The store then saves what changed, and the app sends the new views.

Views are per recipient: :meth:`Table.public_view` is what every member of the room
gets, and while voting it says only *who has voted*, never a card;
:meth:`Table.private_view` is what one seat gets about itself (its own card).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .decks import Deck
from .errors import InvalidInput, NotAllowed, SeatGone, WrongPhase
from .rules import (
    CONFIDENCE_LABELS,
    clean_description,
    clean_name,
    confidence,
    results,
    unique_name,
)

__all__ = ["Phase", "Rules", "Room", "Seat", "Round", "Table"]

Phase = Literal["waiting", "voting", "revealed"]


@dataclass(frozen=True, slots=True)
class Rules:
    """The tunable rules: the confidence thresholds (seconds after voting started)
    and how many seats a room holds."""

    high_within: float = 5.0
    medium_within: float = 15.0
    max_seats: int = 50


@dataclass(slots=True)
class Seat:
    """One person in a room (all their tabs and devices share it).

    ``token`` is the hash of the seat's secret token, never shown. ``seq`` is the
    join order (who moderates next). ``present``: connected, or gone for less than the
    grace period; ``connected``: when a connection last arrived (wall clock).
    """

    id: str
    name: str
    token: str
    seq: int
    spectator: bool = False
    present: bool = False
    connected: float = 0.0
    vote: str | None = None
    voted: float | None = None
    confidence: int | None = None


@dataclass(slots=True)
class Room:
    """A room's own fields. ``returning``: a moderator who lost the role by going
    away; they get it back when they return (unless it was handed over since)."""

    code: str
    deck: Deck
    created: float
    updated: float
    version: int = 0
    moderator: str | None = None
    returning: str | None = None
    phase: Phase = "waiting"
    round: int = 0
    description: str = ""
    started: float | None = None
    next_seq: int = 0
    rounds: int = 0


@dataclass(frozen=True, slots=True)
class Round:
    """A revealed round, as the history keeps it."""

    n: int
    description: str
    started: float
    revealed: float
    votes: list[dict[str, Any]]
    stats: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "description": self.description,
            "started": self.started,
            "revealed": self.revealed,
            "votes": self.votes,
            "stats": self.stats,
        }


@dataclass
class Table:
    """A room and its seats, for one transaction (see the module's docstring).

    After a move, ``changed`` says whether anyone's view changed (the store then
    bumps ``room.version``), ``dirty`` and ``removed`` which seats to write or delete,
    and ``revealed`` holds the round that a reveal added to the history.
    """

    room: Room
    seats: dict[str, Seat]
    rules: Rules = field(default_factory=Rules)
    changed: bool = False
    dirty: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    revealed: Round | None = None

    def __post_init__(self) -> None:
        self.seats = dict(sorted(self.seats.items(), key=lambda item: item[1].seq))

    # -- questions ----------------------------------------------------------------

    def seat(self, seat_id: str) -> Seat:
        """The seat, or :class:`SeatGone`."""
        seat = self.seats.get(seat_id)
        if seat is None:
            raise SeatGone("You are not in this room (any more).")
        return seat

    def is_moderator(self, seat_id: str) -> bool:
        return self.room.moderator == seat_id

    def _moderator(self, seat_id: str, what: str) -> Seat:
        seat = self.seat(seat_id)
        if not self.is_moderator(seat_id):
            raise NotAllowed(f"Only the moderator can {what}.")
        return seat

    def _other(self, by: str, target: str, what: str) -> Seat:
        if target == by:
            raise NotAllowed(f"You cannot {what} yourself.")
        seat = self.seats.get(target)
        if seat is None:
            raise SeatGone("That person is not in the room (any more).")
        return seat

    def _touch(self, *seat_ids: str) -> None:
        self.changed = True
        self.dirty.update(seat_ids)

    # -- coming and going ---------------------------------------------------------

    def join(self, seat_id: str, name: object, token: str, *, spectator: bool = False) -> Seat:
        """A new seat (not connected yet). The first seat of a room moderates."""
        if len(self.seats) >= self.rules.max_seats:
            raise NotAllowed(f"The room is full: {self.rules.max_seats} people at most.")
        clean = unique_name(clean_name(name), (s.name for s in self.seats.values()))
        seat = Seat(seat_id, clean, token, self.room.next_seq, spectator=spectator)
        self.room.next_seq += 1
        self.seats[seat_id] = seat
        if self.room.moderator is None:
            self.room.moderator = seat_id
        self._touch(seat_id)
        return seat

    def connect(self, seat_id: str, now: float) -> None:
        """A connection of this seat arrived: it is present, and a moderator who had
        lost the role by going away gets it back."""
        seat = self.seat(seat_id)
        seat.connected = now
        self.dirty.add(seat_id)
        if not seat.present:
            seat.present = True
            self._touch(seat_id)
        if self.room.returning == seat_id:
            self.room.moderator, self.room.returning = seat_id, None
            self.changed = True
        else:
            self._succeed()

    def away(self, seat_id: str, since: float) -> None:
        """The seat's connections have all been gone since ``since``, for the grace
        period: it is shown away, and a moderator's role passes to the next person.
        Nothing happens if a connection arrived since (it may still be joining)."""
        seat = self.seats.get(seat_id)
        if seat is None or not seat.present or seat.connected > since:
            return
        seat.present = False
        self._touch(seat_id)
        self._succeed()

    def leave(self, seat_id: str) -> Seat:
        """The seat leaves for good (or is removed): a moderator's role passes on."""
        seat = self.seat(seat_id)
        del self.seats[seat_id]
        self.removed.add(seat_id)
        self.dirty.discard(seat_id)
        self.changed = True
        if self.room.returning == seat_id:
            self.room.returning = None
        if self.room.moderator == seat_id:
            self.room.moderator = None
        self._succeed()
        return seat

    def _succeed(self) -> None:
        """Give the role to the first person here (voters before spectators, in join
        order) if the moderator has left or is away. With nobody here, a moderator
        who is away keeps the role; one who left leaves it to whoever comes first."""
        current = self.seats.get(self.room.moderator) if self.room.moderator else None
        if current is not None and current.present:
            return
        here = [s for s in self.seats.values() if s.present and s is not current]
        if here:
            here.sort(key=lambda s: (s.spectator, s.seq))
            if current is not None and self.room.returning is None:
                self.room.returning = current.id
            self.room.moderator = here[0].id
            self.changed = True

    # -- the moderator's moves ----------------------------------------------------

    def kick(self, by: str, target: str) -> Seat:
        self._moderator(by, "remove people")
        self._other(by, target, "remove")
        return self.leave(target)

    def hand_over(self, by: str, target: str) -> Seat:
        self._moderator(by, "hand the moderator role over")
        seat = self._other(by, target, "hand the role to")
        if not seat.present:
            raise NotAllowed(f"{seat.name} is away: hand the role to someone who is here.")
        self.room.moderator, self.room.returning = target, None
        self.changed = True
        return seat

    def describe(self, by: str, text: str) -> None:
        self._moderator(by, "change the description")
        if self.room.phase == "voting":
            raise WrongPhase("The description can only change between rounds.")
        clean = clean_description(text)
        if clean != self.room.description:
            self.room.description = clean
            self.changed = True

    def start(self, by: str, now: float) -> None:
        """A new round: every card taken back, the clock started."""
        self._moderator(by, "start voting")
        if self.room.phase == "voting":
            raise WrongPhase("Voting is already under way.")
        if not any(not s.spectator for s in self.seats.values()):
            raise NotAllowed("Nobody can vote: everyone in the room is a spectator.")
        for seat in self.seats.values():
            if seat.vote is not None or seat.voted is not None:
                seat.vote = seat.voted = seat.confidence = None
                self.dirty.add(seat.id)
        self.room.round += 1
        self.room.phase = "voting"
        self.room.started = now
        self.changed = True

    def reveal(self, by: str, now: float) -> Round:
        """Stop voting and show every card; the round goes into the history."""
        self._moderator(by, "reveal the cards")
        if self.room.phase != "voting":
            raise WrongPhase("Voting has not started.")
        self.room.phase = "revealed"
        voters = [s for s in self.seats.values() if not s.spectator]
        self.revealed = Round(
            n=self.room.round,
            description=self.room.description,
            started=self.room.started or now,
            revealed=now,
            votes=[
                {
                    "name": s.name,
                    "vote": s.vote,
                    "confidence": None if s.confidence is None else CONFIDENCE_LABELS[s.confidence],
                }
                for s in voters
            ],
            stats=self.stats(),
        )
        self.room.rounds += 1
        self.changed = True
        return self.revealed

    # -- everyone's moves ---------------------------------------------------------

    def vote(self, seat_id: str, round: int, card: str | None, now: float) -> Seat:
        """Play ``card`` (``None``: take it back) in round ``round``; a voter may
        change it until the reveal. Its confidence comes from the time taken."""
        seat = self.seat(seat_id)
        room = self.room
        if room.phase != "voting":
            raise WrongPhase(
                "Voting is over: the cards are revealed."
                if room.phase == "revealed"
                else "Voting has not started."
            )
        if round != room.round:
            raise WrongPhase(f"Round {round} is over: this is round {room.round}.")
        if seat.spectator:
            raise NotAllowed("Spectators do not vote.")
        if card is not None and card not in room.deck.options:
            raise InvalidInput(f"{card[:20]!r} is not a card of this deck.")
        if card == seat.vote:
            return seat
        seat.vote = card
        if card is None:
            seat.voted = seat.confidence = None
        else:
            seat.voted = now
            elapsed = now - (room.started or now)
            seat.confidence = confidence(elapsed, self.rules.high_within, self.rules.medium_within)
        self._touch(seat_id)
        return seat

    def rename(self, seat_id: str, name: object) -> Seat:
        seat = self.seat(seat_id)
        others = (s.name for s in self.seats.values() if s is not seat)
        clean = unique_name(clean_name(name), others)
        if clean != seat.name:
            seat.name = clean
            self._touch(seat_id)
        return seat

    def spectate(self, seat_id: str, spectator: bool) -> Seat:
        """Watch only (a vote of this round is taken back), or vote again."""
        seat = self.seat(seat_id)
        if spectator != seat.spectator:
            seat.spectator = spectator
            if spectator:
                seat.vote = seat.voted = seat.confidence = None
            self._touch(seat_id)
        return seat

    # -- views ----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        voters = [s for s in self.seats.values() if not s.spectator]
        counted = [s for s in voters if s.present or s.vote is not None]
        return results(self.room.deck, [(s.vote, s.confidence) for s in counted])

    def public_view(self) -> dict[str, Any]:
        """What every member of the room is sent. While voting, each seat says only
        whether it has voted: no card leaves the server before the reveal."""
        room = self.room
        revealed = room.phase == "revealed"
        seats = []
        for s in self.seats.values():
            seat: dict[str, Any] = {
                "id": s.id,
                "name": s.name,
                "spectator": s.spectator,
                "moderator": s.id == room.moderator,
                "present": s.present,
            }
            if room.phase != "waiting" and not s.spectator:
                seat["voted"] = s.vote is not None
                if revealed:
                    seat["vote"] = s.vote
                    seat["confidence"] = (
                        None if s.confidence is None else CONFIDENCE_LABELS[s.confidence]
                    )
            seats.append(seat)
        return {
            "v": room.version,
            "code": room.code,
            "deck": room.deck.to_json(),
            "phase": room.phase,
            "round": room.round,
            "description": room.description,
            "moderator": room.moderator,
            "seats": seats,
            "stats": self.stats() if revealed else None,
            "rounds": room.rounds,
        }

    def private_view(self, seat_id: str) -> dict[str, Any]:
        """What one seat (all its tabs) is sent about itself: its own card."""
        seat = self.seat(seat_id)
        return {
            "v": self.room.version,
            "seat": seat.id,
            "round": self.room.round,
            "vote": seat.vote,
            "confidence": None if seat.confidence is None else CONFIDENCE_LABELS[seat.confidence],
        }

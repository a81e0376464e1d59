"""Decks: the cards a room votes with, and how a new room chooses them.

A room's deck is fixed when the room is created, from a :class:`DeckChoice` (what the
create form sends): one of the :data:`KINDS`, a sub-range of its cards, an optional
"N/A" card, or the moderator's own cards. :func:`build_deck` checks the choice and
returns the :class:`Deck`, or raises :class:`InvalidDeck` saying what is wrong.

>>> build_deck(DeckChoice("fibonacci")).options
('0.5', '1', '2', '3', '5', '8')
>>> build_deck(DeckChoice("linear", range=(2, 4), no_vote=True)).options
('N/A', '3', '4', '5')
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from .errors import PokerError

__all__ = [
    "Deck",
    "DeckChoice",
    "DeckKind",
    "InvalidDeck",
    "KINDS",
    "NO_VOTE",
    "build_deck",
    "deck_from_json",
]

NO_VOTE = "N/A"
"""The card for "I cannot estimate this": it counts as a vote, not as a value."""

Kind = Literal["fibonacci", "linear", "tshirt", "yesno", "custom"]

MAX_CUSTOM_CARDS = 15
MAX_CARD_LENGTH = 12


class InvalidDeck(PokerError):
    """A deck choice that cannot make a deck (the message says why)."""

    reason = "invalid_deck"


@dataclass(frozen=True, slots=True)
class DeckKind:
    """A deck offered by the create form.

    ``ranged``: the room may keep a sub-range of the cards (``default_range``, the
    first six by default); ``no_vote``: the room may add the "N/A" card.
    """

    name: str
    label: str
    cards: tuple[str, ...]
    ranged: bool
    no_vote: bool
    default_range: tuple[int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "label": self.label,
            "cards": list(self.cards),
            "ranged": self.ranged,
            "no_vote": self.no_vote,
            "default_range": None if self.default_range is None else list(self.default_range),
        }


KINDS: dict[str, DeckKind] = {
    kind.name: kind
    for kind in (
        DeckKind(
            "fibonacci",
            "Fibonacci",
            (
                "0.5",
                "1",
                "2",
                "3",
                "5",
                "8",
                "13",
                "21",
                "34",
                "55",
                "89",
                "144",
                "233",
                "377",
                "610",
            ),
            ranged=True,
            no_vote=True,
            default_range=(0, 5),
        ),
        DeckKind(
            "linear",
            "Linear 1-15",
            tuple(str(n) for n in range(1, 16)),
            ranged=True,
            no_vote=True,
            default_range=(0, 5),
        ),
        DeckKind(
            "tshirt",
            "T-shirt sizes",
            ("XS", "S", "M", "L", "XL", "XXL"),
            ranged=True,
            no_vote=True,
            default_range=(0, 5),
        ),
        # Its results count who did not vote: no "N/A" card, as in DevsPlayingPoker.
        DeckKind("yesno", "Yes / No", ("Yes", "No"), ranged=False, no_vote=False),
        DeckKind("custom", "Custom", (), ranged=False, no_vote=True),
    )
}


@dataclass
class DeckChoice:
    """What the create form sends (checked as the ``deck`` of ``POST /api/rooms``).

    ``range``: the indices of the first and last card to keep, inclusive, at least
    one step apart (ranged decks only; default: the kind's). ``custom``: the cards
    of a custom deck, in order.
    """

    kind: Kind
    range: tuple[int, int] | None = None
    no_vote: bool = False
    custom: list[str] | None = None


@dataclass(frozen=True, slots=True)
class Deck:
    """A room's cards. ``cards`` are the values in order, lowest first (the order
    that ``low``, ``high`` and ties go by); ``options`` adds "N/A" first when the
    room has it."""

    kind: str
    cards: tuple[str, ...]
    no_vote: bool = False

    @property
    def options(self) -> tuple[str, ...]:
        return ((NO_VOTE,) if self.no_vote else ()) + self.cards

    @property
    def numeric(self) -> bool:
        """Whether every card is a number (then results have an average too)."""
        return all(_number(card) is not None for card in self.cards)

    @property
    def label(self) -> str:
        return KINDS[self.kind].label if self.kind in KINDS else self.kind

    def rank(self, card: str) -> int:
        """A card's position in the deck (for low, high and ties)."""
        return self.cards.index(card)

    def value(self, card: str) -> float | None:
        return _number(card)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "cards": list(self.cards),
            "no_vote": self.no_vote,
            "options": list(self.options),
            "numeric": self.numeric,
        }


def deck_from_json(data: dict[str, Any]) -> Deck:
    """The deck stored with a room (see :meth:`Deck.to_json`)."""
    return Deck(str(data["kind"]), tuple(str(c) for c in data["cards"]), bool(data["no_vote"]))


def build_deck(choice: DeckChoice) -> Deck:
    """The deck a :class:`DeckChoice` makes, or :class:`InvalidDeck`."""
    kind = KINDS.get(choice.kind)
    if kind is None:
        raise InvalidDeck(f"unknown deck {choice.kind!r}: choose one of {', '.join(KINDS)}")
    if choice.no_vote and not kind.no_vote:
        raise InvalidDeck(
            f"the {kind.label} deck has no N/A card: its results count who did not vote"
        )
    if choice.custom is not None and kind.name != "custom":
        raise InvalidDeck("custom cards are only for the custom deck")
    if choice.range is not None and not kind.ranged:
        raise InvalidDeck(f"the {kind.label} deck has no range to choose")
    if kind.name == "custom":
        return Deck("custom", _custom_cards(choice.custom), choice.no_vote)
    cards = kind.cards
    if kind.ranged:
        low, high = choice.range if choice.range is not None else kind.default_range or (0, 0)
        if not 0 <= low < high < len(cards):
            raise InvalidDeck(
                f"range must be two card positions from 0 to {len(cards) - 1}, the first "
                f"lower than the second: got {low} and {high}"
            )
        cards = cards[low : high + 1]
    return Deck(kind.name, cards, choice.no_vote)


def _custom_cards(given: list[str] | None) -> tuple[str, ...]:
    if not given:
        raise InvalidDeck("a custom deck needs its cards: type at least two")
    cards: list[str] = []
    seen: set[str] = set()
    for raw in given:
        card = "".join(ch for ch in raw if unicodedata.category(ch)[0] != "C").strip()
        if not card:
            continue  # "1, 2, , 3": an empty entry is a slip, not a card
        if len(card) > MAX_CARD_LENGTH:
            raise InvalidDeck(f"card {card!r} is too long: at most {MAX_CARD_LENGTH} characters")
        if card.casefold() == NO_VOTE.casefold():
            raise InvalidDeck(f"{NO_VOTE} is not a custom card: tick the N/A option instead")
        if card.casefold() in seen:
            raise InvalidDeck(f"card {card!r} is there twice")
        seen.add(card.casefold())
        cards.append(card)
    if not 2 <= len(cards) <= MAX_CUSTOM_CARDS:
        raise InvalidDeck(f"a custom deck has 2 to {MAX_CUSTOM_CARDS} cards, not {len(cards)}")
    return tuple(cards)


def _number(card: str) -> float | None:
    try:
        value = float(card)
    except ValueError:
        return None
    return value if math.isfinite(value) else None

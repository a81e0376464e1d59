"""The rules of the game that need no table: names, descriptions, room codes, seat
tokens, how confident a vote is, and a round's results.

>>> unique_name(clean_name("  Ann  "), ["ann", "Bob"])
'Ann (1)'
>>> confidence(3.0), confidence(9.0), confidence(60.0)
(2, 1, 0)
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from .decks import NO_VOTE, Deck
from .errors import InvalidInput

__all__ = [
    "MAX_NAME",
    "MAX_DESCRIPTION",
    "MAX_DESCRIPTION_LINES",
    "HIGH",
    "MEDIUM",
    "LOW",
    "CONFIDENCE_LABELS",
    "clean_name",
    "unique_name",
    "clean_description",
    "new_code",
    "check_code",
    "new_seat_id",
    "new_token",
    "hash_token",
    "confidence",
    "results",
]

MAX_NAME = 20
MAX_DESCRIPTION = 1000
MAX_DESCRIPTION_LINES = 10
MAX_DUPLICATES = 9  # "Ann (1)" ... "Ann (9)"; a tenth Ann is refused

HIGH, MEDIUM, LOW = 2, 1, 0
CONFIDENCE_LABELS = {HIGH: "high", MEDIUM: "medium", LOW: "low"}

_CODE = re.compile("[A-Z]{4}")
# Bidirectional overrides and isolates: in a name they let one person pose as another.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _invisible(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs") or char in _BIDI


def clean_name(raw: object) -> str:
    """A display name: invisible characters dropped, runs of spaces made one, trimmed;
    1 to :data:`MAX_NAME` characters, or :class:`InvalidInput`."""
    if not isinstance(raw, str):
        raise InvalidInput("Please enter a name.")
    name = " ".join("".join(ch for ch in raw if not _invisible(ch)).split())
    if not name:
        raise InvalidInput("Please enter a name.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"Name too long. Must be no more than {MAX_NAME} characters.")
    return name


def unique_name(name: str, taken: Iterable[str]) -> str:
    """``name``, or ``name (1)`` ... ``name (9)`` when someone in the room has it
    (compared without case); a tenth is refused."""
    used = {other.casefold() for other in taken}
    if name.casefold() not in used:
        return name
    for n in range(1, MAX_DUPLICATES + 1):
        candidate = f"{name} ({n})"
        if candidate.casefold() not in used:
            return candidate
    raise InvalidInput(f"Too many people called {name!r} in this room: pick another name.")


def clean_description(raw: str) -> str:
    """What the round is about: at most :data:`MAX_DESCRIPTION` characters and
    :data:`MAX_DESCRIPTION_LINES` lines, control characters other than new lines and
    tabs dropped, trimmed ("" clears it)."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or not _invisible(ch)).strip()
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"The description is {len(text):,} characters long: "
            f"no more than {MAX_DESCRIPTION:,}, please."
        )
    if text.count("\n") >= MAX_DESCRIPTION_LINES:
        raise InvalidInput(
            f"The description has too many lines: no more than {MAX_DESCRIPTION_LINES}."
        )
    return text


def new_code() -> str:
    """A random room code: four capital letters (26**4 = 456,976 codes)."""
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(4))


def check_code(raw: object) -> str:
    """A room code as typed (any case, spaces around), or :class:`InvalidInput`."""
    code = raw.strip().upper() if isinstance(raw, str) else ""
    if _CODE.fullmatch(code) is None:
        raise InvalidInput("A room code is four letters.")
    return code


def new_seat_id() -> str:
    """A seat's public id: shown to the room, used to name it (kick, hand over)."""
    return f"seat-{secrets.token_urlsafe(9)}"


def new_token() -> str:
    """A seat's secret token: only its owner's browser has it."""
    return secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    """What the database keeps of a token (a stolen database gives no seat)."""
    return hashlib.sha256(token.encode()).hexdigest()


def confidence(seconds: float, high_within: float = 5.0, medium_within: float = 15.0) -> int:
    """How sure a vote looks from how fast it came after voting started: :data:`HIGH`
    under ``high_within`` seconds, :data:`MEDIUM` under ``medium_within``, else :data:`LOW`."""
    if seconds < high_within:
        return HIGH
    if seconds < medium_within:
        return MEDIUM
    return LOW


def results(deck: Deck, votes: Sequence[tuple[str | None, int | None]]) -> dict[str, Any]:
    """A round's results from each voter's ``(card or None, confidence or None)``.

    Every deck: ``votes`` (cards played, N/A included), ``did_not_vote``, ``no_vote``
    (N/A cards) and ``confidence``, the average confidence of the counted votes as a
    label (``"high"``, ``"medium"``, ``"low"``; ``None`` without votes). Yes/No:
    ``yes`` and ``no`` as percentages of the yes and no votes. Other decks: ``low``,
    ``high`` and ``mode`` (a tie goes to the higher card), and ``mean`` for decks of
    numbers. N/A and missing votes count in none of these.
    """
    cast = [(card, level) for card, level in votes if card is not None]
    counted = [(card, level) for card, level in cast if card != NO_VOTE]
    levels = [level for _, level in counted if level is not None]
    average = CONFIDENCE_LABELS[int(sum(levels) / len(levels) + 0.5)] if levels else None
    base: dict[str, Any] = {
        "votes": len(cast),
        "did_not_vote": len(votes) - len(cast),
        "no_vote": len(cast) - len(counted),
        "confidence": average,
    }
    if deck.kind == "yesno":
        yes = sum(1 for card, _ in counted if card == "Yes")
        total = len(counted)
        yes_pct = int(100 * yes / total + 0.5) if total else None
        no_pct = None if yes_pct is None else 100 - yes_pct
        return {"kind": "yesno", **base, "yes": yes_pct, "no": no_pct}
    cards = [card for card, _ in counted]
    if not cards:
        return {"kind": "range", **base, "low": None, "high": None, "mode": None, "mean": None}
    ranked = sorted(cards, key=deck.rank)
    counts = Counter(cards)
    mode = max(counts, key=lambda card: (counts[card], deck.rank(card)))
    mean = None
    if deck.numeric:
        values = [deck.value(card) or 0.0 for card in cards]
        mean = round(sum(values) / len(values), 1)
    return {
        "kind": "range",
        **base,
        "low": ranked[0],
        "high": ranked[-1],
        "mode": mode,
        "mean": mean,
    }

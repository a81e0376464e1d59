"""Planning poker on the real-time hub: rooms by 4-letter code, secret votes until
the reveal, seats that survive reconnects and restarts (SQLite), rounds history.

``create_app()`` returns the router that ``switchboard serve poker`` runs; see
docs/poker.md.
"""

from .app import HUB_PREFIX, PokerApp, create_app
from .decks import KINDS, NO_VOTE, Deck, DeckChoice, InvalidDeck, build_deck
from .errors import InvalidInput, NotAllowed, PokerError, RoomGone, SeatGone, WrongPhase
from .rooms import Room, Round, Rules, Seat, Table
from .rules import clean_name, confidence, results
from .store import Store

__all__ = [
    "create_app",
    "PokerApp",
    "HUB_PREFIX",
    "KINDS",
    "NO_VOTE",
    "Deck",
    "DeckChoice",
    "InvalidDeck",
    "build_deck",
    "PokerError",
    "InvalidInput",
    "NotAllowed",
    "WrongPhase",
    "RoomGone",
    "SeatGone",
    "Room",
    "Round",
    "Rules",
    "Seat",
    "Table",
    "Store",
    "clean_name",
    "confidence",
    "results",
]

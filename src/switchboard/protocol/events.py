"""What a :class:`~switchboard.protocol.connection.Connection` reports.

Events are frozen dataclasses, so a test of the state machine compares them with ``==``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Close

__all__ = ["Message", "Fragment", "Ping", "Pong", "Close", "Event"]


@dataclass(frozen=True, slots=True)
class Message:
    """A complete message that arrived in a single frame: ``str`` for text, ``bytes``
    for binary (decompressed, and UTF-8-checked for text)."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class Fragment:
    """Part of a fragmented message, as it arrives: the data of its frames that one
    ``receive_data()`` call brought, never empty but for the last (one frame's data,
    empty or not, with ``Connection.coalesce_fragments`` off).

    ``data`` is ``str`` for a text message (decoded incrementally: a character split
    across reads appears in the later fragment) and ``bytes`` for binary. ``fin``
    marks the last fragment. Joining every fragment's data gives the message.
    """

    data: str | bytes
    fin: bool


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping arrived; the connection has already queued the pong."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """A pong arrived. ``acknowledged`` lists the payloads of our pings it answers:
    the matching one and any sent before it (a peer may answer only the latest)."""

    data: bytes
    acknowledged: tuple[bytes, ...] = ()


Event = Message | Fragment | Ping | Pong | Close

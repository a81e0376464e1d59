"""A chat room's store: its bounded message history, ids and rules.

Both transports share it: a message posted over HTTP (polling) or over the hub's
WebSocket gets the room's next id and goes into the history; the app then emits
it to the room's hub members (``hub.to("chat:<room>")``). Polling clients pick it
up from the history by id.
"""

from __future__ import annotations

import math
import time
import unicodedata
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from ...protocol.errors import SwitchboardError

__all__ = ["ChatMessage", "ChatRoom", "InvalidChatMessage", "clean_name"]

Transport = Literal["websocket", "polling"]

# Bidirectional overrides and isolates: in a name they let one user pose as another.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class InvalidChatMessage(SwitchboardError):
    """A message the room refuses; the text says which rule it broke.

    >>> ChatRoom().post("ann", "", via="polling")
    Traceback (most recent call last):
      ...
    switchboard.apps.chat.room.InvalidChatMessage: text is empty
    """


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A message in the history.

    ``time`` is when the server accepted it and ``sent`` when the sender says it sent
    it (both milliseconds since the epoch; ``sent`` is the sender's clock, used by
    the comparison page to measure delivery latency). ``via`` is how it arrived.
    """

    id: int
    author: str
    text: str
    time: float
    sent: float | None
    via: Transport

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "author": self.author,
            "text": self.text,
            "time": self.time,
            "sent": self.sent,
            "via": self.via,
        }


class ChatRoom:
    """The state of one chat room: its last ``history_size`` messages.

    Example::

        room = ChatRoom(history_size=200)
        message = room.post("ann", "hello", via="polling")
        assert room.since(message.id - 1) == [message]
    """

    def __init__(
        self, *, history_size: int = 200, max_length: int = 2000, max_name: int = 32
    ) -> None:
        if history_size < 1:
            raise ValueError(f"history_size must be at least 1, got {history_size}")
        self.max_length = max_length
        self.max_name = max_name
        self._messages: deque[ChatMessage] = deque(maxlen=history_size)
        self._last_id = 0

    @property
    def last_id(self) -> int:
        """The id of the newest message, 0 before the first one."""
        return self._last_id

    def history(self) -> list[ChatMessage]:
        """The messages kept, oldest first."""
        return list(self._messages)

    def since(self, after: int) -> list[ChatMessage]:
        """The messages kept whose id is greater than ``after``, oldest first."""
        return [message for message in self._messages if message.id > after]

    def post(
        self, author: object, text: object, *, sent: object = None, via: Transport
    ) -> ChatMessage:
        """Check and store a message, and return it (the caller delivers it).

        ``author``, ``text`` and ``sent`` come straight from a client's JSON: anything
        but a valid name, a non-blank text within ``max_length`` characters and an
        optional finite timestamp raises :class:`InvalidChatMessage`.
        """
        message = ChatMessage(
            id=self._last_id + 1,
            author=self._check_author(author),
            text=self._check_text(text),
            time=time.time() * 1000,
            sent=_check_sent(sent),
            via=via,
        )
        self._last_id = message.id
        self._messages.append(message)
        return message

    def _check_author(self, author: object) -> str:
        if not isinstance(author, str):
            raise InvalidChatMessage("author must be a string")
        author = author.strip()
        if not author:
            raise InvalidChatMessage("author is empty")
        if len(author) > self.max_name:
            raise InvalidChatMessage(
                f"author too long: {len(author)} characters (limit {self.max_name})"
            )
        if any(_is_control(char) for char in author):
            raise InvalidChatMessage("author contains control characters")
        return author

    def _check_text(self, text: object) -> str:
        if not isinstance(text, str):
            raise InvalidChatMessage("text must be a string")
        if not text.strip():
            raise InvalidChatMessage("text is empty")
        if len(text) > self.max_length:
            raise InvalidChatMessage(
                f"text too long: {len(text)} characters (limit {self.max_length})"
            )
        return text


def clean_name(name: object, max_name: int = 32) -> str | None:
    """A display name made safe rather than refused (for a WebSocket identity):
    control characters and bidirectional overrides dropped, whitespace trimmed, cut
    to ``max_name`` characters; ``None`` when nothing is left (or not a string).

    >>> clean_name("  Ann\u202e  ")
    'Ann'
    >>> clean_name("x" * 40, 4), clean_name(" \t "), clean_name(42)
    ('xxxx', None, None)
    """
    if not isinstance(name, str):
        return None
    kept = "".join(char for char in name if not _is_control(char)).strip()
    return kept[:max_name].rstrip() or None


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS


def _check_sent(sent: object) -> float | None:
    if sent is None:
        return None
    if isinstance(sent, bool) or not isinstance(sent, (int, float)) or not math.isfinite(sent):
        raise InvalidChatMessage("sent must be a timestamp in milliseconds")
    return float(sent)

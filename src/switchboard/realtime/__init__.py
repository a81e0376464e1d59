"""The real-time layer: rooms, events with acks, presence and missed-message recovery.

A :class:`Hub` serves clients that speak ``switchboard.v1`` (docs/realtime-protocol.md):
the browser client it serves at ``<mount>/client.js``, and the Python client
:func:`connect`. See docs/realtime-tutorial.md for a first app.

Server side: :class:`Hub`, :class:`Session` (one connected client), :class:`Identity`
and :class:`Hello` (``on_connect``), :class:`RoomOptions`, :class:`Rate`, the brokers
(:class:`MemoryBroker` by default). Both sides: the errors, each with its wire code.
"""

from .brokers import Broker, HistoryPolicy, MemoryBroker, Position, Recovery
from .client import EventMeta, HubClient, RoomEvent, connect
from .errors import (
    AckTimeout,
    Disconnected,
    HubError,
    InvalidPayload,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
)
from .hub import Emitter, Hub, PresenceEntry
from .ratelimit import Rate
from .rooms import RoomOptions
from .session import Hello, Identity, Session
from .wire import SUBPROTOCOL


def __getattr__(name: str) -> object:
    if name == "RedisBroker":  # imported on use: it needs the optional redis extra
        from .brokers.redis import RedisBroker

        return RedisBroker
    raise AttributeError(f"module 'switchboard.realtime' has no attribute {name!r}")


__all__ = [
    "Hub",
    "Session",
    "Identity",
    "Hello",
    "Emitter",
    "PresenceEntry",
    "RoomOptions",
    "Rate",
    "Broker",
    "MemoryBroker",
    "RedisBroker",
    "HistoryPolicy",
    "Position",
    "Recovery",
    "HubClient",
    "EventMeta",
    "RoomEvent",
    "connect",
    "HubError",
    "Rejected",
    "InvalidPayload",
    "RateLimited",
    "Unauthorized",
    "AckTimeout",
    "Disconnected",
    "Unavailable",
    "SUBPROTOCOL",
]

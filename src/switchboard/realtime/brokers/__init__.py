"""Brokers: what carries a hub's publications, history and presence."""

from .base import Broker, HistoryPolicy, Position, PresenceChange, Recovery
from .memory import MemoryBroker

__all__ = ["Broker", "MemoryBroker", "HistoryPolicy", "Position", "PresenceChange", "Recovery"]

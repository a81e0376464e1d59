"""The asyncio client."""

from .connect import connect
from .uri import InvalidURI, WebSocketURI, parse_uri

__all__ = ["connect", "InvalidURI", "WebSocketURI", "parse_uri"]

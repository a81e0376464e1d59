"""The asyncio client: connect(), proxies, redirects and reconnection."""

from .connect import connect
from .handshake import RedirectError
from .proxy import InvalidProxy, ProxyError
from .uri import InvalidURI, WebSocketURI, parse_uri

__all__ = [
    "connect",
    "InvalidURI",
    "InvalidProxy",
    "ProxyError",
    "RedirectError",
    "WebSocketURI",
    "parse_uri",
]

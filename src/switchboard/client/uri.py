"""Parsing ws:// and wss:// URIs (RFC 6455 3)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from ..protocol.errors import SwitchboardError

__all__ = ["WebSocketURI", "InvalidURI", "parse_uri"]


class InvalidURI(SwitchboardError, ValueError):
    """The URI is not a valid ws:// or wss:// URI."""


@dataclass(frozen=True, slots=True)
class WebSocketURI:
    """A parsed WebSocket URI. ``resource`` is the path and query sent in the request."""

    secure: bool
    host: str
    port: int
    resource: str
    username: str | None = None
    password: str | None = None

    @property
    def host_header(self) -> str:
        """The Host header: the port only when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The URI without credentials: safe to log.

        >>> parse_uri("wss://ann:secret@example.com:443/chat").url
        'wss://example.com/chat'
        """
        return f"{'wss' if self.secure else 'ws'}://{self.host_header}{self.resource}"

    def same_origin(self, other: WebSocketURI) -> bool:
        """Whether both URIs have the same scheme, host and port (RFC 6454)."""
        return (self.secure, self.host, self.port) == (other.secure, other.host, other.port)


def parse_uri(uri: str) -> WebSocketURI:
    """Parse ``uri``; raise :class:`InvalidURI` naming what is wrong.

    >>> parse_uri("ws://example.com/chat?room=1")
    WebSocketURI(secure=False, host='example.com', port=80, resource='/chat?room=1', \
username=None, password=None)
    """
    try:
        parsed = urllib.parse.urlsplit(uri)
        port = parsed.port
    except ValueError as exc:
        raise InvalidURI(f"{uri!r} is not a valid URI: {exc}") from None
    if parsed.scheme not in ("ws", "wss"):
        raise InvalidURI(f"{uri!r} is not a WebSocket URI: the scheme must be ws or wss")
    if parsed.fragment:
        raise InvalidURI(f"{uri!r} has a fragment, which WebSocket URIs must not have")
    if not parsed.hostname:
        raise InvalidURI(f"{uri!r} has no host")
    secure = parsed.scheme == "wss"
    resource = parsed.path or "/"
    if parsed.query:
        resource += "?" + parsed.query
    username = password = None
    if parsed.username is not None:
        username = urllib.parse.unquote(parsed.username)
        password = urllib.parse.unquote(parsed.password or "")
    return WebSocketURI(
        secure,
        parsed.hostname,
        port if port is not None else (443 if secure else 80),
        resource,
        username,
        password,
    )

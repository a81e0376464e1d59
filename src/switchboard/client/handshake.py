"""The client's side of the opening handshake, shared by the asyncio and sync clients.

:class:`ClientOptions` holds what a client was asked to do and answers, without any
I/O, each question on the way to an open connection: which proxy, which TLS
context, which request, whether a response redirects (and where), and what a 101
response negotiated. Each I/O layer only moves the bytes.
"""

from __future__ import annotations

import base64
import functools
import ssl as ssl_module
import urllib.parse
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from ..protocol import handshake
from ..protocol.deflate import DeflateOptions, PerMessageDeflate, client_accept, client_offer
from ..protocol.errors import InvalidHandshake, NegotiationError
from ..protocol.handshake import HeadersLike
from ..protocol.http11 import Headers, Request, Response, serialize_request
from ..protocol.limits import Limits
from .proxy import ProxyURI, parse_proxy, proxy_for
from .uri import InvalidURI, WebSocketURI, parse_uri

__all__ = ["ClientOptions", "RedirectError", "REDIRECT_STATUSES"]

#: The statuses whose Location a client follows; 303 too, as the handshake is a GET.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# Credentials that must not follow a redirect to another origin (as curl does).
_ORIGIN_BOUND_HEADERS = frozenset({"authorization", "cookie"})


class RedirectError(InvalidHandshake):
    """A redirect could not be followed: too many of them, a Location that is missing
    or not a WebSocket URI, or a downgrade from wss:// to ws://."""


@functools.cache
def _default_tls() -> ssl_module.SSLContext:
    # Loading the system's CA certificates takes milliseconds: do it once.
    return ssl_module.create_default_context()


class ClientOptions:
    """Everything a client needs to open a connection to ``uri``; see ``connect()``."""

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        subprotocols: Sequence[str],
        compression: DeflateOptions | None,
        origin: str | None,
        headers: HeadersLike,
        user_agent: str | None,
        ssl: ssl_module.SSLContext | None,
        server_hostname: str | None,
        proxy: str | Literal[True] | None,
        max_redirects: int,
        limits: Limits,
    ) -> None:
        if ssl is not None and not uri.secure:
            raise ValueError("ssl was given but the URI is ws://; use wss://")
        if max_redirects < 0:
            raise ValueError(f"max_redirects must be 0 or more, not {max_redirects}")
        if isinstance(proxy, str):
            parse_proxy(proxy)  # a bad proxy URL fails now, not at the first attempt
        self.uri = uri
        self.subprotocols = list(subprotocols)
        self.compression = compression
        self.origin = origin
        self.headers = Headers(headers).items()
        self.user_agent = user_agent
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.proxy = proxy
        self.max_redirects = max_redirects
        self.limits = limits
        serialize_request(self.request(uri)[0])  # bad headers or subprotocols fail now

    def proxy_for(self, uri: WebSocketURI) -> ProxyURI | None:
        """The proxy to reach ``uri`` through, if any."""
        return proxy_for(uri, self.proxy)

    def tls(self, uri: WebSocketURI) -> tuple[ssl_module.SSLContext | None, str | None]:
        """The TLS context and server name for ``uri``; ``(None, None)`` for ws://.

        ``ssl`` (else a default context) applies to every wss:// hop of redirects;
        ``server_hostname`` only to the host the client was given.
        """
        if not uri.secure:
            return None, None
        hostname = self.server_hostname if uri.host == self.uri.host else None
        return self.ssl or _default_tls(), hostname or uri.host

    def request(self, uri: WebSocketURI) -> tuple[Request, str]:
        """The opening handshake request for ``uri`` and its key.

        Credentials in the URI become Basic authentication, unless ``headers`` has
        an Authorization of its own; Authorization and Cookie from ``headers`` are
        only sent to the origin the client was given.
        """
        headers = self.headers
        if not uri.same_origin(self.uri):
            headers = [(n, v) for n, v in headers if n.lower() not in _ORIGIN_BOUND_HEADERS]
        if uri.username is not None and not any(n.lower() == "authorization" for n, _ in headers):
            token = base64.b64encode(f"{uri.username}:{uri.password}".encode()).decode()
            headers = [*headers, ("Authorization", f"Basic {token}")]
        extensions = None
        if self.compression is not None:
            extensions = handshake.serialize_extensions([client_offer(self.compression)])
        return handshake.build_request(
            uri.host_header,
            uri.resource,
            origin=self.origin,
            subprotocols=self.subprotocols,
            extensions=extensions,
            extra_headers=headers,
            user_agent=self.user_agent,
        )

    def redirect(self, uri: WebSocketURI, response: Response, hops: int) -> WebSocketURI | None:
        """Where ``response`` to a request for ``uri`` redirects, or None if it does not.

        ``hops`` counts the redirects followed so far. An http(s):// Location maps to
        ws(s)://, a fragment is dropped; credentials are kept for the same origin only. Raises
        :class:`RedirectError` (with the response's status) when the redirect cannot
        be followed.
        """
        status = response.status
        if status not in REDIRECT_STATUSES:
            return None
        location = response.headers.get("Location")
        if location is None:
            raise RedirectError(f"HTTP {status} redirect from {uri.url} without a Location", status)
        if hops >= self.max_redirects:
            raise RedirectError(
                f"too many redirects: HTTP {status} from {uri.url} to {location} "
                f"would be redirect number {hops + 1}; max_redirects is {self.max_redirects}",
                status,
            )
        joined = urllib.parse.urlsplit(urllib.parse.urljoin(uri.url, location))
        scheme = {"http": "ws", "https": "wss"}.get(joined.scheme, joined.scheme)
        try:
            target = parse_uri(joined._replace(scheme=scheme, fragment="").geturl())
        except InvalidURI as exc:
            raise RedirectError(
                f"HTTP {status} redirect to an invalid URI: {exc}", status
            ) from None
        if uri.secure and not target.secure:
            raise RedirectError(
                f"refused HTTP {status} redirect from {uri.url} to {target.url}: "
                "it would downgrade wss:// to unencrypted ws://",
                status,
            )
        if target.username is None and target.same_origin(uri):
            target = replace(target, username=uri.username, password=uri.password)
        return target

    def accept(self, response: Response, key: str) -> tuple[str | None, PerMessageDeflate | None]:
        """Check a response that is not a redirect; return the subprotocol and the
        permessage-deflate codec it negotiated. Raises InvalidHandshake."""
        subprotocol = handshake.check_response(response, key, subprotocols=self.subprotocols)
        extensions = response.headers.get_all("Sec-WebSocket-Extensions")
        if self.compression is None:
            if extensions:
                raise NegotiationError("server accepted an extension that was not offered", 0)
            return subprotocol, None
        deflate = client_accept(handshake.parse_extensions(extensions), self.compression)
        return subprotocol, deflate

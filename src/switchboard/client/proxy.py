"""HTTP CONNECT proxies: which proxy to use, and the CONNECT exchange, sans-I/O.

The I/O layers (asyncio and threads) open a TCP connection to the proxy, send
:func:`connect_request`, parse the answer with a
:class:`~switchboard.protocol.http11.ResponseParser` created with ``head=True`` (a
2xx answer to CONNECT has no body, RFC 9110 9.3.6), check it and the bytes after
it with :func:`check_connect_response`, then speak TLS and WebSocket through the
tunnel.
"""

from __future__ import annotations

import base64
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Literal

from ..protocol.errors import InvalidHandshake, SwitchboardError
from ..protocol.http11 import Headers, Request, Response
from .uri import WebSocketURI

__all__ = [
    "InvalidProxy",
    "ProxyError",
    "ProxyURI",
    "parse_proxy",
    "proxy_for",
    "connect_request",
    "check_connect_response",
]


class InvalidProxy(SwitchboardError, ValueError):
    """The proxy URL is invalid or names a kind of proxy that is not supported."""


class ProxyError(InvalidHandshake):
    """The proxy refused to open a tunnel; ``status`` is its HTTP status (407: it wants
    credentials, 403: it forbids the destination, 502/503/504: it could not reach it)."""


@dataclass(frozen=True, slots=True)
class ProxyURI:
    """A parsed ``http://[user:password@]host[:port]`` proxy URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        return _authority(self.host, self.port)


def parse_proxy(url: str) -> ProxyURI:
    """Parse a proxy URL; a URL without a scheme is taken as ``http://`` (as curl does).

    >>> parse_proxy("http://ann:s%40cret@proxy.example:3128")
    ProxyURI(host='proxy.example', port=3128, username='ann', password='s@cret')

    Raises :class:`InvalidProxy` for a malformed URL or a scheme other than http.
    """
    if "://" not in url:
        url = "http://" + url
    try:
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port
    except ValueError as exc:
        raise InvalidProxy(f"{url!r} is not a valid proxy URL: {exc}") from None
    if parsed.scheme != "http":
        raise InvalidProxy(
            f"{url!r}: only http:// proxies (HTTP CONNECT) are supported, not {parsed.scheme}://"
        )
    if not parsed.hostname:
        raise InvalidProxy(f"{url!r} has no host")
    username = password = None
    if parsed.username is not None:
        username = urllib.parse.unquote(parsed.username)
        password = urllib.parse.unquote(parsed.password or "")
    return ProxyURI(parsed.hostname, 80 if port is None else port, username, password)


def proxy_for(uri: WebSocketURI, proxy: str | Literal[True] | None) -> ProxyURI | None:
    """The proxy to reach ``uri`` through, or None to connect directly.

    ``proxy`` is a URL, ``None`` (never use a proxy), or ``True``: look in the
    environment, as :func:`urllib.request.getproxies` does: ``https_proxy`` for
    wss://, ``http_proxy`` for ws://, else ``all_proxy`` (lowercase names win over
    uppercase), unless ``no_proxy`` lists the host, a domain suffix of it,
    ``host:port``, or is ``*``.
    """
    if proxy is None:
        return None
    if proxy is not True:
        return parse_proxy(proxy)
    if urllib.request.proxy_bypass(f"{uri.host}:{uri.port}"):
        return None
    proxies = urllib.request.getproxies()
    url = proxies.get("https" if uri.secure else "http") or proxies.get("all")
    return None if url is None else parse_proxy(url)


def _authority(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connect_request(proxy: ProxyURI, uri: WebSocketURI, user_agent: str | None) -> Request:
    """The CONNECT request asking ``proxy`` for a tunnel to ``uri``'s host and port.

    >>> from switchboard.client.uri import parse_uri
    >>> from switchboard.protocol.http11 import serialize_request
    >>> request = connect_request(parse_proxy("u:p@proxy"), parse_uri("wss://example.com/"), None)
    >>> serialize_request(request).split(b"\\r\\n")
    [b'CONNECT example.com:443 HTTP/1.1', b'Host: example.com:443', \
b'Proxy-Authorization: Basic dTpw', b'', b'']
    """
    target = _authority(uri.host, uri.port)
    headers = Headers([("Host", target)])
    if proxy.username is not None:
        token = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
        headers.add("Proxy-Authorization", f"Basic {token}")
    if user_agent:
        headers.add("User-Agent", user_agent)
    return Request("CONNECT", target, headers)


def check_connect_response(
    response: Response, extra: bytes, proxy: ProxyURI, uri: WebSocketURI
) -> None:
    """Raise :class:`ProxyError` unless ``response`` opened the tunnel (a 2xx status),
    and :class:`InvalidHandshake` if ``extra`` bytes followed it (the destination
    cannot have spoken yet)."""
    if not 200 <= response.status < 300:
        raise ProxyError(
            f"proxy {proxy} refused CONNECT {_authority(uri.host, uri.port)}: "
            f"HTTP {response.status} {response.reason}".rstrip(),
            response.status,
            body=response.body,
        )
    if extra:
        raise InvalidHandshake(f"proxy {proxy} sent data after its response", 0)

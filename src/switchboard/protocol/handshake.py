"""The WebSocket opening handshake (RFC 6455 section 4), as pure functions.

Client: :func:`build_request`, send it, parse the answer with a
:class:`~switchboard.protocol.http11.ResponseParser`, then :func:`check_response`.
Server: :func:`is_websocket_request` to route, :func:`check_request`, then
:func:`build_response` or, on :class:`~switchboard.protocol.errors.InvalidHandshake`,
``reject(exc.status, exc.body, exc.headers)``.

Extension offers and answers are only parsed and serialized here; negotiating them
is the extension's job (permessage-deflate lives in its own module).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

from .errors import InvalidHandshake, NegotiationError
from .http11 import _TCHAR, _TOKEN, Headers, Request, Response, _lower_list

__all__ = [
    "GUID",
    "PRODUCT",
    "generate_key",
    "accept_key",
    "build_request",
    "is_websocket_request",
    "check_request",
    "parse_header_tokens",
    "parse_subprotocols",
    "select_subprotocol",
    "parse_extensions",
    "serialize_extensions",
    "build_response",
    "reject",
    "check_response",
]

#: The magic string of RFC 6455 1.3, appended to the key to compute the accept value.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Default User-Agent and Server header value.
PRODUCT = "switchboard/0.1"

# Extension syntax (RFC 6455 9.1): tokens and quoted-strings, optional whitespace around.
_OWS_TOKEN = re.compile(r"[ \t]*(" + _TCHAR + r"+)[ \t]*")
_OWS_QUOTED = re.compile(r'[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*')
_QUOTED_PAIR = re.compile(r"\\(.)")

Extension: TypeAlias = tuple[str, list[tuple[str, str | None]]]
HeadersLike: TypeAlias = Iterable[tuple[str, str]] | Mapping[str, str] | Headers

# How much of a client's header value a refusal quotes: its reason is the response
# body and a log line, so it stays short whatever the client sent.
_SHOWN = 60


def _show(value: object) -> str:
    """``repr(value)``, cut to ``_SHOWN`` characters.

    >>> _show("a" * 100)
    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa..."
    """
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def generate_key() -> str:
    """A fresh Sec-WebSocket-Key: base64 of 16 random bytes (RFC 6455 4.1)."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value for ``key`` (RFC 6455 4.2.2).

    >>> accept_key("dGhlIHNhbXBsZSBub25jZQ==")
    's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
    """
    # SHA-1 is not used for security here; saying so keeps it available under FIPS.
    digest = hashlib.sha1((key + GUID).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def build_request(
    host: str,
    resource: str = "/",
    *,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    extensions: str | None = None,
    extra_headers: HeadersLike = (),
    user_agent: str | None = PRODUCT,
) -> tuple[Request, str]:
    """The client's opening handshake request and the key it carries (RFC 6455 4.1).

    ``host`` is the Host value (with the port when not the default); ``extensions``
    an already serialized Sec-WebSocket-Extensions value; ``extra_headers`` are
    appended as they are.

    >>> request, key = build_request("example.com:8080", "/chat", subprotocols=["chat"])
    >>> request.headers["Sec-WebSocket-Protocol"], request.headers["Sec-WebSocket-Key"] == key
    ('chat', True)
    """
    for subprotocol in subprotocols:
        if _TOKEN.fullmatch(subprotocol) is None:
            raise ValueError(f"invalid subprotocol {subprotocol!r}")
    key = generate_key()
    headers = Headers(
        [
            ("Host", host),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
        ]
    )
    if origin is not None:
        headers.add("Origin", origin)
    if subprotocols:
        headers.add("Sec-WebSocket-Protocol", ", ".join(subprotocols))
    if extensions:
        headers.add("Sec-WebSocket-Extensions", extensions)
    if user_agent:
        headers.add("User-Agent", user_agent)
    for name, value in Headers(extra_headers).items():
        headers.add(name, value)
    return Request("GET", resource, headers), key


def is_websocket_request(request: Request) -> bool:
    """Whether ``request`` asks to upgrade to WebSocket; the server routes on this.

    >>> is_websocket_request(Request("GET", "/", Headers({"Upgrade": "WebSocket"})))
    True
    """
    values = request.headers._values("Upgrade")
    return values == ["websocket"] or "websocket" in _lower_list(values)


def parse_header_tokens(values: list[str]) -> list[str]:
    """The tokens of a comma-separated header (RFC 9110 5.6.1), case kept, empties skipped.

    >>> parse_header_tokens(["keep-alive, Upgrade", ""])
    ['keep-alive', 'Upgrade']

    Raises InvalidHandshake (400) for an element that is not a token.
    """
    tokens = []
    for item in ",".join(values).split(","):
        token = item.strip(" \t")
        if token:
            if _TOKEN.fullmatch(token) is None:
                raise InvalidHandshake(
                    f"invalid token {_show(token)} in {_show(', '.join(values))}"
                )
            tokens.append(token)
    return tokens


def check_request(request: Request) -> str:
    """Validate a client's opening handshake (RFC 6455 4.2.1) and return its key.

    Raises InvalidHandshake: 400 with the precise reason, or 426 with
    ``Sec-WebSocket-Version: 13`` when the client's version is missing or not 13.
    """
    headers = request.headers
    fields = headers._map  # read only: get_all() would copy each list
    if request.method != "GET":
        raise InvalidHandshake(f"WebSocket handshake must be GET, not {request.method}")
    if request.version < "HTTP/1.1":
        raise InvalidHandshake(f"WebSocket handshake needs HTTP/1.1, not {request.version}")
    if "websocket" not in _lower_list(fields.get("upgrade", [])):
        raise InvalidHandshake(
            f"Upgrade header must contain websocket: {_show(headers.get('Upgrade'))}"
        )
    connection = fields.get("connection", [])
    # The common case, one plain "Upgrade", needs no tokenizing.
    if connection != ["Upgrade"] and "upgrade" not in {
        token.lower() for token in parse_header_tokens(connection)
    }:
        raise InvalidHandshake(
            f"Connection header must contain Upgrade: {_show(headers.get('Connection'))}"
        )
    if "host" not in fields:
        raise InvalidHandshake("missing Host header")
    keys = fields.get("sec-websocket-key", [])
    if len(keys) != 1:
        raise InvalidHandshake(f"{'multiple' if keys else 'missing'} Sec-WebSocket-Key headers")
    key = keys[0]
    try:
        valid = len(key) == 24 and len(base64.b64decode(key, validate=True)) == 16
    except ValueError:  # binascii.Error, or a non-ASCII character
        valid = False
    if not valid:
        raise InvalidHandshake(f"invalid Sec-WebSocket-Key {_show(key)}")
    versions = fields.get("sec-websocket-version", [])
    if versions != ["13"]:
        # RFC 6455 4.4: 426 Upgrade Required, listing the versions we speak.
        reason = f"unsupported Sec-WebSocket-Version {_show(', '.join(versions))}"
        raise InvalidHandshake(
            reason if versions else "missing Sec-WebSocket-Version header",
            426,
            headers=[("Sec-WebSocket-Version", "13")],
        )
    return key


def parse_subprotocols(request: Request) -> list[str]:
    """The subprotocols a client offers, in its order of preference (RFC 6455 4.1)."""
    return parse_header_tokens(request.headers.get_all("Sec-WebSocket-Protocol"))


def select_subprotocol(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """The first of ``supported`` (server preference) that the client offered, or None.

    >>> select_subprotocol(["v1", "v2"], ["v2", "v1"])
    'v2'
    """
    for subprotocol in supported:
        if subprotocol in offered:
            return subprotocol
    return None


def _param_value(header: str, pos: int) -> tuple[str, int]:
    if match := _OWS_TOKEN.match(header, pos):
        return match[1], match.end()
    if match := _OWS_QUOTED.match(header, pos):
        # RFC 6455 9.1: once unquoted, the value must still be a token.
        value = _QUOTED_PAIR.sub(r"\1", match[1])
        if _TOKEN.fullmatch(value):
            return value, match.end()
    raise _extensions_error(header, pos)


def _token(header: str, pos: int) -> tuple[str, int]:
    if match := _OWS_TOKEN.match(header, pos):
        return match[1], match.end()
    raise _extensions_error(header, pos)


def _checked(text: str) -> str:
    if _TOKEN.fullmatch(text) is None:
        raise ValueError(f"invalid extension token {text!r}")
    return text


def _extensions_error(header: str, pos: int) -> NegotiationError:
    return NegotiationError(f"invalid Sec-WebSocket-Extensions at {pos}: {_show(header)}")


def parse_extensions(values: list[str]) -> list[Extension]:
    """Parse Sec-WebSocket-Extensions values (RFC 6455 9.1) into names and parameters.

    >>> parse_extensions(['permessage-deflate; client_max_window_bits, x; y="1"'])
    [('permessage-deflate', [('client_max_window_bits', None)]), ('x', [('y', '1')])]

    Raises NegotiationError (400) on bad syntax.
    """
    header = ",".join(values)
    end = len(header)
    extensions: list[Extension] = []
    pos = 0
    while True:
        # RFC 9110 5.6.1: recipients ignore empty list elements.
        while pos < end and header[pos] in " \t,":
            pos += 1
        if pos == end:
            return extensions
        name, pos = _token(header, pos)
        params: list[tuple[str, str | None]] = []
        while pos < end and header[pos] == ";":
            param, pos = _token(header, pos + 1)
            value = None
            if pos < end and header[pos] == "=":
                value, pos = _param_value(header, pos + 1)
            params.append((param, value))
        if pos < end and header[pos] != ",":
            raise _extensions_error(header, pos)
        extensions.append((name, params))


def serialize_extensions(extensions: Sequence[tuple[str, Sequence[tuple[str, str | None]]]]) -> str:
    """The Sec-WebSocket-Extensions value for ``extensions``; inverse of parse_extensions.

    >>> serialize_extensions([("permessage-deflate", [("server_max_window_bits", "10")])])
    'permessage-deflate; server_max_window_bits=10'

    Raises ValueError if a name, parameter or value is not a token.
    """
    parts = []
    for name, params in extensions:
        items = [_checked(name)]
        for param, value in params:
            items.append(
                _checked(param) if value is None else f"{_checked(param)}={_checked(value)}"
            )
        parts.append("; ".join(items))
    return ", ".join(parts)


def build_response(
    key: str,
    *,
    subprotocol: str | None = None,
    extensions: str | None = None,
    extra_headers: HeadersLike = (),
    server: str | None = PRODUCT,
) -> Response:
    """The server's 101 Switching Protocols answer to a request with ``key`` (RFC 6455 4.2.2).

    >>> build_response("dGhlIHNhbXBsZSBub25jZQ==").headers["Sec-WebSocket-Accept"]
    's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
    """
    items = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(key)),
    ]
    if subprotocol is not None:
        items.append(("Sec-WebSocket-Protocol", subprotocol))
    if extensions:
        items.append(("Sec-WebSocket-Extensions", extensions))
    if server:
        items.append(("Server", server))
    if extra_headers:
        items += Headers(extra_headers).items()
    # Compact (no lookup index): it is written once and kept by the connection.
    headers = Headers._of(items, None)
    return Response(101, headers=headers)


def reject(status: int, body: str | bytes = b"", headers: HeadersLike = ()) -> Response:
    """A response refusing the handshake: short text/plain body, then close.

    >>> reject(426).headers.items()[-3:]
    [('Upgrade', 'websocket'), ('Sec-WebSocket-Version', '13'), ('Connection', 'Upgrade, close')]

    An empty ``body`` becomes the status line's text. Headers given are kept; the
    ones above are added when missing.
    """
    response = Response(status, headers=Headers(headers))
    if not body:
        body = f"{status} {response.reason}\n"
    response.body = body.encode() if isinstance(body, str) else body
    h = response.headers
    defaults = [("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")]
    if status == 426:
        # RFC 9110 15.5.22 and 7.8: a 426 names the protocol in Upgrade, and a sender
        # of Upgrade lists it in Connection; RFC 6455 4.4 adds the versions we speak.
        defaults[1:] = [
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Connection", "Upgrade, close"),
        ]
    for name, value in defaults:
        if name not in h:
            h.add(name, value)
    return response


def check_response(response: Response, key: str, *, subprotocols: Sequence[str] = ()) -> str | None:
    """Validate the server's answer (RFC 6455 4.1) and return the chosen subprotocol.

    ``key`` is the one :func:`build_request` returned, ``subprotocols`` those offered.
    Raises InvalidHandshake (``status`` and ``body`` are the server's), or
    NegotiationError for a subprotocol we did not offer.
    """

    def fail(reason: str, error: type[InvalidHandshake] = InvalidHandshake) -> InvalidHandshake:
        return error(reason, response.status, body=response.body)

    headers = response.headers
    if response.status != 101:
        raise fail(f"server rejected WebSocket connection: HTTP {response.status}")
    if "websocket" not in _lower_list(headers.get_all("Upgrade")):
        raise fail(f"Upgrade header must be websocket: {headers.get('Upgrade')!r}")
    if "upgrade" not in _lower_list(headers.get_all("Connection")):
        raise fail(f"Connection header must be Upgrade: {headers.get('Connection')!r}")
    if headers.get_all("Sec-WebSocket-Accept") != [accept_key(key)]:
        raise fail(f"invalid Sec-WebSocket-Accept {headers.get('Sec-WebSocket-Accept')!r}")
    chosen = headers.get_all("Sec-WebSocket-Protocol")
    if not chosen:
        return None
    if len(chosen) > 1 or chosen[0] not in subprotocols:
        raise fail(
            f"server chose a subprotocol we did not offer: {', '.join(chosen)!r}", NegotiationError
        )
    return chosen[0]

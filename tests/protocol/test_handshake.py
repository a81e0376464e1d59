"""Tests for the WebSocket opening handshake (RFC 6455 section 4, 9.1; RFC 7692)."""

from __future__ import annotations

import base64
import doctest

import pytest

from switchboard.protocol import handshake
from switchboard.protocol.errors import InvalidHandshake, NegotiationError
from switchboard.protocol.handshake import (
    GUID,
    accept_key,
    build_request,
    build_response,
    check_request,
    check_response,
    generate_key,
    is_websocket_request,
    parse_extensions,
    parse_header_tokens,
    parse_subprotocols,
    reject,
    select_subprotocol,
    serialize_extensions,
)
from switchboard.protocol.http11 import (
    Headers,
    Request,
    RequestParser,
    Response,
    ResponseParser,
    serialize_request,
    serialize_response,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def changed(headers: Headers, changes: dict[str, str | None]) -> Headers:
    """``headers`` with each of ``changes`` (``sec_websocket_key``: Sec-WebSocket-Key)
    replaced, added, or removed when None."""
    for name, value in changes.items():
        name = name.replace("_", "-")
        if name in headers:
            del headers[name]
        if value is not None:
            headers.add(name, value)
    return headers


def client_request(**changes: str | None) -> Request:
    """The RFC 6455 1.2 sample request, with headers changed as by ``changed``."""
    headers = Headers(
        [
            ("Host", "server.example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", KEY),
            ("Origin", "http://example.com"),
            ("Sec-WebSocket-Protocol", "chat, superchat"),
            ("Sec-WebSocket-Version", "13"),
        ]
    )
    return Request("GET", "/chat", changed(headers, changes))


def server_response(**changes: str | None) -> Response:
    headers = Headers(
        [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", ACCEPT),
        ]
    )
    return Response(101, headers=changed(headers, changes))


def test_docstring_examples() -> None:
    assert doctest.testmod(handshake).failed == 0


# -- RFC 6455 1.3 / 4.2.2: keys --------------------------------------------------------


def test_accept_key_rfc_example() -> None:
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert accept_key(KEY) == ACCEPT


def test_generate_key_is_16_random_bytes() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(base64.b64decode(key, validate=True)) == 16 for key in keys)


# -- RFC 6455 4.1: the client's request ------------------------------------------------


def test_build_request() -> None:
    request, key = build_request(
        "example.com:8080",
        "/chat?x=1",
        origin="https://example.com",
        subprotocols=["chat", "superchat"],
        extensions="permessage-deflate; client_max_window_bits",
        extra_headers={"Authorization": "Bearer t"},
    )
    assert (request.method, request.target, request.version) == ("GET", "/chat?x=1", "HTTP/1.1")
    assert request.headers.items() == [
        ("Host", "example.com:8080"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
        ("Origin", "https://example.com"),
        ("Sec-WebSocket-Protocol", "chat, superchat"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
        ("User-Agent", "switchboard/0.1"),
        ("Authorization", "Bearer t"),
    ]
    assert check_request(request) == key  # what we build, we accept


def test_build_request_minimal() -> None:
    request, key = build_request("h", user_agent=None, extra_headers=[("X", "1"), ("X", "2")])
    assert request.target == "/"
    assert list(request.headers) == [
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "x",
    ]
    assert request.headers.get_all("X") == ["1", "2"]
    assert serialize_request(request).startswith(b"GET / HTTP/1.1\r\nHost: h\r\n")
    assert key != build_request("h")[1]


def test_build_request_rejects_bad_subprotocol() -> None:
    with pytest.raises(ValueError, match="invalid subprotocol 'a b'"):
        build_request("h", subprotocols=["a b"])
    with pytest.raises(ValueError, match="invalid subprotocol 'a,b'"):
        build_request("h", subprotocols=["a,b"])


# -- RFC 6455 4.2.1: the server reads the request --------------------------------------


def test_rfc_sample_request_parsed_and_checked() -> None:
    parser = RequestParser()
    parser.feed(serialize_request(client_request()))
    request = parser.next_request()
    assert request is not None
    assert is_websocket_request(request)
    assert check_request(request) == KEY
    assert parse_subprotocols(request) == ["chat", "superchat"]
    assert request.headers.get("Origin") == "http://example.com"


@pytest.mark.parametrize(
    ("upgrade", "expected"),
    [("websocket", True), ("WebSocket", True), ("h2c, websocket", True), ("h2c", False)],
)
def test_is_websocket_request(upgrade: str, expected: bool) -> None:
    assert is_websocket_request(client_request(upgrade=upgrade)) is expected
    assert not is_websocket_request(Request("GET", "/", Headers({"Host": "h"})))


def test_check_request_accepts_variants() -> None:
    request = client_request(upgrade="WebSocket, foo/2", connection="keep-alive, UPGRADE")
    assert check_request(request) == KEY
    multi = client_request(connection=None)
    multi.headers.add("Connection", "keep-alive")
    multi.headers.add("Connection", "upgrade")
    assert check_request(multi) == KEY


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (
            Request("POST", "/chat", client_request().headers),
            "WebSocket handshake must be GET, not POST",
        ),
        (
            Request("GET", "/chat", client_request().headers, version="HTTP/1.0"),
            "WebSocket handshake needs HTTP/1.1, not HTTP/1.0",
        ),
        (client_request(upgrade=None), "Upgrade header must contain websocket: None"),
        (client_request(upgrade="h2c"), "Upgrade header must contain websocket: 'h2c'"),
        (client_request(connection=None), "Connection header must contain Upgrade: None"),
        (
            client_request(connection="keep-alive"),
            "Connection header must contain Upgrade: 'keep-alive'",
        ),
        (
            client_request(connection="up grade"),
            "invalid token 'up grade' in 'up grade'",
        ),
        (client_request(host=None), "missing Host header"),
        (client_request(sec_websocket_key=None), "missing Sec-WebSocket-Key headers"),
        (
            client_request(sec_websocket_key="not base64!"),
            "invalid Sec-WebSocket-Key 'not base64!'",
        ),
        (
            client_request(sec_websocket_key=base64.b64encode(b"x" * 15).decode()),
            "invalid Sec-WebSocket-Key 'eHh4eHh4eHh4eHh4eHh4'",
        ),
        (
            client_request(sec_websocket_key=f"{KEY}, {KEY}"),
            f"invalid Sec-WebSocket-Key '{KEY}, {KEY}'",
        ),
    ],
)
def test_check_request_rejects_with_400(request_: Request, reason: str) -> None:
    with pytest.raises(InvalidHandshake) as info:
        check_request(request_)
    assert (info.value.status, info.value.reason, info.value.headers) == (400, reason, [])
    assert info.value.body == reason.encode() + b"\n"


def test_check_request_rejects_multiple_keys() -> None:
    request = client_request()
    request.headers.add("Sec-WebSocket-Key", KEY)
    with pytest.raises(InvalidHandshake) as info:
        check_request(request)
    assert (info.value.status, info.value.reason) == (400, "multiple Sec-WebSocket-Key headers")


# RFC 6455 4.4: unsupported versions get 426 and the versions we support.
@pytest.mark.parametrize(
    ("version", "reason"),
    [
        (None, "missing Sec-WebSocket-Version header"),
        ("8", "unsupported Sec-WebSocket-Version '8'"),
        ("13, 8", "unsupported Sec-WebSocket-Version '13, 8'"),
    ],
)
def test_check_request_rejects_version_with_426(version: str | None, reason: str) -> None:
    with pytest.raises(InvalidHandshake) as info:
        check_request(client_request(sec_websocket_version=version))
    exc = info.value
    assert (exc.status, exc.reason) == (426, reason)
    assert exc.headers == [("Sec-WebSocket-Version", "13")]
    response = reject(exc.status, exc.body, exc.headers)
    assert response.headers.get_all("Sec-WebSocket-Version") == ["13"]


# -- Subprotocols (RFC 6455 1.9, 4.1, 4.2.2) -------------------------------------------


def test_parse_header_tokens() -> None:
    assert parse_header_tokens(["a, B", " ,c,, ", "d"]) == ["a", "B", "c", "d"]
    assert parse_header_tokens([]) == []
    with pytest.raises(InvalidHandshake) as info:
        parse_header_tokens(["a, b/c"])
    assert (info.value.status, info.value.reason) == (400, "invalid token 'b/c' in 'a, b/c'")


def test_parse_subprotocols_keeps_case_and_order() -> None:
    request = client_request(sec_websocket_protocol="Chat.v2, mqtt")
    request.headers.add("Sec-WebSocket-Protocol", "wamp")
    assert parse_subprotocols(request) == ["Chat.v2", "mqtt", "wamp"]
    assert parse_subprotocols(client_request(sec_websocket_protocol=None)) == []


@pytest.mark.parametrize(
    ("offered", "supported", "expected"),
    [
        (["a", "b"], ["b", "a"], "b"),
        (["a", "b"], ["c", "a"], "a"),
        (["a"], ["A"], None),
        ([], ["a"], None),
        (["a"], [], None),
    ],
)
def test_select_subprotocol(offered: list[str], supported: list[str], expected: str | None) -> None:
    assert select_subprotocol(offered, supported) == expected


# -- RFC 6455 4.2.2: the server's response ---------------------------------------------


def test_build_response_rfc_example() -> None:
    response = build_response(KEY, subprotocol="chat", extensions="permessage-deflate")
    assert serialize_response(response) == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: chat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
        b"Server: switchboard/0.1\r\n"
        b"\r\n"
    )


def test_build_response_minimal_with_extra_headers() -> None:
    response = build_response(KEY, server=None, extra_headers=[("Set-Cookie", "a=1")])
    assert response.headers.items() == [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", ACCEPT),
        ("Set-Cookie", "a=1"),
    ]


def test_reject() -> None:
    response = reject(403, "origin not allowed\n")
    assert serialize_response(response) == (
        b"HTTP/1.1 403 Forbidden\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Connection: close\r\n"
        b"Content-Length: 19\r\n"
        b"\r\n"
        b"origin not allowed\n"
    )
    assert reject(400).body == b"400 Bad Request\n"
    assert reject(500, "caf\u00e9").body == "caf\u00e9".encode()


def test_reject_426_lists_upgrade_and_version() -> None:
    assert reject(426).headers.items() == [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Connection", "Upgrade, close"),
    ]


def test_reject_keeps_given_headers() -> None:
    response = reject(
        426,
        b"use a WebSocket client\n",
        [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"), ("Connection", "close")],
    )
    assert response.headers.items() == [
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Connection", "close"),
        ("Content-Type", "text/plain; charset=utf-8"),
    ]
    assert response.body == b"use a WebSocket client\n"


# -- RFC 6455 4.1 (client side): checking the server's response ------------------------


def test_check_response_rfc_example_through_parser() -> None:
    parser = ResponseParser()
    parser.feed(serialize_response(build_response(KEY, subprotocol="chat")) + b"\x81\x00")
    response = parser.next_response()
    assert response is not None
    assert check_response(response, KEY, subprotocols=["superchat", "chat"]) == "chat"
    assert parser.take_remaining() == b"\x81\x00"


def test_check_response_without_subprotocol() -> None:
    assert check_response(server_response(), KEY) is None
    assert check_response(server_response(), KEY, subprotocols=["chat"]) is None
    lenient = server_response(upgrade="WebSocket", connection="keep-alive, upgrade")
    assert check_response(lenient, KEY) is None


def test_check_response_non_101() -> None:
    response = Response(403, body=b"go away")
    with pytest.raises(InvalidHandshake) as info:
        check_response(response, KEY)
    exc = info.value
    assert not isinstance(exc, NegotiationError)
    assert (exc.reason, exc.status, exc.body) == (
        "server rejected WebSocket connection: HTTP 403",
        403,
        b"go away",
    )


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (server_response(upgrade=None), "Upgrade header must be websocket: None"),
        (server_response(upgrade="h2c"), "Upgrade header must be websocket: 'h2c'"),
        (server_response(connection=None), "Connection header must be Upgrade: None"),
        (server_response(connection="close"), "Connection header must be Upgrade: 'close'"),
        (server_response(sec_websocket_accept=None), "invalid Sec-WebSocket-Accept None"),
        (
            server_response(sec_websocket_accept=ACCEPT[:-1]),
            "invalid Sec-WebSocket-Accept 's3pPLMBiTxaQ9kYGzzhZRbK+xOo'",
        ),
        (
            server_response(sec_websocket_accept=accept_key(KEY + "x")),
            f"invalid Sec-WebSocket-Accept {accept_key(KEY + 'x')!r}",
        ),
    ],
)
def test_check_response_rejects(response: Response, reason: str) -> None:
    with pytest.raises(InvalidHandshake) as info:
        check_response(response, KEY)
    assert not isinstance(info.value, NegotiationError)
    assert (info.value.status, info.value.reason, info.value.body) == (101, reason, b"")


def test_check_response_rejects_duplicate_accept() -> None:
    response = server_response()
    response.headers.add("Sec-WebSocket-Accept", ACCEPT)
    with pytest.raises(InvalidHandshake, match="invalid Sec-WebSocket-Accept"):
        check_response(response, KEY)


@pytest.mark.parametrize(
    ("chosen", "offered"),
    [("chat", []), ("chat", ["superchat"]), ("chat, superchat", ["chat", "superchat"])],
)
def test_check_response_rejects_subprotocol_not_offered(chosen: str, offered: list[str]) -> None:
    with pytest.raises(NegotiationError) as info:
        check_response(server_response(sec_websocket_protocol=chosen), KEY, subprotocols=offered)
    assert info.value.reason == f"server chose a subprotocol we did not offer: {chosen!r}"


def test_check_response_rejects_two_subprotocol_headers() -> None:
    response = server_response(sec_websocket_protocol="chat")
    response.headers.add("Sec-WebSocket-Protocol", "chat")
    with pytest.raises(NegotiationError):
        check_response(response, KEY, subprotocols=["chat"])


# -- RFC 6455 9.1 and RFC 7692 5: Sec-WebSocket-Extensions -----------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        ([""], []),
        (["permessage-deflate"], [("permessage-deflate", [])]),
        (
            ["permessage-deflate; client_max_window_bits; server_max_window_bits=10"],
            [
                (
                    "permessage-deflate",
                    [("client_max_window_bits", None), ("server_max_window_bits", "10")],
                )
            ],
        ),
        # RFC 7692 5.2: offers in preference order, across several header lines.
        (
            [
                'permessage-deflate; client_max_window_bits="10"',
                "permessage-deflate ;server_no_context_takeover , x-foo",
            ],
            [
                ("permessage-deflate", [("client_max_window_bits", "10")]),
                ("permessage-deflate", [("server_no_context_takeover", None)]),
                ("x-foo", []),
            ],
        ),
        (['a; b = "c\\d" ;e', ",, f ,"], [("a", [("b", "cd"), ("e", None)]), ("f", [])]),
        (['a;b="\\1\\0"'], [("a", [("b", "10")])]),
        (["A; B=C"], [("A", [("B", "C")])]),
    ],
)
def test_parse_extensions(
    values: list[str], expected: list[tuple[str, list[tuple[str, str | None]]]]
) -> None:
    assert parse_extensions(values) == expected


@pytest.mark.parametrize(
    ("value", "position"),
    [
        ("a b", 2),
        ("a;", 2),
        ("a;=1", 2),
        ("a; b=", 5),
        ('a; b=""', 5),  # an empty quoted value is not a token
        ('a; b="c d"', 5),
        ('a; b="c,d"', 5),
        ('a; b="unterminated', 5),
        ("a; b=c d", 7),
        ("a; b=c=d", 6),
        (";a", 0),
        ("a/b", 1),
        ('"a"', 0),
    ],
)
def test_parse_extensions_rejects(value: str, position: int) -> None:
    with pytest.raises(NegotiationError) as info:
        parse_extensions([value])
    assert info.value.status == 400
    assert info.value.reason == f"invalid Sec-WebSocket-Extensions at {position}: {value!r}"


def test_serialize_extensions() -> None:
    extensions: list[tuple[str, list[tuple[str, str | None]]]] = [
        (
            "permessage-deflate",
            [("client_max_window_bits", None), ("server_max_window_bits", "10")],
        ),
        ("x-foo", []),
    ]
    header = serialize_extensions(extensions)
    assert header == (
        "permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-foo"
    )
    assert parse_extensions([header]) == extensions
    assert serialize_extensions([]) == ""


@pytest.mark.parametrize(
    "extensions",
    [[("a b", [])], [("a", [("b;c", None)])], [("a", [("b", "1, c")])], [("a", [("b", "")])]],
)
def test_serialize_extensions_rejects_non_tokens(
    extensions: list[tuple[str, list[tuple[str, str | None]]]],
) -> None:
    with pytest.raises(ValueError, match="invalid extension token"):
        serialize_extensions(extensions)

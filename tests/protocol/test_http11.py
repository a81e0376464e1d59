"""Tests for the incremental HTTP/1.1 parser and serializer (RFC 9110, RFC 9112)."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.protocol import http11
from switchboard.protocol.errors import InvalidHTTP
from switchboard.protocol.http11 import (
    Headers,
    Request,
    RequestParser,
    Response,
    ResponseParser,
    serialize_request,
    serialize_response,
)
from switchboard.protocol.limits import Limits

UPGRADE = (
    b"GET /chat?room=1&x HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


def parse_all(data: bytes, limits: Limits | None = None) -> list[Request]:
    parser = RequestParser(limits or Limits())
    parser.feed(data)
    requests = []
    while (request := parser.next_request()) is not None:
        requests.append(request)
    return requests


def parse_error(
    data: bytes, limits: Limits | None = None, *, eof: bool = False, response: bool = False
) -> InvalidHTTP:
    """The error parsing ``data`` raises: as requests, or as responses if ``response``."""
    parser = (ResponseParser if response else RequestParser)(limits or Limits())
    take = parser.next_response if isinstance(parser, ResponseParser) else parser.next_request
    parser.feed(data)
    if eof:
        parser.feed_eof()
    with pytest.raises(InvalidHTTP) as info:
        while take() is not None:
            pass
    return info.value


def test_docstring_examples() -> None:
    assert doctest.testmod(http11).failed == 0


# -- Headers ---------------------------------------------------------------------------


def test_headers_case_insensitive_multi_valued_ordered() -> None:
    h = Headers([("Set-Cookie", "a=1"), ("Host", "x"), ("set-cookie", "b=2")])
    assert h["SET-COOKIE"] == "a=1, b=2"
    assert h["host"] == "x"
    assert h.get_all("Set-cookie") == ["a=1", "b=2"]
    assert h.get_all("missing") == []
    assert h.get("missing") is None
    assert h.get("missing", "d") == "d"
    assert h.get("HOST", "d") == "x"
    assert "set-COOKIE" in h and "Cookie" not in h and 1 not in h
    assert list(h) == ["set-cookie", "host"]
    assert len(h) == 2
    assert h.items() == [("Set-Cookie", "a=1"), ("Host", "x"), ("set-cookie", "b=2")]
    with pytest.raises(KeyError, match="Missing"):
        h["Missing"]


def test_headers_mutation() -> None:
    h = Headers({"A": "1", "B": "2"})
    h.add("a", "3")
    h["b"] = "4"
    assert h.items() == [("A", "1"), ("a", "3"), ("b", "4")]
    del h["A"]
    assert h.items() == [("b", "4")]
    with pytest.raises(KeyError):
        del h["A"]


def test_headers_copy_eq_repr() -> None:
    h = Headers([("A", "1"), ("B", "2")])
    c = h.copy()
    c.add("A", "3")
    assert h.get_all("a") == ["1"]  # the copy is independent
    assert Headers(h) == h
    assert Headers([("b", "2"), ("a", "1")]) == h  # order between names is irrelevant
    assert Headers([("A", "2"), ("A", "1")]) != Headers([("A", "1"), ("A", "2")])
    assert h != {"A": "1", "B": "2"}
    assert repr(h) == "Headers([('A', '1'), ('B', '2')])"


# -- Request properties ----------------------------------------------------------------


def test_request_target_parts() -> None:
    r = Request("GET", "/a%20b?x=1&x=2&y=&z", Headers())
    assert r.path == "/a%20b"
    assert r.query == "x=1&x=2&y=&z"
    assert r.query_params == {"x": ["1", "2"], "y": [""], "z": [""]}
    bare = Request("GET", "/", Headers())
    assert (bare.path, bare.query, bare.query_params) == ("/", "", {})


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        ("HTTP/1.1", None, True),
        ("HTTP/1.1", "close", False),
        ("HTTP/1.1", "Upgrade, Close", False),
        ("HTTP/1.0", None, False),
        ("HTTP/1.0", "Keep-Alive", True),
    ],
)
def test_request_keep_alive(version: str, connection: str | None, keep_alive: bool) -> None:
    headers = Headers() if connection is None else Headers({"Connection": connection})
    assert Request("GET", "/", headers, version=version).keep_alive is keep_alive


def test_response_default_reason() -> None:
    assert Response(101).reason == "Switching Protocols"
    assert Response(404, "Nope").reason == "Nope"
    assert Response(599).reason == ""


# -- Serialization (RFC 9112 2-3, 6) ---------------------------------------------------


def test_serialize_request() -> None:
    r = Request("POST", "/x?y", Headers([("Host", "h"), ("X", "1")]), b"body")
    assert serialize_request(r) == (
        b"POST /x?y HTTP/1.1\r\nHost: h\r\nX: 1\r\nContent-Length: 4\r\n\r\nbody"
    )
    assert serialize_request(Request("GET", "/", Headers())) == b"GET / HTTP/1.1\r\n\r\n"


def test_serialize_response() -> None:
    assert serialize_response(Response(200, body=b"hi")) == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    )
    assert serialize_response(Response(200)) == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    assert serialize_response(Response(101, headers=Headers({"Upgrade": "websocket"}))) == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    )
    assert serialize_response(Response(204)) == b"HTTP/1.1 204 No Content\r\n\r\n"
    assert serialize_response(Response(304)) == b"HTTP/1.1 304 Not Modified\r\n\r\n"
    # An explicit length (say, for HEAD) or chunked framing is left alone.
    head = Response(200, headers=Headers({"Content-Length": "10"}))
    assert serialize_response(head) == b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
    chunked = Response(200, headers=Headers({"Transfer-Encoding": "chunked"}), body=b"0\r\n\r\n")
    assert serialize_response(chunked).endswith(b"chunked\r\n\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X", "a\r\nSet-Cookie: evil=1"),
        ("X", "a\nb"),
        ("X", "a\rb"),
        ("X", "a\0b"),
        ("X\r\nY", "1"),
        ("X Y", "1"),
        ("X:", "1"),
        ("", "1"),
    ],
)
def test_serialize_rejects_header_injection(name: str, value: str) -> None:
    with pytest.raises(ValueError, match="invalid header field"):
        serialize_response(Response(200, headers=Headers([(name, value)])))
    with pytest.raises(ValueError, match="invalid header field"):
        serialize_request(Request("GET", "/", Headers([(name, value)])))


@pytest.mark.parametrize(
    "request_",
    [
        Request("GET", "/a b", Headers()),
        Request("GET", "/\r\nX: y", Headers()),
        Request("G T", "/", Headers()),
        Request("GET", "/", Headers(), version="HTTP/1.1\r\nX: y"),
    ],
)
def test_serialize_rejects_bad_request_line(request_: Request) -> None:
    with pytest.raises(ValueError, match="invalid request line"):
        serialize_request(request_)


def test_serialize_rejects_bad_status_line_and_forbidden_body() -> None:
    with pytest.raises(ValueError, match="invalid status line"):
        serialize_response(Response(200, "OK\r\nX: y"))
    with pytest.raises(ValueError, match="invalid status line"):
        serialize_response(Response(99))
    with pytest.raises(ValueError, match="cannot have a body"):
        serialize_response(Response(204, body=b"x"))


def test_serialize_parse_round_trip() -> None:
    request = Request("PUT", "/r", Headers([("Host", "h"), ("A", "x y")]), b"data")
    (parsed,) = parse_all(serialize_request(request))
    request.headers.add("Content-Length", "4")
    assert parsed == request


# -- Request parsing (RFC 9112 2-3, 5, 6) ----------------------------------------------


def test_parse_upgrade_request() -> None:
    (r,) = parse_all(UPGRADE)
    assert (r.method, r.target, r.version, r.body) == ("GET", "/chat?room=1&x", "HTTP/1.1", b"")
    assert r.headers["sec-websocket-key"] == "dGhlIHNhbXBsZSBub25jZQ=="
    assert r.headers.items()[0] == ("Host", "server.example.com")


def test_header_value_whitespace_stripped_inner_kept() -> None:
    (r,) = parse_all(b"GET / HTTP/1.1\r\nHost:h\r\nX: \t a  b \t\r\nEmpty:\r\n\r\n")
    assert r.headers["X"] == "a  b"
    assert r.headers["Empty"] == ""
    assert r.headers["Host"] == "h"


def test_obs_text_in_value_is_latin1() -> None:
    (r,) = parse_all(b"GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n")
    assert r.headers["X"].encode("latin-1").decode() == "café"


def test_pipelined_requests_come_out_one_by_one() -> None:
    data = (
        b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /3 HTTP/1.0\r\n\r\n"
    )
    parser = RequestParser()
    parser.feed(data)
    first = parser.next_request()
    assert first is not None and first.target == "/1"
    assert parser.take_remaining() == data[len(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n") :]
    requests = parse_all(data)
    assert [(r.method, r.target, r.body, r.version) for r in requests] == [
        ("GET", "/1", b"", "HTTP/1.1"),
        ("POST", "/2", b"abc", "HTTP/1.1"),
        ("GET", "/3", b"", "HTTP/1.0"),
    ]


def test_byte_by_byte_feeding() -> None:
    data = (
        UPGRADE
        + b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"
    )
    parser = RequestParser()
    requests = []
    for i in range(len(data)):
        parser.feed(data[i : i + 1])
        if (request := parser.next_request()) is not None:
            requests.append(request)
    assert requests == parse_all(data)
    assert [r.body for r in requests] == [b"", b"ab"]


def _requests() -> st.SearchStrategy[Request]:
    token = st.text("abcXYZ-_019!", min_size=1, max_size=8)
    value = st.text("abc xyz=;,/\"'", max_size=12).map(str.strip)
    return st.builds(
        lambda method, target, headers, body: Request(
            method, "/" + target, Headers([("Host", "h"), *headers]), body
        ),
        st.sampled_from(["GET", "POST", "PATCH"]),
        st.text("abc/?=&%", max_size=10),
        st.lists(st.tuples(token.filter(lambda t: t.lower() != "host"), value), max_size=4),
        st.binary(max_size=40),
    )


def _chunked(body: bytes, sizes: list[int]) -> bytes:
    out = []
    while body:
        size = min(sizes.pop(), len(body)) if sizes else len(body)
        out.append(b"%x;ext=1\r\n%s\r\n" % (size, body[:size]))
        body = body[size:]
    return b"".join(out) + b"0\r\nTrailer: t\r\n\r\n"


@given(
    st.lists(_requests(), min_size=1, max_size=4),
    st.lists(st.integers(1, 50)),
    st.data(),
)
def test_any_split_gives_same_requests(
    requests: list[Request], sizes: list[int], data: st.DataObject
) -> None:
    stream = b""
    for i, request in enumerate(requests):
        if i % 2 and request.body:  # alternate Content-Length and chunked framing
            request.headers.add("Transfer-Encoding", "chunked")
            stream += serialize_request(request)[: -len(request.body)]
            stream += _chunked(request.body, list(sizes))
        else:
            stream += serialize_request(request)
            if request.body:
                request.headers.add("Content-Length", str(len(request.body)))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    parser = RequestParser()
    parsed = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        parser.feed(stream[start:end])
        while (message := parser.next_request()) is not None:
            parsed.append(message)
    assert parsed == requests
    assert parser.take_remaining() == b""


def test_take_remaining_after_upgrade_keeps_frame_bytes() -> None:
    frames = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # RFC 6455 5.7 masked "Hello"
    parser = RequestParser()
    parser.feed(UPGRADE + frames[:4])
    assert parser.next_request() is not None
    parser.feed(frames[4:])
    assert parser.take_remaining() == frames
    assert parser.take_remaining() == b""


def test_incomplete_request_is_none_until_complete() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab")
    assert parser.next_request() is None
    assert parser.next_request() is None
    parser.feed(b"cde")
    request = parser.next_request()
    assert request is not None and request.body == b"abcde"


def test_eof_between_requests_is_clean() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    parser.feed_eof()
    assert parser.next_request() is not None
    assert parser.next_request() is None
    with pytest.raises(RuntimeError):
        parser.feed(b"x")


def test_eof_in_the_middle_of_a_request() -> None:
    exc = parse_error(b"GET / HTTP/1.1\r\nHost: h\r\n", eof=True)
    assert (exc.status, exc.reason) == (400, "connection closed in the middle of a request")
    exc = parse_error(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nab", eof=True)
    assert exc.status == 400


# RFC 9112 7.1: chunked transfer coding.


def test_chunked_body_with_extensions_and_trailers() -> None:
    (r,) = parse_all(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\nA \r\n, world!!!\r\n0\r\nExpires: never\r\n\r\n"
    )
    assert r.body == b"hello, world!!!"


@pytest.mark.parametrize(
    ("chunks", "reason"),
    [
        (b"x\r\n", "invalid chunk size line b'x'"),
        (b"-1\r\n", "invalid chunk size line b'-1'"),
        (b"2\r\nabc\r\n", "chunk data not followed by CRLF"),
        (b"2\r\nab\r\n0\r\nbad trailer\r\n\r\n", "header line without a colon: b'bad trailer'"),
    ],
)
def test_bad_chunked_body(chunks: bytes, reason: str) -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    exc = parse_error(head + chunks)
    assert (exc.status, exc.reason) == (400, reason)


# RFC 9112 3: request line; 5: field syntax; 6.3: message body length.


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"GET /\r\n\r\n", 400, "invalid request line b'GET /'"),
        (b"GET  / HTTP/1.1\r\n\r\n", 400, "invalid request line b'GET  / HTTP/1.1'"),
        (b"G(T / HTTP/1.1\r\n\r\n", 400, "invalid request line b'G(T / HTTP/1.1'"),
        (b"GET / http/1.1\r\n\r\n", 400, "invalid request line b'GET / http/1.1'"),
        (b"GET / HTTP/1.1.1\r\n\r\n", 400, "invalid request line b'GET / HTTP/1.1.1'"),
        (b"GET /\x7f HTTP/1.1\r\n\r\n", 400, "invalid request line b'GET /\\x7f HTTP/1.1'"),
        (b"\r\nGET / HTTP/1.1\r\n\r\n", 400, "invalid request line b''"),
        (b"GET / HTTP/2.0\r\n\r\n", 505, "HTTP/2.0 is not supported"),
        (b"GET / HTTP/0.9\r\n\r\n", 505, "HTTP/0.9 is not supported"),
        (b"GET / HTTP/1.1\n\n", 400, "line ends with a bare LF instead of CRLF"),
        (b"GET / HTTP/1.1\r\nHost: h\n\r\n", 400, "line ends with a bare LF instead of CRLF"),
        (b"GET / HTTP/1.1\r\nHost: h\r\n X: y\r\n\r\n", 400, "obsolete line folding: b' X: y'"),
        (
            b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
            400,
            "whitespace between header name and colon: b'Host : h'",
        ),
        (b"GET / HTTP/1.1\r\nHost\r\n\r\n", 400, "header line without a colon: b'Host'"),
        (b"GET / HTTP/1.1\r\nH\xc3st: h\r\n\r\n", 400, "invalid header name: b'H\\xc3st: h'"),
        (b"GET / HTTP/1.1\r\n: h\r\n\r\n", 400, "invalid header name: b': h'"),
        (
            b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
            400,
            "invalid character in header value: b'Host: a\\rb'",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n",
            400,
            "invalid character in header value: b'Host: a\\x00b'",
        ),
        (b"GET / HTTP/1.1\r\n\r\n", 400, "missing Host header"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "multiple Host headers"),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            400,
            "both Transfer-Encoding and Content-Length",
        ),
        (
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "Transfer-Encoding in an HTTP/1.0 message",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            400,
            "chunked must be the final transfer coding",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
            "unsupported transfer coding 'gzip'",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2\r\n\r\n",
            400,
            "invalid Content-Length '1, 2'",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
            "invalid Content-Length '1, 2'",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
            400,
            "invalid Content-Length '-1'",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x1\r\n\r\n",
            400,
            "invalid Content-Length '0x1'",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \xb2\r\n\r\n",
            400,
            "invalid Content-Length '\xb2'",
        ),
    ],
)
def test_malformed_request(data: bytes, status: int, reason: str) -> None:
    exc = parse_error(data)
    assert (exc.status, exc.reason) == (status, reason)


def test_repeated_identical_content_length_is_accepted() -> None:
    (r,) = parse_all(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nab"
    )
    assert r.body == b"ab"


# Limits: each fails as soon as it is crossed, without waiting for the end of the head.


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"GET /" + b"a" * 100, 414, "request line too long"),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 99, 431, "header line too long"),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 6, 431, "too many header lines"),
        (
            b"GET / HTTP/1.1\r\n" + (b"X: " + b"y" * 92 + b"\r\n") * 2 + b"X: 12345678",
            431,
            "header section too long",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 51\r\n\r\n",
            413,
            "body too large: Content-Length 51",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: " + b"9" * 40 + b"\r\n\r\n",
            413,
            "body too large: Content-Length " + "9" * 40,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"20\r\n" + b"a" * 32 + b"\r\n20\r\n",
            413,
            "body too large",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1" + b"0" * 101,
            400,
            "chunk size line too long",
        ),
    ],
)
def test_limits(data: bytes, status: int, reason: str) -> None:
    limits = Limits(max_line_length=100, max_header_count=5, max_header_size=220, max_body_size=50)
    exc = parse_error(data, limits)
    assert (exc.status, exc.reason) == (status, reason)


def test_header_section_limit_across_lines() -> None:
    # 16 + 3 * 50 + 2 = 168 bytes fit; one more line does not.
    lines = b"Host: " + b"v" * 42 + b"\r\nX1: " + b"v" * 44 + b"\r\nX2: " + b"v" * 44 + b"\r\n"
    limits = Limits(max_header_size=168)
    assert len(parse_all(b"GET / HTTP/1.1\r\n" + lines + b"\r\n", limits)) == 1
    exc = parse_error(b"GET / HTTP/1.1\r\n" + lines + b"X: y", limits)
    assert (exc.status, exc.reason) == (431, "header section too long")


def test_no_end_of_head_fails_once_limit_crossed() -> None:
    # A peer trickling header lines forever is cut off at max_header_size, not buffered.
    parser = RequestParser(Limits(max_header_size=1000, max_header_count=1000))
    parser.feed(b"GET / HTTP/1.1\r\n")
    fed = 16
    with pytest.raises(InvalidHTTP) as info:
        while True:
            parser.feed(b"X: y\r\n")
            fed += 6
            assert parser.next_request() is None
    # After 1000 bytes the head cannot end within the limit (its final CRLF is missing).
    assert (info.value.status, fed) == (431, 1000)


def test_long_line_fails_before_its_end() -> None:
    parser = RequestParser(Limits(max_line_length=8192))
    parser.feed(b"GET /")
    assert parser.next_request() is None
    parser.feed(b"a" * 8192)
    with pytest.raises(InvalidHTTP) as info:
        parser.next_request()
    assert info.value.status == 414


def test_body_at_limit_is_accepted() -> None:
    limits = Limits(max_body_size=3)
    (r,) = parse_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", limits)
    assert r.body == b"abc"
    (r,) = parse_all(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        limits,
    )
    assert r.body == b"abc"


# -- Response parsing ------------------------------------------------------------------


def parse_response(data: bytes, *, eof: bool = False, head: bool = False) -> Response | None:
    parser = ResponseParser(head=head)
    parser.feed(data)
    if eof:
        parser.feed_eof()
    return parser.next_response()


def test_101_has_no_body_and_leaves_frames() -> None:
    parser = ResponseParser()
    parser.feed(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05Hello"
    )
    response = parser.next_response()
    assert response is not None
    assert (response.status, response.reason, response.body) == (101, "Switching Protocols", b"")
    assert response.headers["Upgrade"] == "websocket"
    assert parser.take_remaining() == b"\x81\x05Hello"


def test_response_with_content_length() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nno")
    assert parser.next_response() is None
    parser.feed(b"pe")
    response = parser.next_response()
    assert response == Response(403, "Forbidden", Headers({"Content-Length": "4"}), b"nope")


def test_response_until_eof() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.0 200 OK\r\n\r\nsome")
    assert parser.next_response() is None
    parser.feed(b" body")
    assert parser.next_response() is None
    parser.feed_eof()
    response = parser.next_response()
    assert response is not None and response.body == b"some body"


def test_response_until_eof_too_large() -> None:
    exc = parse_error(b"HTTP/1.1 200 OK\r\n\r\n12345", Limits(max_body_size=4), response=True)
    assert (exc.status, exc.reason) == (413, "body too large")


def test_chunked_response() -> None:
    response = parse_response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    assert response is not None and response.body == b"abc"


@pytest.mark.parametrize("status", [100, 204, 304])
def test_bodyless_statuses(status: int) -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 %d X\r\nContent-Length: 5\r\n\r\n" % status)
    response = parser.next_response()
    assert response is not None and (response.status, response.body) == (status, b"")


def test_head_response_has_no_body() -> None:
    response = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", head=True)
    assert response is not None and (response.headers["Content-Length"], response.body) == (
        "5",
        b"",
    )


def test_status_line_without_reason() -> None:
    response = parse_response(b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n")
    assert response is not None and (response.status, response.reason) == (404, "Not Found")


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"HTTP/1.1 20 OK\r\n\r\n", 400, "invalid status line b'HTTP/1.1 20 OK'"),
        (b"HTTP/1.1 200OK\r\n\r\n", 400, "invalid status line b'HTTP/1.1 200OK'"),
        (b"ICY 200 OK\r\n\r\n", 400, "invalid status line b'ICY 200 OK'"),
        (b"HTTP/2.0 200 OK\r\n\r\n", 505, "HTTP/2.0 is not supported"),
        (
            b"HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n",
            400,
            "invalid character in header value: b'X: a\\x01'",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 400, "invalid Content-Length 'x'"),
    ],
)
def test_malformed_response(data: bytes, status: int, reason: str) -> None:
    exc = parse_error(data, response=True)
    assert (exc.status, exc.reason) == (status, reason)


def test_response_closed_mid_headers() -> None:
    with pytest.raises(InvalidHTTP, match="connection closed in the middle of a response"):
        parse_response(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n", eof=True)

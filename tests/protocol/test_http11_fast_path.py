"""RequestParser's fast path (a whole head parsed at once) against the incremental one.

Fed all at once, a buffered head goes through the fast path; fed one byte at a time,
through the incremental parser. Both must give the same requests and, for bad input,
the same error (the fast path hands anything unusual to the incremental parser).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.protocol import http11
from switchboard.protocol.errors import InvalidHTTP
from switchboard.protocol.http11 import Request, RequestParser
from switchboard.protocol.limits import Limits

Outcome = list[Request] | tuple[int, str]


def at_once(data: bytes, limits: Limits) -> Outcome:
    parser = RequestParser(limits)
    parser.feed(data)
    parsed = []
    try:
        while (request := parser.next_request()) is not None:
            parsed.append(request)
    except InvalidHTTP as exc:
        return exc.status, exc.reason
    return parsed


def byte_by_byte(data: bytes, limits: Limits) -> Outcome:
    parser = RequestParser(limits)
    parsed = []
    try:
        for i in range(len(data)):
            parser.feed(data[i : i + 1])
            while (request := parser.next_request()) is not None:
                parsed.append(request)
    except InvalidHTTP as exc:
        return exc.status, exc.reason
    return parsed


def test_fast_path_takes_a_plain_upgrade() -> None:
    data = (
        b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"X-Empty:\r\nX-Spaced: \t a b \t\r\n\r\n\x81\x80"
    )
    parser = RequestParser()
    parser.feed(data)
    request = parser.next_request()
    assert request is not None
    assert parser._parser is None  # no incremental parse was started
    assert request.headers.items()[-2:] == [("X-Empty", ""), ("X-Spaced", "a b")]
    assert request.headers.get_all("upgrade") == ["websocket"]
    assert parser.take_remaining() == b"\x81\x80"


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nBad\nLF: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n folded: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x7fb\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: 1\r\n\r\n",  # no Host
        b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",  # HTTP/1.0 needs no Host
        b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 00\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 9 + b"\r\n",  # over 8 header lines
        b"GET / HTTP/1.1\r\nHost: x\r\nLong: " + b"v" * 60 + b"\r\n\r\n",  # line over 64
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"Ab: cdefghijklmnopqrstuvwxyz\r\n" * 6 + b"\r\n",
    ],
)
def test_same_outcome_both_ways(head: bytes) -> None:
    limits = Limits(max_line_length=64, max_header_count=8, max_header_size=200)
    assert at_once(head, limits) == byte_by_byte(head, limits)


LINE_PARTS = st.sampled_from(["Host", "X-A", "a", ":", " ", "\t", "\r", "\n", "\x7f", "é", "1"])


@given(
    st.lists(st.lists(LINE_PARTS, max_size=8).map("".join), max_size=10),
    st.sampled_from(["GET / HTTP/1.1", "GET /x HTTP/1.0", "GET / HTTP/3.0", "G T / HTTP/1.1"]),
    st.integers(16, 120),
)
def test_any_head_same_outcome_both_ways(lines: list[str], start: str, size: int) -> None:
    data = "\r\n".join([start, "Host: h", *lines, "", ""]).encode("utf-8")
    limits = Limits(max_line_length=40, max_header_count=6, max_header_size=size)
    assert at_once(data, limits) == byte_by_byte(data, limits)


def test_compact_headers_read_and_change_the_same() -> None:
    pairs = [("Host", "x"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X-Empty", "")]
    full, compact = http11.Headers(pairs), http11.Headers(pairs)
    compact.compact()
    assert compact._index is None
    for name in ("host", "SET-COOKIE", "x-empty", "missing"):
        assert compact.get(name) == full.get(name)
        assert compact.get_all(name) == full.get_all(name)
        assert (name in compact) == (name in full)
    assert compact["Set-Cookie"] == "a=1, b=2"
    with pytest.raises(KeyError):
        compact["missing"]
    assert (list(compact), len(compact), compact.items()) == (list(full), len(full), full.items())
    assert compact == full
    assert compact._index is None  # reading does not index it again
    compact.get_all("set-cookie").append("c=3")  # a copy: the headers do not change
    assert compact.get_all("set-cookie") == ["a=1", "b=2"]
    compact.add("Via", "1.1 proxy")
    full.add("Via", "1.1 proxy")
    del compact["set-cookie"]
    del full["set-cookie"]
    assert compact == full and compact.items() == full.items()


def test_parsed_names_are_shared_between_requests() -> None:
    data = b"GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Version: 13\r\n\r\n" * 2
    parser = RequestParser()
    parser.feed(data)
    first, second = parser.next_request(), parser.next_request()
    assert first is not None and second is not None
    assert first.headers.items()[1][0] is second.headers.items()[1][0]


def test_the_c_head_parser_is_in_use() -> None:
    assert http11.parse_head.__module__ == "switchboard._speedups"


HEAD_BYTES = st.sampled_from(
    [
        b"GET",
        b" ",
        b"/",
        b"HTTP/1.1",
        b"HTTP/1.",
        b"Host",
        b"X-a",
        b":",
        b"\t",
        b"\r",
        b"\n",
        b"\r\n",
        b"\r\n\r\n",
        b"\x00",
        b"\x7f",
        b"\x80",
        b"\xe9",
        b"\xff",
        b"a",
        b"A",
        b"9",
        b"~",
    ]
)


@given(
    st.lists(HEAD_BYTES, max_size=40).map(b"".join),
    st.sampled_from([b"GET / HTTP/1.1\r\n", b"GET /a?b=c HTTP/1.0\r\n", b"M / HTTP/1.9\r\n", b""]),
    st.integers(0, 80),
    st.integers(0, 6),
    st.integers(0, 40),
)
def test_c_head_parser_agrees_with_python(
    tail: bytes, start: bytes, size: int, count: int, line: int
) -> None:
    data = bytearray(start + tail + b"\r\n\r\nafter")
    expected = http11._parse_head_python(bytes(data), size, count, line)
    parsed = http11.parse_head(data, size, count, line)
    assert parsed == expected
    if parsed is not None and expected is not None:  # the same interned names, shared
        assert all(a[0] is b[0] for a, b in zip(parsed[4], expected[4], strict=True))

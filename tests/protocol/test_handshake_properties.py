"""Property tests of the server's side of the opening handshake, sans I/O.

Whatever a client sends, header names, values or raw bytes, the server's answer is a
valid 101 or a refusal with a short reason: a 4xx (or the parser's 501 and 505, which
RFC 9112 and RFC 9110 prescribe), and never an exception other than the documented
InvalidHTTP and InvalidHandshake, which the server would turn into a 500 and a
traceback. ``answer()`` runs the same steps as ``server/http.py``, without sockets.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from switchboard.protocol import handshake
from switchboard.protocol.deflate import EXTENSION, DeflateOptions, server_negotiate
from switchboard.protocol.errors import InvalidHandshake, InvalidHTTP
from switchboard.protocol.http11 import RequestParser, Response, serialize_response
from switchboard.protocol.limits import Limits

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.timeout(120)

SUBPROTOCOLS = ("chat", "superchat")
# Statuses the HTTP parser answers (RFC 9112 6.1 says 501 for an unknown transfer
# coding, RFC 9110 15.6.6 says 505 for HTTP/2 and later); everything else is 4xx.
PARSER_5XX = {501, 505}
# A refusal's body is its reason: a line quoting at most ~80 bytes of the request
# (repr of which may be 4x), not an echo of the client's headers.
MAX_BODY = 400

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
VALID = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Protocol", "chat, superchat"),
    ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
    ("Origin", "http://server.example.com"),
]


def answer(stream: bytes, limits: Limits = Limits()) -> tuple[Response, str | None] | None:
    """The server's answer to the first request in ``stream``, and the key it carries
    when it is a WebSocket request; None for a plain HTTP request (the router's).

    InvalidHTTP and InvalidHandshake become refusals, as on the server; anything
    else the protocol core raises escapes: on a real server it would be a 500.
    """
    parser = RequestParser(limits)
    parser.feed(stream)
    parser.feed_eof()
    try:
        request = parser.next_request()
    except InvalidHTTP as exc:
        return handshake.reject(exc.status, exc.reason), None
    if request is None or not handshake.is_websocket_request(request):
        return None
    key = None
    try:
        key = handshake.check_request(request)
        offered = handshake.parse_subprotocols(request)
        subprotocol = handshake.select_subprotocol(offered, SUBPROTOCOLS)
        offers = handshake.parse_extensions(request.headers.get_all("Sec-WebSocket-Extensions"))
        accepted = server_negotiate(offers, DeflateOptions())
        extensions = None
        if accepted is not None:
            extensions = handshake.serialize_extensions([(EXTENSION, accepted[0])])
        response = handshake.build_response(key, subprotocol=subprotocol, extensions=extensions)
    except InvalidHandshake as exc:
        response = handshake.reject(exc.status, exc.body, exc.headers)
    return response, key


def check(stream: bytes, limits: Limits = Limits()) -> str:
    """Check that ``answer(stream)`` is a valid 101 or a short refusal, and serializes;
    return what it was, for hypothesis' statistics."""
    result = answer(stream, limits)
    if result is None:
        return "plain HTTP"
    response, key = result
    serialize_response(response)  # a refusal must reach the wire
    if response.status == 101:
        assert key is not None
        # What a client offering SUBPROTOCOLS accepts (check_response raises otherwise).
        chosen = handshake.check_response(response, key, subprotocols=SUBPROTOCOLS)
        assert chosen is None or chosen in SUBPROTOCOLS
        extensions = handshake.parse_extensions(
            response.headers.get_all("Sec-WebSocket-Extensions")
        )
        assert [name for name, _ in extensions] in ([], [EXTENSION])
    else:
        assert 400 <= response.status < 500 or response.status in PARSER_5XX, response
        assert response.headers["Connection"].endswith("close")
        assert 0 < len(response.body) <= MAX_BODY, response.body
    return f"status {response.status}"


# -- strategies -----------------------------------------------------------------

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
HANDSHAKE_NAMES = [name for name, _ in VALID]

names = st.one_of(
    st.sampled_from(HANDSHAKE_NAMES),
    st.text(TCHARS, min_size=1, max_size=20),
    st.text(st.characters(codec="latin-1"), min_size=1, max_size=10),  # most are invalid
)
# Anything the parser lets through as a value (latin-1 minus CR, LF and NUL), long
# ones too, and raw bytes that break the line structure.
values = st.one_of(
    st.text(st.characters(codec="latin-1", exclude_characters="\r\n\0"), max_size=40),
    st.builds(lambda c, n: c * n, st.sampled_from("aé\x85=,; \"'"), st.integers(60, 3000)),
    st.sampled_from([KEY, "websocket", "Upgrade", "13", "8", "chat", "permessage-deflate"]),
)
raw_values = st.one_of(values.map(lambda v: v.encode("latin-1")), st.binary(max_size=40))
request_lines = st.one_of(
    st.just(b"GET /chat HTTP/1.1"),
    st.sampled_from([b"GET /chat HTTP/1.0", b"POST /chat HTTP/1.1", b"GET /chat HTTP/2.0"]),
    st.binary(max_size=40),
)


@st.composite
def handshake_requests(draw: st.DrawFn) -> bytes:
    """A handshake request with its headers kept, dropped, changed or repeated, and
    arbitrary ones added, in any order."""
    fields: list[tuple[bytes, bytes]] = []
    for name, value in VALID:
        action = draw(st.sampled_from(("keep", "keep", "drop", "change", "repeat")))
        if action != "drop":
            new = draw(raw_values) if action == "change" else value.encode()
            fields.append((name.encode(), new))
        if action == "repeat":
            fields.append((name.encode(), draw(raw_values)))
    extra = draw(st.lists(st.tuples(names.map(lambda n: n.encode("latin-1")), raw_values)))
    fields += extra[:8]
    fields = draw(st.permutations(fields))
    lines = [draw(request_lines)] + [name + b": " + value for name, value in fields]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@st.composite
def mutated_requests(draw: st.DrawFn) -> bytes:
    """The valid handshake request with a few bytes set, inserted or deleted."""
    lines = [b"GET /chat HTTP/1.1"] + [f"{n}: {v}".encode() for n, v in VALID]
    stream = bytearray(b"\r\n".join(lines) + b"\r\n\r\n")
    special = st.sampled_from(b'\r\n :;,="\t\x00\x7f\x80\xe9\xff0aZ/+-')
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(stream)))
        action = draw(st.sampled_from(("set", "insert", "delete")))
        if action == "set" and pos < len(stream):
            stream[pos] = draw(special)
        elif action == "insert":
            stream[pos:pos] = bytes(draw(st.lists(special, min_size=1, max_size=6)))
        else:
            del stream[pos : pos + draw(st.integers(1, 4))]
    return bytes(stream)


def request_with(**changes: str) -> bytes:
    """The valid handshake request with some header values replaced (bytes as latin-1)."""
    fields = dict(VALID)
    fields.update({name.replace("_", "-"): value for name, value in changes.items()})
    lines = ["GET /chat HTTP/1.1"] + [f"{n}: {v}" for n, v in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# -- the properties ---------------------------------------------------------------


def test_the_valid_request_is_accepted() -> None:
    assert check(request_with()) == "status 101"


@FAST
@given(stream=handshake_requests())
# A key with a non-ASCII character: base64 raised ValueError, a 500 on the server.
@example(stream=request_with(Sec_WebSocket_Key="dGhlIHNhbXBsZSBub25jZQ=é"))
# Long values are echoed in the reason: it must stay short.
@example(stream=request_with(Sec_WebSocket_Key="a" * 3000))
@example(stream=request_with(Connection="é" * 3000))
@example(stream=request_with(Sec_WebSocket_Extensions="x; y=" + "é" * 3000))
def test_any_header_values_get_101_or_a_short_refusal(stream: bytes) -> None:
    event(check(stream))


header_limits = st.one_of(
    st.just(Limits()),
    st.builds(
        Limits,
        max_line_length=st.sampled_from((16, 64, 8192)),
        max_header_count=st.sampled_from((1, 4, 128)),
        max_header_size=st.sampled_from((64, 256, 65536)),
    ),
)


@FAST
@given(
    stream=st.one_of(mutated_requests(), st.binary(max_size=300)),
    limits=header_limits,
)
@example(stream=request_with(Sec_WebSocket_Key="dGhlIHNhbXBsZSBub25jZQ\xe9="), limits=Limits())
def test_any_bytes_in_a_handshake_get_101_or_a_short_refusal(stream: bytes, limits: Limits) -> None:
    event(check(stream, limits))

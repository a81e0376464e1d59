"""The client's address behind proxies: the parsers, the right-to-left walk, and the
server over real sockets (request.client_address, ws.request, the access log)."""

from __future__ import annotations

import ipaddress
import logging
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from server_helpers import fetch

import switchboard
from switchboard import Headers, Request, Router, WebSocket
from switchboard.server.forwarded import (
    TrustedProxies,
    parse_forwarded,
    parse_node,
    parse_x_forwarded_for,
)

PROXIES = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "2001:db8:1::/48"])
CLIENT = "203.0.113.7"  # not trusted


def client(*headers: tuple[str, str], peer: str | None = "127.0.0.1") -> str | None:
    return PROXIES.client_address(peer, Headers(list(headers)))


# -- parsing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "nodes"),
    [
        # RFC 7239's own examples (4, 6)
        ('for="_gazonk"', ["_gazonk"]),
        ('For="[2001:db8:cafe::17]:4711"', ["[2001:db8:cafe::17]:4711"]),
        ("for=192.0.2.60;proto=http;by=203.0.113.43", ["192.0.2.60"]),
        ("for=192.0.2.43, for=198.51.100.17", ["192.0.2.43", "198.51.100.17"]),
        ("for=192.0.2.43,for=198.51.100.17;by=_x", ["192.0.2.43", "198.51.100.17"]),
        ("proto=https, for=unknown", ["unknown"]),
        (r'for="\"a\\b"', ['"a\\b']),
        ("for=1.2.3.4;", ["1.2.3.4"]),
        (" , for=1.2.3.4 ,", ["1.2.3.4"]),  # empty list elements are allowed
        ("", []),
        ("for=192.0.2.1;for=192.0.2.2", None),  # a parameter twice in one element
        ('for="192.0.2.1', None),  # unterminated quote
        ("for = 192.0.2.1", None),
        ("for=2001:db8::1", None),  # IPv6 must be quoted
        ("for=a b", None),
        ("for", None),
        ("=x", None),
    ],
)
def test_parse_forwarded(value: str, nodes: list[str] | None) -> None:
    assert parse_forwarded(value) == nodes


def test_parse_x_forwarded_for() -> None:
    assert parse_x_forwarded_for("a, b ,c") == ["a", "b", "c"]
    assert parse_x_forwarded_for("") == [""]


@pytest.mark.parametrize(
    ("node", "address"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:8080", "192.0.2.1"),
        ("192.0.2.1:_obf", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:DB8::1]:4711", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),  # IPv4-mapped
        ("unknown", None),
        ("_hidden", None),
        ("", None),
        ("192.0.2.1:", None),
        ("192.0.2.1:http", None),
        ("[2001:db8::1", None),
        ("[2001:db8::1]4711", None),
        ("[192.0.2.1]x", None),
        ("300.0.0.1", None),
        ("example.com", None),
    ],
)
def test_parse_node(node: str, address: str | None) -> None:
    parsed = parse_node(node)
    assert (None if parsed is None else str(parsed)) == address


def test_trusted_proxies_refuse_what_is_not_an_address() -> None:
    with pytest.raises(ValueError, match=r"trusted_proxies: 'nginx' is not an IP address"):
        TrustedProxies(["nginx"])
    with pytest.raises(ValueError, match="has host bits set"):
        TrustedProxies(["10.0.0.1/8"])
    with pytest.raises(TypeError, match=r"e\.g\. \['127\.0\.0\.1'\], not a string"):
        TrustedProxies("127.0.0.1")
    objects = TrustedProxies([ipaddress.ip_address("::1"), ipaddress.ip_network("10.0.0.0/8")])
    assert ipaddress.ip_address("10.9.9.9") in objects
    assert ipaddress.ip_address("::1") in objects
    assert ipaddress.ip_address("127.0.0.1") not in objects
    assert not TrustedProxies()


# -- the walk -----------------------------------------------------------------


def test_headers_are_ignored_unless_the_peer_is_trusted() -> None:
    forged = ("X-Forwarded-For", "198.51.100.1")
    assert TrustedProxies().client_address("127.0.0.1", Headers([forged])) == "127.0.0.1"
    assert client(forged, peer=CLIENT) == CLIENT
    assert client(forged, peer=None) is None
    assert client() == "127.0.0.1"  # trusted, but no header


def test_x_forwarded_for_is_read_right_to_left_skipping_trusted_hops() -> None:
    assert client(("X-Forwarded-For", CLIENT)) == CLIENT
    assert client(("X-Forwarded-For", f"{CLIENT}, 10.1.2.3")) == CLIENT
    # What the client wrote itself, left of the first untrusted hop, is not believed.
    assert client(("X-Forwarded-For", f"198.51.100.1, {CLIENT}, 10.1.2.3")) == CLIENT
    assert client(("X-Forwarded-For", f"10.0.0.9, {CLIENT}")) == CLIENT
    # Every hop trusted: the leftmost.
    assert client(("X-Forwarded-For", "10.0.0.5, 10.0.0.6")) == "10.0.0.5"
    # One field in several lines, with ports and brackets.
    assert (
        client(("X-Forwarded-For", f"{CLIENT}:5555"), ("X-Forwarded-For", "[2001:db8:1::2]:443"))
        == CLIENT
    )
    assert client(("X-Forwarded-For", "2001:db8:1::5, 2001:db8:1::6")) == "2001:db8:1::5"
    assert client(("X-Forwarded-For", "[2001:DB8:2::9]:80")) == "2001:db8:2::9"


def test_an_entry_that_is_not_an_address_ends_the_walk() -> None:
    assert client(("X-Forwarded-For", f"{CLIENT}, unknown, 10.0.0.6")) == "10.0.0.6"
    assert client(("X-Forwarded-For", f"{CLIENT}, , 10.0.0.6")) == "10.0.0.6"
    # The rightmost one says nothing: the peer.
    assert client(("X-Forwarded-For", f"{CLIENT}, garbage")) == "127.0.0.1"
    assert client(("X-Forwarded-For", "")) == "127.0.0.1"
    assert client(("Forwarded", "for=unknown")) == "127.0.0.1"
    assert client(("Forwarded", 'for="_hidden", for=10.0.0.3')) == "10.0.0.3"


def test_forwarded_is_read_like_x_forwarded_for() -> None:
    assert client(("Forwarded", f"for={CLIENT};proto=https;host=example.com")) == CLIENT
    assert client(("Forwarded", f"for=198.51.100.1, for={CLIENT}, for=10.0.0.2")) == CLIENT
    assert client(("Forwarded", 'for="[2001:db8::17]:4711"')) == "2001:db8::17"
    assert client(("Forwarded", f"for={CLIENT}"), ("Forwarded", "for=10.0.0.2")) == CLIENT
    assert client(("Forwarded", "proto=https")) == "127.0.0.1"  # no "for" at all
    assert client(("Forwarded", f'for={CLIENT};for="x')) == "127.0.0.1"  # does not parse


def test_both_headers_must_agree() -> None:
    xff, fwd = ("X-Forwarded-For", CLIENT), ("Forwarded", f"for={CLIENT}")
    assert client(xff, fwd) == CLIENT
    # A proxy that sets one passes the other through: a client could have written it.
    assert client(xff, ("Forwarded", "for=198.51.100.1")) == "127.0.0.1"
    # One that says nothing, or does not parse, does not count.
    assert client(xff, ("Forwarded", "for=unknown")) == CLIENT
    assert client(xff, ("Forwarded", 'for="')) == CLIENT
    assert client(("X-Forwarded-For", "nonsense"), fwd) == CLIENT


def test_ipv4_mapped_peers_match_ipv4_proxies() -> None:
    assert client(("X-Forwarded-For", CLIENT), peer="::ffff:127.0.0.1") == CLIENT
    assert client(("X-Forwarded-For", "::ffff:10.0.0.1, ::ffff:10.0.0.2")) == "10.0.0.1"


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80)


@given(st.lists(st.tuples(st.sampled_from(["X-Forwarded-For", "Forwarded"]), header_text)))
def test_any_header_value_gives_the_peer_or_an_address(headers: list[tuple[str, str]]) -> None:
    found = client(*headers)
    assert found is not None
    if found != "127.0.0.1":
        ipaddress.ip_address(found)  # raises if it is not an address
    assert client(*headers, peer=CLIENT) == CLIENT


@given(header_text)
def test_what_the_client_sends_cannot_replace_what_the_proxy_appends(forged: str) -> None:
    # nginx's $proxy_add_x_forwarded_for: the client's header, then the address nginx saw.
    assert client(("X-Forwarded-For", f"{forged}, {CLIENT}")) == CLIENT
    # Forwarded: appended as its own element, or the whole header does not parse.
    assert client(("Forwarded", f"{forged}, for={CLIENT}")) in (CLIENT, "127.0.0.1")


# -- over real sockets --------------------------------------------------------


def make_router() -> Router:
    router = Router()

    @router.get("/whoami")
    def whoami(request: Request) -> str:
        return str(request.client_address)

    @router.websocket("/ws")
    async def ws_whoami(ws: WebSocket) -> None:
        assert ws.request is not None
        await ws.send(str(ws.request.client_address))

    return router


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [(["127.0.0.1"], CLIENT), (["10.0.0.0/8", "::1"], "127.0.0.1"), ([], "127.0.0.1")],
    ids=["trusted-proxy", "untrusted-proxy", "no-proxies"],
)
async def test_access_log_and_handlers_see_the_forwarded_client(
    trusted: list[str], expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    forged = f"X-Forwarded-For: 198.51.100.1, {CLIENT}"
    async with switchboard.serve(make_router(), "127.0.0.1", 0, trusted_proxies=trusted) as srv:
        with caplog.at_level(logging.INFO, "switchboard.http"):
            reply = await fetch(srv.port, "GET", "/whoami", forged)
            url = f"ws://127.0.0.1:{srv.port}/ws"
            headers = [("Forwarded", f'for="{CLIENT}:4711";proto=https')]
            async with switchboard.connect(url, headers=headers) as ws:
                assert await ws.recv() == expected
    assert reply.body.decode() == expected
    lines = [r.getMessage() for r in caplog.records if r.name == "switchboard.http"]
    assert len(lines) == 2
    # Behind a trusted proxy, the client's address (its port is unknown); else the peer's.
    who = re.escape(CLIENT) if expected == CLIENT else r"127\.0\.0\.1:\d+"
    assert re.match(rf'{who} "GET /whoami HTTP/1\.1" 200 {len(expected)} ', lines[0]), lines[0]
    assert re.match(rf'{who} "GET /ws HTTP/1\.1" 101 0 ', lines[1]), lines[1]


def test_serve_refuses_bad_trusted_proxies_at_once() -> None:
    with pytest.raises(ValueError, match="'localhost' is not an IP address or network"):
        switchboard.serve(make_router(), trusted_proxies=["localhost"])

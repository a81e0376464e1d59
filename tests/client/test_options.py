"""The client's sans-I/O decisions: URIs, proxy selection, redirects, backoff, retries."""

from __future__ import annotations

import ssl

import pytest

from switchboard import (
    DeflateOptions,
    Headers,
    InvalidHandshake,
    InvalidProxy,
    Limits,
    NegotiationError,
    ProxyError,
    RedirectError,
    Response,
)
from switchboard.client.handshake import ClientOptions
from switchboard.client.proxy import ProxyURI, parse_proxy, proxy_for
from switchboard.client.reconnect import Backoff, is_transient
from switchboard.client.uri import parse_uri


def options(uri: str, **kwargs: object) -> ClientOptions:
    defaults: dict[str, object] = dict(
        subprotocols=(),
        compression=DeflateOptions(),
        origin=None,
        headers=(),
        user_agent=None,
        ssl=None,
        server_hostname=None,
        proxy=True,
        max_redirects=10,
        limits=Limits(),
    )
    defaults.update(kwargs)
    return ClientOptions(parse_uri(uri), **defaults)  # type: ignore[arg-type]


# -- URIs ------------------------------------------------------------------------


def test_url_hides_credentials_and_default_port() -> None:
    uri = parse_uri("wss://ann:secret@Example.com:443/chat?x=1")
    assert uri.url == "wss://example.com/chat?x=1"  # hostnames are case-insensitive
    assert (uri.username, uri.password) == ("ann", "secret")
    assert parse_uri("ws://[::1]:8080").url == "ws://[::1]:8080/"


def test_same_origin_compares_scheme_host_and_port() -> None:
    base = parse_uri("ws://example.com/a")
    assert base.same_origin(parse_uri("ws://EXAMPLE.com:80/b"))
    assert not base.same_origin(parse_uri("wss://example.com/a"))
    assert not base.same_origin(parse_uri("ws://example.com:81/a"))
    assert not base.same_origin(parse_uri("ws://other.com/a"))


# -- proxies ---------------------------------------------------------------------


def test_parse_proxy() -> None:
    assert parse_proxy("http://u:p%40ss@proxy.test:3128") == ProxyURI(
        "proxy.test", 3128, "u", "p@ss"
    )
    assert parse_proxy("proxy.test:8080") == ProxyURI("proxy.test", 8080)
    assert parse_proxy("http://proxy.test") == ProxyURI("proxy.test", 80)
    assert str(parse_proxy("http://[::1]:3128")) == "[::1]:3128"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("socks5://proxy.test:1080", "only http:// proxies"),
        ("https://proxy.test", "only http:// proxies"),
        ("http://proxy.test:99999", "not a valid proxy URL"),
        ("http://", "has no host"),
    ],
)
def test_parse_proxy_rejects(url: str, message: str) -> None:
    with pytest.raises(InvalidProxy, match=message):
        parse_proxy(url)


def test_proxy_from_environment_by_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    ws, wss = parse_uri("ws://example.test/"), parse_uri("wss://example.test/")
    assert proxy_for(ws, True) is None
    monkeypatch.setenv("HTTP_PROXY", "http://plain.proxy:3128")
    assert proxy_for(ws, True) == ProxyURI("plain.proxy", 3128)
    assert proxy_for(wss, True) is None  # http_proxy is not for wss://
    monkeypatch.setenv("HTTPS_PROXY", "http://secure.proxy:3129")
    assert proxy_for(wss, True) == ProxyURI("secure.proxy", 3129)
    monkeypatch.setenv("https_proxy", "http://lower.proxy:3130")  # lowercase wins
    assert proxy_for(wss, True) == ProxyURI("lower.proxy", 3130)


def test_all_proxy_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "http://all.proxy:1")
    monkeypatch.setenv("HTTPS_PROXY", "http://secure.proxy:2")
    assert proxy_for(parse_uri("ws://example.test/"), True) == ProxyURI("all.proxy", 1)
    assert proxy_for(parse_uri("wss://example.test/"), True) == ProxyURI("secure.proxy", 2)


@pytest.mark.parametrize(
    ("no_proxy", "uri", "bypassed"),
    [
        ("example.test", "ws://example.test/", True),
        ("example.test", "ws://a.b.example.test/", True),  # domain suffix
        (".example.test", "ws://a.example.test/", True),
        ("example.test", "ws://badexample.test/", False),  # not a suffix at a dot
        ("other.test, example.test", "ws://example.test:8080/", True),
        ("example.test:8080", "ws://example.test:8080/", True),  # host:port
        ("example.test:8080", "ws://example.test:9090/", False),
        ("127.0.0.1", "ws://127.0.0.1:5000/", True),
        ("*", "wss://anything.test/", True),
    ],
)
def test_no_proxy(monkeypatch: pytest.MonkeyPatch, no_proxy: str, uri: str, bypassed: bool) -> None:
    monkeypatch.setenv("ALL_PROXY", "http://all.proxy:1")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    expected = None if bypassed else ProxyURI("all.proxy", 1)
    assert proxy_for(parse_uri(uri), True) == expected


def test_explicit_proxy_and_none_ignore_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "http://all.proxy:1")
    monkeypatch.setenv("NO_PROXY", "*")
    uri = parse_uri("ws://example.test/")
    assert proxy_for(uri, "http://mine:2") == ProxyURI("mine", 2)
    monkeypatch.delenv("NO_PROXY")
    assert proxy_for(uri, None) is None


def test_bad_proxy_in_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5h://127.0.0.1:1080")
    with pytest.raises(InvalidProxy, match="socks5h://"):
        proxy_for(parse_uri("ws://example.test/"), True)


# -- handshake requests and redirects --------------------------------------------


def test_basic_auth_from_the_uri() -> None:
    opts = options("ws://ann:p%40ss%3Aw@host.test/")
    request, _ = opts.request(opts.uri)
    assert request.headers.get_all("Authorization") == ["Basic YW5uOnBAc3M6dw=="]  # ann:p@ss:w


def test_explicit_authorization_header_wins() -> None:
    opts = options("ws://ann:pw@host.test/", headers={"Authorization": "Bearer t"})
    request, _ = opts.request(opts.uri)
    assert request.headers.get_all("Authorization") == ["Bearer t"]


def test_credentials_headers_stay_with_their_origin() -> None:
    opts = options("ws://host.test/", headers=[("Authorization", "Bearer t"), ("X-Id", "1")])
    request, _ = opts.request(parse_uri("ws://other.test/"))
    assert "Authorization" not in request.headers
    assert request.headers["X-Id"] == "1"


def redirect(status: int, location: str | None) -> Response:
    headers = Headers() if location is None else Headers({"Location": location})
    return Response(status, headers=headers)


@pytest.mark.parametrize(
    ("base", "location", "target"),
    [
        ("ws://a.test/x/y", "/new?q=1", "ws://a.test/new?q=1"),
        ("ws://a.test/x/y", "z", "ws://a.test/x/z"),
        ("ws://a.test/", "ws://b.test:81/p", "ws://b.test:81/p"),
        ("ws://a.test/", "http://b.test/p", "ws://b.test/p"),
        ("ws://a.test/", "https://b.test/p", "wss://b.test/p"),
        ("wss://a.test/", "//b.test/p", "wss://b.test/p"),
        ("wss://a.test/", "wss://b.test/p", "wss://b.test/p"),
        ("ws://a.test/", "/b#fragment", "ws://a.test/b"),
    ],
)
def test_redirect_targets(base: str, location: str, target: str) -> None:
    opts = options(base)
    result = opts.redirect(opts.uri, redirect(302, location), 0)
    assert result is not None and result.url == target


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_statuses(status: int) -> None:
    opts = options("ws://a.test/")
    assert opts.redirect(opts.uri, redirect(status, "/b"), 0) == parse_uri("ws://a.test/b")


@pytest.mark.parametrize("status", [101, 200, 300, 304, 404])
def test_other_statuses_do_not_redirect(status: int) -> None:
    opts = options("ws://a.test/")
    assert opts.redirect(opts.uri, redirect(status, "/b"), 0) is None


def test_redirect_keeps_credentials_on_the_same_origin_only() -> None:
    opts = options("ws://ann:pw@a.test/")
    same = opts.redirect(opts.uri, redirect(307, "/b"), 0)
    assert same is not None and (same.username, same.password) == ("ann", "pw")
    other = opts.redirect(opts.uri, redirect(307, "ws://b.test/"), 0)
    assert other is not None and other.username is None


@pytest.mark.parametrize(
    ("base", "response", "message"),
    [
        ("wss://a.test/", redirect(302, "ws://a.test/"), "downgrade wss:// to unencrypted"),
        ("wss://a.test/", redirect(301, "http://b.test/"), "downgrade"),
        ("ws://a.test/", redirect(302, None), "without a Location"),
        ("ws://a.test/", redirect(302, "ftp://a.test/"), "invalid URI.*scheme must be ws"),
    ],
)
def test_redirects_refused(base: str, response: Response, message: str) -> None:
    opts = options(base)
    with pytest.raises(RedirectError, match=message) as info:
        opts.redirect(opts.uri, response, 0)
    assert info.value.status == response.status


def test_too_many_redirects() -> None:
    opts = options("ws://a.test/", max_redirects=2)
    assert opts.redirect(opts.uri, redirect(302, "/b"), 1) is not None
    with pytest.raises(RedirectError, match="redirect number 3; max_redirects is 2"):
        opts.redirect(opts.uri, redirect(302, "/b"), 2)


def test_option_errors() -> None:
    with pytest.raises(ValueError, match="ssl was given but the URI is ws://"):
        options("ws://a.test/", ssl=ssl.create_default_context())
    with pytest.raises(ValueError, match="max_redirects must be 0 or more"):
        options("ws://a.test/", max_redirects=-1)
    with pytest.raises(InvalidProxy):
        options("ws://a.test/", proxy="socks5://p:1")
    with pytest.raises(ValueError, match="invalid header field 'X-Bad'"):
        options("ws://a.test/", headers={"X-Bad": "1\r\nInjected: yes"})
    with pytest.raises(ValueError, match="invalid subprotocol 'two words'"):
        options("ws://a.test/", subprotocols=["two words"])


def test_headers_accept_headers_objects() -> None:
    opts = options("ws://a.test/", headers=Headers([("X-A", "1"), ("x-a", "2")]))
    request, _ = opts.request(opts.uri)
    assert request.headers.get_all("X-A") == ["1", "2"]


def test_tls_server_hostname_applies_to_the_given_host_only() -> None:
    context = ssl.create_default_context()
    opts = options("wss://a.test/", ssl=context, server_hostname="sni.test")
    assert opts.tls(parse_uri("wss://a.test:8443/")) == (context, "sni.test")
    assert opts.tls(parse_uri("wss://b.test/")) == (context, "b.test")
    assert opts.tls(parse_uri("ws://b.test/")) == (None, None)


# -- reconnection ------------------------------------------------------------------


def test_backoff_caps_grow_then_stay_at_the_maximum() -> None:
    backoff = Backoff(0.5, 30.0, 1.6)
    caps = [backoff.cap(n) for n in range(12)]
    assert caps[:3] == pytest.approx([0.8, 1.28, 2.048])
    assert caps[-1] == 30.0 and caps == sorted(caps)
    assert backoff.cap(10**6) == 30.0  # no OverflowError after a very long outage
    for attempt in range(12):
        assert all(0.5 <= backoff.delay(attempt) <= caps[attempt] for _ in range(50))


def test_backoff_validation() -> None:
    with pytest.raises(ValueError, match="0 < backoff_min <= backoff_max"):
        Backoff(0, 1, 2)
    with pytest.raises(ValueError, match="0 < backoff_min <= backoff_max"):
        Backoff(2, 1, 2)
    with pytest.raises(ValueError, match="backoff_factor must be at least 1"):
        Backoff(1, 2, 0.5)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (ConnectionError("closed during the handshake"), True),
        (ssl.SSLEOFError(), True),
        (ssl.SSLCertVerificationError(), False),
        (ssl.SSLError(), False),
        (InvalidHandshake("busy", 503), True),
        (InvalidHandshake("slow down", 429), True),
        (ProxyError("upstream down", 502), True),
        (InvalidHandshake("not found", 404), False),
        (ProxyError("who are you", 407), False),
        (InvalidHandshake("malformed", 0), False),
        (NegotiationError("bad subprotocol", 101), False),
        (RedirectError("downgrade", 302), False),
        (InvalidProxy("socks"), False),
        (ValueError(), False),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient

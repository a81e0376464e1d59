"""connect() through a real HTTP CONNECT proxy (asyncio streams on 127.0.0.1)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from client_helpers import ConnectProxy, echo, url

import switchboard
from switchboard import InvalidProxy, ProxyError

if TYPE_CHECKING:
    from conftest import TLS

pytestmark = pytest.mark.timeout(30)


async def test_ws_through_an_explicit_proxy(
    server: switchboard.Server, proxy: ConnectProxy
) -> None:
    async with switchboard.connect(url(server), proxy=proxy.url) as ws:
        await ws.send("tunnelled")
        assert await ws.recv() == "tunnelled"
    ((method, target, headers),) = proxy.requests
    assert (method, target) == ("CONNECT", f"127.0.0.1:{server.port}")
    assert headers["Host"] == f"127.0.0.1:{server.port}"
    assert "Proxy-Authorization" not in headers


async def test_wss_through_https_proxy_from_environment(
    tls: TLS, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with switchboard.serve(echo, "127.0.0.1", 0, ssl=tls.server) as srv:
        port = srv.port
        async with switchboard.connect(f"wss://localhost:{port}/", ssl=tls.client) as ws:
            await ws.send("secret")
            assert await ws.recv() == "secret"
            assert ws._transport is not None
            assert ws._transport.get_extra_info("ssl_object").server_hostname == "localhost"
    assert [r[:2] for r in proxy.requests] == [("CONNECT", f"localhost:{port}")]


async def test_http_proxy_variable_is_for_ws_only(
    tls: TLS, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with switchboard.serve(echo, "127.0.0.1", 0, ssl=tls.server) as srv:
        async with switchboard.connect(f"wss://localhost:{srv.port}/", ssl=tls.client) as ws:
            await ws.send("direct")
            assert await ws.recv() == "direct"
    assert proxy.requests == []
    async with switchboard.serve(echo, "127.0.0.1", 0) as srv:
        async with switchboard.connect(url(srv)) as ws:
            await ws.send("proxied")
            assert await ws.recv() == "proxied"
        assert [r[:2] for r in proxy.requests] == [("CONNECT", f"127.0.0.1:{srv.port}")]


async def test_all_proxy_and_no_proxy(
    server: switchboard.Server, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("all_proxy", proxy.url)
    async with switchboard.connect(url(server)) as ws:
        await ws.send("1")
        assert await ws.recv() == "1"
    assert len(proxy.requests) == 1
    monkeypatch.setenv("no_proxy", f"example.test, 127.0.0.1:{server.port}")
    async with switchboard.connect(url(server)) as ws:
        await ws.send("2")
        assert await ws.recv() == "2"
    assert len(proxy.requests) == 1  # bypassed
    async with switchboard.connect(url(server), proxy=None) as ws:
        await ws.send("3")
        assert await ws.recv() == "3"
    assert len(proxy.requests) == 1


@pytest.fixture
async def auth_proxy() -> AsyncIterator[ConnectProxy]:
    proxy = ConnectProxy(credentials="ann:p@ss")
    await proxy.start()
    yield proxy
    await proxy.stop()


async def test_proxy_authorization(server: switchboard.Server, auth_proxy: ConnectProxy) -> None:
    proxy_url = f"http://ann:p%40ss@127.0.0.1:{auth_proxy.port}"
    async with switchboard.connect(url(server), proxy=proxy_url) as ws:
        await ws.send("authorized")
        assert await ws.recv() == "authorized"
    assert auth_proxy.requests[0][2]["Proxy-Authorization"] == "Basic YW5uOnBAc3M="
    with pytest.raises(ProxyError) as info:
        await switchboard.connect(url(server), proxy=auth_proxy.url)
    assert info.value.status == 407
    assert str(info.value) == (
        f"proxy 127.0.0.1:{auth_proxy.port} refused CONNECT 127.0.0.1:{server.port}: "
        "HTTP 407 Proxy Authentication Required"
    )


async def test_proxy_refusal_and_unreachable_destination(server: switchboard.Server) -> None:
    refusing = ConnectProxy(refuse=403)
    await refusing.start()
    try:
        with pytest.raises(ProxyError, match="HTTP 403 Nope") as info:
            await switchboard.connect(url(server), proxy=refusing.url)
        assert info.value.status == 403
    finally:
        await refusing.stop()
    proxy = ConnectProxy()
    await proxy.start()
    try:
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        with pytest.raises(ProxyError, match="502 Bad Gateway") as info:
            await switchboard.connect(f"ws://127.0.0.1:{port}/", proxy=proxy.url)
        assert info.value.status == 502
    finally:
        await proxy.stop()


async def test_unreachable_proxy_and_bad_proxy_url(
    server: switchboard.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(ConnectionRefusedError):
        await switchboard.connect(url(server), proxy=f"http://127.0.0.1:{port}")
    with pytest.raises(InvalidProxy, match="only http:// proxies"):
        switchboard.connect(url(server), proxy="socks5://127.0.0.1:1080")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(InvalidProxy, match="socks5://"):
        await switchboard.connect(url(server))

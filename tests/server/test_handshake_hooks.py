"""Handshake hooks over real sockets: auth from headers, query and cookies, origins,
subprotocols, refusals; TLS for https:// and wss://; uvloop."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from server_helpers import UPGRADE, Raw, fetch

import switchboard
from switchboard import HandshakeRejected, Request, Response, Router, WebSocket

if TYPE_CHECKING:  # the fixture's type; importing conftest at run time is ambiguous
    from conftest import TLS


async def hello(ws: WebSocket) -> None:
    assert ws.request is not None
    await ws.send(f"{ws.request.path} {ws.subprotocol}")


def auth(request: Request) -> Response | None:
    """Admit a session cookie, a query token or a bearer header; refuse the rest."""
    if request.cookies.get("session") == "s1":
        return None
    if request.query_params.get("token") == ["t1"]:
        return None
    header = request.headers.get("Authorization")
    if header == "Bearer b1":
        return None
    if header is not None:
        return Response(400, body=b"malformed credentials\n")
    raise HandshakeRejected("who are you?", 401, headers=[("WWW-Authenticate", "Bearer")])


async def test_authentication_from_cookie_query_or_header() -> None:
    async with switchboard.serve(hello, "127.0.0.1", 0, process_request=auth) as srv:
        base = f"ws://127.0.0.1:{srv.port}"
        for url, headers in [
            (f"{base}/c", {"Cookie": "theme=dark; session=s1"}),
            (f"{base}/q?token=t1", {}),
            (f"{base}/h", {"Authorization": "Bearer b1"}),
        ]:
            async with switchboard.connect(url, headers=headers) as ws:
                assert (await ws.recv()).startswith(url.removeprefix(base).partition("?")[0])
        with pytest.raises(switchboard.InvalidHandshake) as info:
            await switchboard.connect(f"{base}/x", headers={"Cookie": "session=bad"})
        assert (info.value.status, info.value.body) == (401, b"who are you?\n")
        with pytest.raises(switchboard.InvalidHandshake) as info:
            await switchboard.connect(f"{base}/x", headers={"Authorization": "Basic x"})
        assert (info.value.status, info.value.body) == (400, b"malformed credentials\n")
        reply = await fetch(srv.port, "GET", "/x", *UPGRADE)
        assert reply.headers["www-authenticate"] == "Bearer"
    assert srv.metrics.handshakes == {"accepted": 3, "rejected": 3, "failed": 0}


async def test_failing_hook_refuses_with_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: Request) -> None:
        raise KeyError("oops")

    async with switchboard.serve(hello, "127.0.0.1", 0, process_request=broken) as srv:
        with pytest.raises(switchboard.InvalidHandshake) as info:
            await switchboard.connect(f"ws://127.0.0.1:{srv.port}/")
    assert (info.value.status, info.value.body) == (500, b"internal server error\n")
    assert "handshake hook failed for GET / HTTP/1.1" in caplog.text


@pytest.mark.parametrize(
    ("origin", "host", "status"),
    [
        (None, "127.0.0.1:{port}", 101),  # non-browser client: no Origin
        ("http://127.0.0.1:{port}", "127.0.0.1:{port}", 101),
        ("HTTP://127.0.0.1:{port}", "127.0.0.1:{port}", 101),
        ("http://example.com", "example.com", 101),
        ("https://example.com", "example.com", 101),  # TLS terminated by a proxy
        ("https://example.com:8443", "Example.com:8443", 101),
        ("http://[::1]:8080", "[::1]:8080", 101),
        ("http://evil.test", "127.0.0.1:{port}", 403),
        ("http://127.0.0.1:1", "127.0.0.1:{port}", 403),  # another port
        ("https://example.com:8443", "example.com", 403),
        ("http://example.com.evil.test", "example.com", 403),
        ("null", "127.0.0.1:{port}", 403),  # sandboxed iframe, file://
        ("http://127.0.0.1:99999", "127.0.0.1:{port}", 403),  # invalid port
    ],
)
async def test_same_origin_is_the_default(origin: str | None, host: str, status: int) -> None:
    async with switchboard.serve(hello, "127.0.0.1", 0) as srv:
        headers = [f"Host: {host.format(port=srv.port)}", *UPGRADE]
        if origin is not None:
            headers.append(f"Origin: {origin.format(port=srv.port)}")
        raw = await Raw.open(srv.port)
        raw.send(("GET / HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode())
        reply = await raw.reply()
        await raw.close()
    assert reply.status == status
    if status == 403:
        assert reply.text().startswith(f"cross-origin WebSocket refused: Origin {origin}")


async def test_origin_allow_lists() -> None:
    async with switchboard.serve(hello, "127.0.0.1", 0, origins=["*"]) as srv:
        async with switchboard.connect(f"ws://127.0.0.1:{srv.port}/", origin="http://x.test"):
            pass
    async with switchboard.serve(hello, "127.0.0.1", 0, origins=["https://app.test"]) as srv:
        url = f"ws://127.0.0.1:{srv.port}/"
        async with switchboard.connect(url, origin="https://app.test"):
            pass
        for origin in ("http://x.test", None):
            with pytest.raises(switchboard.InvalidHandshake) as info:
                await switchboard.connect(url, origin=origin)
            assert (info.value.status, info.value.body) == (
                403,
                f"origin not allowed: {origin}\n".encode(),
            )


async def test_subprotocol_and_path_parameters_on_a_route() -> None:
    router = Router()
    seen: list[object] = []

    @router.websocket("/rooms/{room}")
    async def room(ws: WebSocket) -> None:
        assert ws.request is not None
        seen.append((ws.request.path_params, ws.subprotocol))

    async with switchboard.serve(router, "127.0.0.1", 0, subprotocols=["v2", "v1"]) as srv:
        url = f"ws://127.0.0.1:{srv.port}/rooms/lobby"
        async with switchboard.connect(url, subprotocols=["v1", "v2"]) as ws:
            assert ws.subprotocol == "v2"
            await ws.wait_closed()
    assert seen == [({"room": "lobby"}, "v2")]


async def test_tls_for_https_and_wss(tls: TLS) -> None:
    router = Router()
    router.get("/hello")(lambda request: "secure")
    router.websocket("/ws")(hello)
    context = switchboard.server.tls_context(tls.cert_file, tls.key_file)
    async with switchboard.serve(router, "127.0.0.1", 0, ssl=context) as srv:
        client = ssl.create_default_context(cafile=tls.ca_file)
        client.set_alpn_protocols(["h2", "http/1.1"])  # as browsers do
        raw = await Raw.open(srv.port, ssl_context=client)
        reply = await raw.request("GET", "/hello")
        assert reply.body == b"secure"
        assert raw.writer.get_extra_info("ssl_object").selected_alpn_protocol() == "http/1.1"
        await raw.close()
        async with switchboard.connect(f"wss://localhost:{srv.port}/ws", ssl=tls.client) as ws:
            assert await ws.recv() == "/ws None"


def test_tls_context_errors_name_the_files(tmp_path: Path, tls: TLS) -> None:
    with pytest.raises(FileNotFoundError):
        switchboard.server.tls_context(str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ssl.SSLError, match=f"cannot load certificate '{junk}' with key"):
        switchboard.server.tls_context(str(junk), tls.key_file)


async def test_routing_and_websocket_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> tuple[int, bytes, str | bytes]:
        router = Router()
        router.get("/api/{name}")(lambda request: {"name": request.path_params["name"]})
        router.websocket("/ws/{room}")(hello)
        async with switchboard.serve(router, "127.0.0.1", 0) as srv:
            reply = await fetch(srv.port, "GET", "/api/uv")
            async with switchboard.connect(f"ws://127.0.0.1:{srv.port}/ws/r") as ws:
                message = await ws.recv()
            assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
            return reply.status, reply.body, message

    result = await asyncio.get_running_loop().run_in_executor(None, uvloop.run, main())
    assert result == (200, b'{"name":"uv"}', "/ws/r None")

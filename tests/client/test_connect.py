"""connect() against real servers: credentials, headers, timeouts and redirects."""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING

import pytest
from client_helpers import echo, url

import switchboard
from switchboard import Headers, RedirectError, Request, Response

if TYPE_CHECKING:
    from conftest import TLS

pytestmark = pytest.mark.timeout(30)


async def test_basic_auth_and_headers_reach_the_server() -> None:
    seen: list[Request] = []

    def record(request: Request) -> None:
        seen.append(request)

    async with switchboard.serve(echo, "127.0.0.1", 0, process_request=record) as srv:
        port = srv.port
        uri = f"ws://ann:p%40ss@127.0.0.1:{port}/room?x=1"
        async with switchboard.connect(
            uri, headers=[("X-Trace", "a"), ("X-Trace", "b")], user_agent="probe/1"
        ) as ws:
            await ws.send("in")
            assert await ws.recv() == "in"
    (request,) = seen
    assert request.target == "/room?x=1"
    scheme, _, token = request.headers["Authorization"].partition(" ")
    assert (scheme, base64.b64decode(token)) == ("Basic", b"ann:p@ss")
    assert request.headers.get_all("X-Trace") == ["a", "b"]
    assert request.headers["User-Agent"] == "probe/1"
    assert request.headers["Host"] == f"127.0.0.1:{port}"


async def test_open_timeout_when_the_server_never_answers() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # read the request, never answer, until the client leaves
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TimeoutError, match=r"within open_timeout=0.2 s"):
            await switchboard.connect(f"ws://127.0.0.1:{port}/", open_timeout=0.2)
    finally:
        server.close()
        await server.wait_closed()


async def test_server_hanging_up_during_the_handshake_is_a_connection_error() -> None:
    async def rude(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(rude, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ConnectionError, match="closed the connection during the handshake"):
            await switchboard.connect(f"ws://127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()


# -- redirects -----------------------------------------------------------------


def redirecting(location: str, status: int = 302, path: str = "/old") -> object:
    """A process_request hook that redirects requests for ``path``."""

    def hook(request: Request) -> Response | None:
        if request.path != path:
            return None
        return Response(status, headers=Headers({"Location": location}))

    return hook


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_relative_redirect_is_followed(status: int) -> None:
    hook = redirecting("/new?room=2", status)
    async with switchboard.serve(echo, "127.0.0.1", 0, process_request=hook) as srv:  # type: ignore[arg-type]
        async with switchboard.connect(url(srv, "/old")) as ws:
            assert ws.request is not None and ws.request.target == "/new?room=2"
            await ws.send("moved")
            assert await ws.recv() == "moved"


async def test_absolute_http_redirect_to_another_server() -> None:
    targets: list[Request] = []

    def record(request: Request) -> None:
        targets.append(request)

    async with switchboard.serve(echo, "127.0.0.1", 0, process_request=record) as target:
        location = f"http://127.0.0.1:{target.port}/there"  # http:// maps to ws://
        hook = redirecting(location, 307)
        async with switchboard.serve(echo, "127.0.0.1", 0, process_request=hook) as first:  # type: ignore[arg-type]
            uri = f"ws://ann:pw@127.0.0.1:{first.port}/old"
            async with switchboard.connect(uri, headers={"Authorization": "Bearer t"}) as ws:
                assert ws.remote_address[1] == target.port
                await ws.send("hi")
                assert await ws.recv() == "hi"
    (request,) = targets
    assert request.target == "/there"
    assert "Authorization" not in request.headers  # credentials stay with their origin


async def test_redirect_loop_stops_at_max_redirects() -> None:
    calls = 0

    def loop(request: Request) -> Response:
        nonlocal calls
        calls += 1
        return Response(302, headers=Headers({"Location": f"/hop{calls}"}))

    async with switchboard.serve(echo, "127.0.0.1", 0, process_request=loop) as srv:
        with pytest.raises(RedirectError, match="max_redirects is 3") as info:
            await switchboard.connect(url(srv), max_redirects=3)
    assert calls == 4  # the first request and three redirects followed
    assert info.value.status == 302


async def test_redirect_from_wss_to_ws_is_refused(tls: TLS) -> None:
    plain_requests: list[Request] = []

    def record(request: Request) -> None:
        plain_requests.append(request)

    async with switchboard.serve(echo, "127.0.0.1", 0, process_request=record) as plain:
        hook = redirecting(f"ws://127.0.0.1:{plain.port}/", 301, path="/")
        async with switchboard.serve(
            echo,
            "127.0.0.1",
            0,
            ssl=tls.server,
            process_request=hook,  # type: ignore[arg-type]
        ) as secure:
            with pytest.raises(RedirectError, match="downgrade wss:// to unencrypted ws://"):
                await switchboard.connect(f"wss://localhost:{secure.port}/", ssl=tls.client)
    assert plain_requests == []


async def test_wss_redirect_to_wss_keeps_the_ssl_context(tls: TLS) -> None:
    hook = redirecting("/new")
    async with switchboard.serve(
        echo,
        "127.0.0.1",
        0,
        ssl=tls.server,
        process_request=hook,  # type: ignore[arg-type]
    ) as srv:
        async with switchboard.connect(f"wss://localhost:{srv.port}/old", ssl=tls.client) as ws:
            assert ws.request is not None and ws.request.target == "/new"
            await ws.send("tls")
            assert await ws.recv() == "tls"


async def test_redirect_without_location_is_an_error() -> None:
    async with switchboard.serve(
        echo, "127.0.0.1", 0, process_request=lambda request: Response(302)
    ) as srv:
        with pytest.raises(RedirectError, match="without a Location") as info:
            await switchboard.connect(url(srv))
    assert info.value.status == 302

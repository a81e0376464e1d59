"""``async for ws in connect(...)``: reconnection with backoff, against real servers.

Delays are checked by attempt number and bounds from the log records, never by
measuring time.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING

import pytest
from client_helpers import echo, url, wait_until

import switchboard
from switchboard import ConnectionClosed, InvalidHandshake, NegotiationError, Request, Response
from switchboard.client.reconnect import Backoff

if TYPE_CHECKING:
    from conftest import TLS

pytestmark = pytest.mark.timeout(30)

FAST = dict(backoff_min=0.01, backoff_max=0.05)


def retries(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "switchboard.client" and "retry" in r.msg]


@pytest.fixture(autouse=True)
def info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.client")


async def test_retries_503_and_429_with_growing_delays(caplog: pytest.LogCaptureFixture) -> None:
    answers = [503, 429, 503]

    def flaky(request: Request) -> Response | None:
        return Response(answers.pop(0)) if answers else None

    async with switchboard.serve(echo, "127.0.0.1", 0, process_request=flaky) as srv:
        async for ws in switchboard.connect(url(srv), **FAST):  # type: ignore[arg-type]
            await ws.send("finally")
            assert await ws.recv() == "finally"
            await ws.close()
            break
    records = retries(caplog)
    backoff = Backoff(FAST["backoff_min"], FAST["backoff_max"])
    statuses = []
    for attempt, record in enumerate(records):
        assert record.levelno == logging.INFO
        _, reason, retry, delay = record.args  # type: ignore[misc]
        assert retry == attempt + 1
        assert backoff.min_delay <= delay <= backoff.cap(attempt)
        assert reason.startswith("InvalidHandshake: server rejected WebSocket connection")
        statuses.append(reason.rsplit(" ", 1)[1])
    assert statuses == ["503", "429", "503"]


async def test_fatal_handshake_status_stops_at_once(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    def missing(request: Request) -> Response:
        nonlocal calls
        calls += 1
        return Response(404, body=b"no such feed")

    async with switchboard.serve(echo, "127.0.0.1", 0, process_request=missing) as srv:
        with pytest.raises(InvalidHandshake) as info:
            async for _ in switchboard.connect(url(srv), **FAST):  # type: ignore[arg-type]
                raise AssertionError("no connection can open")
    assert info.value.status == 404
    assert info.value.body == b"no such feed"
    assert calls == 1
    assert retries(caplog) == []


async def test_bad_uri_fails_before_any_attempt() -> None:
    with pytest.raises(switchboard.InvalidURI):
        switchboard.connect("http://127.0.0.1/")


async def test_certificate_error_stops(tls: TLS, caplog: pytest.LogCaptureFixture) -> None:
    async with switchboard.serve(echo, "127.0.0.1", 0, ssl=tls.server) as srv:
        with pytest.raises(ssl.SSLCertVerificationError):
            async for _ in switchboard.connect(f"wss://localhost:{srv.port}/", **FAST):  # type: ignore[arg-type]
                raise AssertionError("the certificate is not trusted")
    assert retries(caplog) == []


async def test_negotiation_error_stops(caplog: pytest.LogCaptureFixture) -> None:
    async with switchboard.serve(
        echo, "127.0.0.1", 0, select_subprotocol=lambda request, offered: "unasked"
    ) as srv:
        with pytest.raises(NegotiationError, match="did not offer: 'unasked'"):
            async for _ in switchboard.connect(url(srv), subprotocols=["chat"], **FAST):  # type: ignore[arg-type]
                raise AssertionError("negotiation must fail")
    assert retries(caplog) == []


async def test_reconnects_after_server_restart_on_the_same_port(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await switchboard.serve(echo, "127.0.0.1", 0)
    port = server.port
    connections: list[switchboard.WebSocket] = []
    closes: list[int] = []

    async def consume() -> None:
        async for ws in switchboard.connect(f"ws://127.0.0.1:{port}/", **FAST):  # type: ignore[arg-type]
            connections.append(ws)
            await ws.send(f"hello {len(connections)}")
            assert await ws.recv() == f"hello {len(connections)}"
            if len(connections) == 2:
                await ws.close()
                return
            try:
                await ws.recv()
            except ConnectionClosed as exc:
                closes.append(exc.code)

    task = asyncio.create_task(consume())
    try:
        await wait_until(lambda: connections, "the first connection")
        server.close()
        await server.wait_closed()

        def refused() -> list[logging.LogRecord]:
            return [r for r in retries(caplog) if "ConnectionRefusedError" in r.getMessage()]

        await wait_until(lambda: len(refused()) >= 2, "two refused attempts")
        server = await switchboard.serve(echo, "127.0.0.1", port)
        await asyncio.wait_for(task, 10)
    finally:
        task.cancel()
        server.close()
        await server.wait_closed()
    assert len(connections) == 2 and connections[0] is not connections[1]
    assert closes == [1001]  # the server said it was going away
    assert connections[1].close_code == 1000
    messages = [r.getMessage() for r in retries(caplog)]
    assert "closed (peer closed: received 1001 (going away)" in messages[0]
    assert all("ConnectionRefusedError" in m for m in messages[1:])
    # The first connection was short-lived: the count went on from it.
    assert [r.args[2] for r in retries(caplog)] == list(range(1, len(messages) + 1))  # type: ignore[index]


async def test_abnormal_close_reconnects_and_long_lived_connection_resets_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    count = 0

    async def handler(ws: switchboard.WebSocket) -> None:
        nonlocal count
        count += 1
        if count <= 2:
            await ws.close(1011, "oops")  # short-lived connections
        else:
            await ws.wait_closed()

    options = dict(backoff_min=0.01, backoff_max=1.0)
    async with switchboard.serve(handler, "127.0.0.1", 0) as srv:
        seen = 0
        async for ws in switchboard.connect(url(srv), **options):  # type: ignore[arg-type]
            seen += 1
            if seen <= 2:
                with pytest.raises(switchboard.ConnectionClosedError):
                    await ws.recv()
                continue
            if seen == 3:
                await asyncio.sleep(1.1)  # outlive backoff_max: the delays start over
                continue  # the client closes it and connects again
            await ws.close()
            break
    messages = [r.getMessage() for r in retries(caplog)]
    assert len(messages) == 3
    assert "1011 (internal server error) 'oops'" in messages[0]
    assert [r.args[2] for r in retries(caplog)] == [1, 2, 1]  # type: ignore[index]


async def test_breaking_out_closes_the_connection() -> None:
    codes: list[int | None] = []

    async def handler(ws: switchboard.WebSocket) -> None:
        await ws.wait_closed()
        codes.append(ws.close_code)

    async with switchboard.serve(handler, "127.0.0.1", 0) as srv:
        async for _ in switchboard.connect(url(srv), **FAST):  # type: ignore[arg-type]
            break
        await wait_until(lambda: codes, "the server to see the close")
    assert codes == [1000]

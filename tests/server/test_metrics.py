"""/metrics after scripted traffic: exact counts, in the Prometheus text format."""

from __future__ import annotations

import asyncio

import pytest
from server_helpers import UPGRADE, Raw, fetch, until

import switchboard
from switchboard import Router, WebSocket, broadcast


async def echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def scrape(port: int) -> dict[str, int]:
    reply = await fetch(port, "GET", "/metrics")
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for line in reply.text().splitlines():
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = int(value)
    return samples


async def test_counts_after_a_scripted_exchange() -> None:
    router = Router()
    router.websocket("/echo")(echo)
    async with switchboard.serve(
        router, "127.0.0.1", 0, compression=None, ping_interval=None
    ) as srv:
        url = f"ws://127.0.0.1:{srv.port}/echo"
        async with switchboard.connect(url) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
        with pytest.raises(switchboard.InvalidHandshake) as info:
            await switchboard.connect(url, origin="http://evil.test")
        assert info.value.status == 403
        raw = await Raw.open(srv.port)
        reply = await raw.request("GET", "/echo", *UPGRADE[:3], "Sec-WebSocket-Version: 8")
        assert reply.status == 426
        await raw.close()
        assert (await fetch(srv.port, "GET", "/nowhere")).status == 404
        await until(lambda: not srv.connections)

        samples = await scrape(srv.port)
        assert samples == {
            "switchboard_connections_open": 0,
            "switchboard_http_connections_open": 1,  # the scrape's own
            'switchboard_handshakes_total{outcome="accepted"}': 1,
            'switchboard_handshakes_total{outcome="rejected"}': 1,
            'switchboard_handshakes_total{outcome="failed"}': 1,
            'switchboard_messages_total{direction="in"}': 1,
            'switchboard_messages_total{direction="out"}': 1,
            # In: "hello" masked (2 + 4 + 5), close 1000 masked (2 + 4 + 2).
            'switchboard_bytes_total{direction="in"}': 19,
            # Out: "hello" (2 + 5), close 1000 (2 + 2).
            'switchboard_bytes_total{direction="out"}': 11,
            'switchboard_close_codes_total{code="1000"}': 1,
            "switchboard_slow_consumer_closes_total": 0,
            "switchboard_keepalive_timeouts_total": 0,
            'switchboard_http_requests_total{status="101"}': 1,
            'switchboard_http_requests_total{status="403"}': 1,
            'switchboard_http_requests_total{status="404"}': 1,
            'switchboard_http_requests_total{status="426"}': 1,
        }

        # Live connections count at scrape time.
        async with switchboard.connect(url) as ws:
            for text in ("ab", "cd"):
                await ws.send(text)
                assert await ws.recv() == text
            samples = await scrape(srv.port)
            assert samples["switchboard_connections_open"] == 1
            assert samples['switchboard_messages_total{direction="in"}'] == 3
            assert samples['switchboard_messages_total{direction="out"}'] == 3
            assert samples['switchboard_bytes_total{direction="in"}'] == 19 + 2 * 8
            assert samples['switchboard_bytes_total{direction="out"}'] == 11 + 2 * 4
            assert samples['switchboard_http_requests_total{status="200"}'] == 1
        await until(lambda: not srv.connections)
        samples = await scrape(srv.port)
        assert samples['switchboard_messages_total{direction="in"}'] == 3  # not counted twice
        assert samples['switchboard_close_codes_total{code="1000"}'] == 2


async def handshake_and_go_silent(port: int) -> Raw:
    """A client that completes the handshake, then never reads nor answers again."""
    raw = await Raw.open(port)
    reply = await raw.request("GET", "/", *UPGRADE)
    assert reply.status == 101
    return raw


async def test_keepalive_timeouts_and_slow_consumers_are_counted() -> None:
    async def idle(ws: WebSocket) -> None:
        await ws.wait_closed()

    async with switchboard.serve(
        idle, "127.0.0.1", 0, ping_interval=0.05, ping_timeout=0.05, close_timeout=0.5
    ) as srv:
        raw = await handshake_and_go_silent(srv.port)
        await until(lambda: srv.metrics.close_codes == {1011: 1})
        samples = await scrape(srv.port)
        assert samples["switchboard_keepalive_timeouts_total"] == 1
        assert samples["switchboard_slow_consumer_closes_total"] == 0
        await raw.close()

    async def flood(ws: WebSocket) -> None:
        chunk = b"x" * 256 * 1024
        for _ in range(1000):  # bounded; the budget is crossed after a few MiB at most
            if ws.close_cause is not None:
                break
            broadcast([ws], chunk)
            await asyncio.sleep(0)
        await ws.wait_closed()

    async with switchboard.serve(
        flood, "127.0.0.1", 0, write_budget=64 * 1024, close_timeout=0.5
    ) as srv:
        raw = await handshake_and_go_silent(srv.port)
        await until(lambda: srv.metrics.close_codes == {1013: 1})
        samples = await scrape(srv.port)
        assert samples["switchboard_slow_consumer_closes_total"] == 1
        assert samples["switchboard_keepalive_timeouts_total"] == 0
        await raw.close()

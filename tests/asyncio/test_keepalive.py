"""Keepalive pings of many connections share a few timers (switchboard._keepalive)."""

from __future__ import annotations

import asyncio

import switchboard
from switchboard import WebSocket, _keepalive


async def idle(ws: WebSocket) -> None:
    async for _ in ws:
        pass


async def test_many_connections_share_a_few_timers() -> None:
    wheel = _keepalive.wheel(asyncio.get_running_loop())
    async with switchboard.serve(idle, "127.0.0.1", 0, ping_interval=8.0) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        clients = await asyncio.gather(
            *(switchboard.connect(url, ping_interval=None) for _ in range(100))
        )
        # Slots of 1 s at this interval: one timer per second the connections took
        # to open (with room for a slow machine), not one per connection.
        assert 0 < len(wheel) <= 10
        for ws in clients:
            await ws.close()
        await asyncio.sleep(0.05)  # the server sees the connections close
        assert len(wheel) == 0  # a closed connection leaves its slot, and the timer goes


async def test_every_connection_gets_pinged() -> None:
    async with switchboard.serve(idle, "127.0.0.1", 0, ping_interval=0.1) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        clients = await asyncio.gather(
            *(switchboard.connect(url, ping_interval=None) for _ in range(20))
        )
        await asyncio.sleep(0.5)  # five intervals: at least two pings even if late
        for ws in clients:
            assert ws.bytes_in >= 2 * 6  # a ping is 6 bytes: header and 4-byte payload
            await ws.close()


async def test_turning_the_keepalive_off_leaves_the_wheel() -> None:
    wheel = _keepalive.wheel(asyncio.get_running_loop())
    accepted: asyncio.Future[WebSocket] = asyncio.get_running_loop().create_future()

    async def handler(ws: WebSocket) -> None:
        accepted.set_result(ws)
        await idle(ws)

    async with switchboard.serve(handler, "127.0.0.1", 0, ping_interval=0.05) as server:
        async with switchboard.connect(f"ws://127.0.0.1:{server.port}/", ping_interval=None) as ws:
            (await accepted).ping_interval = None
            assert len(wheel) == 0
            before = ws.bytes_in
            await asyncio.sleep(0.15)
            assert ws.bytes_in == before  # no more pings

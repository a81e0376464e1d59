"""A server's shutdown with Socket.IO clients: a long poll does not hold it."""

from __future__ import annotations

import asyncio

from sio_helpers import Both, echo_hub

import switchboard
from switchboard.realtime.socketio import SocketIO


async def test_a_poll_in_flight_does_not_hold_the_shutdown() -> None:
    hub = echo_hub()
    router = switchboard.Router()
    sio = SocketIO(hub, ping_interval=30, ping_timeout=30)
    router.mount("/socket.io", sio)
    # Neither the next ping (30 s) nor the shutdown deadline (60 s) would end the
    # poll before the 10 s below: only the server's closing hook can.
    async with switchboard.serve(router, "127.0.0.1", 0, shutdown_timeout=60) as server:
        both = Both(hub, server, sio)
        client = await both.sio(transports=["polling"])
        assert await client.call("echo", "x", timeout=5) == {"echo": "x", "user": client.get_sid()}
        sid = next(iter(hub.sessions)).id
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
        assert sid not in {s.id for s in hub.sessions}
        await both.close()
    await hub.close()

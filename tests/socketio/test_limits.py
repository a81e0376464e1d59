"""Engine.IO and Socket.IO limits, heartbeats and bad input, with raw polling
requests (aiohttp) for what a real client never sends, and python-socketio for
the rest. The hub's own limits apply to Socket.IO sessions too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
from sio_helpers import Both, ServeBoth, echo_hub

from switchboard.realtime import Rate, Unauthorized
from switchboard.realtime.session import Hello


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


class Raw:
    """An Engine.IO session over polling, by hand."""

    def __init__(self, both: Both, http: aiohttp.ClientSession) -> None:
        self.url = f"{both.url}/socket.io/?EIO=4&transport=polling"
        self.http = http
        self.sid = ""

    async def open(self) -> dict[str, Any]:
        async with self.http.get(self.url) as response:
            assert response.status == 200
            text = await response.text()
        assert text[0] == "0"
        handshake: dict[str, Any] = json.loads(text[1:])
        self.sid = handshake["sid"]
        self.url += f"&sid={self.sid}"
        return handshake

    async def post(self, body: str | bytes) -> tuple[int, str]:
        async with self.http.post(self.url, data=body) as response:
            return response.status, await response.text()

    async def get(self) -> tuple[int, str]:
        async with self.http.get(self.url) as response:
            return response.status, await response.text()


async def raw(both: Both) -> tuple[Raw, aiohttp.ClientSession]:
    http = aiohttp.ClientSession()
    return Raw(both, http), http


async def test_the_handshake_and_a_connect_by_hand(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub(), ping_interval=3, ping_timeout=2)
    client, http = await raw(both)
    async with http:
        handshake = await client.open()
        assert handshake == {
            "sid": client.sid,
            "upgrades": ["websocket"],
            "pingInterval": 3000,
            "pingTimeout": 2000,
            "maxPayload": 1_000_000,
        }
        assert await client.post("40") == (200, "ok")
        status, text = await client.get()
        assert status == 200 and text.startswith('40{"sid":"s-')
        # Two packets in one body, separated by \x1e; the answer comes in one poll.
        assert await client.post('420["echo",1]\x1e421["echo",2]') == (200, "ok")
        status, text = await client.get()
        if text.count("\x1e") == 0:  # the second ack may come in the next poll
            text += "\x1e" + (await client.get())[1]
        sid = both.hub.sessions[0].id
        assert text.split("\x1e") == [
            f'430[{{"echo":1,"user":"{sid}"}}]',
            f'431[{{"echo":2,"user":"{sid}"}}]',
        ]


async def test_a_client_that_stops_answering_pings_is_dropped(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub(), ping_interval=0.2, ping_timeout=0.2)
    alive = await both.sio()  # python-socketio answers the pings
    client, http = await raw(both)
    async with http:
        await client.open()
        await client.post("40")
        assert (await client.get())[1].startswith("40")
        await eventually(lambda: len(both.hub.sessions) == 2)
        # No more polls, no pongs: closed after ping_interval + ping_timeout.
        await eventually(lambda: len(both.hub.sessions) == 1)
        assert both.hub.sessions[0].id == alive.get_sid()
        status, text = await client.get()
        assert status == 400 and json.loads(text)["message"] == "Session ID unknown"
    await asyncio.sleep(0.6)  # three more ping intervals: the live client stays
    assert alive.connected
    assert await alive.call("echo", 1, timeout=5) == {"echo": 1, "user": alive.get_sid()}


async def test_max_http_buffer_size(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub(), max_http_buffer_size=1000)
    client, http = await raw(both)
    async with http:
        assert (await client.open())["maxPayload"] == 1000
        await client.post("40")
        status, text = await client.post('42["echo","' + "x" * 1000 + '"]')
        assert status == 413 and json.loads(text)["message"] == "payload too large"
        assert (await client.get())[0] == 400  # the session is gone
    sio = await both.sio(transports=["websocket"])
    disconnected = asyncio.Event()
    sio.on("disconnect", lambda *args: disconnected.set())
    await sio.emit("echo", "y" * 2000)
    await asyncio.wait_for(disconnected.wait(), 5)


async def test_the_hubs_payload_limit_is_an_error_ack(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub(max_payload=100))
    sio = await both.sio()
    reply = await sio.call("echo", "z" * 200, timeout=5)
    assert reply["error"]["code"] == "too_large"
    assert (await sio.call("echo", "small", timeout=5))["echo"] == "small"
    client, http = await raw(both)
    async with http:  # a CONNECT is held to it too
        await client.open()
        await client.post('40{"token":"' + "t" * 200 + '"}')
        assert (await client.get())[1] == (
            '44{"message":"message too large: 213 bytes; the limit is 100"}'
        )


async def test_rate_limits_answer_rate_limited(serve_both: ServeBoth) -> None:
    hub = echo_hub(rate=Rate(1, 2), rate_limit_close_after=10)
    both = await serve_both(hub)
    sio = await both.sio()
    replies = [await sio.call("echo", i, timeout=5) for i in range(4)]
    assert [r.get("echo") for r in replies[:2]] == [0, 1]
    assert replies[2]["error"]["code"] == "rate_limited"
    assert hub.metrics.rate_limited >= 2


async def test_garbage_closes_the_session_with_a_clear_status(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub())
    client, http = await raw(both)
    async with http:
        await client.open()
        await client.post("40")
        await client.get()
        await eventually(lambda: len(both.hub.sessions) == 1)
        status, text = await client.post("9nonsense")
        assert status == 400 and "packet" in json.loads(text)["message"]
        await eventually(lambda: not both.hub.sessions)
        status, text = await client.post("b!!!")  # the session is gone
        assert status == 400


async def test_unknown_transport_and_namespace(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub())
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{both.url}/socket.io/?EIO=4&transport=carrier-pigeon") as response:
            assert response.status == 400
            assert json.loads(await response.text())["message"] == "Transport unknown"
    client, http = await raw(both)
    async with http:
        await client.open()
        await client.post("40/admin,")
        assert (await client.get())[1] == '44/admin,{"message":"Invalid namespace"}'


async def test_a_refused_namespace_leaves_the_others_connected(serve_both: ServeBoth) -> None:
    admin = echo_hub()

    @admin.on_connect
    def refuse(hello: Hello) -> None:
        raise Unauthorized("admins only")

    both = await serve_both(echo_hub(), namespaces={"/admin": admin})
    client, http = await raw(both)
    async with http:
        await client.open()
        await client.post("40\x1e40/admin,")
        await eventually(lambda: len(both.hub.sessions) == 1)
        (session,) = both.hub.sessions
        packets: list[str] = []
        while len(packets) < 2:
            packets += (await client.get())[1].split("\x1e")
        assert sorted(packets) == sorted(
            [
                f'40{{"sid":"{session.id}"}}',
                '44/admin,{"message":"unauthorized: admins only",'
                '"data":{"code":"unauthorized","message":"admins only"}}',
            ]
        )
        assert not admin.sessions
        await client.post('4210["echo","still here"]')
        assert (await client.get())[
            1
        ] == f'4310[{{"echo":"still here","user":"{session.user.id}"}}]'

"""Socket.IO's connection state recovery (``socket.recovered``) over the hub's
per-room history, with the official socket.io-client under Node: in one process,
and across two nodes sharing a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sio_helpers import ServeBoth, admin_hub, echo_hub
from test_node_client import NODE, NodeClient, pytestmark  # noqa: F401  (skips without node)

import switchboard
from switchboard.realtime import Hub, RoomOptions
from switchboard.realtime.socketio import SocketIO


async def command(client: NodeClient, line: str) -> None:
    assert client.process.stdin is not None
    client.process.stdin.write(line.encode() + b"\n")
    await client.process.stdin.drain()


async def until_parked(hub: Hub) -> None:
    for _ in range(500):
        if not hub.sessions:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server did not notice the drop")


def same(n: int) -> Any:
    return n


async def drop_and_miss(
    client: NodeClient, hub: Hub, emitter: Hub, count: int, make: Callable[[int], Any] = same
) -> None:
    """The client's transport fails; ``count`` events go to "news" meanwhile, with
    ``make(n)`` as data (n from 2)."""
    await command(client, "drop")
    assert (await client.next())["disconnected"] == "forced close"  # engine.close()
    await until_parked(hub)
    for n in range(count):
        await emitter.to("news").emit("n", make(n + 2))


async def connected(client: NodeClient) -> tuple[str, bool]:
    line = await client.next()
    assert "connected" in line, line
    return line["connected"], line["recovered"]


async def test_a_reconnection_recovers_what_it_missed(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub(), recovery=True)
    client = await NodeClient.start(both.url, "recovery")
    try:
        sid, recovered = await connected(client)
        assert recovered is False
        assert (await client.next())["ack"] == {"joined": "news"}
        await both.hub.to("news").emit("n", 1)
        first = await client.next()
        assert first["event"] == "n" and first["args"][0] == 1  # and its offset after it
        await drop_and_miss(client, both.hub, both.hub, 2)
        await command(client, f"reconnect {both.url}")
        assert await connected(client) == (sid, True)
        assert [(await client.next())["args"][0] for _ in range(2)] == [2, 3]
        await both.hub.to("news").emit("n", 4)  # live again
        assert (await client.next())["args"][0] == 4
        await command(client, "quit")
    finally:
        await client.finish()


async def test_not_recovered_when_the_history_is_gone(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub(rooms=RoomOptions(history_size=2)), recovery=True)
    client = await NodeClient.start(both.url, "recovery")
    try:
        await connected(client)
        assert (await client.next())["ack"] == {"joined": "news"}
        await both.hub.to("news").emit("n", 1)
        await client.next()
        await drop_and_miss(client, both.hub, both.hub, 5)  # more than the room keeps
        await command(client, f"reconnect {both.url}")
        assert (await connected(client))[1] is False
        await command(client, "quit")
    finally:
        await client.finish()


async def test_without_recovery_there_is_no_pid(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub())
    client = await NodeClient.start(both.url, "recovery")
    try:
        sid, _ = await connected(client)
        assert (await client.next())["ack"] == {"joined": "news"}
        await both.hub.to("news").emit("n", 1)
        assert (await client.next())["args"] == [1]  # no offset appended
        await drop_and_miss(client, both.hub, both.hub, 1)
        await command(client, f"reconnect {both.url}")
        new_sid, recovered = await connected(client)
        assert not recovered and new_sid != sid
        await command(client, "quit")
    finally:
        await client.finish()


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    from realtime.redis_helpers import RedisServer

    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def buffer(n: int) -> Any:
    return bytes([n])


def printed(make: Callable[[int], Any], n: int) -> Any:
    """What the Node client prints for ``make(n)``: a Buffer as JSON.stringify has it."""
    return n if make is same else {"type": "Buffer", "data": [n]}


@pytest.mark.parametrize("make", [same, buffer])
async def test_recovery_on_another_node_over_redis(
    redis_url: str, make: Callable[[int], Any]
) -> None:
    """The client drops from node A and comes back on node B: B resumes the session
    parked in Redis and replays the room's history from Redis (bytes too: binary
    attachments, from tagged objects kept in Redis)."""
    hubs = [echo_hub(broker=redis_url) for _ in range(2)]
    contexts, servers = [], []
    for hub in hubs:
        router = switchboard.Router()
        router.mount("/rt", hub)
        router.mount("/socket.io", SocketIO(hub, recovery=True))
        context: Any = switchboard.serve(router, "127.0.0.1", 0)
        servers.append(await context.__aenter__())
        contexts.append(context)
    urls = [f"http://127.0.0.1:{server.port}" for server in servers]
    client = await NodeClient.start(urls[0], "recovery")
    try:
        sid, _ = await connected(client)
        assert (await client.next())["ack"] == {"joined": "news"}
        await hubs[1].to("news").emit("n", make(1))  # from the other node, through Redis
        assert (await client.next())["args"][0] == printed(make, 1)
        await drop_and_miss(client, hubs[0], hubs[1], 2, make)
        await command(client, f"reconnect {urls[1]}")
        assert await connected(client) == (sid, True)
        replayed = [(await client.next())["args"][0] for _ in range(2)]
        assert replayed == [printed(make, 2), printed(make, 3)]
        assert [s.id for s in hubs[1].sessions] == [sid]
        await command(client, "quit")
    finally:
        await client.finish()
        for hub, context in zip(hubs, contexts, strict=True):
            await context.__aexit__(None, None, None)
            await hub.close()


async def test_each_namespace_recovers_on_its_own_hub(serve_both: ServeBoth) -> None:
    admin = admin_hub([])
    both = await serve_both(echo_hub(), namespaces={"/admin": admin}, recovery=True)
    client = await NodeClient.start(both.url, "recoverNamespaces")
    try:
        first = {(line := await client.next())["ns"]: line for _ in range(2)}
        assert {ns: line["recovered"] for ns, line in first.items()} == {
            "/": False,
            "/admin": False,
        }
        assert await client.next() == {"ready": True}
        # An event in each: the offset that a reconnection sends back.
        await both.hub.to("news").emit("n", "seen on /")
        await admin.to("news").emit("n", "seen on /admin")
        seen = {((line := await client.next())["ns"], line["arg"]) for _ in range(2)}
        assert seen == {("/", "seen on /"), ("/admin", "seen on /admin")}
        await command(client, "drop")
        assert (await client.next())["disconnected"] == ["forced close", "forced close"]
        await until_parked(both.hub)
        await until_parked(admin)
        await both.hub.to("news").emit("n", "missed on /")
        await admin.to("news").emit("n", "missed on /admin")
        await command(client, "reconnect")
        lines = [await client.next() for _ in range(5)]
        assert lines[-1] == {"reconnected": True}
        again = {line["ns"]: line for line in lines if "connected" in line}
        for ns in ("/", "/admin"):
            assert again[ns] == {"ns": ns, "connected": first[ns]["connected"], "recovered": True}
        missed = {(line["ns"], line["arg"]) for line in lines if "event" in line}
        assert missed == {("/", "missed on /"), ("/admin", "missed on /admin")}
        await command(client, "quit")
    finally:
        await client.finish()

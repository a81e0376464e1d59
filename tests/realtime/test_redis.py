"""The Redis broker against a real redis-server: several nodes, one set of rooms.

Nodes here are hubs in this process, each with its own RedisBroker and server (as
separate processes would be, they share nothing but Redis); test_redis_cluster.py
runs them as processes for the faults that need it (SIGKILL).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import switchboard
from switchboard.realtime import HistoryPolicy, HubClient, Position, Unavailable, connect, wire

from .conftest import eventually
from .redis_helpers import RedisServer
from .redis_node import create

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


class Node:
    def __init__(self, server: switchboard.Server, hub: Any) -> None:
        self.server = server
        self.hub = hub
        self.url = f"ws://127.0.0.1:{server.port}/rt"

    def get(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.server.port}{path}"
        return urllib.request.urlopen(url).read().decode()


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[Any]:
    redis_server.command("FLUSHALL")
    nodes: list[tuple[Node, Any]] = []
    clients: list[HubClient] = []

    async def node(**options: Any) -> Node:
        options.setdefault("probe_interval", 0.2)
        options.setdefault("probe_timeout", 1.0)
        options.setdefault("backoff", (0.05, 0.5))
        hub, router = create(redis_server.url, 0, **options)
        context = switchboard.serve(router, "127.0.0.1", 0)
        server = await context.__aenter__()
        await hub.start()
        result = Node(server, hub)
        nodes.append((result, context))
        return result

    async def client(url: str | list[str], user: str | None = None) -> HubClient:
        auth = {"user": user} if user else None
        c = await connect(url, auth=auth, backoff=(0.05, 0.3))
        clients.append(c)
        return c

    node.client = client  # type: ignore[attr-defined]
    yield node
    for c in clients:
        await c.close()
    for n, context in reversed(nodes):
        await context.__aexit__(None, None, None)
        await n.hub.close()


async def eventually_async(get: Any, expected: Any, timeout: float = 5.0) -> None:
    """Wait until ``set(await get())`` is ``expected``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while set(await get()) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"not {expected} in time"
        await asyncio.sleep(0.02)


def inbox(client: HubClient) -> list[int]:
    received: list[int] = []
    client.on("posted")(lambda data, meta: received.append(data))
    return received


async def test_a_room_spanning_three_nodes(cluster: Any) -> None:
    nodes = [await cluster() for _ in range(3)]
    members = [await cluster.client(n.url, f"u{i}") for i, n in enumerate(nodes) for _ in range(2)]
    boxes = [inbox(m) for m in members]
    for m in members:
        await m.join("r")
    publishers = [await cluster.client(n.url) for n in nodes]
    for n in range(30):
        await publishers[n % 3].emit("post", {"room": "r", "n": n})
    await eventually(lambda: all(len(box) == 30 for box in boxes))
    await asyncio.sleep(0.1)
    assert all(box == list(range(30)) for box in boxes)  # once each, in order
    offsets = {c.rooms["r"].offset for c in members}  # type: ignore[union-attr]
    assert offsets == {30}


async def test_presence_is_the_same_on_every_node(cluster: Any) -> None:
    a, b = await cluster(), await cluster()
    ada_a = await cluster.client(a.url, "ada")
    ada_b = await cluster.client(b.url, "ada")  # one user, two nodes
    bob_b = await cluster.client(b.url, "bob")
    for c in (ada_a, ada_b, bob_b):
        await c.join("team")
    await eventually(lambda: set(ada_a.presence("team")) == {"ada", "bob"})
    assert set(bob_b.presence("team")) == {"ada", "bob"}
    on_a, on_b = await a.hub.presence("team"), await b.hub.presence("team")
    assert on_a == on_b
    assert on_a["ada"].connections == 2
    await ada_a.close()  # ada is still there through node b
    await asyncio.sleep(0.4)
    assert set(bob_b.presence("team")) == {"ada", "bob"}
    await ada_b.close()
    await eventually(lambda: set(bob_b.presence("team")) == {"bob"})


async def test_recovery_and_resume_on_another_node(cluster: Any) -> None:
    a, b = await cluster(), await cluster()
    publisher = await cluster.client(a.url)
    reader = await cluster.client([a.url, b.url], "ada")
    box = inbox(reader)
    await reader.join("r")
    await publisher.emit("post", {"room": "r", "n": 0})
    await eventually(lambda: box == [0])
    session = reader.session_id
    reader.urls.reverse()  # its next connection goes to node b
    reader._url = 0
    (on_a,) = [s for s in a.hub.sessions if s.user.id == "ada"]
    await on_a.close(1012, "restart")
    await reader.wait_for_state("reconnecting")
    await publisher.emit("post", {"room": "r", "n": 1})
    await reader.wait_for_state("connected")
    await publisher.emit("post", {"room": "r", "n": 2})
    await eventually(lambda: box == [0, 1, 2])
    assert reader.session_id == session  # resumed on node b
    assert [s.user.id for s in b.hub.sessions] == ["ada"]


async def test_a_retry_on_another_node_is_applied_once(cluster: Any) -> None:
    a, b = await cluster(), await cluster()
    counted: list[str] = []
    for n in (a, b):

        @n.hub.on("vote")
        def vote(session: Any, card: str) -> int:
            counted.append(card)
            return len(counted)

    emit = {"t": "emit", "event": "vote", "data": "5", "id": 1, "key": "k-1"}
    acks = []
    for n in (a, b):
        ws = await switchboard.connect(n.url, subprotocols=["switchboard.v1"])
        await ws.send(json.dumps({"t": "hello", "v": 1, "auth": {"user": "ada"}}))
        await ws.send(json.dumps(emit))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if message["t"] == "ack":
                acks.append(message)
                break
        await ws.close()
    assert counted == ["5"]
    assert acks[0]["data"] == acks[1]["data"] == 1


async def test_redis_down_then_back(cluster: Any, redis_server: RedisServer) -> None:
    a, b = await cluster(), await cluster()
    publisher = await cluster.client(a.url)
    reader = await cluster.client(b.url, "ada")
    box = inbox(reader)
    await reader.join("r")
    await publisher.join("r")
    await publisher.emit("post", {"room": "r", "n": 0})
    await eventually(lambda: box == [0])
    redis_server.stop()
    await eventually(lambda: not a.hub.broker.status()["ok"], timeout=5)
    health = json.loads(await asyncio.to_thread(a.get, "/healthz"))
    assert health["status"] == "degraded"
    with pytest.raises(Unavailable):
        await publisher.emit("post", {"room": "r", "n": 1})  # fails fast, clearly
    late = await cluster.client(b.url, "late")  # a node without Redis still welcomes
    with pytest.raises(Unavailable):
        await late.join("r")
    metrics = await asyncio.to_thread(a.get, "/metrics")
    assert 'switchboard_realtime_broker_up{hub="hub"} 0' in metrics
    redis_server.start()  # empty: its data is lost
    await eventually(lambda: a.hub.broker.status()["ok"] and b.hub.broker.status()["ok"], 10)
    assert json.loads(await asyncio.to_thread(a.get, "/healthz"))["status"] == "ok"
    await publisher.emit("post", {"room": "r", "n": 2})
    await eventually(lambda: box == [0, 2])
    # Redis came back empty: the nodes registered their members' presence again.
    expected = {"ada", publisher.session_id}
    for node in (a, b):
        await eventually_async(lambda node=node: node.hub.presence("r"), expected)
    await publisher.close()
    await eventually(lambda: set(reader.presence("r")) == {"ada"})
    assert a.hub.broker.status()["reconnects"] >= 1
    metrics = await asyncio.to_thread(a.get, "/metrics")
    assert 'switchboard_realtime_broker_up{hub="hub"} 1' in metrics
    assert 'switchboard_realtime_broker_reconnects_total{hub="hub"}' in metrics
    assert 'switchboard_realtime_broker_publish_failures_total{hub="hub"} 0' not in metrics


async def test_a_killed_subscription_is_noticed_and_renewed(
    cluster: Any, redis_server: RedisServer
) -> None:
    a, b = await cluster(), await cluster()
    publisher = await cluster.client(a.url)
    reader = await cluster.client(b.url)
    box = inbox(reader)
    await reader.join("r")
    before = b.hub.broker.status()["reconnects"]
    assert b"killed" not in redis_server.command("CLIENT", "KILL", "TYPE", "pubsub")
    await eventually(lambda: b.hub.broker.status()["reconnects"] > before)
    await eventually(lambda: b.hub.broker.status()["subscribed"])
    await publisher.emit("post", {"room": "r", "n": 7})
    await eventually(lambda: box == [7])


async def test_the_publication_frame_matches_the_wire_format(cluster: Any) -> None:
    node = await cluster()
    policy = HistoryPolicy(10, 60)
    position = await node.hub.broker.publish_event("r", "ev", '{"a":1}', policy, skip="s-1")
    recovery = await node.hub.broker.recover("r", Position(0, position.epoch), policy)
    ((offset, frame, skip),) = recovery.frames
    assert (offset, skip) == (1, "s-1")
    assert frame == wire.event_frame("ev", '{"a":1}', "r", position.offset, position.epoch)


async def test_a_room_heard_again_after_its_last_local_member_left(cluster: Any) -> None:
    a, b = await cluster(), await cluster()
    publisher = await cluster.client(a.url)
    first = await cluster.client(b.url)
    await first.join("r")
    await first.leave("r")  # node b has nobody in r: it unsubscribes
    second = await cluster.client(b.url)
    box = inbox(second)
    await second.join("r")  # and subscribes again
    await publisher.emit("post", {"room": "r", "n": 1})
    await eventually(lambda: box == [1])

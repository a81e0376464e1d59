"""Nodes as separate processes on one Redis: a node killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from switchboard.realtime import HubClient, RoomEvent, connect

from .conftest import eventually
from .redis_helpers import RedisServer, free_port, node_script

pytestmark = pytest.mark.timeout(90)


class Cluster:
    def __init__(self, redis: RedisServer) -> None:
        self.redis = redis
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(self) -> str:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, str(node_script()), self.redis.url, str(port)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        self.procs[port] = proc
        return f"ws://127.0.0.1:{port}/rt"

    def kill(self, url: str) -> None:
        port = int(url.split(":")[2].split("/")[0])
        proc = self.procs.pop(port)
        proc.send_signal(signal.SIGKILL)  # our own child, by PID
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait(10)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    redis = RedisServer()
    redis.start()
    result = Cluster(redis)
    yield result
    result.stop_all()
    redis.cleanup()


async def test_a_killed_node_leaves_presence_and_its_clients_move(cluster: Cluster) -> None:
    a, b, c = cluster.start(), cluster.start(), cluster.start()
    clients: list[HubClient] = []

    async def client(urls: list[str], user: str) -> HubClient:
        joined = await connect(urls, auth={"user": user}, backoff=(0.05, 0.2))
        clients.append(joined)
        await joined.join("team")
        return joined

    try:
        watcher = await client([c], "watcher")
        ada = await client([a, b], "ada")  # on node a, b as its fallback
        bob = await client([b], "bob")
        posted: list[int] = []
        rooms: list[RoomEvent] = []
        ada.on("posted")(lambda data, meta: posted.append(data))
        ada.on_room(rooms.append)
        await eventually(lambda: set(watcher.presence("team")) == {"watcher", "ada", "bob"})
        await bob.emit("post", {"room": "team", "n": 1})
        await eventually(lambda: posted == [1])

        # A second user only on node a, who will not come back.
        cy = await client([a], "cy")
        cy.reconnect_enabled = False
        await eventually(lambda: "cy" in watcher.presence("team"))

        cluster.kill(a)
        await bob.emit("post", {"room": "team", "n": 2})  # while ada moves to node b
        await ada.wait_for_state("connected", timeout=10)
        assert await ada.emit("whereami") == int(b.split(":")[2].split("/")[0])
        await eventually(lambda: posted == [1, 2], timeout=10)  # recovered, no duplicate
        assert rooms[-1].recovered is True
        # The node's lease runs out (1.5 s in redis_node.py) and another node reaps it:
        # cy leaves, ada stays (she is back through node b).
        await eventually(lambda: "cy" not in watcher.presence("team"), timeout=10)
        assert set(watcher.presence("team")) == {"watcher", "ada", "bob"}
    finally:
        for joined in clients:
            await joined.close()


async def test_three_processes_one_room(cluster: Cluster) -> None:
    urls = [cluster.start() for _ in range(3)]
    members: list[HubClient] = []
    boxes: list[list[int]] = []
    try:
        for i, url in enumerate(urls * 3):
            member = await connect(url, auth={"user": f"u{i}"})
            members.append(member)
            box: list[int] = []
            member.on("posted")(lambda data, meta, box=box: box.append(data))
            boxes.append(box)
            await member.join("r")
        sends: list[Any] = []
        for n in range(60):
            sends.append(members[n % len(members)].emit("post", {"room": "r", "n": n}))
            if len(sends) == 6:
                await asyncio.gather(*sends)
                sends = []
        await eventually(lambda: all(len(box) == 60 for box in boxes), timeout=10)
        await asyncio.sleep(0.2)
        expected = sorted(boxes[0])
        assert all(sorted(box) == expected == list(range(60)) for box in boxes)
        assert all(box == boxes[0] for box in boxes)  # the same order everywhere
    finally:
        for member in members:
            await member.close()

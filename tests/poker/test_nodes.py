"""Two nodes of the poker app, each a server with its own hub on one Redis and one
SQLite file, as two processes on a host would be: a room's members on different
nodes play together, and nothing the app needs lives in only one of them."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.realtime import RedisBroker

from .conftest import Poker, until

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


@pytest.fixture
def redis() -> Iterator[Any]:
    from realtime.redis_helpers import RedisServer  # tests/realtime

    server = RedisServer()
    server.start()
    yield server
    server.stop()
    server.cleanup()


async def test_two_nodes_one_room(redis: Any, tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite3"
    a = Poker(db, broker=RedisBroker(redis.url), grace=0.5, sweep_interval=0.5)
    b = Poker(db, broker=RedisBroker(redis.url), grace=0.5, sweep_interval=0.5)
    await a.start()
    await b.start()
    try:
        created = await a.create("Ann")
        code = created["code"]
        ann = await a.player(code, created)
        bob = await b.player(code, await b.seat(code, "Bob"))  # on the other node
        cy = await a.player(code, await a.seat(code, "Cy"))
        await until(
            lambda: all(
                len(p.state["seats"]) == 3 and all(s["present"] for s in p.state["seats"])
                for p in (ann, bob, cy)
            )
        )

        await ann.emit("poker.start")
        await bob.emit("poker.vote", {"round": 1, "card": "5"})
        await cy.emit("poker.vote", {"round": 1, "card": "3"})
        await until(lambda: all(s.get("voted") for s in ann.state["seats"][1:]))
        for player in (ann, bob, cy):
            assert not any(s.get("vote") for state in player.states for s in state["seats"])

        # Cy's connection moves to node B within the grace period: still present
        # (node A's timer asks every node's presence), her card still on the table.
        cy.client.urls = [b.url]
        await cy.client.reconnect()
        await cy.client.wait_for_state("connected")
        await asyncio.sleep(1.0)
        assert bob.seat_view(cy.seat)["present"] and bob.seat_view(cy.seat)["voted"]

        stats = (await ann.emit("poker.reveal"))["stats"]
        assert (stats["low"], stats["high"]) == ("3", "5")
        await until(lambda: bob.state["phase"] == "revealed" and cy.state["phase"] == "revealed")

        # A kick made on node A of someone on node B: told through the hub, and node
        # B's sweep closes the connection of the seat that is gone.
        await ann.emit("poker.kick", {"seat": bob.seat})
        await until(lambda: ("poker.kicked", {"room": code}) in bob.events)
        await until(lambda: bob.client.state == "failed", timeout=5)
        await until(lambda: [s["name"] for s in cy.state["seats"]] == ["Ann", "Cy"])

        # The moderator drops for good on node A: node A's grace timer, node B's Cy
        # takes the role.
        await ann.client.close()
        await until(lambda: cy.state["moderator"] == cy.seat, timeout=5)
    finally:
        await a.close()
        await b.close()


async def test_a_node_hears_a_room_again_after_its_last_member_left(
    redis: Any, tmp_path: Path
) -> None:
    db = tmp_path / "shared.sqlite3"
    a = Poker(db, broker=RedisBroker(redis.url), grace=0.5, sweep_interval=0.5)
    b = Poker(db, broker=RedisBroker(redis.url), grace=0.5, sweep_interval=0.5)
    await a.start()
    await b.start()
    try:
        created = await a.create("Ann")
        ann = await a.player(created["code"], created)
        bob = await b.player(ann.code, await b.seat(ann.code, "Bob"))
        for there, url in ((b, b.url), (a, a.url)):  # to node B, and back to node A
            ann.client.urls = [url]
            await ann.client.reconnect()
            await ann.client.wait_for_state("connected")
            await until(lambda there=there: len(there.app.hub.members(f"poker:{ann.code}")) >= 1)
        await bob.emit("poker.rename", {"name": "Robert"})
        await until(lambda: ann.seat_view(bob.seat)["name"] == "Robert", timeout=3)
    finally:
        await a.close()
        await b.close()

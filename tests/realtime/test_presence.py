"""Presence: users (not connections) as members, diffs, the grace period."""

from __future__ import annotations

import asyncio
from typing import Any

from switchboard.realtime import (
    Hello,
    Hub,
    HubClient,
    Identity,
    PresenceEntry,
    RoomOptions,
    Session,
)

from .conftest import Serve, eventually


def presence_hub(grace: float = 0.0) -> Hub:
    hub = Hub(rooms=RoomOptions(presence_grace=grace), presence_interval=0.01)

    @hub.on_connect
    def identify(hello: Hello) -> Identity:
        name = hello.auth["user"]
        return Identity(name, {"name": name.title()}, rooms=("team",))

    return hub


def diffs(client: HubClient, room: str = "team") -> list[tuple[set[str], set[str]]]:
    """The presence diffs reported to ``client`` (not full states). Its own join's
    diff, which may come after the state that listed it, changes nothing and is not
    reported."""
    seen: list[tuple[set[str], set[str]]] = []

    @client.on_presence(room)
    def changed(members: dict[str, Any], joins: dict[str, Any], leaves: dict[str, Any]) -> None:
        if joins or leaves:
            seen.append((set(joins), set(leaves)))

    return seen


async def test_two_tabs_of_one_user_are_one_member(serve_hub: Serve) -> None:
    hub = presence_hub()
    served = await serve_hub(hub)
    ada = await served.client(auth={"user": "ada"})
    await eventually(lambda: "ada" in ada.presence("team"))
    seen = diffs(ada)
    bob1 = await served.client(auth={"user": "bob"})
    bob2 = await served.client(auth={"user": "bob"})
    await eventually(lambda: set(ada.presence("team")) == {"ada", "bob"})
    await eventually(lambda: set(bob2.presence("team")) == {"ada", "bob"})
    assert ada.presence("team")["bob"] == {"info": {"name": "Bob"}}
    assert await hub.presence("team") == {
        "ada": PresenceEntry({"name": "Ada"}, 1),
        "bob": PresenceEntry({"name": "Bob"}, 2),
    }
    await bob1.close()
    await asyncio.sleep(0.1)
    assert set(ada.presence("team")) == {"ada", "bob"}  # bob still has a tab open
    assert (await hub.presence("team"))["bob"].connections == 1
    await bob2.close()
    await eventually(lambda: set(ada.presence("team")) == {"ada"})
    assert seen == [({"bob"}, set()), (set(), {"bob"})]  # one join, one leave


async def test_a_reload_within_the_grace_period_does_not_flap(serve_hub: Serve) -> None:
    served = await serve_hub(presence_hub(grace=0.3))
    ada = await served.client(auth={"user": "ada"})
    await eventually(lambda: "ada" in ada.presence("team"))
    seen = diffs(ada)
    bob = await served.client(auth={"user": "bob"})
    await eventually(lambda: "bob" in ada.presence("team"))
    await bob.close()
    await served.client(auth={"user": "bob"})  # the page reloaded
    await asyncio.sleep(0.5)
    assert seen == [({"bob"}, set())]
    assert "bob" in ada.presence("team")


async def test_leave_is_announced_after_the_grace_period(serve_hub: Serve) -> None:
    served = await serve_hub(presence_hub(grace=0.1))
    ada = await served.client(auth={"user": "ada"})
    bob = await served.client(auth={"user": "bob"})
    await eventually(lambda: "bob" in ada.presence("team"))
    await bob.close()
    await asyncio.sleep(0.05)
    assert "bob" in ada.presence("team")  # still within the grace period
    await eventually(lambda: "bob" not in ada.presence("team"))


async def test_an_explicit_leave_is_immediate(serve_hub: Serve) -> None:
    hub = presence_hub(grace=60)

    @hub.on("go")
    async def go(session: Session) -> None:
        await session.leave("team")

    served = await serve_hub(hub)
    ada = await served.client(auth={"user": "ada"})
    bob = await served.client(auth={"user": "bob"})
    await eventually(lambda: "bob" in ada.presence("team"))
    await bob.emit("go")
    await eventually(lambda: "bob" not in ada.presence("team"))
    assert "team" not in bob.rooms
    assert [s.user.id for s in hub.members("team")] == ["ada"]


async def test_a_crowd_joining_costs_few_diffs(serve_hub: Serve) -> None:
    served = await serve_hub(presence_hub())
    ada = await served.client(auth={"user": "ada"})
    await eventually(lambda: "ada" in ada.presence("team"))
    seen = diffs(ada)
    await asyncio.gather(*(served.client(auth={"user": f"u{i}"}) for i in range(30)))
    await eventually(lambda: len(ada.presence("team")) == 31)
    assert sum(len(joins) for joins, _ in seen) == 30
    assert len(seen) < 30  # batched

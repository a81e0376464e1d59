"""Missed-message recovery (offsets and epochs), session resumption, idempotent emits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from switchboard.realtime import Hello, Hub, HubClient, Identity, RoomOptions, Session
from switchboard.realtime.client import RoomEvent

from .conftest import Serve, eventually, recv_until


def room_hub(**room_options: Any) -> Hub:
    hub = Hub(rooms=RoomOptions(**room_options))

    @hub.authorize_join
    def anyone(session: Session, room: str) -> bool:
        return True

    @hub.on("post")
    async def post(session: Session, data: dict[str, Any]) -> None:
        await hub.to(data["room"]).emit("posted", data["n"])

    return hub


def record(client: HubClient) -> tuple[list[tuple[int, int | None]], list[RoomEvent]]:
    events: list[tuple[int, int | None]] = []
    rooms: list[RoomEvent] = []
    client.on("posted")(lambda data, meta: events.append((data, meta.offset)))
    client.on_room(rooms.append)
    return events, rooms


async def drop(client: HubClient) -> None:
    """Cut the connection from the client side without a closing handshake."""
    assert client._ws is not None and client._ws._transport is not None
    client._ws._transport.abort()


async def test_a_reconnecting_client_gets_exactly_what_it_missed(serve_hub: Serve) -> None:
    served = await serve_hub(room_hub())
    sender = await served.client()
    reader = await served.client()
    events, rooms = record(reader)
    await reader.join("r")
    for n in range(3):
        await sender.emit("post", {"room": "r", "n": n})
    await eventually(lambda: len(events) == 3)
    await drop(reader)
    await reader.wait_for_state("reconnecting")
    for n in range(3, 8):  # missed while away
        await sender.emit("post", {"room": "r", "n": n})
    await reader.wait_for_state("connected")
    await sender.emit("post", {"room": "r", "n": 8})
    await eventually(lambda: len(events) == 9)
    await asyncio.sleep(0.05)
    assert events == [(n, n + 1) for n in range(9)]  # in order, no gap, no duplicate
    assert [(e.type, e.recovered) for e in rooms] == [("joined", None), ("joined", True)]


async def test_history_too_short_says_not_recovered(serve_hub: Serve) -> None:
    served = await serve_hub(room_hub(history_size=2))
    sender = await served.client()
    reader = await served.client()
    events, rooms = record(reader)
    await reader.join("r")
    await sender.emit("post", {"room": "r", "n": 0})
    await eventually(lambda: len(events) == 1)
    await drop(reader)
    await reader.wait_for_state("reconnecting")
    for n in range(1, 5):
        await sender.emit("post", {"room": "r", "n": n})
    await reader.wait_for_state("connected")
    await eventually(lambda: len(rooms) == 2)
    assert rooms[-1] == RoomEvent("joined", "r", False)
    assert events == [(0, 1)]  # nothing replayed: the app reloads the room's state
    await sender.emit("post", {"room": "r", "n": 5})
    await eventually(lambda: len(events) == 2)
    assert events[-1] == (5, 6)


async def test_a_new_epoch_says_not_recovered(serve_hub: Serve) -> None:
    """A position from another stream (a restarted hub) is never taken for a gap."""
    served = await serve_hub(room_hub())
    ws = await served.raw()
    await ws.send(json.dumps({"t": "join", "room": "r", "id": 1, "offset": 5, "epoch": "old"}))
    joined = await recv_until(ws, "joined")
    assert joined["recovered"] is False
    assert joined["offset"] == 0 and joined["epoch"] != "old"
    ack = await recv_until(ws, "ack")
    assert ack["data"]["recovered"] is False


async def test_a_position_from_the_future_is_not_recovered(serve_hub: Serve) -> None:
    served = await serve_hub(room_hub())
    ws = await served.raw()
    await ws.send(json.dumps({"t": "join", "room": "r", "id": 1}))
    epoch = (await recv_until(ws, "joined"))["epoch"]
    other = await served.raw()
    await other.send(json.dumps({"t": "join", "room": "r", "id": 1, "offset": 9, "epoch": epoch}))
    assert (await recv_until(other, "joined"))["recovered"] is False


async def test_history_expires_by_age(serve_hub: Serve) -> None:
    served = await serve_hub(room_hub(history_ttl=0.1))
    sender = await served.client()
    await sender.emit("post", {"room": "r", "n": 0})
    await sender.emit("post", {"room": "r", "n": 1})
    epoch = (await served.hub.position("r")).epoch  # type: ignore[union-attr]
    await asyncio.sleep(0.15)
    ws = await served.raw()
    await ws.send(json.dumps({"t": "join", "room": "r", "id": 1, "offset": 0, "epoch": epoch}))
    assert (await recv_until(ws, "joined"))["recovered"] is False
    late = await served.raw()
    await late.send(json.dumps({"t": "join", "room": "r", "id": 1, "offset": 2, "epoch": epoch}))
    assert (await recv_until(late, "joined"))["recovered"] is True  # missed nothing


async def test_publications_during_recovery_are_not_lost(serve_hub: Serve) -> None:
    """Live publications that arrive while a joining session reads history queue behind it."""
    hub = room_hub()
    served = await serve_hub(hub)
    sender = await served.client()
    for n in range(20):
        await sender.emit("post", {"room": "r", "n": n})
    position = await hub.position("r")
    assert position is not None
    reader = await served.client()
    events, _ = record(reader)
    reader._rooms["r"] = type(position)(10, position.epoch)  # it had seen up to 10
    burst = asyncio.gather(*(sender.emit("post", {"room": "r", "n": n}) for n in range(20, 40)))
    await reader.join("r")
    await burst
    await eventually(lambda: len(events) == 30)
    assert [offset for _, offset in events] == list(range(11, 41))


async def test_a_resumed_session_keeps_its_id_and_server_joined_rooms(serve_hub: Serve) -> None:
    hub = Hub()

    @hub.on("enter")
    async def enter(session: Session, room: str) -> None:
        await session.join(room)  # joined by the server: no authorize_join needed

    @hub.on("post")
    async def post(session: Session, data: dict[str, Any]) -> None:
        await hub.to(data["room"]).emit("posted", data["n"])

    served = await serve_hub(hub)
    sender = await served.client()
    reader = await served.client()
    events, rooms = record(reader)
    await reader.emit("enter", "vip")
    first_id = reader.session_id
    await drop(reader)
    await reader.wait_for_state("reconnecting")
    await sender.emit("post", {"room": "vip", "n": 1})
    await reader.wait_for_state("connected")
    await eventually(lambda: events == [(1, 1)])
    assert reader.session_id == first_id
    assert rooms[-1] == RoomEvent("joined", "vip", True)


async def test_a_retried_emit_is_applied_once(serve_hub: Serve) -> None:
    hub = Hub()
    votes: list[str] = []

    @hub.on_connect
    def identify(hello: Hello) -> Identity:
        return Identity(hello.auth["user"])

    @hub.on("vote")
    async def vote(session: Session, card: str) -> dict[str, int]:
        votes.append(card)
        return {"count": len(votes)}

    served = await serve_hub(hub)
    emit = {"t": "emit", "event": "vote", "data": "5", "id": 1, "key": "k-1"}
    ada = await served.raw({"t": "hello", "v": 1, "auth": {"user": "ada"}})
    await ada.send(json.dumps(emit))
    first = await recv_until(ada, "ack")
    await ada.send(json.dumps({**emit, "id": 2}))  # retried on the same connection
    assert (await recv_until(ada, "ack"))["data"] == {"count": 1}
    await ada.close()
    # The same user over another connection, the same key: not applied again.
    ada_again = await served.raw({"t": "hello", "v": 1, "auth": {"user": "ada"}})
    await ada_again.send(json.dumps({**emit, "id": 7}))
    retry = await recv_until(ada_again, "ack")
    assert (retry["id"], retry["data"]) == (7, first["data"]) == (7, {"count": 1})
    # Keys are per user: another user's "k-1" is another emit.
    bob = await served.raw({"t": "hello", "v": 1, "auth": {"user": "bob"}})
    await bob.send(json.dumps(emit))
    assert (await recv_until(bob, "ack"))["data"] == {"count": 2}
    assert votes == ["5", "5"]


async def test_retries_across_a_reconnect_count_once(serve_hub: Serve) -> None:
    """The Python client re-sends an emit whose ack it did not get, with its key."""
    hub = Hub()
    votes: list[str] = []
    gate = asyncio.Event()

    @hub.on("vote")
    async def vote(session: Session, card: str) -> int:
        votes.append(card)
        await gate.wait()  # the ack is held back until the client has reconnected
        return len(votes)

    served = await serve_hub(hub)
    client = await served.client()
    pending = asyncio.ensure_future(client.emit("vote", "8"))
    await eventually(lambda: votes == ["8"])
    await drop(client)
    await client.wait_for_state("connected")  # resumed: the same user, the same key
    gate.set()
    assert await pending == 1
    assert votes == ["8"]


async def test_a_retry_after_the_server_closed_mid_handler_gets_its_ack(serve_hub: Serve) -> None:
    """The handler that was running when its connection closed finishes once; the
    resumed client's retry gets its outcome (and later emits are not stuck behind it)."""
    hub = Hub()
    votes: list[str] = []
    gate = asyncio.Event()

    @hub.on("vote")
    async def vote(session: Session, card: str) -> int:
        votes.append(card)
        await gate.wait()
        return len(votes)

    @hub.on("after")
    def after(session: Session) -> str:
        return "ok"

    served = await serve_hub(hub)
    client = await served.client()
    pending = asyncio.ensure_future(client.emit("vote", "8"))
    await eventually(lambda: votes == ["8"])
    (session,) = hub.sessions
    await session.close(1012, "restart")  # waits for the closing handshake
    await client.wait_for_state("connected")
    gate.set()
    assert await pending == 1
    assert await client.emit("after") == "ok"
    assert votes == ["8"]


async def test_the_sender_skipped_by_an_emit_is_not_replayed_it(serve_hub: Serve) -> None:
    hub = room_hub()

    @hub.on("say")
    async def say(session: Session, n: int) -> None:
        await hub.to("r").emit("posted", n, skip=session)

    served = await serve_hub(hub)
    sender = await served.client()
    events, rooms = record(sender)
    await sender.join("r")
    await sender.emit("say", 1)  # not sent to the sender itself
    await drop(sender)
    await sender.wait_for_state("connected")
    await eventually(lambda: len(rooms) == 2)
    await sender.emit("say", 2)
    other = await served.client()
    other_events, _ = record(other)
    await other.join("r")
    await sender.emit("post", {"room": "r", "n": 3})
    await eventually(lambda: len(events) == 1 and len(other_events) == 1)
    assert rooms[-1] == RoomEvent("joined", "r", True)
    assert events == [(3, 3)]  # neither 1 nor 2 came back to their sender

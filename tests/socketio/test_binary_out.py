"""Bytes from the hub to Socket.IO clients (python-socketio's AsyncClient): a
handler's return value, ``session.emit``, ``session.call`` and a room emit become
binary attachments (BINARY_EVENT/BINARY_ACK), over polling and WebSocket."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sio_helpers import ServeBoth, blob_hub

from switchboard.realtime import Session, connect

TRANSPORTS = [["polling"], ["websocket"]]


@pytest.mark.parametrize("transports", TRANSPORTS)
async def test_a_handler_returns_bytes(serve_both: ServeBoth, transports: list[str]) -> None:
    both = await serve_both(blob_hub())
    client = await both.sio(transports=transports)
    reply = await client.call("blob", 200, timeout=5)
    assert reply == {"n": 200, "data": bytes(range(200)), "parts": [b"\xff", {"deep": b"\x00"}]}


@pytest.mark.parametrize("transports", TRANSPORTS)
async def test_session_emit_carries_bytes(serve_both: ServeBoth, transports: list[str]) -> None:
    both = await serve_both(blob_hub())
    client = await both.sio(transports=transports)
    got: asyncio.Queue[Any] = asyncio.Queue()
    client.on("pushed", got.put_nowait)
    await client.emit("push")
    assert await asyncio.wait_for(got.get(), 5) == {"blob": b"\x01\x02"}


async def test_session_call_carries_bytes(serve_both: ServeBoth) -> None:
    hub = blob_hub()
    answers: list[Any] = []

    @hub.on("ask.me")
    async def ask_me(session: Session) -> None:
        answers.append(await session.call("question", {"file": b"\x09\x08"}, timeout=5))

    both = await serve_both(hub)
    client = await both.sio(transports=["websocket"])
    client.on("question", lambda data: len(data["file"]))
    await client.emit("ask.me")
    for _ in range(200):
        if answers:
            break
        await asyncio.sleep(0.01)
    assert answers == [2]


async def test_a_room_emit_with_bytes_reaches_every_kind_of_member(serve_both: ServeBoth) -> None:
    both = await serve_both(blob_hub())
    received: asyncio.Queue[Any] = asyncio.Queue()
    polling = await both.sio(transports=["polling"])
    websockets = [await both.sio(transports=["websocket"]) for _ in range(2)]  # one framing
    for client in (polling, *websockets):
        client.on("blobbed", lambda *args: received.put_nowait(list(args)))
        assert await client.call("enter", "lobby", timeout=5) == {"joined": "lobby"}
    native = await connect(both.native_url)
    try:
        native_got: asyncio.Queue[Any] = asyncio.Queue()
        native.on("blobbed")(lambda data, meta: native_got.put_nowait(data))
        assert await native.emit("enter", "lobby") == {"joined": "lobby"}
        await native.emit("room.blob", "lobby")
        expected = [b"\x07", b"ab", "text"]
        assert await asyncio.wait_for(native_got.get(), 5) == expected
        # One argument, a list (the hub's data), as for every event.
        for _ in range(3):
            assert await asyncio.wait_for(received.get(), 5) == [expected]
    finally:
        await native.close()


async def test_an_apps_own_dollar_binary_object_stays_json(serve_both: ServeBoth) -> None:
    both = await serve_both(blob_hub())
    client = await both.sio(transports=["websocket"])
    mine = {"$binary": "not base64!"}
    assert await client.call("echo", mine, timeout=5) == {"echo": mine, "user": client.get_sid()}

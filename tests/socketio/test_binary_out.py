"""Bytes from the hub to Socket.IO clients (python-socketio's AsyncClient): a
handler's return value, ``session.emit``, ``session.call`` and a room emit become
binary attachments (BINARY_EVENT/BINARY_ACK), over polling and WebSocket."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sio_helpers import ServeBoth, blob_hub

from switchboard.realtime import Session

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
    answers: asyncio.Queue[Any] = asyncio.Queue()

    @hub.on("ask.me")
    async def ask_me(session: Session) -> None:
        answers.put_nowait(await session.call("question", {"file": b"\x09\x08"}, timeout=5))

    both = await serve_both(hub)
    client = await both.sio(transports=["websocket"])
    client.on("question", lambda data: len(data["file"]))
    await client.emit("ask.me")
    assert await asyncio.wait_for(answers.get(), 5) == 2


async def test_a_room_emit_with_bytes_reaches_every_kind_of_member(serve_both: ServeBoth) -> None:
    both = await serve_both(blob_hub())
    members = await both.members("blobbed", websockets=2)  # framed once for both
    await members.native.emit("room.blob", "lobby")
    expected = [b"\x07", b"ab", "text"]
    assert await asyncio.wait_for(members.native_got.get(), 5) == expected
    for _ in members.sio:  # one argument, a list (the hub's data), as for every event
        assert await asyncio.wait_for(members.sio_got.get(), 5) == [expected]


async def test_an_apps_own_dollar_binary_object_stays_json(serve_both: ServeBoth) -> None:
    both = await serve_both(blob_hub())
    client = await both.sio(transports=["websocket"])
    mine = {"$binary": "not base64!"}
    assert await client.call("echo", mine, timeout=5) == {"echo": mine, "user": client.get_sid()}

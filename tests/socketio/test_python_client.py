"""python-socketio's AsyncClient against the hub: the same handlers as native clients."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from sio_helpers import ServeBoth, echo_hub

from switchboard.realtime import Identity, Session, Unauthorized
from switchboard.realtime.session import Hello


async def test_polling_then_websocket_with_an_ack(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub())
    client = await both.sio()
    assert client.transport() == "polling" or client.transport() == "websocket"
    reply = await client.call("echo", {"n": 1}, timeout=5)
    assert reply == {"echo": {"n": 1}, "user": client.get_sid()}
    for _ in range(100):  # the upgrade happens in the background
        if client.transport() == "websocket":
            break
        await asyncio.sleep(0.02)
    assert client.transport() == "websocket"
    assert await client.call("echo", "after the upgrade", timeout=5) == {
        "echo": "after the upgrade",
        "user": client.get_sid(),
    }
    assert [s.id for s in both.hub.sessions] == [client.get_sid()]


async def test_websocket_only(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub())
    client = await both.sio(transports=["websocket"])
    assert client.transport() == "websocket"
    assert await client.call("echo", [1, 2], timeout=5) == {
        "echo": [1, 2],
        "user": client.get_sid(),
    }


async def test_polling_only(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub())
    client = await both.sio(transports=["polling"])
    assert client.transport() == "polling"
    assert await client.call("echo", "x", timeout=5) == {"echo": "x", "user": client.get_sid()}


async def test_auth_reaches_on_connect_and_a_refusal_is_a_connect_error(
    serve_both: ServeBoth,
) -> None:
    hub = echo_hub()

    @hub.on_connect
    def identify(hello: Hello) -> Identity:
        if not isinstance(hello.auth, dict) or hello.auth.get("token") != "t0ken":
            raise Unauthorized("bad token")
        return Identity("ada", {"name": "Ada"})

    both = await serve_both(hub)
    client = await both.sio(auth={"token": "t0ken"})
    assert (await client.call("echo", None, timeout=5))["user"] == "ada"

    refused = await both.sio(connect=False)
    errors: list[Any] = []
    refused.on("connect_error", errors.append)
    try:
        await refused.connect(both.url, auth={"token": "nope"}, wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        pass
    else:
        raise AssertionError("the connection was accepted")
    assert errors[0]["message"] == "unauthorized: bad token"
    assert errors[0]["data"]["code"] == "unauthorized"
    assert hub.metrics.refused == 1


async def test_unknown_event_and_bad_payload_are_error_acks(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub())
    client = await both.sio()
    reply = await client.call("nope", 1, timeout=5)
    assert reply["error"]["code"] == "unknown_event"
    reply = await client.call("enter", 42, timeout=5)  # the handler takes a str
    assert reply["error"]["code"] == "invalid_payload" or reply["error"]["code"] == "bad_message"


async def test_server_calls_the_client(serve_both: ServeBoth) -> None:
    hub = echo_hub()
    answers: list[Any] = []

    @hub.on("ask.me")
    async def ask_me(session: Session) -> None:
        answers.append(await session.call("question", {"q": 6}, timeout=5))

    both = await serve_both(hub)
    client = await both.sio()

    @client.on("question")
    def question(data: dict[str, int]) -> int:
        return data["q"] * 7

    await client.emit("ask.me")
    for _ in range(200):
        if answers:
            break
        await asyncio.sleep(0.01)
    assert answers == [42]


async def test_a_room_emit_reaches_socketio_and_native_members(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub())
    members = await both.members("shouted")
    await members.sio[0].emit("shout", {"room": "lobby", "text": "hello"})
    assert await asyncio.wait_for(members.native_got.get(), 5) == "hello"
    await members.native.emit("shout", {"room": "lobby", "text": "from native"})
    assert await asyncio.wait_for(members.native_got.get(), 5) == "from native"
    received = [(await asyncio.wait_for(members.sio_got.get(), 5))[0] for _ in range(4)]
    assert sorted(received) == ["from native", "from native", "hello", "hello"]


async def test_binary_attachments_over_polling_and_websocket(serve_both: ServeBoth) -> None:
    hub = echo_hub()

    @hub.on("size")
    def size(session: Session, data: dict[str, Any]) -> dict[str, Any]:
        return {name: [len(blob), blob[0]] for name, blob in data.items()}

    both = await serve_both(hub)
    for transports in (["polling"], ["websocket"]):
        client = await both.sio(transports=transports)
        blobs = {"a": b"\x00" * 3, "b": b"\xff\x01"}  # base64 over polling, frames over a WebSocket
        assert await client.call("size", blobs, timeout=5) == {"a": [3, 0], "b": [2, 255]}
        await client.disconnect()

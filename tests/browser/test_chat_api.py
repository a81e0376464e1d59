"""The chat demo without a browser: its HTTP API over plain HTTP, its WebSocket with
switchboard.connect, and the ChatRoom rules."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import switchboard
from switchboard.apps.chat import ChatRoom, InvalidChatMessage, create_app

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def server() -> AsyncIterator[switchboard.Server]:
    async with switchboard.serve(
        create_app(poll_interval=0.2, history_size=5), "127.0.0.1", 0
    ) as s:
        yield s


class Answer:
    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body

    def json(self) -> Any:
        assert self.content_type == "application/json", self.content_type
        return json.loads(self.body)


async def request(
    server: switchboard.Server, method: str, path: str, body: bytes | str | None = None
) -> Answer:
    """One HTTP request with http.client, in a thread: the server runs on this loop."""

    def call() -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return Answer(response.status, response.getheader("Content-Type", ""), response.read())
        finally:
            conn.close()

    return await asyncio.to_thread(call)


async def post(server: switchboard.Server, **fields: object) -> Answer:
    return await request(server, "POST", "/api/messages", json.dumps(fields))


def ws_uri(server: switchboard.Server) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/chat"


async def next_event(ws: switchboard.WebSocket) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return event


# -- HTTP API ---------------------------------------------------------------------


async def test_history_starts_empty_with_the_settings(server: switchboard.Server) -> None:
    answer = await request(server, "GET", "/api/history")
    assert answer.status == 200
    assert answer.json() == {
        "messages": [],
        "last_id": 0,
        "poll_interval": 0.2,
        "limits": {"max_length": 2000, "max_name": 32, "history_size": 5},
    }


async def test_post_then_poll(server: switchboard.Server) -> None:
    answer = await post(server, author="  ann ", text="hello <b>", sent=1234.5)
    assert answer.status == 200
    message = answer.json()["message"]
    assert {k: v for k, v in message.items() if k != "time"} == {
        "id": 1,
        "author": "ann",
        "text": "hello <b>",
        "sent": 1234.5,
        "via": "polling",
    }
    assert isinstance(message["time"], float)

    polled = (await request(server, "GET", "/api/messages?after=0")).json()
    assert polled == {"messages": [message], "last_id": 1}
    polled = (await request(server, "GET", "/api/messages?after=1")).json()
    assert polled == {"messages": [], "last_id": 1}
    assert (await request(server, "GET", "/api/messages")).json()["messages"] == [message]


async def test_history_keeps_the_last_history_size_messages(server: switchboard.Server) -> None:
    for n in range(1, 8):
        assert (await post(server, author="ann", text=f"m{n}")).status == 200
    history = (await request(server, "GET", "/api/history")).json()
    assert [m["text"] for m in history["messages"]] == ["m3", "m4", "m5", "m6", "m7"]
    assert history["last_id"] == 7
    polled = (await request(server, "GET", "/api/messages?after=5")).json()
    assert [m["id"] for m in polled["messages"]] == [6, 7]


async def test_limits_are_inclusive(server: switchboard.Server) -> None:
    answer = await post(server, author="n" * 32, text="t" * 2000)
    assert answer.status == 200
    assert answer.json()["message"]["text"] == "t" * 2000


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"author": "ann", "text": "x" * 2001}, "text too long: 2001 characters (limit 2000)"),
        ({"author": "ann", "text": "  \n "}, "text is empty"),
        ({"author": "ann", "text": 42}, "text must be a string"),
        ({"author": "ann"}, "text must be a string"),
        ({"author": "a" * 33, "text": "hi"}, "author too long: 33 characters (limit 32)"),
        ({"author": " ", "text": "hi"}, "author is empty"),
        ({"text": "hi"}, "author must be a string"),
        ({"author": "ann\x1b[31m", "text": "hi"}, "author contains control characters"),
        ({"author": "\u202enna", "text": "hi"}, "author contains control characters"),
        (
            {"author": "ann", "text": "hi", "sent": "now"},
            "sent must be a timestamp in milliseconds",
        ),
        ({"author": "ann", "text": "hi", "sent": True}, "sent must be a timestamp in milliseconds"),
        (["ann", "hi"], 'expected a JSON object like {"author": ..., "text": ...}'),
    ],
)
async def test_post_refuses_bad_messages(
    server: switchboard.Server, body: object, error: str
) -> None:
    answer = await request(server, "POST", "/api/messages", json.dumps(body))
    assert answer.status == 400
    assert answer.json() == {"error": error}
    assert (await request(server, "GET", "/api/history")).json()["messages"] == []


async def test_post_refuses_invalid_json(server: switchboard.Server) -> None:
    answer = await request(server, "POST", "/api/messages", '{"author": "ann",')
    assert answer.status == 400
    assert answer.json()["error"].startswith("invalid JSON body: ")


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "", "1" * 19, "%C2%B2"])
async def test_poll_refuses_a_bad_after(server: switchboard.Server, after: str) -> None:
    answer = await request(server, "GET", f"/api/messages?after={after}")
    assert answer.status == 400
    assert answer.json()["error"].startswith("after must be a message id")


async def test_pages_are_served(server: switchboard.Server) -> None:
    home = await request(server, "GET", "/")
    assert home.status == 200
    assert home.content_type == "text/html; charset=utf-8"
    assert b"<title>Switchboard chat demo</title>" in home.body
    for page in ("ws.html", "poll.html", "compare.html"):
        answer = await request(server, "GET", f"/{page}")
        assert (answer.status, answer.content_type) == (200, "text/html; charset=utf-8")
    script = await request(server, "GET", "/chat.js")
    assert (script.status, script.content_type) == (200, "text/javascript; charset=utf-8")
    assert (await request(server, "GET", "/ws/chat")).status == 426
    assert (await request(server, "GET", "/nope.html")).status == 404


# -- WebSocket ----------------------------------------------------------------------


async def test_websocket_and_polling_share_one_room(server: switchboard.Server) -> None:
    async with switchboard.connect(ws_uri(server)) as ws:
        await ws.send(json.dumps({"author": "ann", "text": "over the socket", "sent": 5.0}))
        pushed = (await next_event(ws))["message"]
        assert (pushed["id"], pushed["author"], pushed["text"], pushed["via"]) == (
            1,
            "ann",
            "over the socket",
            "websocket",
        )
        assert pushed["sent"] == 5.0
        polled = (await request(server, "GET", "/api/messages?after=0")).json()
        assert polled["messages"] == [pushed]

        posted = (await post(server, author="bob", text="over HTTP")).json()["message"]
        assert await next_event(ws) == {"type": "message", "message": posted}


async def test_every_websocket_gets_every_message(server: switchboard.Server) -> None:
    uri = ws_uri(server)
    async with switchboard.connect(uri) as ann, switchboard.connect(uri) as bob:
        await ann.send(json.dumps({"author": "ann", "text": "hi bob"}))
        for ws in (ann, bob):
            event = await next_event(ws)
            assert (event["type"], event["message"]["text"]) == ("message", "hi bob")
        await bob.send(json.dumps({"author": "bob", "text": "hi ann"}))
        for ws in (ann, bob):
            assert (await next_event(ws))["message"]["text"] == "hi ann"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (
            json.dumps({"author": "ann", "text": "x" * 2001}),
            "text too long: 2001 characters (limit 2000)",
        ),
        ("not json", "message is not valid JSON"),
        ("[" * 100_000, "message is not valid JSON"),
        ('"text"', 'expected a JSON object like {"author": ..., "text": ...}'),
        (b"\x00\x01", "expected a text message holding JSON, got a binary one"),
    ],
)
async def test_websocket_refusal_is_an_error_event(
    server: switchboard.Server, message: str | bytes, error: str
) -> None:
    async with switchboard.connect(ws_uri(server)) as ws:
        await ws.send(message)
        assert await next_event(ws) == {"type": "error", "error": error}
        # The connection stays usable.
        await ws.send(json.dumps({"author": "ann", "text": "still here"}))
        assert (await next_event(ws))["message"]["text"] == "still here"
    assert (await request(server, "GET", "/api/history")).json()["last_id"] == 1


async def test_closed_websockets_leave_the_room(server: switchboard.Server) -> None:
    async with switchboard.connect(ws_uri(server)) as ws:
        await ws.send(json.dumps({"author": "ann", "text": "one"}))
        await next_event(ws)
    async with switchboard.connect(ws_uri(server)) as ws:
        await ws.send(json.dumps({"author": "ann", "text": "two"}))
        assert (await next_event(ws))["message"]["id"] == 2
        assert len(server.connections) == 1


# -- settings and the room itself -------------------------------------------------


def test_create_app_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="poll_interval must be positive, got 0"):
        create_app(poll_interval=0)
    with pytest.raises(ValueError, match="history_size must be at least 1, got 0"):
        create_app(history_size=0)


def test_room_ids_history_and_since() -> None:
    room = ChatRoom(history_size=2, max_length=5, max_name=3)
    assert room.last_id == 0
    first = room.post("ann", "a", via="polling")
    second = room.post("bob", "b", sent=7, via="websocket")
    third = room.post("cy", "c", via="polling")
    assert [m.id for m in (first, second, third)] == [1, 2, 3]
    assert room.history() == [second, third]
    assert room.since(2) == [third]
    assert room.since(3) == []
    assert second.sent == 7.0
    assert third.to_json()["via"] == "polling"
    with pytest.raises(InvalidChatMessage, match=r"text too long: 6 characters \(limit 5\)"):
        room.post("ann", "abcdef", via="polling")
    with pytest.raises(InvalidChatMessage, match=r"author too long: 4 characters \(limit 3\)"):
        room.post("anne", "a", via="polling")
    with pytest.raises(InvalidChatMessage, match="sent must be a timestamp"):
        room.post("ann", "a", sent=float("nan"), via="polling")
    assert room.last_id == 3

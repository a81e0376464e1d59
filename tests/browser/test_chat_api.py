"""The chat demo without a browser: its HTTP API over plain HTTP, its hub with the
Python client (switchboard.realtime.connect), and the ChatRoom rules."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import switchboard
from switchboard.apps.chat import ChatRoom, InvalidChatMessage, clean_name, create_app
from switchboard.realtime import HubClient, HubError, InvalidPayload, RateLimited, Rejected, connect
from switchboard.realtime.client import EventMeta, RoomEvent

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


def hub_url(server: switchboard.Server) -> str:
    return f"ws://127.0.0.1:{server.port}/rt"


class Inbox:
    """The ``chat.message`` events a client receives, in a queue."""

    def __init__(self, client: HubClient) -> None:
        self.queue: asyncio.Queue[tuple[dict[str, Any], EventMeta]] = asyncio.Queue()
        client.on("chat.message")(lambda data, meta: self.queue.put_nowait((data, meta)))

    async def next(self) -> dict[str, Any]:
        data, _ = await self.next_with_meta()
        return data

    async def next_with_meta(self) -> tuple[dict[str, Any], EventMeta]:
        return await asyncio.wait_for(self.queue.get(), 5)


async def member(server: switchboard.Server, name: str, room: str = "lobby") -> HubClient:
    """A hub client named ``name`` in ``chat:<room>`` (close it)."""
    client: HubClient = await connect(hub_url(server), auth={"name": name})  # __await__ is Any
    await client.join(f"chat:{room}")
    return client


@contextlib.asynccontextmanager
async def joined(
    server: switchboard.Server, name: str, room: str = "lobby"
) -> AsyncIterator[HubClient]:
    client = await member(server, name, room)
    try:
        yield client
    finally:
        await client.close()


# -- HTTP API ---------------------------------------------------------------------


async def test_history_starts_empty_with_the_settings(server: switchboard.Server) -> None:
    answer = await request(server, "GET", "/api/history")
    assert answer.status == 200
    assert answer.json() == {
        "room": "lobby",
        "rooms": ["lobby", "random", "help"],
        "messages": [],
        "last_id": 0,
        "poll_interval": 0.2,
        "limits": {"max_length": 2000, "max_name": 32, "history_size": 5},
    }
    assert (await request(server, "GET", "/api/history?room=help")).json()["room"] == "help"


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


async def test_rooms_are_separate(server: switchboard.Server) -> None:
    await post(server, author="ann", text="in the lobby")
    answer = await post(server, room="random", author="bob", text="in random")
    assert answer.json()["message"]["id"] == 1  # ids count per room
    await post(server, room="random", author="bob", text="again")
    lobby = (await request(server, "GET", "/api/history?room=lobby")).json()
    assert [m["text"] for m in lobby["messages"]] == ["in the lobby"]
    polled = (await request(server, "GET", "/api/messages?room=random&after=1")).json()
    assert [m["text"] for m in polled["messages"]] == ["again"]
    assert polled["last_id"] == 2
    assert (await request(server, "GET", "/api/messages?after=0")).json()["last_id"] == 1


@pytest.mark.parametrize(
    "path", ["/api/history?room=nope", "/api/messages?room=nope&after=0", "/api/history?room="]
)
async def test_unknown_rooms_are_refused(server: switchboard.Server, path: str) -> None:
    answer = await request(server, "GET", path)
    assert answer.status == 400
    assert answer.json()["error"].startswith("unknown room ")
    assert answer.json()["error"].endswith(": the rooms are lobby, random, help")


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
        (
            {"room": "nope", "author": "ann", "text": "hi"},
            "unknown room 'nope': the rooms are lobby, random, help",
        ),
        (
            {"room": None, "author": "ann", "text": "hi"},
            "unknown room None: the rooms are lobby, random, help",
        ),
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
    for path in ("/chat.js", "/ws.js", "/rt/client.js"):  # the last one from the hub
        script = await request(server, "GET", path)
        assert (script.status, script.content_type) == (200, "text/javascript; charset=utf-8")
    assert b"export function connect(" in (await request(server, "GET", "/rt/client.js")).body
    assert (await request(server, "GET", "/rt")).status == 426
    assert (await request(server, "GET", "/nope.html")).status == 404
    metrics = (await request(server, "GET", "/metrics")).body.decode()
    assert 'switchboard_realtime_sessions{hub="chat"} 0' in metrics


# -- the hub ---------------------------------------------------------------------------


async def test_websocket_and_polling_share_each_room(server: switchboard.Server) -> None:
    async with joined(server, "ann") as ann:
        inbox = Inbox(ann)
        ack = await ann.emit("chat.send", {"room": "lobby", "text": "over the hub", "sent": 5})
        assert ack == {"id": 1}
        pushed, meta = await inbox.next_with_meta()
        assert (pushed["id"], pushed["author"], pushed["text"], pushed["via"]) == (
            1,
            "ann",
            "over the hub",
            "websocket",
        )
        assert pushed["sent"] == 5.0
        assert (meta.room, meta.offset) == ("chat:lobby", 1)
        polled = (await request(server, "GET", "/api/messages?after=0")).json()
        assert polled["messages"] == [pushed]

        posted = (await post(server, author="bob", text="over HTTP")).json()["message"]
        assert await inbox.next() == posted
        # Another room's messages go to that room's members only.
        await post(server, room="random", author="bob", text="elsewhere")
        await ann.emit("chat.send", {"room": "lobby", "text": "next"})
        assert (await inbox.next())["text"] == "next"


async def test_every_member_gets_every_message_of_its_room(server: switchboard.Server) -> None:
    ann, bob, cy = (
        await member(server, "ann"),
        await member(server, "bob"),
        await member(server, "cy", "random"),
    )
    inboxes = [Inbox(client) for client in (ann, bob, cy)]
    try:
        await ann.emit("chat.send", {"room": "lobby", "text": "hi bob"})
        await cy.emit("chat.send", {"room": "random", "text": "hi nobody"})
        for inbox in inboxes[:2]:
            assert (await inbox.next())["text"] == "hi bob"
        assert (await inboxes[2].next())["text"] == "hi nobody"
        await bob.emit("chat.send", {"room": "lobby", "text": "hi ann"})
        for inbox in inboxes[:2]:
            assert (await inbox.next())["text"] == "hi ann"
        assert inboxes[2].queue.empty()
    finally:
        for client in (ann, bob, cy):
            await client.close()


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (
            {"room": "lobby", "text": "x" * 2001},
            Rejected,
            "text too long: 2001 characters (limit 2000)",
        ),
        ({"room": "lobby", "text": " \n "}, Rejected, "text is empty"),
        (
            {"room": "nope", "text": "hi"},
            Rejected,
            "unknown room 'nope': the rooms are lobby, random, help",
        ),
        ({"room": "lobby", "text": 42}, InvalidPayload, "text: expected a string, got 42"),
        ({"room": "lobby"}, InvalidPayload, "text: missing"),
        ({"room": "lobby", "text": "hi", "sent": "now"}, InvalidPayload, "sent: "),
        ("hi", InvalidPayload, "expected an object"),
    ],
)
async def test_refusals_are_error_acks(
    server: switchboard.Server, data: object, error: type[HubError], message: str
) -> None:
    async with joined(server, "ann") as ann:
        inbox = Inbox(ann)
        with pytest.raises(error) as refused:
            await ann.emit("chat.send", data)
        assert refused.value.message.startswith(message), refused.value.message
        # The connection stays usable.
        await ann.emit("chat.send", {"room": "lobby", "text": "still here"})
        assert (await inbox.next())["text"] == "still here"
    assert (await request(server, "GET", "/api/history")).json()["last_id"] == 1


async def test_only_the_chat_rooms_can_be_joined(server: switchboard.Server) -> None:
    async with connect(hub_url(server), auth={"name": "ann"}) as ann:
        for room in ("chat:nope", "lobby", "chat:", "user:ann"):
            with pytest.raises(HubError) as refused:
                await ann.join(room)
            assert refused.value.code == "not_allowed"
        assert (await ann.join("chat:help"))["recovered"] is None
        assert list(ann.rooms) == ["chat:help"]


async def test_names_are_cleaned_and_anonymous_is_allowed(server: switchboard.Server) -> None:
    async with joined(server, "  Ann\u202e\x1b ") as ann:
        assert ann.user == {"id": "name:Ann", "info": {"name": "Ann"}}
    async with joined(server, "n" * 40) as long:
        assert long.user is not None and long.user["info"] == {"name": "n" * 32}
    for auth in (None, {"name": " \t "}, {"name": 42}, "Ann", [1]):
        async with connect(hub_url(server), auth=auth) as anonymous:
            assert anonymous.user is not None
            assert anonymous.user["info"] == {}
            assert anonymous.user["id"] == anonymous.session_id
            await anonymous.join("chat:lobby")
            await anonymous.emit("chat.send", {"room": "lobby", "text": "who am I?"})
    history = (await request(server, "GET", "/api/history")).json()["messages"]
    assert {m["author"] for m in history} == {"anonymous"}


async def test_presence_lists_each_name_once(server: switchboard.Server) -> None:
    tabs = [await member(server, "ann"), await member(server, "ann"), await member(server, "bob")]
    try:
        await tabs[2].emit("chat.send", {"room": "lobby", "text": "sync"})  # joins are done
        assert tabs[2].presence("chat:lobby") == {
            "name:ann": {"info": {"name": "ann"}},
            "name:bob": {"info": {"name": "bob"}},
        }
    finally:
        for tab in tabs:
            await tab.close()


async def test_sending_too_fast_is_rate_limited(server: switchboard.Server) -> None:
    async with joined(server, "ann") as ann:
        sends = [ann.emit("chat.send", {"room": "lobby", "text": f"m{n}"}) for n in range(30)]
        results = await asyncio.gather(*sends, return_exceptions=True)
        refused = [r for r in results if isinstance(r, RateLimited)]
        assert 0 < len(refused) <= 10  # bursts of 20 (a few more as the bucket refills)
        assert all(r.retry_after > 0 for r in refused)
        assert all(isinstance(r, dict) for r in results if not isinstance(r, RateLimited))


async def test_a_restarted_server_replays_what_was_missed() -> None:
    router = create_app(history_size=5)
    first = await switchboard.serve(router, "127.0.0.1", 0)
    port = first.port
    changes: list[RoomEvent] = []
    async with connect(f"ws://127.0.0.1:{port}/rt", auth={"name": "ann"}) as ann:
        ann.on_room(changes.append)
        inbox = Inbox(ann)
        await ann.join("chat:lobby")
        first.close(1012, "service restart")
        await first.wait_closed()
        async with switchboard.serve(router, "127.0.0.1", 0) as side:  # the same rooms
            for n in (1, 2):
                assert (await post(side, author="bob", text=f"missed {n}")).status == 200
        async with switchboard.serve(router, "127.0.0.1", port):
            texts = [(await inbox.next())["text"] for _ in range(2)]
            assert texts == ["missed 1", "missed 2"]
            assert [(c.type, c.recovered) for c in changes] == [("joined", None), ("joined", True)]


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


def test_create_app_refuses_bad_rooms() -> None:
    with pytest.raises(TypeError, match="rooms is a list of names"):
        create_app(rooms="lobby")
    with pytest.raises(ValueError, match="at least one name, without repeats"):
        create_app(rooms=[])
    with pytest.raises(ValueError, match="at least one name, without repeats"):
        create_app(rooms=["a", "a"])
    for bad in ("Lobby", "-x", "a b", "x" * 33, "chat:x"):
        with pytest.raises(ValueError, match="invalid room name"):
            create_app(rooms=[bad])


def test_clean_name() -> None:
    assert clean_name("  Ann  ") == "Ann"
    assert clean_name("A\u202en\x00n") == "Ann"
    assert clean_name("x" * 40) == "x" * 32
    assert clean_name("ab  cd", 3) == "ab"  # cut, then trimmed again
    assert clean_name("\u2066 \u2069") is None
    assert clean_name(None) is None

"""The hub's browser client, /rt/client.js, in Debian's Chromium driven by Playwright.

Each test serves a real hub (switchboard.realtime.Hub) mounted at /rt, next to the
pages of tests/browser/realtime_pages/. The page's harness.js imports the client
the hub serves and records what it reports; the tests drive it with evaluate and
also read the raw frames each page sent and received.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocket, WebSocketRoute

import switchboard
from switchboard.realtime import (
    Hello,
    Hub,
    HubError,
    Identity,
    Rejected,
    RoomOptions,
    Session,
    Unauthorized,
)

pytestmark = pytest.mark.timeout(60)

PAGES = Path(__file__).parent / "realtime_pages"
WEB = Path(switchboard.__file__).parent / "realtime" / "web"
CLIENT_JS = (WEB / "client.js").read_text()
USERS = {"t-ada": Identity("ada", {"name": "Ada"}), "t-bob": Identity("bob", {"name": "Bob"})}


@dataclass
class ChatIn:
    room: str
    text: str


class App:
    """The test server: a hub with a few handlers, and the test pages; it can be
    stopped and started again on the same port, with the same hub or a new one."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.port = 0
        self.server: switchboard.Server | None = None
        self.votes = 0
        self.vote_started = asyncio.Event()
        self.release = asyncio.Event()
        self.typing: list[Any] = []
        self.hub = self.new_hub()

    def new_hub(self) -> Hub:
        options = dict(self.options)
        history_size = options.pop("history_size", 100)
        rooms = RoomOptions(history_size=history_size, presence=True, presence_grace=0.2)
        hub = Hub(rooms=rooms, rate=None, max_pending=1000, **options)

        @hub.on_connect
        async def identify(hello: Hello) -> Identity | None:
            token = hello.auth.get("token") if isinstance(hello.auth, dict) else None
            if token is None:
                return None
            if token not in USERS:
                raise Unauthorized("token expired")
            return USERS[token]

        @hub.authorize_join
        async def may_join(session: Session, room: str) -> bool:
            return not room.startswith("secret")

        @hub.on("chat.send")
        async def send(session: Session, data: ChatIn) -> dict[str, Any]:
            await hub.to(data.room).emit(
                "chat.message", {"from": session.user.id, "text": data.text}
            )
            return {"ok": True}

        @hub.on("chat.post")  # to everyone but the sender
        async def post(session: Session, data: ChatIn) -> dict[str, Any]:
            message = {"from": session.user.id, "text": data.text}
            await hub.to(data.room).emit("chat.message", message, skip=session)
            return {"ok": True}

        @hub.on("echo")
        async def echo(session: Session, data: Any) -> Any:
            return data

        @hub.on("slow")
        async def slow(session: Session, data: dict[str, Any]) -> str:
            await asyncio.sleep(data["seconds"])
            return "late"

        @hub.on("refuse")
        async def refuse(session: Session) -> None:
            raise Rejected("not today")

        @hub.on("typing")
        async def typing(session: Session, data: Any) -> None:
            self.typing.append(data)

        @hub.on("vote")
        async def vote(session: Session) -> dict[str, int]:
            self.votes += 1
            self.vote_started.set()
            await self.release.wait()
            return {"count": self.votes}

        return hub

    async def start(self) -> None:
        router = switchboard.Router()
        router.mount("/rt", self.hub)
        router.static("/", PAGES)
        self.server = await switchboard.serve(router, "127.0.0.1", self.port)
        self.port = self.server.port

    async def stop(self, code: int = 1012, reason: str = "service restart") -> None:
        assert self.server is not None
        self.server.close(code, reason)
        await self.server.wait_closed()
        self.server = None

    async def publish(self, room: str, *texts: str) -> None:
        for text in texts:
            await self.hub.to(room).emit("chat.message", {"from": "server", "text": text})

    def session_of(self, sid: str) -> Session:
        session = self.hub.session(sid)
        assert session is not None, f"no session {sid} among {self.hub.sessions}"
        return session


@pytest.fixture
async def app() -> AsyncIterator[App]:
    app = App()
    await app.start()
    yield app
    if app.server is not None:
        await app.stop(1001, "test over")
    await app.hub.close()


@dataclass
class Tab:
    """One page running harness.js, and the frames its WebSockets carried."""

    page: Page
    errors: list[str]
    sockets: list[str] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)

    def watch(self, ws: WebSocket) -> None:
        self.sockets.append(ws.url)
        ws.on("framesent", lambda payload: self.sent.append(_frame(payload)))
        ws.on("framereceived", lambda payload: self.received.append(_frame(payload)))

    async def js(self, expression: str, arg: Any = None) -> Any:
        return await self.page.evaluate(expression, arg)

    async def until(self, expression: str, arg: Any = None, timeout: float = 10_000) -> Any:
        """Wait until the expression is truthy; return its value."""
        handle = await self.page.wait_for_function(expression, arg=arg, timeout=timeout)
        return await handle.json_value()

    async def connected(self) -> None:
        await self.until("() => hub.state === 'connected'")

    async def outcome(self, call: str, arg: Any = None) -> dict[str, Any]:
        """Run ``call`` (an expression giving a promise, with ``arg`` in scope) in the page."""
        result: dict[str, Any] = await self.js(f"arg => rt.outcome({call})", arg)
        return result

    def script_errors(self) -> list[str]:
        """The errors, less Chromium's own report of each refused connection attempt
        while the server is down (it logs those as console errors, whatever the page does)."""
        refused = "failed: Error in connection establishment: net::ERR_CONNECTION_REFUSED"
        return [
            e for e in self.errors if not (e.startswith("WebSocket connection to") and refused in e)
        ]

    def states(self) -> Any:
        return self.js("() => log.states.map((s) => s.state)")

    def texts(self) -> Any:
        return self.js("() => log.events.map((e) => e.data.text)")


def _frame(payload: str | bytes) -> dict[str, Any]:
    assert isinstance(payload, str), "switchboard.v1 frames are text"
    value: dict[str, Any] = json.loads(payload)
    return value


class Tabs:
    def __init__(self, browser: Browser, app: App) -> None:
        self.browser = browser
        self.app = app

    async def open(self, path: str = "/index.html", *, start: bool = True, **options: Any) -> Tab:
        """A page in its own context (its own tab); ``options`` go to connect()."""
        context = await self.browser.new_context()
        page = await context.new_page()
        page.set_default_timeout(10_000)
        tab = Tab(page, [])
        page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
        page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
        page.on("websocket", tab.watch)
        await page.goto(f"http://127.0.0.1:{self.app.port}{path}")
        if path == "/index.html" and start:
            await tab.js("o => rt.start(o)", options)
        return tab


@pytest.fixture
def tabs(browser: Browser, app: App) -> Tabs:
    return Tabs(browser, app)


def get(port: int, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


# -- serving the client ------------------------------------------------------------


async def test_client_files_are_served(app: App) -> None:
    status, kind, body = await asyncio.to_thread(get, app.port, "/rt/client.js")
    assert (status, kind) == (200, "text/javascript; charset=utf-8")
    assert body == (WEB / "client.js").read_bytes()
    status, kind, body = await asyncio.to_thread(get, app.port, "/rt/client.d.ts")
    assert status == 200
    assert kind.split(";")[0] in ("application/typescript", "text/typescript"), kind
    assert body == (WEB / "client.d.ts").read_bytes()
    # The declarations cover the module's exports, and nothing else.
    exports = re.findall(r"^export (?:async )?(?:function|class|const) (\w+)", CLIENT_JS, re.M)
    declared = re.findall(r"^export declare (?:function|class|const) (\w+)", body.decode(), re.M)
    assert (
        sorted(exports) == sorted(declared) == ["Hub", "HubError", "PROTOCOL", "VERSION", "connect"]
    )


async def test_client_imports_under_a_strict_csp(tabs: Tabs) -> None:
    tab = await tabs.open("/csp.html")
    await tab.until("() => document.body.dataset.state === 'connected'")
    assert await tab.js("() => window.violations") == []
    assert tab.errors == []


# -- rooms, events, presence -------------------------------------------------------


async def test_two_pages_see_each_others_messages_and_presence(tabs: Tabs) -> None:
    ada = await tabs.open(auth={"token": "t-ada"})
    ada2 = await tabs.open(auth={"token": "t-ada"})  # a second tab of the same user
    bob = await tabs.open(auth={"token": "t-bob"})
    for tab in (ada, ada2, bob):
        await tab.js("() => { rt.listen('chat.message'); rt.watch('lobby'); }")
        joined = await tab.outcome("hub.join('lobby')")
        assert joined["ok"]["room"] == "lobby"
        assert joined["ok"]["recovered"] is None
    assert await ada.js("() => hub.user") == {"id": "ada", "info": {"name": "Ada"}}
    assert (await ada.js("() => hub.sessionId")).startswith("s-")
    assert await ada.js("() => hub.sessionId") != await ada2.js("() => hub.sessionId")

    # Presence: two members, whatever the number of tabs.
    both = {"ada": {"info": {"name": "Ada"}}, "bob": {"info": {"name": "Bob"}}}
    for tab in (ada, ada2, bob):
        await tab.until("() => Object.keys(rt.members('lobby')).length === 2")
        assert await tab.js("() => rt.members('lobby')") == both

    ack = await ada.outcome("hub.emit('chat.send', {room: 'lobby', text: 'hi <b>all</b>'})")
    assert ack == {"ok": {"ok": True}}
    for tab in (ada, ada2, bob):
        await tab.until("() => log.events.length === 1")
        [event] = await tab.js("() => log.events")
        epoch = (await tab.js("() => rt.rooms()"))["lobby"]["epoch"]
        assert event == {
            "data": {"from": "ada", "text": "hi <b>all</b>"},
            "event": "chat.message",
            "room": "lobby",
            "offset": 1,
            "epoch": epoch,
        }
        assert await tab.js("() => rt.rooms()") == {"lobby": {"offset": 1, "epoch": epoch}}
    await bob.outcome("hub.emit('chat.send', {room: 'lobby', text: 'hello Ada'})")
    await ada.until("() => log.events.length === 2")
    assert await ada.texts() == ["hi <b>all</b>", "hello Ada"]

    # One of Ada's tabs goes: she is still here. The other goes: she leaves (after
    # the grace period), as a diff.
    await ada.page.context.close()
    await asyncio.sleep(0.6)
    assert await bob.js("() => rt.members('lobby')") == both
    await ada2.page.context.close()
    await bob.until("() => Object.keys(rt.members('lobby')).length === 1")
    assert await bob.js("() => rt.members('lobby')") == {"bob": {"info": {"name": "Bob"}}}
    last = await bob.js("() => log.presence.lobby.at(-1)")
    assert (last["joins"], last["leaves"], last["full"]) == ([], ["ada"], False)
    first = await bob.js("() => log.presence.lobby[0]")
    assert first["full"] is True

    # Leaving: the room and its presence are gone from the page.
    assert (await bob.outcome("hub.leave('lobby')"))["ok"] == {"room": "lobby"}
    assert await bob.js("() => rt.rooms()") == {}
    assert await bob.js("() => rt.members('lobby')") == {}
    assert await bob.js("() => log.rooms.map((c) => [c.type, c.room])") == [
        ["joined", "lobby"],
        ["left", "lobby"],
    ]
    assert bob.errors == []


async def test_server_moves_the_session_between_rooms(tabs: Tabs, app: App) -> None:
    tab = await tabs.open(auth={"token": "t-bob"})
    await tab.connected()
    await tab.js("() => { rt.listen('chat.message'); rt.watch('news'); }")
    session = app.session_of(await tab.js("() => hub.sessionId"))
    await session.join("news")
    await tab.until("() => log.rooms.length === 1 && Object.keys(rt.members('news')).length")
    assert await tab.js("() => log.rooms[0]") == {
        "type": "joined",
        "room": "news",
        "recovered": None,
        "offset": 0,
        "epoch": (await tab.js("() => rt.rooms()"))["news"]["epoch"],
    }
    await app.publish("news", "extra")
    await tab.until("() => log.events.length === 1")
    await session.leave("news")
    await tab.until("() => log.rooms.length === 2")
    assert await tab.js("() => log.rooms[1]") == {"type": "left", "room": "news"}
    assert await tab.js("() => [rt.rooms(), rt.members('news')]") == [{}, {}]
    assert (await tab.js("() => log.presence.news.at(-1)"))["leaves"] == ["bob"]
    assert tab.errors == []


async def test_emit_acks_and_typed_errors(tabs: Tabs, app: App) -> None:
    tab = await tabs.open(start=False)
    # An emit made before the welcome waits for it.
    early = await tab.js(
        "o => { rt.start(o); return rt.outcome(hub.emit('echo', {early: hub.state})); }",
        {"auth": {"token": "t-ada"}},
    )
    assert early == {"ok": {"early": "connecting"}}
    await tab.connected()

    bad = await tab.outcome("hub.emit('chat.send', {room: 'lobby', text: 42})")
    assert bad["error"]["hubError"] is True
    assert bad["error"]["name"] == "HubError"
    assert (bad["error"]["code"], bad["error"]["field"]) == ("invalid_payload", "text")
    missing = await tab.outcome("hub.emit('chat.send', {room: 'lobby'})")
    assert (missing["error"]["code"], missing["error"]["field"]) == ("invalid_payload", "text")
    unknown = await tab.outcome("hub.emit('no.such.event', {})")
    assert unknown["error"]["code"] == "unknown_event"
    refused = await tab.outcome("hub.emit('refuse')")
    assert refused["error"]["code"] == "rejected"
    assert refused["error"]["message"] == "not today"
    secret = await tab.outcome("hub.join('secret:plans')")
    assert secret["error"]["code"] == "not_allowed"

    # Over max_payload: refused by the client, not sent (the hub would close).
    big = await tab.outcome("hub.emit('echo', 'x'.repeat(70000))")
    assert big["error"]["code"] == "too_large"
    assert all(len(json.dumps(frame)) < 65536 for frame in tab.sent)

    # A timeout; the late ack is ignored, and the connection goes on.
    late = await tab.outcome("hub.emit('slow', {seconds: 0.5}, {timeout: 100})")
    assert late["error"]["code"] == "timeout"
    for _ in range(100):  # the late ack arrives (and nothing comes of it)
        if any(frame.get("data") == "late" for frame in tab.received):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"no late ack in {tab.received}")

    # Many in flight at once: each ack reaches its own emit.
    acks = await tab.js(
        "() => Promise.all(Array.from({length: 200}, (_, n) => hub.emit('echo', {n})))"
    )
    assert acks == [{"n": n} for n in range(200)]
    emits = [frame for frame in tab.sent if frame["t"] == "emit"]
    assert all(isinstance(frame["id"], int) and frame["key"] for frame in emits)
    assert len({frame["key"] for frame in emits}) == len(emits)

    # Fire-and-forget: no id, no key, no ack.
    assert await tab.js("() => hub.send('typing', {room: 'lobby'})") is True
    for _ in range(50):
        if app.typing:
            break
        await asyncio.sleep(0.05)
    assert app.typing == [{"room": "lobby"}]
    assert tab.sent[-1] == {"t": "emit", "event": "typing", "data": {"room": "lobby"}}
    assert await tab.js("() => [hub.state, log.errors]") == ["connected", []]
    assert tab.errors == []


async def test_server_calls_are_answered_by_handle(tabs: Tabs, app: App) -> None:
    tab = await tabs.open(auth={"token": "t-ada"})
    await tab.connected()
    await tab.js("() => { rt.handle('confirm'); rt.handle('explode', 'throw'); }")
    await tab.js("() => rt.handle('strict', 'hub-error')")
    session = app.session_of(await tab.js("() => hub.sessionId"))

    reply = await session.call("confirm", {"question": "Leave?"}, timeout=5)
    assert reply == {"answer": "yes to Leave?"}
    with pytest.raises(Rejected, match=r"^no thanks: Stay\?$"):
        await session.call("explode", {"question": "Stay?"}, timeout=5)
    with pytest.raises(HubError) as caught:
        await session.call("strict", {"question": "?"}, timeout=5)
    assert caught.value.code == "invalid_payload"
    with pytest.raises(HubError) as caught:
        await session.call("nobody.handles.this", {}, timeout=5)
    assert caught.value.code == "unknown_event"
    # Many calls in flight at once.
    questions = [f"q{n}" for n in range(20)]
    replies = await asyncio.gather(
        *(session.call("confirm", {"question": q}, timeout=5) for q in questions)
    )
    assert replies == [{"answer": f"yes to {q}"} for q in questions]
    assert tab.errors == []


# -- reconnection and recovery -----------------------------------------------------


async def test_restart_reconnects_and_recovers_what_was_missed(tabs: Tabs, app: App) -> None:
    tab = await tabs.open(authToken="t-ada")
    await tab.js("() => rt.listen('chat.message')")
    assert (await tab.outcome("hub.join('lobby')"))["ok"]["recovered"] is None
    sid = await tab.js("() => hub.sessionId")
    await app.publish("lobby", "m1", "m2")
    await tab.until("() => log.events.length === 2")

    await app.stop(1012, "service restart")
    cut = await tab.until("() => log.states.find((s) => s.state === 'reconnecting')")
    assert (cut["code"], cut["reason"], cut["attempt"]) == (1012, "service restart", 1)
    assert 0 <= cut["delay"] <= 500
    # While the page is away: three publications, and an emit that waits.
    await app.publish("lobby", "m3", "m4", "m5")
    await tab.js("() => { window.waiting = rt.outcome(hub.emit('echo', 'queued')); }")
    assert await tab.js("() => hub.send('typing', {})") is False
    assert await tab.js("() => rt.rooms()") != {}  # still listed while reconnecting
    await asyncio.sleep(0.3)
    await app.start()

    await tab.until("() => hub.state === 'connected' && log.events.length === 5")
    assert await tab.js("() => window.waiting") == {"ok": "queued"}
    assert await tab.texts() == ["m1", "m2", "m3", "m4", "m5"]
    replays = await tab.js("() => log.events.map((e) => [e.offset, e.replay ?? false])")
    assert replays == [[1, False], [2, False], [3, True], [4, True], [5, True]]
    states = await tab.states()
    assert states[:2] == ["connected", "reconnecting"]  # "connecting" is the initial state
    assert set(states[2:-1]) <= {"reconnecting"} and states[-1] == "connected"
    assert (await tab.js("() => log.states.at(-1)"))["resumed"] is True
    assert await tab.js("() => hub.sessionId") == sid
    assert await tab.js("() => log.rooms.at(-1)") == {
        "type": "joined",
        "room": "lobby",
        "recovered": True,
        "offset": 5,
        "epoch": (await tab.js("() => rt.rooms()"))["lobby"]["epoch"],
    }
    assert await tab.js("() => log.authCalls") >= 2  # auth is asked for again

    # What went over the wire: a hello resuming the session with the position, and
    # each publication received once.
    hellos = [frame for frame in tab.sent if frame["t"] == "hello"]
    assert hellos[0].keys() == {"t", "v", "auth"}
    assert hellos[-1]["session"]["id"] == sid
    assert hellos[-1]["rooms"] == {
        "lobby": {"offset": 2, "epoch": hellos[-1]["rooms"]["lobby"]["epoch"]}
    }
    offsets = [frame["offset"] for frame in tab.received if frame["t"] == "event"]
    assert offsets == [1, 2, 3, 4, 5]

    await app.publish("lobby", "m6")
    await tab.until("() => log.events.length === 6")
    assert await tab.js("() => log.events.at(-1).replay") is None
    assert await tab.js("() => log.errors") == []
    assert tab.script_errors() == []


async def test_the_sender_skipped_is_not_sent_its_own_message_on_recovery(
    tabs: Tabs, app: App
) -> None:
    tab = await tabs.open(auth={"token": "t-ada"})
    await tab.js("() => rt.listen('chat.message')")
    await tab.outcome("hub.join('lobby')")
    await tab.outcome("hub.emit('chat.post', {room: 'lobby', text: 'mine'})")
    await app.publish("lobby", "theirs")
    await tab.until("() => log.events.length === 1")
    await tab.outcome("hub.emit('chat.post', {room: 'lobby', text: 'mine too'})")
    assert (await tab.js("() => rt.rooms()"))["lobby"]["offset"] == 2
    await app.stop()
    await app.start()
    await tab.until("() => log.rooms.length === 2")
    assert (await tab.js("() => log.rooms[1]"))["recovered"] is True
    # Nothing replayed, and the position moves past what the hub left out, once
    # the replay is over (the next message, here the presence state, says so).
    await tab.until("() => rt.rooms().lobby.offset === 3")
    assert await tab.texts() == ["theirs"]
    assert tab.script_errors() == []


async def test_cut_connection_reconnects_by_itself(tabs: Tabs, app: App) -> None:
    tab = await tabs.open(auth={"token": "t-bob"})
    await tab.js("() => rt.listen('chat.message')")
    await tab.outcome("hub.join('lobby')")
    await app.session_of(await tab.js("() => hub.sessionId")).close(1011, "oops")
    await tab.until("() => log.states.some((s) => s.state === 'reconnecting')")
    await tab.connected()
    assert await tab.js("() => log.states.map((s) => [s.state, s.code ?? null])") == [
        ["connected", None],
        ["reconnecting", 1011],
        ["connected", None],
    ]
    await app.publish("lobby", "after the cut")
    await tab.until("() => log.events.length === 1")
    assert len(tab.sockets) == 2
    assert tab.errors == []


async def test_not_recovered_when_the_history_is_too_short(browser: Browser) -> None:
    app = App(history_size=3)
    await app.start()
    try:
        tab = await Tabs(browser, app).open(auth={"token": "t-ada"})
        await tab.js("() => rt.listen('chat.message')")
        await tab.outcome("hub.join('lobby')")
        await app.publish("lobby", "seen")
        await tab.until("() => log.events.length === 1")
        await app.stop()
        await app.publish("lobby", "a", "b", "c", "d", "e")  # more than the history keeps
        await app.start()
        await tab.until("() => log.rooms.length === 2")
        change = await tab.js("() => log.rooms[1]")
        assert (change["type"], change["recovered"], change["offset"]) == ("joined", False, 6)
        await asyncio.sleep(0.2)
        assert await tab.texts() == ["seen"]  # nothing replayed: the app reloads its state
        assert (await tab.js("() => rt.rooms()"))["lobby"]["offset"] == 6
        await app.publish("lobby", "live")
        await tab.until("() => log.events.length === 2")
        assert tab.script_errors() == []
    finally:
        if app.server is not None:
            await app.stop()
        await app.hub.close()


async def test_not_recovered_when_the_epoch_changes(tabs: Tabs, app: App) -> None:
    tab = await tabs.open(auth={"token": "t-ada"})
    await tab.js("() => rt.listen('chat.message')")
    await tab.outcome("hub.join('lobby')")
    await app.publish("lobby", "before")
    await tab.until("() => log.events.length === 1")
    old_epoch = (await tab.js("() => rt.rooms()"))["lobby"]["epoch"]
    old_sid = await tab.js("() => hub.sessionId")
    await app.stop()
    await app.hub.close()
    app.hub = app.new_hub()  # a new process: sessions and history are gone
    await app.start()

    await tab.until("() => log.rooms.length === 2")
    assert (await tab.js("() => log.states.at(-1)"))["resumed"] is False
    assert await tab.js("() => hub.sessionId") != old_sid
    change = await tab.js("() => log.rooms[1]")
    assert (change["type"], change["room"], change["recovered"]) == ("joined", "lobby", False)
    assert change["epoch"] != old_epoch
    # The page rejoined by itself, with its old position.
    joins = [frame for frame in tab.sent if frame["t"] == "join"]
    assert joins[-1]["offset"] == 1 and joins[-1]["epoch"] == old_epoch
    await app.publish("lobby", "after")
    await tab.until("() => log.events.length === 2")
    assert (await tab.js("() => log.events.at(-1)"))["offset"] == 1
    assert tab.script_errors() == []


async def test_join_recovers_from_a_saved_position(tabs: Tabs, app: App) -> None:
    """A page can keep its position (in localStorage, say) and recover from it after
    a reload, when it has a new session."""
    tab = await tabs.open(auth={"token": "t-ada"})
    await tab.js("() => rt.listen('chat.message')")
    await tab.outcome("hub.join('lobby')")
    await app.publish("lobby", "m1", "m2")
    await tab.until("() => log.events.length === 2")
    saved = (await tab.js("() => rt.rooms()"))["lobby"]
    assert saved["offset"] == 2
    await tab.page.reload()
    await app.publish("lobby", "m3")
    await tab.js("o => { rt.start(o); rt.listen('chat.message'); }", {"auth": {"token": "t-ada"}})
    joined = await tab.outcome("hub.join('lobby', arg)", saved)
    assert joined["ok"] == {"room": "lobby", "recovered": True, **saved, "offset": 3}
    assert await tab.js("() => log.events.map((e) => [e.data.text, e.replay])") == [["m3", True]]
    assert await tab.js("() => rt.rooms()") == {"lobby": {**saved, "offset": 3}}
    assert tab.errors == []


async def test_refused_client_fails_and_does_not_reconnect(tabs: Tabs) -> None:
    tab = await tabs.open(auth={"token": "stolen"}, reconnect={"initial": 50})
    failed = await tab.until("() => hub.state === 'failed' && log.states.at(-1)")
    assert failed["code"] == 4401
    assert failed["reason"] == "unauthorized: token expired"
    await asyncio.sleep(1)
    assert len(tab.sockets) == 1
    assert await tab.states() == ["failed"]
    closed = await tab.outcome("hub.emit('echo', 1)")
    assert closed["error"]["code"] == "closed"
    assert tab.errors == []


async def test_retried_emit_is_applied_once(tabs: Tabs, app: App) -> None:
    tab = await tabs.open(auth={"token": "t-ada"})
    await tab.connected()
    await tab.js("() => { window.vote = rt.outcome(hub.emit('vote', null, {timeout: 20000})); }")
    await asyncio.wait_for(app.vote_started.wait(), 5)
    # The connection drops while the handler runs: its ack is lost with it.
    await app.session_of(await tab.js("() => hub.sessionId")).close(1012, "service restart")
    await tab.until("() => log.states.some((s) => s.state === 'reconnecting')")
    app.release.set()
    await tab.connected()
    assert await tab.until("() => window.vote") == {"ok": {"count": 1}}
    assert app.votes == 1
    votes = [frame for frame in tab.sent if frame["t"] == "emit" and frame["event"] == "vote"]
    assert len(votes) == 2  # sent again after the reconnect, with the same key
    assert votes[0]["key"] == votes[1]["key"]
    assert tab.errors == []


async def test_silent_connection_is_detected_by_the_heartbeat(browser: Browser) -> None:
    app = App(heartbeat=0.3, heartbeat_timeout=0.3)
    await app.start()
    try:
        context = await browser.new_context()
        page = await context.new_page()
        muted = asyncio.Event()
        connections = 0

        async def route(ws: WebSocketRoute) -> None:
            # A proxy that, for the first connection, stops passing the hub's frames on
            # (and its close): to the page, the network went silent.
            nonlocal connections
            connections += 1
            first = connections == 1
            server = ws.connect_to_server()
            ws.on_message(server.send)
            server.on_message(lambda m: None if first and muted.is_set() else ws.send(m))
            if first:
                server.on_close(lambda code, reason: None)

        await page.route_web_socket("**/rt", route)
        tab = Tab(page, [])
        page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
        page.on("websocket", tab.watch)
        await page.goto(f"http://127.0.0.1:{app.port}/index.html")
        await tab.js("o => rt.start(o)", {"auth": {"token": "t-ada"}})
        await tab.connected()
        muted.set()
        lost = await tab.until("() => log.states.find((s) => s.state === 'reconnecting')")
        assert lost["code"] == 1006
        assert lost["reason"] == "no message for 0.6 s"
        await tab.connected()
        assert connections == 2
        assert tab.errors == []
    finally:
        await app.stop()
        await app.hub.close()


async def test_going_online_reconnects_without_waiting(tabs: Tabs, app: App) -> None:
    tab = await tabs.open(
        auth={"token": "t-ada"}, reconnect={"initial": 60000, "max": 60000, "jitter": 0}, buffer=2
    )
    await tab.connected()
    await app.stop()
    await tab.until("() => hub.state === 'reconnecting'")
    assert (await tab.js("() => log.states.at(-1)"))["delay"] == 60000
    # While away, at most `buffer` requests wait.
    await tab.js("() => { window.waiting = [1, 2].map((n) => rt.outcome(hub.emit('echo', n))); }")
    full = await tab.outcome("hub.emit('echo', 3)")
    assert full["error"]["code"] == "buffer_full"
    await app.start()
    await tab.page.context.set_offline(True)
    await tab.page.context.set_offline(False)  # the page's "online" event
    await tab.until("() => hub.state === 'connected'", timeout=5000)
    assert await tab.js("() => Promise.all(window.waiting)") == [{"ok": 1}, {"ok": 2}]
    assert tab.script_errors() == []


async def test_close_and_reconnect(tabs: Tabs, app: App) -> None:
    tab = await tabs.open(auth={"token": "t-ada"})
    await tab.connected()
    await tab.outcome("hub.join('lobby')")
    sid = await tab.js("() => hub.sessionId")
    await tab.js("() => hub.reconnect()")  # e.g. a click on the connection badge
    await tab.until("() => log.states.length === 3 && hub.state === 'connected'")
    assert await tab.js("() => log.states[1]") == {
        "state": "reconnecting",
        "code": 1000,
        "reason": "reconnect requested",
        "attempt": 1,
        "delay": 0,
    }
    assert await tab.js("() => hub.sessionId") == sid
    assert list(await tab.js("() => rt.rooms()")) == ["lobby"]

    pending = "window.slow = rt.outcome(hub.emit('slow', {seconds: 2}))"
    await tab.js(f"() => {{ {pending}; hub.close(); }}")
    assert await tab.js("() => [hub.state, log.states.at(-1).code]") == ["disconnected", 1000]
    assert (await tab.js("() => window.slow"))["error"]["code"] == "closed"
    assert await tab.js("() => rt.rooms()") == {}
    await asyncio.sleep(0.8)
    assert len(tab.sockets) == 2  # nothing reconnects after close()
    await tab.js("() => hub.reconnect()")  # starts again
    await tab.connected()
    assert await tab.js("() => hub.sessionId") != sid
    assert tab.errors == []


async def test_binary_data_is_uint8array_both_ways(tabs: Tabs, app: App) -> None:
    tab = await tabs.open(auth={"token": "t-ada"})
    await tab.connected()
    # To the hub: typed arrays and ArrayBuffers as {"$binary": ...}; the echo comes
    # back as Uint8Arrays (bytes in the handler in between).
    echoed = await tab.js(
        """async () => {
          const big = Uint8Array.from({length: 40000}, (_, i) => i % 256);
          const ack = await hub.emit('echo', {
            b: new Uint8Array([0, 1, 255]), buf: new Uint16Array([258]).buffer, big: [big],
          });
          return {
            types: [ack.b, ack.buf, ack.big[0]].map((v) => v.constructor.name),
            b: [...ack.b], buf: [...ack.buf], big: ack.big[0].every((x, i) => x === i % 256),
          };
        }"""
    )
    assert echoed == {"types": ["Uint8Array"] * 3, "b": [0, 1, 255], "buf": [2, 1], "big": True}
    emit = next(frame for frame in tab.sent if frame.get("event") == "echo")
    assert emit["data"]["b"] == {"$binary": "AAH/"}
    # From the hub: session.emit and a room emit; a call's Uint8Array reply is bytes.
    await tab.js(
        """async () => {
          window.blobs = [];
          hub.on('blob', (data) => blobs.push({u8: data.x instanceof Uint8Array, x: [...data.x]}));
          hub.handle('bytes.please', (data) => new Uint8Array([data.n, data.n + 1]));
          await hub.join('lobby');
        }"""
    )
    session = app.session_of(await tab.js("() => hub.sessionId"))
    await session.emit("blob", {"x": b"\x05"})
    await app.hub.to("lobby").emit("blob", {"x": bytearray(b"\x06\x07")})
    blobs = await tab.until("() => blobs.length === 2 && blobs")
    assert blobs == [{"u8": True, "x": [5]}, {"u8": True, "x": [6, 7]}]
    assert await session.call("bytes.please", {"n": 7}, timeout=5) == b"\x07\x08"
    assert tab.errors == []

"""The browser client fails over between the nodes of one hub on Redis.

A real ``redis-server`` on a free loopback port, two node processes
(tests/realtime/redis_node.py, each a hub on the Redis broker) and, in the test
process, a plain server for the page (tests/browser/realtime_pages/ and the client
module), so that the page outlives the node it first talks to. The nodes admit
that page's origin (``--origin``); everything else is as in production. Debian's
Chromium, driven by Playwright, runs ``connect([nodeA, nodeB])``; node A is killed
with SIGKILL (by PID) and the page must come back on node B by itself, in its room,
with what was published meanwhile and the room's presence.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocket

import switchboard
from realtime.redis_helpers import RedisServer, free_port, node_script  # tests/ is on sys.path
from switchboard.realtime import HubClient, connect

pytestmark = pytest.mark.timeout(90)

PAGES = Path(__file__).parent / "realtime_pages"
WEB = Path(switchboard.__file__).parent / "realtime" / "web"
REFUSED = "failed: Error in connection establishment: net::ERR_CONNECTION_REFUSED"


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


class Nodes:
    """Node processes on one Redis, each a hub at ``ws://127.0.0.1:PORT/rt``."""

    def __init__(self, redis: RedisServer, origin: str) -> None:
        self.redis = redis
        self.origin = origin
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    async def start(self, port: int | None = None) -> str:
        port = port or free_port()
        command = [sys.executable, str(node_script()), self.redis.url, str(port)]
        proc = subprocess.Popen(
            [*command, "--origin", self.origin],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.procs[port] = proc
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        assert line.strip() == b"ready", line
        return f"ws://127.0.0.1:{port}/rt"

    def kill(self, url: str) -> None:
        proc = self.procs.pop(port_of(url))
        proc.send_signal(signal.SIGKILL)  # our own child, by PID
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.kill()  # by PID
            proc.wait(10)
        self.procs.clear()


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
async def page_server() -> AsyncIterator[str]:
    """The test page and the client module (at /rt/client.js, where harness.js
    imports it from), on a server of their own: no hub here."""
    router = switchboard.Router()
    router.static("/rt", WEB)
    router.static("/", PAGES)
    server = await switchboard.serve(router, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.port}"
    server.close(1001, "test over")
    await server.wait_closed()


@pytest.fixture
async def nodes(redis: RedisServer, page_server: str) -> AsyncIterator[Nodes]:
    cluster = Nodes(redis, page_server)
    yield cluster
    cluster.stop_all()


@pytest.fixture
async def clients() -> AsyncIterator[list[HubClient]]:
    """Python clients to close at the end."""
    made: list[HubClient] = []
    yield made
    for client in made:
        await client.close()


@dataclass
class Tab:
    """A page running harness.js, the URLs its WebSockets went to and their frames."""

    page: Page
    errors: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def open(cls, browser: Browser, origin: str, **options: Any) -> Tab:
        """A page in its own context; ``options`` go to connect() (``url``: where)."""
        context = await browser.new_context()
        page = await context.new_page()
        page.set_default_timeout(10_000)
        tab = cls(page)
        page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
        page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
        page.on("websocket", tab.watch)
        await page.goto(f"{origin}/index.html")
        await tab.js("o => rt.start(o)", options)
        return tab

    def watch(self, ws: WebSocket) -> None:
        self.sockets.append(ws.url)
        ws.on("framereceived", lambda payload: self.received.append(json.loads(payload)))
        ws.on("framesent", lambda payload: self.sent.append(json.loads(payload)))

    async def js(self, expression: str, arg: Any = None) -> Any:
        return await self.page.evaluate(expression, arg)

    async def until(self, expression: str, arg: Any = None, timeout: float = 10_000) -> Any:
        """Wait until the expression is truthy; return its value."""
        handle = await self.page.wait_for_function(expression, arg=arg, timeout=timeout)
        return await handle.json_value()

    async def outcome(self, call: str, arg: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.js(f"arg => rt.outcome({call})", arg)
        return result

    def script_errors(self) -> list[str]:
        """The errors, less Chromium's console report of each refused connection
        attempt (to a dead node), which no page code can prevent."""
        return [
            e for e in self.errors if not (e.startswith("WebSocket connection to") and REFUSED in e)
        ]


async def test_page_moves_to_node_b_when_node_a_is_killed(
    browser: Browser, nodes: Nodes, page_server: str, clients: list[HubClient]
) -> None:
    a, b = await nodes.start(), await nodes.start()
    # bob on node b, cy on node a only (and not coming back when it dies).
    bob = await connect([b], auth={"user": "bob"})
    clients.append(bob)
    cy = await connect([a], auth={"user": "cy"}, reconnect=False)
    clients.append(cy)
    bob_got: list[int] = []
    bob.on("posted")(lambda data, meta: bob_got.append(data))
    await bob.join("team")
    await cy.join("team")

    tab = await Tab.open(browser, page_server, url=[a, b], auth={"user": "ada"})
    await tab.js("() => { rt.listen('posted'); rt.watch('team'); }")
    assert await tab.js("() => hub.urls") == [a, b]
    joined = await tab.outcome("hub.join('team')")
    assert joined["ok"]["recovered"] is None
    assert await tab.outcome("hub.emit('whereami')") == {"ok": port_of(a)}
    assert await tab.js("() => hub.url") == a
    sid = await tab.js("() => hub.sessionId")
    await tab.until("() => Object.keys(rt.members('team')).sort().join() === 'ada,bob,cy'")

    await bob.emit("post", {"room": "team", "n": 1})
    await tab.until("() => log.events.length === 1")

    nodes.kill(a)
    cut = await tab.until("() => log.states.find((s) => s.state === 'reconnecting')")
    assert cut["code"] == 1006 and cut["attempt"] == 1
    # Published while the page is away (its retries wait 250-500 ms, then 500-1000 ms).
    await bob.emit("post", {"room": "team", "n": 2})
    await bob.emit("post", {"room": "team", "n": 3})
    assert await tab.js("() => hub.state") == "reconnecting"
    assert "team" in await tab.js("() => rt.rooms()")  # kept while away

    # Back by itself, on node b, in its room, with the missed publications once each.
    await tab.until("() => hub.state === 'connected' && log.events.length === 3", timeout=15_000)
    assert await tab.js("() => hub.url") == b
    assert await tab.outcome("hub.emit('whereami')") == {"ok": port_of(b)}
    events = await tab.js("() => log.events.map((e) => [e.data, e.offset, e.replay ?? false])")
    assert events == [[1, 1, False], [2, 2, True], [3, 3, True]]
    offsets = [frame["offset"] for frame in tab.received if frame["t"] == "event"]
    assert offsets == [1, 2, 3]  # on the wire too: nothing sent twice
    epoch = (await tab.js("() => rt.rooms()"))["team"]["epoch"]
    assert await tab.js("() => log.rooms.at(-1)") == {
        "type": "joined",
        "room": "team",
        "recovered": True,
        "offset": 3,
        "epoch": epoch,
    }
    assert await tab.js("() => rt.rooms()") == {"team": {"offset": 3, "epoch": epoch}}
    # The sockets: node a (welcomed), node a again (refused), then node b.
    assert tab.sockets[0] == a and tab.sockets[-1] == b
    assert set(tab.sockets) == {a, b}
    states = await tab.js("() => log.states.map((s) => s.state)")
    assert states[:2] == ["connected", "reconnecting"]
    assert set(states[2:-1]) <= {"reconnecting"} and states[-1] == "connected"
    # The hello to node b asked to resume the session, with the room's position. A
    # node killed by SIGKILL could not park the session in Redis, so node b starts a
    # new one and the client rejoins the room (from its position) by itself.
    hello = [frame for frame in tab.sent if frame["t"] == "hello"][-1]
    assert hello["session"]["id"] == sid
    assert hello["rooms"] == {"team": {"offset": 1, "epoch": epoch}}
    resumed = (await tab.js("() => log.states.at(-1)"))["resumed"]
    assert (await tab.js("() => hub.sessionId") == sid) is resumed
    if not resumed:
        joins = [frame for frame in tab.sent if frame["t"] == "join"]
        assert joins[-1]["room"] == "team" and joins[-1]["offset"] == 1

    # Presence, seen from node b: cy left when node a's lease ran out and it was
    # reaped (a diff), ada is still there (through node b), and so is bob.
    await tab.until(
        "() => Object.keys(rt.members('team')).sort().join() === 'ada,bob'", timeout=15_000
    )
    assert await tab.js("() => rt.members('team')") == {
        "ada": {"info": {"name": "ada"}},
        "bob": {"info": {"name": "bob"}},
    }
    leaves = await tab.js("() => log.presence.team.flatMap((p) => p.leaves)")
    assert leaves == ["cy"]
    await eventually(lambda: set(bob.presence("team")) == {"ada", "bob"}, timeout=10)

    # And the page works on node b: its emits reach bob, and its own events come back.
    assert await tab.outcome("hub.emit('post', {room: 'team', n: 4})") == {"ok": None}
    await tab.until("() => log.events.length === 4")
    await eventually(lambda: bob_got == [1, 2, 3, 4])
    assert await tab.js("() => log.errors") == []
    assert tab.script_errors() == []


async def test_first_connection_tries_each_url_once(
    browser: Browser, nodes: Nodes, page_server: str
) -> None:
    b = await nodes.start()
    dead = f"ws://127.0.0.1:{free_port()}/rt"  # nothing listens there
    relative = page_server.replace("http:", "ws:") + "/rt"  # "/rt" on the page's server: no hub
    not_found = (  # Chromium's report of the refused handshake
        f"WebSocket connection to '{relative}' failed: "
        "Error during WebSocket handshake: Unexpected response code: 404"
    )

    # The page's own "/rt" refuses the handshake, the next one refuses the
    # connection: the third is used, at once, without a reconnecting state.
    tab = await Tab.open(browser, page_server, url=["/rt", dead, b], reconnect=False)
    await tab.until("() => hub.state === 'connected'")
    assert await tab.js("() => hub.urls") == [relative, dead, b]
    assert await tab.js("() => hub.url") == b
    assert tab.sockets == [relative, dead, b]
    assert await tab.js("() => log.states.map((s) => s.state)") == ["connected"]
    assert tab.script_errors() == [not_found]

    # None works: with reconnect off, each is tried once, then it gives up.
    tab = await Tab.open(browser, page_server, url=[dead, "/rt"], reconnect=False)
    await tab.until("() => hub.state === 'disconnected'")
    assert tab.sockets == [dead, relative]
    assert await tab.js("() => log.states.map((s) => [s.state, s.attempt])") == [
        ["disconnected", 0]
    ]
    refused = await tab.outcome("hub.emit('whereami')")
    assert refused["error"]["code"] == "closed"
    assert tab.script_errors() == [not_found]

    # With reconnect on, when none works, it goes round the list with backoff until
    # a node answers: here one that starts at the second URL's port meanwhile.
    later = free_port()
    second = f"ws://127.0.0.1:{later}/rt"
    tab = await Tab.open(
        browser, page_server, url=[dead, second], reconnect={"initial": 50, "max": 200}
    )
    await eventually(lambda: len(tab.sockets) >= 5)
    assert tab.sockets[:5] == [dead, second, dead, second, dead]
    retries = await tab.js("() => log.states.map((s) => [s.state, s.attempt])")
    assert retries[:3] == [["reconnecting", 1], ["reconnecting", 2], ["reconnecting", 3]]
    assert await tab.js("() => hub.state") == "reconnecting"
    await nodes.start(later)
    await tab.until("() => hub.state === 'connected'")
    assert await tab.js("() => hub.url") == second
    assert await tab.outcome("hub.emit('whereami')") == {"ok": later}
    assert tab.script_errors() == []

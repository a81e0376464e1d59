"""The tutorial's app, examples/realtime_poll, on a real server on 127.0.0.1.

It is driven by the Python client, by the tutorial's bot and (when Chromium is
there) by its page. The tutorial's code blocks must be excerpts of the example's
files. Together these keep docs/realtime-tutorial.md from drifting away from code
that runs.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import switchboard
from switchboard.realtime import (
    HubClient,
    HubError,
    InvalidPayload,
    RateLimited,
    Rejected,
    Unauthorized,
    connect,
)
from switchboard.realtime.client import EventMeta, RoomEvent

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "realtime_poll"
TUTORIAL = ROOT / "docs" / "realtime-tutorial.md"


def _load(name: str) -> ModuleType:
    """Import examples/realtime_poll/<name>.py (not a package)."""
    spec = importlib.util.spec_from_file_location(f"realtime_poll_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


poll_app = _load("app")
poll_bot = _load("bot")


class PollServer:
    """The example app, served; ``stop()`` then ``start()`` is a restart on the same
    port: a new hub (it remembers nothing) over the same ``store``."""

    def __init__(self) -> None:
        self.store = poll_app.Store()
        self.port = 0
        self.server: switchboard.Server | None = None
        self.hub: Any = None
        self.clients: list[HubClient] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        router, self.hub = poll_app.create_app(self.store)
        self.server = await switchboard.serve(router, "127.0.0.1", self.port)
        self.port = self.server.port

    async def stop(self, code: int = 1012, reason: str = "service restart") -> None:
        assert self.server is not None
        self.server.close(code, reason)
        await self.server.wait_closed()
        await self.hub.close()
        self.server = None

    async def login(self, name: str) -> str:
        token: str = await asyncio.to_thread(poll_bot.login, self.base, name)
        return token

    async def client(self, name: str, **options: Any) -> HubClient:
        """A Python client logged in as ``name``."""
        options.setdefault("backoff", (0.05, 0.2))
        token = await self.login(name)
        client = await connect(f"ws://127.0.0.1:{self.port}/rt", auth={"token": token}, **options)
        self.clients.append(client)
        return client


@pytest.fixture
async def poll() -> AsyncIterator[PollServer]:
    served = PollServer()
    await served.start()
    yield served
    for client in served.clients:
        await client.close()
    if served.server is not None:
        await served.stop(1001, "test over")


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def names(members: dict[str, dict[str, Any]]) -> set[str]:
    return {member["info"]["name"] for member in members.values()}


def http(url: str, body: Any = None) -> tuple[int, str, str]:
    """GET (or POST ``body`` as JSON): status, content type, text."""
    data = None if body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


# -- the app, driven by the Python client ---------------------------------------------


async def test_the_page_its_script_and_the_client_are_served(poll: PollServer) -> None:
    status, kind, page = await asyncio.to_thread(http, poll.base + "/")
    assert (status, kind) == (200, "text/html; charset=utf-8")
    assert "default-src 'none'; script-src 'self'; connect-src 'self'" in page
    assert '<script type="module" src="app.js"></script>' in page
    status, kind, script = await asyncio.to_thread(http, poll.base + "/app.js")
    assert (status, kind) == (200, "text/javascript; charset=utf-8")
    assert 'import { connect } from "/rt/client.js";' in script
    assert "innerHTML" not in script
    status, kind, client = await asyncio.to_thread(http, poll.base + "/rt/client.js")
    assert (status, kind) == (200, "text/javascript; charset=utf-8")
    assert "export function connect(" in client
    refused = await asyncio.to_thread(http, poll.base + "/api/login", {"name": ""})
    assert refused == (
        400,
        "text/plain; charset=utf-8",
        'send {"name": "..."}, 1 to 40 characters\n',
    )


async def test_the_identity_comes_from_the_login_token(poll: PollServer) -> None:
    url = f"ws://127.0.0.1:{poll.port}/rt"
    with pytest.raises(Unauthorized, match="unknown token: log in again"):
        await connect(url, auth={"token": "made-up"})
    with pytest.raises(Unauthorized):
        await connect(url)  # no auth at all
    ada = await poll.client("Ada")
    assert ada.user is not None and ada.user["info"] == {"name": "Ada"}
    await eventually(lambda: "lobby" in ada.rooms)  # by the hub: Identity(rooms=("lobby",))
    bob = await poll.client("Bob")
    await eventually(lambda: names(ada.presence("lobby")) == {"Ada", "Bob"})
    await eventually(lambda: names(bob.presence("lobby")) == {"Ada", "Bob"})
    here = await poll.hub.presence("lobby")
    assert sorted(entry.info["name"] for entry in here.values()) == ["Ada", "Bob"]
    for refused in (ada.leave("lobby"), ada.join("poll:no-such-poll"), ada.join("elsewhere")):
        with pytest.raises(HubError) as error:
            await refused
        assert error.value.code == "not_allowed"


async def test_bad_polls_are_refused_and_creating_is_rate_limited(poll: PollServer) -> None:
    ada = await poll.client("Ada")
    created = [
        await ada.emit("poll.create", {"question": f"Q{i}?", "options": ["a", "b"]})
        for i in range(5)  # Rate(1, 5): a burst of 5...
    ]
    assert len({poll["id"] for poll in created}) == 5
    with pytest.raises(RateLimited) as limited:  # ... then one a second
        await ada.emit("poll.create", {"question": "One more?", "options": ["a", "b"]})
    assert 0 < limited.value.retry_after <= 1.0
    listed = await ada.emit("poll.list")
    assert [poll["question"] for poll in listed] == ["Q4?", "Q3?", "Q2?", "Q1?", "Q0?"]

    bob = await poll.client("Bob")  # rate limits are per session
    with pytest.raises(Rejected, match="2 to 8 options"):
        await bob.emit("poll.create", {"question": "Yes?", "options": ["yes", " "]})
    with pytest.raises(InvalidPayload) as invalid:
        await bob.emit("poll.create", {"question": "Yes?", "options": ["yes", 3]})
    assert (invalid.value.field, invalid.value.message) == (
        "options.1",
        "options.1: expected a string, got 3",
    )
    with pytest.raises(Rejected, match="no poll 'nope'"):
        await bob.emit("poll.get", "nope")


async def test_a_poll_from_question_to_result_with_the_bot(
    poll: PollServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ada = await poll.client("Ada")
    bob = await poll.client("Bob")
    created: asyncio.Queue[tuple[dict[str, Any], EventMeta]] = asyncio.Queue()
    ada.on("poll.created")(lambda data, meta: created.put_nowait((data, meta)))
    seen: list[tuple[str, list[int]]] = []
    ada.on("poll.tally")(lambda data, meta: seen.append(("tally", data["counts"])))
    ada.on("poll.closed")(lambda data, meta: seen.append(("closed", data["counts"])))

    bot = asyncio.ensure_future(
        poll_bot.run_poll(poll.base, "Lunch?", ["pizza", "sushi", "salad"], votes=2)
    )
    summary, meta = await asyncio.wait_for(created.get(), 10)
    assert summary == {"id": summary["id"], "question": "Lunch?", "closed": False}
    assert meta.room == "lobby" and meta.offset is not None  # the lobby keeps history
    room = f"poll:{summary['id']}"
    joined = await ada.join(room)
    assert joined["room"] == room and joined["recovered"] is None
    await bob.join(room)
    await eventually(lambda: names(ada.presence(room)) == {"Poll bot", "Ada", "Bob"})
    state = await ada.emit("poll.get", summary["id"])
    assert state["options"] == ["pizza", "sushi", "salad"]
    assert (state["counts"], state["mine"], state["closed"]) == ([0, 0, 0], None, False)

    with pytest.raises(InvalidPayload) as invalid:
        await ada.emit("poll.vote", {"poll": summary["id"], "option": "sushi"})
    assert invalid.value.field == "option"
    with pytest.raises(Rejected, match="no option 7"):
        await ada.emit("poll.vote", {"poll": summary["id"], "option": 7})
    assert await ada.emit("poll.vote", {"poll": summary["id"], "option": 1}) == {
        "id": summary["id"],
        "counts": [0, 1, 0],
    }
    await bob.emit("poll.vote", {"poll": summary["id"], "option": 2})

    assert await asyncio.wait_for(bot, 10) == [("pizza", 0), ("sushi", 1), ("salad", 1)]
    await eventually(lambda: len(seen) == 3)
    assert seen == [("tally", [0, 1, 0]), ("tally", [0, 1, 1]), ("closed", [0, 1, 1])]
    with pytest.raises(Rejected, match="this poll is closed"):
        await bob.emit("poll.vote", {"poll": summary["id"], "option": 0})
    with pytest.raises(Rejected, match="only the author"):
        await ada.emit("poll.close", summary["id"])
    printed = capsys.readouterr().out.splitlines()
    assert [line.split("  watching: ")[0] for line in printed] == ["[0, 1, 0]", "[0, 1, 1]"]
    # The bot has disconnected, but stays listed for the room's presence_grace (5 s).
    assert names(ada.presence(room)) == {"Poll bot", "Ada", "Bob"}


async def test_a_dropped_connection_gets_exactly_what_it_missed(poll: PollServer) -> None:
    ada = await poll.client("Ada")
    cy = await poll.client("Cy")
    bob = await poll.client("Bob", backoff=(0.5, 1.0))  # away long enough to miss votes
    poll_id = (await ada.emit("poll.create", {"question": "Tea?", "options": ["yes", "no"]}))["id"]
    room = f"poll:{poll_id}"
    await bob.join(room)
    tallies: list[tuple[list[int], int | None]] = []
    bob.on("poll.tally")(lambda data, meta: tallies.append((data["counts"], meta.offset)))
    rooms: list[RoomEvent] = []
    bob.on_room(rooms.append)
    first_session = bob.session_id
    await ada.emit("poll.vote", {"poll": poll_id, "option": 0})
    await eventually(lambda: len(tallies) == 1)

    assert bob._ws is not None and bob._ws._transport is not None
    bob._ws._transport.abort()  # the network is gone: no closing handshake
    await bob.wait_for_state("reconnecting")
    await cy.emit("poll.vote", {"poll": poll_id, "option": 1})  # missed by Bob
    await ada.emit("poll.vote", {"poll": poll_id, "option": 1})  # missed by Bob
    offline_vote = asyncio.ensure_future(bob.emit("poll.vote", {"poll": poll_id, "option": 0}))
    await bob.wait_for_state("connected")

    assert await asyncio.wait_for(offline_vote, 10) == {"id": poll_id, "counts": [1, 2]}
    await eventually(lambda: len(tallies) == 4)
    await asyncio.sleep(0.05)  # nothing more comes
    assert tallies == [([1, 0], 1), ([1, 1], 2), ([0, 2], 3), ([1, 2], 4)]  # no gap, no repeat
    assert bob.session_id == first_session  # resumed
    assert RoomEvent("joined", room, True) in rooms
    assert RoomEvent("joined", "lobby", True) in rooms
    assert poll.store.polls[poll_id].counts() == [1, 2]  # the offline vote counted once


async def test_after_a_restart_nothing_is_recovered_and_the_state_reloads(
    poll: PollServer,
) -> None:
    ada = await poll.client("Ada")
    bob = await poll.client("Bob")
    poll_id = (await ada.emit("poll.create", {"question": "Tea?", "options": ["yes", "no"]}))["id"]
    room = f"poll:{poll_id}"
    rooms: list[RoomEvent] = []
    bob.on_room(rooms.append)
    await bob.join(room)
    created: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    ada.on("poll.created")(lambda data, meta: created.put_nowait(data))
    bot = asyncio.ensure_future(poll_bot.run_poll(poll.base, "Coffee?", ["yes", "no"], votes=2))
    coffee = await asyncio.wait_for(created.get(), 10)
    assert coffee["question"] == "Coffee?"
    await ada.emit("poll.vote", {"poll": coffee["id"], "option": 0})
    await ada.emit("poll.vote", {"poll": poll_id, "option": 0})
    first_session = bob.session_id

    await poll.stop()  # every client gets 1012 and reconnects
    await poll.start()  # a new hub, the same store (a database, in a real app)
    await bob.wait_for_state("connected")
    await eventually(lambda: RoomEvent("joined", room, False) in rooms)
    assert RoomEvent("joined", "lobby", False) in rooms  # a new epoch: never a wrong gap
    assert bob.session_id != first_session  # the new hub did not know the session
    assert room in bob.rooms  # rejoined by the client itself
    state = await bob.emit("poll.get", poll_id)  # what the page's onRoom does
    assert state["counts"] == [1, 0]
    await bob.emit("poll.vote", {"poll": coffee["id"], "option": 1})
    # The bot rejoined its poll's room, reloaded the state, and saw the second vote.
    assert await asyncio.wait_for(bot, 10) == [("yes", 1), ("no", 1)]


async def test_a_restart_that_loses_the_logins_ends_in_failed(poll: PollServer) -> None:
    ada = await poll.client("Ada")
    await poll.stop()
    poll.store = poll_app.Store()  # app.py as it is: the users were in memory
    await poll.start()
    await ada.wait_for_state("failed")
    assert ada.close_info == (4401, "unauthorized: unknown token: log in again")


# -- the page, in Chromium ------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")


async def test_the_page_in_chromium(poll: PollServer) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium")
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        problems: list[str] = []
        pages = []
        for name in ("Ada", "Bob"):
            page = await (await browser.new_context()).new_page()
            page.on(
                "console",
                lambda m, name=name: (
                    problems.append(f"{name}: {m.text}") if m.type in ("error", "warning") else None
                ),
            )
            page.on("pageerror", lambda e, name=name: problems.append(f"{name}: {e}"))
            await page.add_init_script(
                "document.addEventListener('securitypolicyviolation', e =>"
                " console.error('CSP: ' + e.violatedDirective))"
            )
            await page.goto(poll.base + "/")
            await page.fill("#login input[name=name]", name)
            await page.click("#login button")
            await page.wait_for_selector("#state[data-state=connected]")
            pages.append(page)
        ada, bob = pages

        def text(page: Any, selector: str) -> Any:
            return page.eval_on_selector_all(selector, "els => els.map(e => e.textContent)")

        await ada.wait_for_function("() => document.querySelectorAll('#online li').length === 2")
        assert sorted(await text(ada, "#online li")) == ["Ada", "Bob"]

        await ada.fill("#new-poll input[name=question]", "<b>Lunch?</b>")
        await ada.fill("#new-poll textarea", "only one")
        await ada.click("#new-poll button")
        await ada.wait_for_function("() => document.getElementById('new-error').textContent")
        assert await ada.text_content("#new-error") == (
            "2 to 8 options of at most 80 characters, please"
        )
        await ada.fill("#new-poll textarea", "pizza\nsushi\n\nsalad")
        await ada.click("#new-poll button")
        await ada.wait_for_selector("#poll:not([hidden])")
        assert await ada.text_content("#question") == "<b>Lunch?</b>"  # text, not HTML

        await bob.wait_for_selector("#polls li button")
        await bob.click("#polls li button")
        await bob.wait_for_selector("#options li button")
        await ada.wait_for_function(
            "() => document.getElementById('watching').textContent === 'Ada, Bob'"
        )
        await bob.click("#options li:nth-child(2) button")
        await ada.wait_for_function(
            "() => document.getElementById('poll-status').textContent === '1 vote'"
        )
        await bob.wait_for_selector("#options li.mine button")  # once bob's ack is in
        assert await text(bob, "#options li.mine button") == ["sushi"]

        # Bob's connection dies; Ada votes meanwhile; Bob's page catches up by itself.
        (session,) = [s for s in poll.hub.sessions if s.user.info["name"] == "Bob"]
        session.ws._transport.abort()
        await bob.wait_for_selector("#state[data-state=reconnecting]")
        await ada.click("#options li:nth-child(3) button")
        await bob.wait_for_selector("#state[data-state=connected]")
        await bob.wait_for_function(
            "() => document.getElementById('poll-status').textContent === '2 votes'"
        )
        assert poll.hub.session(session.id) is not None  # the same session, resumed
        await browser.close()
    assert problems == []


# -- the tutorial's code ------------------------------------------------------------

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SOURCES = {
    "python": [EXAMPLE / "app.py", EXAMPLE / "bot.py"],
    "js": [EXAMPLE / "static" / "app.js"],
    "html": [EXAMPLE / "static" / "index.html"],
}


def test_every_code_block_of_the_tutorial_is_in_the_example() -> None:
    """Python, JavaScript and HTML blocks are verbatim excerpts (``sh`` and ``json``
    blocks are commands and wire transcripts)."""
    blocks = FENCE.findall(TUTORIAL.read_text())
    checked = 0
    for language, block in blocks:
        assert language in (*SOURCES, "sh", "json", ""), f"unexpected block language {language}"
        if language not in SOURCES:
            continue
        texts = [path.read_text() for path in SOURCES[language]]
        assert any(block in text for text in texts), (
            f"this {language} block of {TUTORIAL.name} is not in examples/realtime_poll:\n{block}"
        )
        checked += 1
    assert checked >= 20

"""Planning poker in a real browser: Debian's Chromium driven by Playwright, several
browser contexts (people) at once against one server.

Each person's pages reach the server through their own small TCP proxy, so a test
can drop that person's connections (a network cut: the sockets just die) or refuse
new ones for a while, while the others look on. A restart stops the server, then
serves a new app (a new process, as far as it knows) on the same database and port.

Screenshots for docs/poker.md: ``POKER_SCREENSHOTS=1 pytest tests/browser/test_poker.py
-k screenshots`` writes them to docs/images/poker/ (otherwise to a temporary folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

import switchboard
from poker.frames import votes_in
from switchboard.apps.poker import PokerApp

pytestmark = pytest.mark.timeout(120)
expect.set_options(timeout=10_000)

DOCS_IMAGES = Path(__file__).parents[2] / "docs" / "images" / "poker"


class Proxy:
    """A TCP relay to the server: ``cut()`` kills every connection through it;
    ``down`` refuses new ones (accepted, then closed at once)."""

    def __init__(self) -> None:
        self.target = 0
        self.port = 0
        self.down = False
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def start(self, target: int) -> None:
        self.target = target
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self._links.difference_update((writer, up_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()

    def cut(self) -> None:
        for writer in list(self._links):
            writer.transport.abort()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class Site:
    """The poker app; ``stop()`` then ``start_new()`` serves a new app on the same
    database and port."""

    def __init__(self, db_path: Path, **options: Any) -> None:
        self.db_path = db_path
        self.options = options
        self.app = PokerApp(db_path=db_path, **options)
        self.server: switchboard.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await switchboard.serve(self.app.router, "127.0.0.1", self.port)
        self.port = self.server.port

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close(1012, "service restart")
        await self.server.wait_closed()
        self.server = None

    async def start_new(self) -> None:
        """Serve a new app (a new process, as far as it knows) after ``stop()``."""
        self.app = PokerApp(db_path=self.db_path, **self.options)
        await self.start()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    site = Site(
        tmp_path / "poker.sqlite3",
        grace=1.5,
        sweep_interval=1.0,
        create_limit=(100, 60.0),
        probe_limit=(200, 60.0),
    )
    await site.start()
    yield site
    if site.server is not None:
        await site.stop()


class Person:
    """One person: a browser context (their localStorage, so their seat) and its pages,
    with every WebSocket frame their pages receive. Their pages reach the server
    through their own proxy (``proxy.cut()`` drops their connections only)."""

    def __init__(self, people: People, context: BrowserContext, name: str, proxy: Proxy) -> None:
        self.people = people
        self.context = context
        self.name = name
        self.proxy = proxy
        self.page: Page = None  # type: ignore[assignment]  # set by open()
        self.frames: list[dict[str, Any]] = []
        self.code = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    async def open(self, path: str = "/") -> Page:
        page = await self.context.new_page()
        page.on("pageerror", lambda exc: self.people.errors.append(f"{self.name}: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.people.errors.append(f"{self.name}: {msg.text}")
                if msg.type == "error"
                else None
            ),
        )
        page.on("websocket", self._watch)
        await page.goto(self.base + path)
        self.page = page
        return page

    def _watch(self, ws: Any) -> None:
        def received(payload: str | bytes) -> None:
            if isinstance(payload, str):
                self.frames.append(json.loads(payload))

        ws.on("framereceived", received)

    async def create(
        self, *, deck: str = "fibonacci", to: str | None = None, no_vote: bool = False
    ) -> str:
        page = await self.open("/create.html")
        await page.fill("#name", self.name)
        await page.check(f"input[name=deck][value={deck}]")
        if to is not None:
            await page.select_option("#range-to", label=to)
        if no_vote:
            await page.check("#no-vote")
        await page.click("#create-button")
        await page.wait_for_url(re.compile(r"/room\.html\?code=[A-Z]{4}$"))
        await connected(page)
        self.code = page.url[-4:]
        return self.code

    async def join(self, code: str, *, spectator: bool = False) -> Page:
        page = await self.open(f"/room.html?code={code}")
        await page.fill("#join-name", self.name)
        if spectator:
            await page.check("#join-spectator")
        await page.click("#join-button")
        await connected(page)
        self.code = code
        return page

    def row(self, name: str, page: Page | None = None) -> Locator:
        page = page or self.page
        return page.locator("#seats tr").filter(
            has=page.locator(".name").get_by_text(name, exact=True)
        )

    def votes_received(self) -> list[Any]:
        return votes_in(self.frames)


class People:
    def __init__(self, browser: Browser, site: Site) -> None:
        self.browser = browser
        self.site = site
        self.errors: list[str] = []
        self.proxies: list[Proxy] = []

    async def person(self, name: str, **context: Any) -> Person:
        proxy = Proxy()
        await proxy.start(self.site.port)
        self.proxies.append(proxy)
        return Person(self, await self.browser.new_context(**context), name, proxy)

    def script_errors(self) -> list[str]:
        """Errors less the browser's own lines about connections refused or cut while
        the server was down, and about the 4xx answers the tests provoke."""
        ignored = re.compile(r"WebSocket connection to .* failed|ERR_CONNECTION|status of 4\d\d")
        return [error for error in self.errors if not ignored.search(error)]


@pytest.fixture
async def people(browser: Browser, site: Site) -> AsyncIterator[People]:
    crowd = People(browser, site)
    yield crowd
    for proxy in crowd.proxies:
        await proxy.close()


async def connected(*pages: Page) -> None:
    for page in pages:
        await expect(page.locator("#status")).to_have_attribute("data-state", "connected")


async def pick(page: Page, card: str) -> None:
    await page.click(f"#cards button[data-card='{card}']")
    await expect(page.locator(f"#cards button[data-card='{card}']")).to_have_attribute(
        "aria-pressed", "true"
    )


async def room_of(people: People, *names: str, **create: Any) -> list[Person]:
    first = await people.person(names[0])
    code = await first.create(**create)
    everyone = [first]
    for name in names[1:]:
        person = await people.person(name)
        await person.join(code)
        everyone.append(person)
    for person in everyone:
        await expect(person.page.locator("#seats tr")).to_have_count(len(names))
    return everyone


async def confirm(page: Page) -> None:
    await expect(page.locator("#confirm")).to_be_visible()
    await page.click("#confirm-ok")


# -- a full session ---------------------------------------------------------------------


async def test_a_full_session(people: People, site: Site) -> None:
    ann = await people.person("Ann")
    code = await ann.create(deck="fibonacci", to="13", no_vote=True)
    assert re.fullmatch("[A-Z]{4}", code)
    await expect(ann.page.locator("#code")).to_have_text(code)
    await expect(ann.page.locator("#moderator-line")).to_have_text("♛ You are the moderator.")
    await expect(ann.page.locator("#table-foot")).to_contain_text("Waiting for people to join")

    # Three people join: Bob types the code, Cy pastes it, Dee follows a link.
    bob = await people.person("Bob")
    home = await bob.open("/")
    await home.keyboard.type(code.lower())
    await home.wait_for_url(f"**/room.html?code={code}")
    await home.fill("#join-name", "Bob")
    await home.press("#join-name", "Enter")
    await connected(home)
    cy = await people.person("cy")
    home = await cy.open("/")
    await home.evaluate(
        """(code) => {
             const data = new DataTransfer();
             data.setData("text", code);
             document.getElementById("c0").dispatchEvent(
               new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
           }""",
        f" {code}\n",
    )
    await home.wait_for_url(f"**/room.html?code={code}")
    await expect(home.locator("#join-about")).to_contain_text("2 people are in this room")
    await home.fill("#join-name", "cy")
    await home.click("#join-button")
    dee = await people.person("Dee")
    await dee.join(code)
    everyone = (ann, bob, cy, dee)
    for person in everyone:
        await expect(person.page.locator("#seats .name")).to_have_text(["Ann", "Bob", "cy", "Dee"])

    # The moderator describes the round (links become links) and starts it.
    await ann.page.fill("#describe-text", "Login page, see https://example.com/story/1")
    await ann.page.click("#describe-save")
    link = dee.page.locator("#description a")
    await expect(link).to_have_attribute("href", "https://example.com/story/1")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await ann.page.click("#start")
    for person in everyone:
        await expect(person.page.locator("#cards button")).to_have_count(8)  # N/A and 0.5-13
        await expect(person.page.locator("#notice")).to_contain_text("voting has started")
    await expect(ann.page.locator("#describe-form")).to_be_hidden()

    cards = {"Ann": "3", "Bob": "5", "cy": "5", "Dee": "13"}
    for person in everyone:
        await pick(person.page, cards[person.name])
    await pick(cy.page, "8")  # Cy changes her mind, then back
    await pick(cy.page, "5")
    for person in everyone:
        await expect(person.page.locator("#table-foot")).to_have_text(
            "Voting in progress: 4 of 4 voted."
        )
        await expect(person.page.locator("#seats td.vote")).to_have_text(["✔ Voted"] * 4)
        # No card in anyone's table, and none in any frame but one's own.
        table = await person.page.locator("#seats").inner_text()
        assert not re.search(r"\b(3|5|8|13)\b", table), table
        assert set(person.votes_received()) <= {cards[person.name], "8"}, person.name
        if person is not cy:
            assert "8" not in person.votes_received()
    await expect(ann.page.locator("#reveal")).to_have_text("Reveal cards (4 of 4 voted)")

    await ann.page.click("#reveal")
    for person in everyone:
        page = person.page
        await expect(page.locator("#seats td.vote")).to_have_text(["3", "5", "5", "13"])
        await expect(page.locator(".stat[data-stat=low] dd")).to_have_text("3")
        await expect(page.locator(".stat[data-stat=high] dd")).to_have_text("13")
        await expect(page.locator(".stat[data-stat=mode] dd")).to_have_text("5")
        await expect(page.locator(".stat[data-stat=average] dd")).to_have_text("6.5")
        await expect(page.locator(".stat[data-stat=confidence] dd")).to_have_text("high")
        await expect(page.locator(".stat[data-stat=did-not-vote] dd")).to_have_text("0")
        await expect(page.locator("#seats td.confidence")).to_have_text(["●●● high"] * 4)
        await expect(page.locator("#rounds > li")).to_have_count(1)
    await expect(bob.page.locator("#rounds summary")).to_contain_text("Round 1 · Login page")

    # CSV export, from the moderator's page.
    async with ann.page.expect_download() as download_info:
        await ann.page.click("#export-csv")
    download = await download_info.value
    assert download.suggested_filename == f"poker-{code}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(await download.path()).read_text())))
    assert [(r["round"], r["low"], r["high"], r["mode"], r["mean"]) for r in rows] == [
        ("1", "3", "13", "5", "6.5")
    ]
    assert rows[0]["description"] == "Login page, see https://example.com/story/1"
    assert rows[0]["votes"] == "Ann: 3 (high); Bob: 5 (high); cy: 5 (high); Dee: 13 (high)"

    # The next round starts clean.
    await ann.page.click("#start")
    for person in everyone:
        await expect(person.page.locator("#seats td.vote")).to_have_text(["○ Not yet"] * 4)
        await expect(person.page.locator("#cards button[aria-pressed=true]")).to_have_count(0)
    assert people.script_errors() == []


# -- the moderator's moves ----------------------------------------------------------------


async def test_kick_rename_and_moderator_hand_over(people: People) -> None:
    ann, bob, cy = await room_of(people, "Ann", "Bob", "Cy")
    await expect(bob.page.locator("#controls")).to_be_hidden()
    await expect(bob.page.locator("#seats button")).to_have_count(0)  # no moderator buttons

    # Bob renames himself in the settings.
    await bob.page.click("#settings-open")
    await bob.page.fill("#rename", "Robert")
    await bob.page.press("#rename", "Enter")
    await expect(bob.page.locator("#notice")).to_have_text("Name updated.")
    for person in (ann, bob, cy):
        await expect(person.page.locator("#seats .name")).to_have_text(["Ann", "Robert", "Cy"])

    # Ann removes Robert, after a confirmation.
    await ann.row("Robert").get_by_role("button", name="Remove Robert from the room").click()
    await expect(ann.page.locator("#confirm-text")).to_have_text(
        "Are you sure you want to remove Robert from the room?"
    )
    await confirm(ann.page)
    await expect(bob.page.locator("#gone-title")).to_have_text("You were removed from the room")
    await expect(bob.page.locator("#status")).to_have_text("offline")
    for person in (ann, cy):
        await expect(person.page.locator("#seats .name")).to_have_text(["Ann", "Cy"])
    assert await bob.page.evaluate(f"localStorage.getItem('poker:seat:{ann.code}')") is None

    # Ann hands the role to Cy.
    await ann.row("Cy").get_by_role("button", name="Make Cy the moderator").click()
    await confirm(ann.page)
    await expect(cy.page.locator("#moderator-line")).to_have_text("♛ You are the moderator.")
    await expect(cy.page.locator("#notice")).to_have_text("You are now the moderator.")
    await expect(cy.page.locator("#controls")).to_be_visible()
    await expect(ann.page.locator("#controls")).to_be_hidden()
    await expect(ann.page.locator("#moderator-line")).to_have_text("♛ Cy is the moderator.")
    await expect(ann.row("Cy").locator(".crown")).to_have_count(1)
    assert people.script_errors() == []


async def test_the_moderator_leaves_for_good(people: People) -> None:
    ann, bob, cy = await room_of(people, "Ann", "Bob", "Cy")
    await ann.page.click("#start")
    await pick(bob.page, "2")
    await ann.page.click("#settings-open")
    await ann.page.click("#leave")
    await expect(ann.page.locator("#confirm-title")).to_have_text("Leave this room for good?")
    await confirm(ann.page)
    await expect(ann.page.locator("#gone-title")).to_have_text("You left the room")
    # The role passes to the next in join order, in the middle of the round.
    await expect(bob.page.locator("#moderator-line")).to_have_text("♛ You are the moderator.")
    await expect(cy.page.locator("#moderator-line")).to_have_text("♛ Bob is the moderator.")
    await expect(cy.page.locator("#seats .name")).to_have_text(["Bob", "Cy"])
    await expect(bob.page.locator("#reveal")).to_be_visible()
    await bob.page.click("#reveal")
    await expect(cy.page.locator("#seats td.vote")).to_have_text(["2", "☕ Did not vote"])
    # Her seat is gone: the same browser must join again.
    page = await ann.open(f"/room.html?code={ann.code}")
    await expect(page.locator("#join")).to_be_visible()
    assert people.script_errors() == []


# -- connections ----------------------------------------------------------------------------


async def test_a_dropped_connection_within_and_beyond_the_grace_period(
    people: People, site: Site
) -> None:
    ann, bob, cy = await room_of(people, "Ann", "Bob", "Cy")
    await ann.page.click("#start")
    await pick(bob.page, "8")
    seen = len(cy.frames)

    # Within the grace period (1.5 s): Bob's connection dies and his page comes
    # back at once (backoff 0.25-0.5 s). Nobody sees him away; nothing changes.
    bob.proxy.cut()
    await expect(bob.page.locator("#status")).to_have_text("reconnecting…")
    await connected(bob.page)
    await asyncio.sleep(2.0)
    states = [f["data"] for f in cy.frames[seen:] if f.get("event") == "poker.state"]
    assert all(seat["present"] for state in states for seat in state["seats"])
    await expect(cy.row("Bob").locator(".tag")).to_have_count(0)
    await expect(bob.page.locator("#cards button[data-card='8']")).to_have_attribute(
        "aria-pressed", "true"
    )

    # Beyond it: Bob cannot reach the server for a while. The others see him lose
    # his connection at once, then, after the grace period, away.
    bob.proxy.down = True
    bob.proxy.cut()
    await expect(bob.page.locator("#status")).to_have_text("reconnecting…")
    await expect(bob.page.locator("#notice")).to_contain_text("Your seat and your card are kept")
    await expect(cy.row("Bob").locator(".tag.lost")).to_have_text("reconnecting…")
    await expect(cy.row("Bob").locator(".tag.away")).to_have_text("away")
    await expect(cy.row("Bob").locator("td.vote")).to_have_text("✔ Voted")  # his card stays
    await expect(ann.page.locator("#reveal")).to_have_text("Reveal cards (1 of 3 voted)")
    bob.proxy.down = False
    await bob.page.click("#status")  # "press to reconnect now"
    await connected(bob.page)
    await expect(cy.row("Bob").locator(".tag")).to_have_count(0)
    await expect(bob.page.locator("#cards button[data-card='8']")).to_have_attribute(
        "aria-pressed", "true"
    )

    # The moderator's connection drops beyond the grace period: Bob moderates
    # meanwhile; she gets the role back when her page reconnects.
    ann.proxy.down = True
    ann.proxy.cut()
    await expect(bob.page.locator("#moderator-line")).to_have_text("♛ You are the moderator.")
    await expect(cy.row("Ann").locator(".tag.away")).to_have_text("away")
    ann.proxy.down = False
    await ann.page.click("#status")
    await connected(ann.page)
    await expect(ann.page.locator("#moderator-line")).to_have_text("♛ You are the moderator.")
    await expect(cy.page.locator("#moderator-line")).to_have_text("♛ Ann is the moderator.")
    await expect(bob.page.locator("#controls")).to_be_hidden()
    await ann.page.click("#reveal")
    await expect(cy.page.locator("#seats td.vote")).to_have_text(
        ["☕ Did not vote", "8", "☕ Did not vote"]
    )


async def test_the_moderator_returns_after_closing_the_page(people: People) -> None:
    ann, bob, cy = await room_of(people, "Ann", "Bob", "Cy")
    await ann.page.click("#start")
    await pick(ann.page, "1")
    await ann.page.close()
    # Beyond the grace period she is away and Bob moderates meanwhile.
    await expect(bob.row("Ann").locator(".tag.away")).to_have_text("away")
    await expect(bob.page.locator("#moderator-line")).to_have_text("♛ You are the moderator.")
    await expect(cy.page.locator("#notice")).to_have_text("Bob is now the moderator.")
    await expect(bob.row("Ann").locator("td.vote")).to_have_text("✔ Voted")  # her card stays

    # She opens the room again (same browser, so the same seat token): her seat,
    # her card and her role are back.
    page = await ann.open(f"/room.html?code={ann.code}")
    await connected(page)
    await expect(page.locator("#moderator-line")).to_have_text("♛ You are the moderator.")
    await expect(page.locator("#cards button[data-card='1']")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(cy.page.locator("#moderator-line")).to_have_text("♛ Ann is the moderator.")
    await expect(bob.page.locator("#controls")).to_be_hidden()
    await expect(bob.row("Ann").locator(".tag.away")).to_have_count(0)
    await page.click("#reveal")
    await expect(cy.page.locator("#seats td.vote")).to_have_text(
        ["1", "☕ Did not vote", "☕ Did not vote"]
    )


async def test_a_server_restart_in_the_middle_of_a_round(people: People, site: Site) -> None:
    ann, bob, cy = await room_of(people, "Ann", "Bob", "Cy")
    await ann.page.fill("#describe-text", "Checkout")
    await ann.page.click("#describe-save")
    await ann.page.click("#start")
    await pick(bob.page, "5")
    await pick(ann.page, "3")

    await site.stop()
    for person in (ann, bob, cy):
        await expect(person.page.locator("#status")).to_have_text("reconnecting…")
    await site.start_new()  # a new process on the same database and port
    await connected(ann.page, bob.page, cy.page)
    for person in (ann, bob, cy):
        await expect(person.page.locator("#seats td.vote")).to_have_text(
            ["✔ Voted", "✔ Voted", "○ Not yet"]
        )
        await expect(person.page.locator("#description")).to_have_text("Checkout")
    await expect(bob.page.locator("#cards button[data-card='5']")).to_have_attribute(
        "aria-pressed", "true"
    )
    # The round goes on.
    await pick(cy.page, "8")
    await ann.page.click("#reveal")
    for person in (ann, bob, cy):
        await expect(person.page.locator("#seats td.vote")).to_have_text(["3", "5", "8"])
        await expect(person.page.locator(".stat[data-stat=mode] dd")).to_have_text("8")
    assert people.script_errors() == []


# -- tabs, spectators, the home page, the keyboard, themes ------------------------------------


async def test_two_tabs_are_one_seat_and_spectators_watch(people: People) -> None:
    ann, bob = await room_of(people, "Ann", "Bob", deck="yesno")
    second = await bob.open(f"/room.html?code={ann.code}")  # same context: same seat
    await connected(second)
    sam = await people.person("Sam")
    await sam.join(ann.code, spectator=True)
    for page in (ann.page, bob.page, second):
        await expect(page.locator("#seats .name")).to_have_text(["Ann", "Bob", "Sam"])
    await expect(ann.row("Sam")).to_contain_text("watching")
    await ann.page.click("#start")
    await expect(sam.page.locator("#hand")).to_be_hidden()
    await pick(bob.page, "Yes")
    await expect(second.locator("#cards button[data-card=Yes]")).to_have_attribute(
        "aria-pressed", "true"
    )  # the other tab knows
    await pick(second, "No")  # and may change it
    await expect(bob.page.locator("#cards button[data-card=No]")).to_have_attribute(
        "aria-pressed", "true"
    )
    await ann.page.click("#reveal")
    await expect(sam.page.locator(".stat[data-stat=yes] dd")).to_have_text("0%")
    await expect(sam.page.locator(".stat[data-stat=no] dd")).to_have_text("100%")
    await expect(sam.page.locator(".stat[data-stat=did-not-vote] dd")).to_have_text("1")
    await expect(sam.page.locator("#seats td.vote")).to_have_text(
        ["☕ Did not vote", "No", "watching"]
    )


async def test_the_home_page_says_when_a_code_is_unknown(people: People) -> None:
    someone = await people.person("Someone")
    page = await someone.open("/")
    await expect(page.locator("#c0")).to_be_focused()
    await page.keyboard.type("QQQ")
    await expect(page.locator("#c3")).to_be_focused()
    await page.keyboard.press("Backspace")
    await page.keyboard.press("Backspace")
    await expect(page.locator("#c1")).to_be_focused()
    await page.keyboard.type("QQQ")
    await expect(page.locator("#join-error")).to_have_text(
        "A room does not exist with that code. Try again."
    )
    await page.click("text=Start a new room")
    await page.wait_for_url("**/create.html")
    await page.click("#create-button")  # no name
    await expect(page.locator("#name-error")).to_have_text("Please enter a name.")
    await expect(page.locator("#name")).to_be_focused()


async def test_a_custom_deck(people: People) -> None:
    ann = await people.person("Ann")
    page = await ann.open("/create.html")
    await page.fill("#name", "Ann")
    await page.check("input[name=deck][value=custom]")
    await expect(page.locator("#range-set")).to_be_hidden()
    await expect(page.locator("#custom")).to_be_focused()
    await page.fill("#custom", "1, 2, 4, , 8, ?, 2")
    await page.check("#no-vote")
    await page.click("#create-button")
    await expect(page.locator("#create-error")).to_have_text("card '2' is there twice")
    await page.fill("#custom", "tiny, <b>big</b>, huge")
    await expect(page.locator("#preview li")).to_have_text(["N/A", "tiny", "<b>big</b>", "huge"])
    await page.click("#create-button")
    await connected(page)
    await page.click("#start")
    await expect(page.locator("#cards button")).to_have_text(["N/A", "tiny", "<b>big</b>", "huge"])
    await pick(page, "<b>big</b>")
    await page.click("#reveal")
    await expect(page.locator("#seats td.vote")).to_have_text(["<b>big</b>"])
    await expect(page.locator(".stat[data-stat=mode] dd")).to_have_text("<b>big</b>")
    await expect(page.locator(".stat[data-stat=average]")).to_have_count(0)  # not numbers
    assert await page.locator("b").count() == 0  # text, never HTML
    assert people.script_errors() == []


async def test_keyboard_only(people: People) -> None:
    """Create, start, vote and reveal with the keyboard alone."""
    ann = await people.person("Ann")
    page = await ann.open("/create.html")
    await page.focus("#name")
    await page.keyboard.type("Ann")
    await page.keyboard.press("Tab")  # the first deck
    await page.keyboard.press("ArrowDown")  # Linear
    await page.keyboard.press("ArrowDown")  # T-shirt sizes
    await expect(page.locator("#preview li")).to_have_text(["XS", "S", "M", "L", "XL", "XXL"])
    await page.focus("#create-button")
    await page.keyboard.press("Enter")
    await connected(page)
    await page.focus("#start")
    await page.keyboard.press("Enter")
    card = page.get_by_role("button", name="Card M")
    await expect(card).to_be_visible()
    await card.focus()
    await page.keyboard.press("Space")
    await expect(card).to_have_attribute("aria-pressed", "true")
    await page.focus("#reveal")
    await page.keyboard.press("Enter")
    await expect(page.locator(".stat[data-stat=mode] dd")).to_have_text("M")
    # The settings are a modal dialog; Escape closes it.
    await page.focus("#settings-open")
    await page.keyboard.press("Enter")
    await expect(page.locator("#settings")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("#settings")).to_be_hidden()


async def test_light_dark_and_system_themes(people: People) -> None:
    night = await people.person("Nell", color_scheme="dark")
    page = await night.open("/")
    background = "getComputedStyle(document.body).backgroundColor"
    dark = await page.evaluate(background)
    await page.select_option("#theme", "light")
    light = await page.evaluate(background)
    assert dark != light
    await page.reload()
    assert await page.evaluate(background) == light  # saved, and applied before drawing
    assert await page.evaluate("document.documentElement.dataset.theme") == "light"
    await page.select_option("#theme", "system")
    assert await page.evaluate(background) == dark


# -- screenshots for docs/poker.md --------------------------------------------------------------


SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

# The contrast ratio (WCAG 2) of each visible element's text against the first opaque
# background behind it; the lowest few, to compare with 4.5:1.
CONTRAST = """(selector) => {
  const rgb = (color) => (color.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const [R, G, B] = [r, g, b].map((c) => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * R + 0.7152 * G + 0.0722 * B;
  };
  const background = (node) => {
    for (; node; node = node.parentElement) {
      const color = rgb(getComputedStyle(node).backgroundColor);
      if (color.length === 3 || color[3] === 1) return color.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const node of document.querySelectorAll(selector)) {
    if (!node.offsetParent || !node.textContent.trim()) continue;
    const style = getComputedStyle(node);
    if (Number(style.opacity) < 1 || node.closest("[disabled], .away")) continue;
    const [a, b] = [luminance(rgb(style.color)), luminance(background(node))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const what = node.className || node.tagName;
    found.push([Math.round(ratio * 100) / 100, what, node.textContent.trim().slice(0, 20)]);
  }
  return found.sort((x, y) => x[0] - y[0]).slice(0, 5);
}"""
TEXT = "h1, h2, p, label, button, a, th, td, dt, dd, .hint, .tag, .chip, .name, summary, legend"


async def test_screenshots(people: People, tmp_path: Path) -> None:
    """Each screen at desktop and phone widths, light and dark: none scrolls sideways,
    and all its text has a contrast of 4.5:1 at least."""
    folder = DOCS_IMAGES if os.environ.get("POKER_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    ann, bob, cy = await room_of(people, "Ann", "Bob", "Cy", to="21", no_vote=True)
    await ann.page.fill(
        "#describe-text", "As a shopper I can pay with a saved card\nhttps://example.com/issues/42"
    )
    await ann.page.click("#describe-save")
    await ann.page.click("#start")
    await pick(ann.page, "5")
    await pick(bob.page, "8")
    await expect(ann.page.locator("#table-foot")).to_contain_text("2 of 3 voted")

    async def shoot(page: Page, name: str, size: str, theme: str) -> None:
        await page.set_viewport_size(SIZES[size])
        await page.emulate_media(color_scheme=theme)  # "system" follows it
        await page.evaluate("localStorage.removeItem('poker:theme')")
        await page.evaluate("delete document.documentElement.dataset.theme")
        await page.evaluate("document.activeElement?.blur()")
        await asyncio.sleep(0.15)
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
            f"{name} scrolls sideways at {size} width"
        )
        lowest = await page.evaluate(CONTRAST, TEXT)
        assert lowest and lowest[0][0] >= 4.5, (name, theme, lowest)
        await page.screenshot(path=str(folder / f"{name}-{size}-{theme}.png"))

    visitor = await people.person("Dee")
    home = await visitor.open("/")
    create = await visitor.open("/create.html")
    await create.fill("#name", "Dee")
    join = await visitor.open(f"/room.html?code={ann.code}")
    await join.fill("#join-name", "Dee")
    for size in SIZES:
        for theme in ("light", "dark"):
            await shoot(home, "home", size, theme)
            await shoot(create, "create", size, theme)
            await shoot(join, "join", size, theme)
            await shoot(ann.page, "voting", size, theme)
    await pick(cy.page, "8")
    await ann.page.click("#reveal")
    await expect(ann.page.locator(".stat[data-stat=mode] dd")).to_have_text("8")
    for size in SIZES:
        for theme in ("light", "dark"):
            await shoot(ann.page, "results", size, theme)
    assert len(list(folder.glob("*.png"))) >= 20
    with contextlib.suppress(Exception):
        await visitor.context.close()
    assert people.script_errors() == []

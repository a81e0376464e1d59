"""The chat demo in a real browser: Debian's Chromium driven by Playwright.

The WebSocket pages talk to the hub (switchboard.realtime) mounted at /rt; the
polling pages to the HTTP API. Restarts stop the server and start one on the same
port, with the same router (the same hub and rooms: the page recovers what it
missed) or a new one (a new epoch: the page reloads the history). While the page's
server is down, messages are posted through a second server serving the same
router, as another process behind the same store would.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, FrameLocator, Page, expect

import switchboard
from switchboard.apps.chat import create_app

pytestmark = pytest.mark.timeout(60)
expect.set_options(timeout=10_000)

XSS = '<img src=x onerror="window.pwned = 1">'
XSS_NAME = "<img src=x onerror=pwned=1>"  # within the 32 characters of a name


class Site:
    """The chat app on one port that can be stopped and started again, with the same
    router or a new one; ``post`` works while it is down (through a side server)."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.router = create_app(**options)
        self.server: switchboard.Server | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, router: switchboard.Router | None = None) -> None:
        if router is not None:
            self.router = router
        self.server = await switchboard.serve(self.router, "127.0.0.1", self.port)
        self.port = self.server.port

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close(1012, "service restart")
        await self.server.wait_closed()
        self.server = None

    async def post(self, router: switchboard.Router | None = None, **fields: object) -> Any:
        """POST /api/messages to ``router`` (default: the site's), served for the call."""
        async with switchboard.serve(router or self.router, "127.0.0.1", 0) as side:
            return await asyncio.to_thread(_post, side.port, fields)


def _post(port: int, fields: dict[str, object]) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        body = json.dumps(fields)
        conn.request("POST", "/api/messages", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200, response.read()
        return json.loads(response.read())["message"]
    finally:
        conn.close()


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    site = Site(poll_interval=0.2)
    await site.start()
    yield site
    if site.server is not None:
        await site.stop()


class Pages:
    """Opens pages, each in its own context, and records their script errors."""

    def __init__(self, browser: Browser, site: Site) -> None:
        self.browser = browser
        self.site = site
        self.errors: list[str] = []

    async def open(self, path: str) -> Page:
        context = await self.browser.new_context()
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: self.errors.append(msg.text) if msg.type == "error" else None,
        )
        await page.goto(self.site.base + path)
        return page

    def script_errors(self) -> list[str]:
        """The errors, less the browser's own lines about connections refused while
        the server was down or the page offline (or POSTs refused with 400)."""
        ignored = re.compile(
            r"WebSocket connection to .* failed|status of 400|ERR_INTERNET_DISCONNECTED"
        )
        return [error for error in self.errors if not ignored.search(error)]


@pytest.fixture
def pages(browser: Browser, site: Site) -> Pages:
    return Pages(browser, site)


async def send(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def expect_last_message(page: Page, author: str, text: str, via: str) -> None:
    last = page.locator("#messages .message").last
    await expect(last.locator(".author")).to_have_text(author)
    await expect(last.locator(".text")).to_have_text(text)
    await expect(last.locator(".via")).to_have_text(via)


async def connected(*pages: Page) -> None:
    for page in pages:
        await expect(page.locator("#status")).to_have_text("connected")
        await expect(page.locator("#status")).to_have_attribute("data-state", "connected")


async def test_two_websocket_pages_chat_and_see_each_other(pages: Pages) -> None:
    ann = await pages.open("/ws.html?name=Ann")
    bob = await pages.open("/ws.html?name=Bob")
    await connected(ann, bob)
    await expect(ann.locator("#presence li")).to_have_text(["Ann (you)", "Bob"])
    await expect(bob.locator("#presence li")).to_have_text(["Ann", "Bob (you)"])
    await expect(bob.locator("#presence-count")).to_have_text("2")
    await send(ann, "hello Bob")
    await expect_last_message(bob, "Ann", "hello Bob", "WebSocket")
    await send(bob, "hi Ann\nhow are you?")
    await expect_last_message(ann, "Bob", "hi Ann\nhow are you?", "WebSocket")
    await expect(ann.locator("#text")).to_have_value("")
    # One upgrade and one history fetch, whatever the traffic.
    await expect(ann.locator("#stat-requests")).to_have_text("2")
    await expect(ann.locator("#stat-breakdown")).to_have_text("1 upgrade + 1 history fetch")

    # A page opened later gets the history over HTTP, and everyone sees it arrive.
    cy = await pages.open("/ws.html?name=Cy")
    await expect(cy.locator("#messages .message .text")).to_have_text(
        ["hello Bob", "hi Ann\nhow are you?"]
    )
    await expect(ann.locator("#presence .name")).to_have_text(["Ann", "Bob", "Cy"])
    # A second tab of Ann's is the same member.
    await pages.open("/ws.html?name=Ann")
    await expect(cy.locator("#presence .name")).to_have_text(["Ann", "Bob", "Cy"])
    # Bob goes: once the hub's grace period (5 s) is over, he is no longer listed.
    await bob.context.close()
    await expect(ann.locator("#presence .name")).to_have_text(["Ann", "Cy"])
    await expect(cy.locator("#presence-count")).to_have_text("2")
    assert pages.errors == []


async def test_switching_rooms(pages: Pages) -> None:
    ann = await pages.open("/ws.html?name=Ann")
    bob = await pages.open("/ws.html?name=Bob&room=random")
    await connected(ann, bob)
    await expect(ann.locator("#rooms button")).to_have_text(["#lobby", "#random", "#help"])
    await expect(bob.locator("#rooms button[aria-pressed=true]")).to_have_text("#random")
    await expect(ann.locator("#presence .name")).to_have_text(["Ann"])
    await expect(bob.locator("#presence .name")).to_have_text(["Bob"])
    await send(ann, "in the lobby")
    await send(bob, "in random")
    await expect(ann.locator("#messages .text")).to_have_text(["in the lobby"])
    await expect(bob.locator("#messages .text")).to_have_text(["in random"])

    # Ann switches with the keyboard: the list, presence and URL follow.
    await ann.focus("#rooms button[data-room=random]")
    await ann.keyboard.press("Enter")
    await expect(ann.locator("#rooms button[aria-pressed=true]")).to_have_text("#random")
    await expect(ann.locator("#messages")).to_have_attribute("aria-label", "Messages in #random")
    await expect(ann.locator("#messages .text")).to_have_text(["in random"])
    await expect(ann.locator("#presence .name")).to_have_text(["Ann", "Bob"])
    await expect(bob.locator("#presence .name")).to_have_text(["Ann", "Bob"])
    assert ann.url.endswith("/ws.html?name=Ann&room=random")
    await send(ann, "hi Bob")
    await expect_last_message(bob, "Ann", "hi Bob", "WebSocket")
    await expect(ann.locator("#stat-breakdown")).to_have_text("1 upgrade + 2 history fetches")

    # And back, with the mouse: the lobby's history, without Bob's message.
    await ann.click("#rooms button[data-room=lobby]")
    await expect(ann.locator("#messages .text")).to_have_text(["in the lobby"])
    await expect(bob.locator("#presence .name")).to_have_text(["Bob"])
    await send(bob, "only for random")
    await send(ann, "back in the lobby")
    await expect(ann.locator("#messages .text")).to_have_text(["in the lobby", "back in the lobby"])
    assert pages.errors == []


async def test_unknown_room_falls_back_to_the_default(pages: Pages) -> None:
    for path in ("/ws.html?name=Ann&room=nope", "/poll.html?name=Ann&room=nope"):
        page = await pages.open(path)
        await expect(page.locator("#rooms button[aria-pressed=true]")).to_have_text("#lobby")
        await expect(page.locator("#error")).to_contain_text("There is no room #nope")
        await send(page, f"sent from {path}")
        await expect(page.locator("#messages .text").last).to_have_text(f"sent from {path}")
    assert pages.script_errors() == []


async def test_two_polling_pages_chat(pages: Pages) -> None:
    ann = await pages.open("/poll.html?name=Ann")
    bob = await pages.open("/poll.html?name=Bob")
    for page in (ann, bob):
        await expect(page.locator("#status")).to_have_text("polling every 0.2 s")
    await send(ann, "hello Bob")
    await expect_last_message(bob, "Ann", "hello Bob", "polling")
    await send(bob, "hi Ann")
    await expect_last_message(ann, "Bob", "hi Ann", "polling")
    # The sender shows its message once, though the POST and the next poll both return it.
    await expect(ann.locator("#messages .message")).to_have_count(2)
    # Polling pages switch rooms too.
    await bob.click("#rooms button[data-room=help]")
    await expect(bob.locator("#messages .message")).to_have_count(0)
    await send(ann, "not for help")
    await send(bob, "help!")
    await expect(bob.locator("#messages .text")).to_have_text(["help!"])
    assert "room=help" in bob.url
    assert pages.errors == []


async def test_websocket_and_polling_pages_chat(pages: Pages) -> None:
    ws = await pages.open("/ws.html?name=Ann&room=help")
    poll = await pages.open("/poll.html?name=Bob&room=help")
    await connected(ws)
    await expect(poll.locator("#status")).to_have_text("polling every 0.2 s")
    await send(ws, "from the socket")
    await expect_last_message(poll, "Ann", "from the socket", "WebSocket")
    await send(poll, "from polling")
    await expect_last_message(ws, "Bob", "from polling", "polling")
    # Polling clients are not in the hub: only WebSocket users are listed.
    await expect(ws.locator("#presence .name")).to_have_text(["Ann"])
    assert pages.errors == []


async def test_comparison_page(pages: Pages) -> None:
    page = await pages.open("/compare.html")
    websocket = page.frame_locator("#frame-websocket")
    polling = page.frame_locator("#frame-polling")
    await expect(websocket.locator("#status")).to_have_text("connected")
    await expect(polling.locator("#status")).to_have_text("polling every 0.2 s")
    await expect(page.locator("#websocket-requests")).to_have_text("2")
    await expect(page.locator("#websocket-breakdown")).to_have_text("1 upgrade + 1 history fetch")

    await page.click("#send-both")
    await send_in(websocket, XSS)
    await send_in(polling, "typed in the polling pane")
    latency = re.compile(r"^[\d,]+(\.\d)? ms$")
    for pane in ("websocket", "polling"):
        await expect(page.locator(f"#{pane}-latency")).to_have_text(latency)
        await expect(page.locator(f"#{pane}-latency-max")).to_have_text(latency)
    rows = page.locator("#deliveries tr")
    await expect(rows).to_have_count(4)
    texts = await rows.locator("td:nth-child(2)").all_text_contents()
    assert sorted(texts) == sorted(
        [
            "Test 1 from the WebSocket pane",
            "Test 1 from the polling pane",
            XSS,
            "typed in the polling pane",
        ]
    )
    directions = await rows.locator("td:nth-child(3)").all_text_contents()
    assert sorted(directions) == ["WebSocket → polling"] * 2 + ["polling → WebSocket"] * 2
    assert await page.locator("img").count() == 0

    # Polling keeps asking; the WebSocket pane never makes another request.
    polls = int(await page.locator("#polling-requests").text_content() or "0")
    assert polls >= 4  # a history fetch, two sends and at least one poll
    await page.wait_for_function(
        "n => Number(document.getElementById('polling-requests').textContent) >= n", arg=polls + 3
    )
    await expect(page.locator("#websocket-requests")).to_have_text("2")
    await expect(page.locator("#websocket-received")).to_have_text("4")
    await expect(page.locator("#polling-received")).to_have_text("4")
    assert pages.errors == []


async def send_in(frame: FrameLocator, text: str) -> None:
    await frame.locator("#text").fill(text)
    await frame.locator("#text").press("Enter")


async def test_html_is_shown_as_text(pages: Pages) -> None:
    sender = await pages.open(f"/ws.html?name={XSS_NAME}")
    readers = [await pages.open("/ws.html?name=Ann"), await pages.open("/poll.html?name=Bob")]
    await connected(sender, readers[0])
    await expect(readers[0].locator("#presence .name")).to_have_text(
        ["<img src=x onerror=pwned=1>", "Ann"]
    )
    await send(sender, XSS)
    # A new name is a new identity: the page reconnects with it.
    await sender.fill("#author", "<b>Eve</b>")
    await sender.press("#author", "Tab")
    await expect(readers[0].locator("#presence .name")).to_contain_text(["<b>Eve</b>"])
    await connected(sender)
    await send(sender, "second")
    for page in readers:
        await expect(page.locator("#messages .message .text")).to_have_text([XSS, "second"])
        await expect(page.locator("#messages .author")).to_have_text([XSS_NAME, "<b>Eve</b>"])
        assert await page.locator("img, #messages b, #presence b").count() == 0
        assert await page.evaluate("[window.pwned, typeof pwned]") == [None, "undefined"]
    assert pages.errors == []


async def test_too_long_message_gets_the_error(pages: Pages) -> None:
    too_long = "x" * 2001
    error = "text too long: 2001 characters (limit 2000)"
    for path in ("/ws.html?name=Ann", "/poll.html?name=Ann"):
        page = await pages.open(path)
        await expect(page.locator("#status")).to_have_text(re.compile("connected|polling"))
        await page.fill("#text", too_long)
        await expect(page.locator("#counter")).to_have_text("2001 / 2000")
        await expect(page.locator("#counter")).to_have_class("counter num over")
        await page.click("button[type=submit]")
        await expect(page.locator("#error")).to_have_text(error)  # the ack's error, or the 400's
        # The text stays in the composer to be shortened, and nothing was posted.
        await expect(page.locator("#text")).to_have_value(too_long)
        await expect(page.locator("#messages .message")).to_have_count(0)
    # The 400 from POST /api/messages shows up in the console as a failed resource.
    assert pages.script_errors() == []


# -- reconnection and recovery ---------------------------------------------------------


async def test_restart_recovers_what_was_missed(pages: Pages, site: Site) -> None:
    page = await pages.open("/ws.html?name=Ann")
    await connected(page)
    await send(page, "before the cut")
    await expect(page.locator("#messages .message")).to_have_count(1)

    await site.stop()
    await expect(page.locator("#status")).to_have_text("reconnecting…")
    await expect(page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    await expect(page.locator("#notice")).to_contain_text("Connection lost (1012 service restart)")
    for n in (1, 2, 3):  # while the page is away
        await site.post(author="Bob", text=f"missed {n}")
    await site.start()

    await connected(page)
    await expect(page.locator("#notice")).to_have_text(
        "Reconnected: caught up on 3 missed messages."
    )
    await expect(page.locator("#messages .text")).to_have_text(
        ["before the cut", "missed 1", "missed 2", "missed 3"]
    )
    # Replayed over the new connection: no history fetch.
    breakdown = await page.locator("#stat-breakdown").text_content()
    assert re.fullmatch(r"\d+ upgrades \+ 1 history fetch", breakdown or ""), breakdown
    await send(page, "after the cut")
    await expect_last_message(page, "Ann", "after the cut", "WebSocket")
    assert pages.script_errors() == []


async def test_new_server_means_the_history_is_reloaded(pages: Pages, site: Site) -> None:
    page = await pages.open("/ws.html?name=Ann&room=random")
    await connected(page)
    await send(page, "on the old server")
    await expect(page.locator("#messages .message")).to_have_count(1)

    await site.stop()
    await expect(page.locator("#status")).to_have_text("reconnecting…")
    new = create_app(poll_interval=0.2)  # a new process: a new hub epoch, empty rooms
    await site.post(new, room="random", author="Bob", text="on the new server")
    await site.start(new)

    await connected(page)
    await expect(page.locator("#notice")).to_have_text(
        "Reconnected, but the missed messages could not be replayed: history reloaded."
    )
    await expect(page.locator("#messages .text")).to_have_text(["on the new server"])
    await expect(page.locator("#rooms button[aria-pressed=true]")).to_have_text("#random")
    breakdown = await page.locator("#stat-breakdown").text_content()
    assert re.fullmatch(r"\d+ upgrades \+ 2 history fetches", breakdown or ""), breakdown
    await send(page, "after the restart")
    await expect_last_message(page, "Ann", "after the restart", "WebSocket")
    assert pages.script_errors() == []


async def test_missing_more_than_the_history_reloads_it(browser: Browser) -> None:
    site = Site(history_size=3)
    await site.start()
    try:
        pages = Pages(browser, site)
        page = await pages.open("/ws.html?name=Ann")
        await connected(page)
        await send(page, "seen")
        await expect(page.locator("#messages .message")).to_have_count(1)
        await site.stop()
        for n in range(1, 6):  # five missed, three kept
            await site.post(author="Bob", text=f"m{n}")
        await site.start()
        await connected(page)
        await expect(page.locator("#notice")).to_contain_text("history reloaded")
        await expect(page.locator("#messages .text")).to_have_text(["m3", "m4", "m5"])
        assert pages.script_errors() == []
    finally:
        if site.server is not None:
            await site.stop()


async def test_offline_badge_and_reconnecting_by_hand(pages: Pages, site: Site) -> None:
    page = await pages.open("/ws.html?name=Ann")
    await connected(page)
    await page.context.set_offline(True)
    await expect(page.locator("#status")).to_have_text("offline")
    await expect(page.locator("#status")).to_have_attribute("data-state", "offline")
    await site.post(author="Bob", text="sent while Ann was offline")
    await page.context.set_offline(False)  # the page reconnects by itself
    await connected(page)
    await expect(page.locator("#messages .text")).to_have_text(["sent while Ann was offline"])
    await expect(page.locator("#stat-breakdown")).to_have_text("2 upgrades + 1 history fetch")

    # The badge is a button: it reconnects at once (the session is resumed).
    await page.focus("#status")
    await page.keyboard.press("Enter")
    await expect(page.locator("#stat-breakdown")).to_have_text("3 upgrades + 1 history fetch")
    await connected(page)
    await page.click("#status")
    await expect(page.locator("#stat-breakdown")).to_have_text("4 upgrades + 1 history fetch")
    await connected(page)
    await expect(page.locator("#notice")).to_have_text("Reconnected: nothing was missed.")
    await expect(page.locator("#status")).to_have_accessible_description(
        "Connection state; press to reconnect now."
    )
    await send(page, "still here")
    await expect_last_message(page, "Ann", "still here", "WebSocket")
    assert pages.script_errors() == []  # Chromium logs a failed attempt while offline

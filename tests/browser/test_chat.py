"""The chat demo in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, FrameLocator, Page, async_playwright, expect

import switchboard
from switchboard.apps.chat import create_app

pytestmark = pytest.mark.timeout(60)
expect.set_options(timeout=10_000)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
XSS = '<img src=x onerror="window.pwned = 1">'


@pytest.fixture
async def server() -> AsyncIterator[switchboard.Server]:
    async with switchboard.serve(create_app(poll_interval=0.2), "127.0.0.1", 0) as s:
        yield s


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


class Pages:
    """Opens pages, each in its own context, and records their script errors."""

    def __init__(self, browser: Browser, server: switchboard.Server) -> None:
        self.browser = browser
        self.base = f"http://127.0.0.1:{server.port}"
        self.errors: list[str] = []

    async def open(self, path: str) -> Page:
        context = await self.browser.new_context()
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: self.errors.append(msg.text) if msg.type == "error" else None,
        )
        await page.goto(self.base + path)
        return page


@pytest.fixture
def pages(browser: Browser, server: switchboard.Server) -> Pages:
    return Pages(browser, server)


async def send(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def expect_last_message(page: Page, author: str, text: str, via: str) -> None:
    last = page.locator("#messages .message").last
    await expect(last.locator(".author")).to_have_text(author)
    await expect(last.locator(".text")).to_have_text(text)
    await expect(last.locator(".via")).to_have_text(via)


async def test_two_websocket_pages_chat(pages: Pages) -> None:
    ann = await pages.open("/ws.html?name=Ann")
    bob = await pages.open("/ws.html?name=Bob")
    for page in (ann, bob):
        await expect(page.locator("#status")).to_have_text("connected")
    await send(ann, "hello Bob")
    await expect_last_message(bob, "Ann", "hello Bob", "WebSocket")
    await send(bob, "hi Ann\nhow are you?")
    await expect_last_message(ann, "Bob", "hi Ann\nhow are you?", "WebSocket")
    await expect(ann.locator("#text")).to_have_value("")
    # One upgrade and one history fetch, whatever the traffic.
    await expect(ann.locator("#stat-requests")).to_have_text("2")
    await expect(ann.locator("#stat-breakdown")).to_have_text("1 upgrade + 1 history fetch")
    # A page opened later gets the history over HTTP.
    cy = await pages.open("/ws.html?name=Cy")
    await expect(cy.locator("#messages .message .text")).to_have_text(
        ["hello Bob", "hi Ann\nhow are you?"]
    )
    assert pages.errors == []


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
    assert pages.errors == []


async def test_websocket_and_polling_pages_chat(pages: Pages) -> None:
    ws = await pages.open("/ws.html?name=Ann")
    poll = await pages.open("/poll.html?name=Bob")
    await expect(ws.locator("#status")).to_have_text("connected")
    await expect(poll.locator("#status")).to_have_text("polling every 0.2 s")
    await send(ws, "from the socket")
    await expect_last_message(poll, "Ann", "from the socket", "WebSocket")
    await send(poll, "from polling")
    await expect_last_message(ws, "Bob", "from polling", "polling")
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
    sender = await pages.open("/ws.html?name=Mallory")
    readers = [await pages.open("/ws.html?name=Ann"), await pages.open("/poll.html?name=Bob")]
    await expect(sender.locator("#status")).to_have_text("connected")
    await send(sender, XSS)
    await sender.fill("#author", "<b>Eve</b>")
    await send(sender, "second")
    for page in readers:
        await expect(page.locator("#messages .message .text")).to_have_text([XSS, "second"])
        await expect(page.locator("#messages .author").last).to_have_text("<b>Eve</b>")
        assert await page.locator("#messages img, #messages b").count() == 0
        assert await page.evaluate("window.pwned") is None
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
        await expect(page.locator("#error")).to_have_text(error)
        # The text stays in the composer to be shortened, and nothing was posted.
        await expect(page.locator("#text")).to_have_value(too_long)
        await expect(page.locator("#messages .message")).to_have_count(0)
    # The 400 from POST /api/messages shows up in the console as a failed resource.
    assert [e for e in pages.errors if "400" not in e] == []


async def test_websocket_page_reconnects(browser: Browser) -> None:
    async with switchboard.serve(create_app(), "127.0.0.1", 0) as first:
        port = first.port
        pages = Pages(browser, first)
        page = await pages.open("/ws.html?name=Ann")
        await expect(page.locator("#status")).to_have_text("connected")
        await send(page, "before the restart")
        await expect(page.locator("#messages .message")).to_have_count(1)
    await expect(page.locator("#status")).to_have_text(re.compile("^disconnected: retrying in"))
    await expect(page.locator("#status")).to_have_attribute("data-state", "disconnected")

    async with switchboard.serve(create_app(), "127.0.0.1", port):
        await expect(page.locator("#status")).to_have_text("connected")
        # The history is reloaded from the new server, whose room is empty.
        await expect(page.locator("#messages .message")).to_have_count(0)
        await send(page, "after the restart")
        await expect_last_message(page, "Ann", "after the restart", "WebSocket")
        upgrades = await page.locator("#stat-breakdown").text_content()
        assert upgrades is not None
        assert re.fullmatch(r"(\d+) upgrades \+ 2 history fetches", upgrades), upgrades
        assert int(upgrades.split()[0]) >= 2

"""The official socket.io-client 4 in Debian's Chromium (Playwright) against the hub.

The test server serves the client's own dist file (socket.io.esm.min.js from
tests/socketio/node's npm ci) and a page that imports it; the page's socket talks
to the hub's Socket.IO endpoint with the default options.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

import switchboard
from switchboard.realtime import Hub, connect
from switchboard.realtime.socketio import SocketIO

# The Socket.IO tests' helpers (tests/socketio is not a package: see sio_helpers.py).
sys.path.insert(0, str(Path(__file__).parents[1] / "socketio"))
from sio_helpers import admin_hub, echo_hub

pytestmark = pytest.mark.timeout(60)

DIST = (
    Path(__file__).parents[1] / "socketio" / "node" / "node_modules" / "socket.io-client" / "dist"
)
PAGE = """<!doctype html><meta charset="utf-8"><title>socket.io</title>
<script type="module">
  import { io } from "/vendor/socket.io.esm.min.js";
  window.io = io;
  window.ready = true;
</script>"""

if not (DIST / "socket.io.esm.min.js").is_file():
    pytest.skip("needs tests/socketio/node's npm ci (./dev does it)", allow_module_level=True)


async def serve(hub: Hub | None, **options: Any) -> Any:
    """A server with the page and the client's dist file, and the hub if given."""
    router = switchboard.Router()
    router.get("/")(lambda request: switchboard.html_response(PAGE))
    router.static("/vendor", DIST, max_age=0, index=None)
    if hub is not None:
        router.mount("/rt", hub)
        router.mount("/socket.io", SocketIO(hub, **options))
    return switchboard.serve(router, "127.0.0.1", 0)


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    yield await context.new_page()
    await context.close()


async def open_page(page: Page, server: switchboard.Server) -> None:
    await page.goto(f"http://127.0.0.1:{server.port}/")
    await page.wait_for_function("window.ready === true")


CONNECT = """async ([url, options]) => {
  const socket = window.socket = io(url, options);
  let opened;
  socket.io.on("open", () => { opened = socket.io.engine.transport.name; });
  window.events = [];
  socket.onAny((event, ...args) => window.events.push([event, ...args]));
  await new Promise((resolve, reject) => {
    socket.on("connect", resolve);
    socket.on("connect_error", (error) => reject(new Error(error.message)));
  });
  return opened;
}"""


async def test_default_options_poll_then_upgrade(page: Page) -> None:
    hub = echo_hub()
    async with await serve(hub) as server:
        await open_page(page, server)
        assert await page.evaluate(CONNECT, ["/", {}]) == "polling"
        reply = await page.evaluate('socket.emitWithAck("echo", {n: 1})')
        assert reply == {"echo": {"n": 1}, "user": await page.evaluate("socket.id")}
        await page.wait_for_function('socket.io.engine.transport.name === "websocket"')
        assert (await page.evaluate('socket.emitWithAck("echo", "ws")'))["echo"] == "ws"
        await page.evaluate("socket.disconnect()")
    await hub.close()


async def test_a_room_with_a_browser_and_a_native_client(page: Page) -> None:
    hub = echo_hub()
    async with await serve(hub) as server:
        await open_page(page, server)
        await page.evaluate(CONNECT, ["/", {}])
        assert await page.evaluate('socket.emitWithAck("enter", "lobby")') == {"joined": "lobby"}
        native = await connect(f"ws://127.0.0.1:{server.port}/rt")
        try:
            assert await native.emit("enter", "lobby") == {"joined": "lobby"}
            await native.emit("shout", {"room": "lobby", "text": "from Python"})
            await page.wait_for_function("window.events.length === 1")
            assert await page.evaluate("window.events") == [["shouted", "from Python"]]
        finally:
            await native.close()
        await page.evaluate("socket.disconnect()")
    await hub.close()


async def test_cors_lets_only_the_allowed_origin_poll(page: Page) -> None:
    """The page comes from one server, the hub is on another (another origin)."""
    allowed, closed = echo_hub(), echo_hub()
    async with await serve(None) as site, await serve(allowed, cors_origins="*") as open_hub:
        async with await serve(closed) as same_origin_only:
            await open_page(page, site)
            url = f"http://127.0.0.1:{open_hub.port}/"
            assert await page.evaluate(CONNECT, [url, {}]) == "polling"
            assert (await page.evaluate('socket.emitWithAck("echo", 1)'))["echo"] == 1
            await page.evaluate("socket.disconnect()")
            url = f"http://127.0.0.1:{same_origin_only.port}/"
            with pytest.raises(Exception, match="xhr poll error"):
                await page.evaluate(CONNECT, [url, {"reconnection": False}])
    await allowed.close()
    await closed.close()


async def test_recovery_after_a_drop(page: Page) -> None:
    """The transport fails, the room gets two events meanwhile, the page reconnects:
    ``socket.recovered`` is true and the two events arrive (each with its offset)."""
    hub = echo_hub()
    async with await serve(hub, recovery=True) as server:
        await open_page(page, server)
        await page.evaluate(CONNECT, ["/", {"reconnection": False}])
        assert await page.evaluate("socket.recovered") is False
        sid = await page.evaluate("socket.id")
        assert await page.evaluate('socket.emitWithAck("enter", "news")') == {"joined": "news"}
        await hub.to("news").emit("n", 1)
        await page.wait_for_function("window.events.length === 1")
        await page.evaluate(
            """() => new Promise((resolve) => {
                socket.once("disconnect", resolve);
                socket.io.engine.close();
            })"""
        )
        for _ in range(500):
            if not hub.sessions:
                break
            await asyncio.sleep(0.01)
        assert not hub.sessions
        await hub.to("news").emit("n", 2)
        await hub.to("news").emit("n", 3)
        await page.evaluate(
            """() => new Promise((resolve) => {
                socket.once("connect", resolve);
                socket.connect();
            })"""
        )
        assert await page.evaluate("[socket.id, socket.recovered]") == [sid, True]
        await page.wait_for_function("window.events.length === 3")
        assert [event[:2] for event in await page.evaluate("window.events")] == [
            ["n", 1],
            ["n", 2],
            ["n", 3],
        ]
        await page.evaluate("socket.disconnect()")
    await hub.close()


async def test_two_namespaces_on_one_connection(page: Page) -> None:
    hub, admin = echo_hub(), admin_hub([])
    async with await serve(hub, namespaces={"/admin": admin}) as server:
        await open_page(page, server)
        await page.evaluate(CONNECT, ["/", {}])
        await page.evaluate(
            """() => new Promise((resolve) => {
                window.admin = io("/admin", { auth: { token: "b" } });
                window.adminEvents = [];
                admin.onAny((event, ...args) => window.adminEvents.push([event, ...args]));
                admin.on("connect", resolve);
            })"""
        )
        # One Manager, so one Engine.IO session; each hub has a session of it.
        assert await page.evaluate("socket.io === admin.io")
        assert (len(hub.sessions), len(admin.sessions)) == (1, 1)
        assert await page.evaluate('admin.emitWithAck("whoami")') == {
            "hub": "admin",
            "user": "admin-b",
        }
        assert (await page.evaluate('socket.emitWithAck("echo", 1)'))["echo"] == 1
        assert await page.evaluate('admin.emitWithAck("enter", "ops")') == {"joined": "ops"}
        await admin.to("ops").emit("notice", "admins only")
        await page.wait_for_function("window.adminEvents.length === 1")
        assert await page.evaluate("[window.adminEvents, window.events]") == [
            [["notice", "admins only"]],
            [],
        ]
        await page.evaluate("admin.disconnect(); socket.disconnect()")
    await hub.close()
    await admin.close()

"""Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against our server.

Each test runs a small script with ``page.evaluate`` that opens ``new WebSocket(...)``
to a server started in the test's event loop. The page comes from a tiny HTTP server
on 127.0.0.1: Chromium's Local Network Access checks block ws://127.0.0.1 from
about:blank (net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS), not from a loopback page.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Playwright, async_playwright

import switchboard
from switchboard import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, WebSocket
from switchboard.protocol import deflate

if TYPE_CHECKING:  # at run time, "conftest" may be another folder's conftest.py
    from conftest import TLS

CHROMIUM = "/usr/bin/chromium"  # Debian's; ./dev test installs it (never `playwright install`)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
# Each script's own bound, and the test's: nothing here may hang.
SCRIPT_TIMEOUT = 30.0

# One browser for the module, so the tests and the servers share the module's loop.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


async def launch(extra_args: list[str] = []) -> tuple[Playwright, Browser]:  # noqa: B006
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(
        executable_path=CHROMIUM, args=ARGS + extra_args, headless=True
    )
    return playwright, browser


PAGE = b"<!doctype html><title>switchboard peer test</title>"


async def answer_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer any request with PAGE, then close."""
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), SCRIPT_TIMEOUT)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
        writer.write(head + b"Content-Length: %d\r\n\r\n" % len(PAGE) + PAGE)
        await writer.drain()
    finally:
        writer.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def origin() -> AsyncIterator[str]:
    """The origin of a loopback page to run the scripts in (http://127.0.0.1:PORT)."""
    server = await asyncio.start_server(answer_page, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def page(origin: str) -> AsyncIterator[Page]:
    playwright, browser = await launch()
    try:
        page = await browser.new_page()
        await page.goto(origin + "/")
        yield page
    finally:
        await browser.close()
        await playwright.stop()


# Shared by every script: open a socket and collect its events as promises.
JS_HELPERS = """
const open = (url, protocols) => new Promise((resolve, reject) => {
  const ws = protocols === undefined ? new WebSocket(url) : new WebSocket(url, protocols);
  ws.binaryType = "arraybuffer";
  ws.inbox = [];
  ws.waiting = [];
  ws.onmessage = (e) => ws.waiting.length ? ws.waiting.shift()(e.data) : ws.inbox.push(e.data);
  ws.closed = new Promise((res) => {
    ws.onclose = (e) => res({code: e.code, reason: e.reason, wasClean: e.wasClean});
  });
  ws.onopen = () => resolve(ws);
  ws.onerror = () => reject(new Error("WebSocket error before open: " + url));
});
const recv = (ws) => ws.inbox.length
  ? Promise.resolve(ws.inbox.shift()) : new Promise((res) => ws.waiting.push(res));
const pattern = (n) => {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = (i * 31 + 7) & 255;
  return a;
};
const equal = (a, b) => {
  if (typeof a === "string" || typeof b === "string") return a === b;
  const x = new Uint8Array(a), y = new Uint8Array(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
};
"""


def pattern(n: int) -> bytes:
    """The bytes of the JS ``pattern(n)``."""
    return bytes((i * 31 + 7) & 255 for i in range(n))


async def run(page: Page, body: str, **args: Any) -> Any:
    """Run ``body`` (an async function body that sees ``args``) in the page."""
    script = f"async (args) => {{ {JS_HELPERS}\n{body} }}"
    return await asyncio.wait_for(page.evaluate(script, args), SCRIPT_TIMEOUT)


class Recorder:
    """An echo handler that remembers what it saw on the server side."""

    def __init__(self) -> None:
        self.received: list[switchboard.Data] = []
        self.deflate: list[bool] = []
        self.subprotocols: list[str | None] = []
        self.closed: list[ConnectionClosed] = []
        self.latency: list[float] = []

    async def __call__(self, ws: WebSocket) -> None:
        self.deflate.append(ws.protocol.deflate is not None)
        self.subprotocols.append(ws.subprotocol)
        try:
            while True:
                message = await ws.recv()
                self.received.append(message)
                if message == "ping me":
                    self.latency.append(await ws.ping(b"from server"))
                    await ws.send("pinged")
                elif message == "fragments please":
                    await ws.send(["frag", "mented ", "✓"])
                    await ws.send(iter([b"\x00\x01", b"", b"\x02"]))
                elif message == "close 4000":
                    await ws.close(4000, "bye")
                    return
                else:
                    await ws.send(message)
        except ConnectionClosed as exc:
            self.closed.append(exc)
            raise


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def serve(handler: Recorder, origin: str, **options: Any) -> switchboard.serve:
    """Our server on 127.0.0.1, admitting the page's origin (it differs by port)."""
    return switchboard.serve(handler, "127.0.0.1", 0, origins=[origin], **options)


TEXTS = ["Hello", "", "héllo wörld ✓ — 日本語 😀", "€" * 70_000]  # the last is 210 KB of UTF-8


LIMITED = switchboard.DeflateOptions(
    server_max_window_bits=10, client_max_window_bits=9, server_no_context_takeover=True
)
# With zlib-ng the server asks clients to reset their compressor after each message
# (switchboard.protocol.deflate: it then keeps no inflater); Chromium complies.
RESET = "client_no_context_takeover; " if deflate.BACKEND == "zlib-ng" else ""


@pytest.mark.parametrize(
    ("compression", "extensions"),
    [
        (switchboard.DeflateOptions(), f"permessage-deflate; {RESET}client_max_window_bits=12"),
        (
            LIMITED,
            f"permessage-deflate; server_no_context_takeover; {RESET}server_max_window_bits=10;"
            " client_max_window_bits=9",
        ),
        (None, ""),
    ],
    ids=["deflate", "deflate-small-windows", "plain"],
)
async def test_echo_text_and_binary(
    page: Page,
    origin: str,
    recorder: Recorder,
    compression: switchboard.DeflateOptions | None,
    extensions: str,
) -> None:
    async with serve(recorder, origin, compression=compression) as server:
        result = await run(
            page,
            """
            const ws = await open(args.url);
            const sent = [...args.texts, pattern(256).buffer, pattern(200 * 1024).buffer,
                          new ArrayBuffer(0)];
            const echoed = [];
            for (const message of sent) {
              ws.send(message);
              const back = await recv(ws);
              echoed.push([typeof back === "string" ? "text" : "binary", equal(back, message)]);
            }
            ws.send("fragments please");
            const fragmented = [await recv(ws), Array.from(new Uint8Array(await recv(ws)))];
            ws.close(1000, "done");
            return {extensions: ws.extensions, echoed, fragmented, close: await ws.closed};
            """,
            url=f"ws://127.0.0.1:{server.port}/",
            texts=TEXTS,
        )
    assert result["extensions"] == extensions
    assert recorder.deflate == [compression is not None]
    assert result["echoed"] == [["text", True]] * 4 + [["binary", True]] * 3
    binary = [pattern(256), pattern(200 * 1024), b""]
    assert recorder.received == [*TEXTS, *binary, "fragments please"]
    assert result["fragmented"] == ["fragmented ✓", [0, 1, 2]]
    # The close event reports the server's answer: our code echoed, without a reason.
    assert result["close"] == {"code": 1000, "reason": "", "wasClean": True}
    assert (recorder.closed[0].code, recorder.closed[0].reason) == (1000, "done")


async def test_server_pings_browser(page: Page, origin: str, recorder: Recorder) -> None:
    async with serve(recorder, origin) as server:
        result = await run(
            page,
            """
            const ws = await open(args.url);
            ws.send("ping me");
            const answer = await recv(ws);
            ws.close();
            return [answer, (await ws.closed).code];
            """,
            url=f"ws://127.0.0.1:{server.port}/",
        )
    assert result == ["pinged", 1005]  # close() without a code sends an empty close frame
    assert len(recorder.latency) == 1 and recorder.latency[0] >= 0.0  # the pong came back
    assert recorder.closed[0].code == 1005


@pytest.mark.parametrize(
    ("offered", "supported", "chosen"),
    [(["chat"], ["chat"], "chat"), (["superchat", "chat"], ["chat", "superchat"], "chat")],
)
async def test_subprotocol(
    page: Page,
    origin: str,
    recorder: Recorder,
    offered: list[str],
    supported: list[str],
    chosen: str,
) -> None:
    async with serve(recorder, origin, subprotocols=supported) as server:
        result = await run(
            page,
            """
            const ws = await open(args.url, args.offered);
            ws.close(1000);
            await ws.closed;
            return ws.protocol;
            """,
            url=f"ws://127.0.0.1:{server.port}/",
            offered=offered,
        )
    assert result == chosen
    assert recorder.subprotocols == [chosen]


async def test_no_common_subprotocol(page: Page, origin: str, recorder: Recorder) -> None:
    # The server answers without Sec-WebSocket-Protocol (RFC 6455 allows it); Chromium,
    # like the WHATWG spec, then fails the connection before it opens.
    async with serve(recorder, origin, subprotocols=["chat"]) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        result = await run(
            page,
            """
            try { await open(args.url, ["superchat"]); return "opened"; }
            catch (e) { return e.message; }
            """,
            url=url,
        )
    assert result == f"WebSocket error before open: {url}"
    # Our side had upgraded, then saw the TCP connection drop without a close frame.
    assert recorder.subprotocols == [None]
    assert [type(c) for c in recorder.closed] == [ConnectionClosedError]
    assert recorder.closed[0].code == 1006


async def test_origin_not_allowed(page: Page, recorder: Recorder) -> None:
    # Chromium sends the page's Origin; a server that does not list it refuses (403).
    async with serve(recorder, "http://example.test") as server:
        url = f"ws://127.0.0.1:{server.port}/"
        result = await run(
            page,
            """
            try { await open(args.url); return "opened"; } catch (e) { return e.message; }
            """,
            url=url,
        )
    assert result == f"WebSocket error before open: {url}"
    assert recorder.subprotocols == []  # the handler never ran


async def test_server_closes_with_code_and_reason(
    page: Page, origin: str, recorder: Recorder
) -> None:
    async with serve(recorder, origin) as server:
        result = await run(
            page,
            """
            const ws = await open(args.url);
            ws.send("close 4000");
            return await ws.closed;
            """,
            url=f"ws://127.0.0.1:{server.port}/",
        )
    assert result == {"code": 4000, "reason": "bye", "wasClean": True}
    assert recorder.received == ["close 4000"] and recorder.closed == []  # returned normally


@pytest.mark.parametrize(
    ("code", "reason", "kind"),
    [(1000, "done", ConnectionClosedOK), (4001, "custom ✓", ConnectionClosedError)],
)
async def test_browser_closes_with_code_and_reason(
    page: Page,
    origin: str,
    recorder: Recorder,
    code: int,
    reason: str,
    kind: type[ConnectionClosed],
) -> None:
    async with serve(recorder, origin) as server:
        result = await run(
            page,
            """
            const ws = await open(args.url);
            ws.close(args.code, args.reason);
            return await ws.closed;
            """,
            url=f"ws://127.0.0.1:{server.port}/",
            code=code,
            reason=reason,
        )
    # The server echoes the code (RFC 6455 5.5.1) without a reason.
    assert result == {"code": code, "reason": "", "wasClean": True}
    [closed] = recorder.closed
    assert type(closed) is kind
    assert (closed.code, closed.reason, closed.rcvd_then_sent) == (code, reason, True)


async def test_wss_with_tls(origin: str, tls: TLS) -> None:
    recorder = Recorder()
    playwright, browser = await launch(["--ignore-certificate-errors"])
    try:
        page = await browser.new_page()
        await page.goto(origin + "/")
        async with serve(recorder, origin, ssl=tls.server) as server:
            result = await run(
                page,
                """
                const ws = await open(args.url);
                ws.send("über TLS");
                ws.send(pattern(200 * 1024).buffer);
                const echoed = [await recv(ws), equal(await recv(ws), pattern(200 * 1024).buffer)];
                ws.close(1000, "done");
                return {extensions: ws.extensions, echoed, close: await ws.closed};
                """,
                url=f"wss://localhost:{server.port}/",
            )
    finally:
        await browser.close()
        await playwright.stop()
    assert result == {
        "extensions": f"permessage-deflate; {RESET}client_max_window_bits=12",
        "echoed": ["über TLS", True],
        "close": {"code": 1000, "reason": "", "wasClean": True},
    }
    assert recorder.received == ["über TLS", pattern(200 * 1024)]

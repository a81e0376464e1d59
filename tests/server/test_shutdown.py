"""Graceful shutdown: run() under SIGTERM/SIGINT in a subprocess, and Server.close()."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import pytest
from server_helpers import TIMEOUT, UPGRADE, Raw, fetch, until

import switchboard
from switchboard import ConnectionClosedOK, Request, Router, WebSocket

SCRIPT = """
import logging, sys
import switchboard
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")

async def echo(ws):
    async for message in ws:
        await ws.send(message)

switchboard.run(echo, "127.0.0.1", 0, shutdown_timeout=float(sys.argv[1]), close_timeout=60)
"""


class Process:
    """``switchboard.run()`` in a child process; its log arrives on stderr."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.log: list[str] = []

    @classmethod
    async def start(cls, shutdown_timeout: float) -> tuple[Process, int]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SCRIPT, str(shutdown_timeout), stderr=asyncio.subprocess.PIPE
        )
        process = cls(proc)
        line = await process.wait_for_line("listening on")
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match is not None, line
        return process, int(match[1])

    async def wait_for_line(self, text: str) -> str:
        assert self.proc.stderr is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stderr.readline(), TIMEOUT)
            assert raw, f"process ended before logging {text!r}: {self.log}"
            self.log.append(raw.decode().rstrip())
            if text in self.log[-1]:
                return self.log[-1]

    async def exit_status(self) -> int:
        """Wait for the exit (at most 30 s, well under the 60 s close_timeout)."""
        assert self.proc.stderr is not None
        rest = await asyncio.wait_for(self.proc.stderr.read(), 30)
        self.log += rest.decode().splitlines()
        return await asyncio.wait_for(self.proc.wait(), 30)

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_closes_clients_with_1001_and_exits_0(signum: signal.Signals) -> None:
    process, port = await Process.start(shutdown_timeout=10)
    try:
        async with switchboard.connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send("before")
            assert await ws.recv() == "before"
            process.proc.send_signal(signum)
            with pytest.raises(ConnectionClosedOK) as info:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert (info.value.code, info.value.reason) == (1001, "server shutting down")
        assert await process.exit_status() == 0
    finally:
        process.kill()
    assert f"switchboard.server {signum.name}: shutting down" in process.log
    assert any("connection closed" in line and "code=1001" in line for line in process.log)
    assert not any("aborting" in line for line in process.log)


async def test_client_that_ignores_the_close_is_aborted_at_the_deadline() -> None:
    process, port = await Process.start(shutdown_timeout=0.5)
    try:
        raw = await Raw.open(port)
        assert (await raw.request("GET", "/", *UPGRADE)).status == 101
        process.proc.send_signal(signal.SIGTERM)
        assert await process.exit_status() == 0  # after 0.5 s, not after close_timeout
        received = await asyncio.wait_for(raw.reader.read(), TIMEOUT)
        assert received == b"\x88\x16\x03\xe9server shutting down"  # close 1001, then EOF
        await raw.close()
    finally:
        process.kill()
    assert any("shutdown: aborting 1 connections" in line for line in process.log)


async def test_second_signal_aborts_at_once() -> None:
    process, port = await Process.start(shutdown_timeout=60)
    try:
        raw = await Raw.open(port)
        assert (await raw.request("GET", "/", *UPGRADE)).status == 101
        process.proc.send_signal(signal.SIGTERM)
        await process.wait_for_line("SIGTERM: shutting down")
        process.proc.send_signal(signal.SIGTERM)
        assert await process.exit_status() == 0
        await raw.close()
    finally:
        process.kill()
    assert "switchboard.server SIGTERM again: aborting now" in process.log


async def test_close_finishes_http_requests_and_closes_idle_connections() -> None:
    release = asyncio.Event()
    router = Router()
    router.get("/quick")(lambda request: "quick")

    @router.get("/busy")
    async def busy(request: Request) -> str:
        await release.wait()
        return "done"

    async with switchboard.serve(router, "127.0.0.1", 0) as srv:
        idle = await Raw.open(srv.port)
        assert (await idle.request("GET", "/quick")).body == b"quick"
        working = await Raw.open(srv.port)
        working.send(b"GET /busy HTTP/1.1\r\nHost: x\r\n\r\n")
        await until(lambda: len(srv._tasks) == 1)  # the handler is running
        srv.close()
        assert await idle.at_eof()
        with pytest.raises(ConnectionRefusedError):
            await fetch(srv.port, "GET", "/quick")
        release.set()
        reply = await working.reply()
        assert (reply.body, reply.headers["connection"]) == (b"done", "close")
        assert await working.at_eof()
        await asyncio.wait_for(srv.wait_closed(), TIMEOUT)
        for raw in (idle, working):
            await raw.close()


async def test_stuck_handler_is_cancelled_at_the_deadline() -> None:
    outcome: list[str] = []

    async def stuck(ws: WebSocket) -> None:
        try:
            await asyncio.Event().wait()  # never looks at the connection
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    async with switchboard.serve(stuck, "127.0.0.1", 0, shutdown_timeout=0.2) as srv:
        ws = await switchboard.connect(f"ws://127.0.0.1:{srv.port}/")
        srv.close(1012, "restarting")
        with pytest.raises(switchboard.ConnectionClosed) as info:
            await ws.recv()
        assert (info.value.code, info.value.reason) == (1012, "restarting")
        await asyncio.wait_for(srv.wait_closed(), TIMEOUT)
    assert outcome == ["cancelled"]
    assert srv.metrics.close_codes == {1012: 1}


async def test_closing_hooks_run_before_busy_requests_drain() -> None:
    # A handler waiting for an event (a long poll, say) holds the shutdown until the
    # event comes: a closing hook is where to send it.
    release = asyncio.Event()
    router = Router()
    events: list[str] = []

    @router.get("/wait")
    async def wait(request: Request) -> str:
        await release.wait()
        return "released"

    def closing() -> None:
        events.append("closing")
        release.set()

    router.add_closing(closing)
    # The deadline is far: only the hook can end the request in time.
    async with switchboard.serve(router, "127.0.0.1", 0, shutdown_timeout=60) as srv:
        working = await Raw.open(srv.port)
        working.send(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        await until(lambda: len(srv._tasks) == 1)
        srv.close()
        srv.close()  # a second close runs the hooks no second time
        assert (await working.reply()).body == b"released"
        await asyncio.wait_for(srv.wait_closed(), TIMEOUT)
        await working.close()
    assert events == ["closing"]


async def test_a_failing_closing_hook_is_logged_and_the_shutdown_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()

    def broken() -> None:
        raise RuntimeError("boom")

    router.add_closing(broken)
    async with switchboard.serve(router, "127.0.0.1", 0) as srv:
        srv.close()
        await asyncio.wait_for(srv.wait_closed(), TIMEOUT)
    assert "closing hook" in caplog.text and "boom" in caplog.text


async def test_shutdown_hooks_run_once_however_often_wait_closed_is_awaited() -> None:
    router = Router()
    runs: list[str] = []

    async def stopped() -> None:
        await asyncio.sleep(0)
        runs.append("stopped")

    router.add_shutdown(stopped)
    async with switchboard.serve(router, "127.0.0.1", 0) as srv:
        srv.close()
        await asyncio.gather(srv.wait_closed(), srv.wait_closed())
        await srv.wait_closed()
    assert runs == ["stopped"]  # leaving the block waits for the same shutdown

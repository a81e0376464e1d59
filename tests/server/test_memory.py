"""Memory after connections close: zlib state released at once, none for connections
that never compress, tracemalloc bounded across rounds, and the malloc_trim schedule.

No timing is asserted: sleeps only let scheduled callbacks run.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import time
import tracemalloc
import weakref
from types import SimpleNamespace
from typing import Any

import pytest

import switchboard
from switchboard.protocol import deflate
from switchboard.server import memory
from switchboard.server.memory import CONNECTION_MEMORY, MemoryTrimmer

BIG = "compress me, " * 100  # over the 128-byte threshold: compressed both ways
SMALL = "hi"  # under it: sent as it is
# Less than any zlib state (the smallest here is 38 KiB), more than the codecs' own
# Python objects (about 200 bytes each).
ZLIB_STATE = 16 * 1024


def zlib_bytes() -> int:
    """Bytes allocated from deflate.py and still alive: the zlib objects' state (zlib
    allocates with PyMem_RawMalloc, which tracemalloc traces to the calling line)."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, deflate.__file__)]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


def url(server: switchboard.Server) -> str:
    return f"ws://127.0.0.1:{server.port}/"


async def exchange(server: switchboard.Server, message: str, count: int = 1) -> None:
    """``count`` concurrent connections, one message each way, then closed."""

    async def one() -> None:
        async with switchboard.connect(url(server)) as ws:
            await ws.send(message)
            assert await ws.recv() == message

    await asyncio.gather(*(one() for _ in range(count)))


class Keeper:
    """An echo handler that keeps every connection, as applications do (a session
    table, a log, an exception's traceback)."""

    def __init__(self) -> None:
        self.kept: list[switchboard.WebSocket] = []

    async def __call__(self, ws: switchboard.WebSocket) -> None:
        self.kept.append(ws)
        async for message in ws:
            await ws.send(message)

    async def all_closed(self) -> None:
        for ws in self.kept:
            await asyncio.wait_for(ws.wait_closed(), 10)


@pytest.fixture
def traced() -> Any:
    tracemalloc.start()
    yield
    tracemalloc.stop()


async def test_zlib_state_released_at_close_while_the_app_keeps_the_connection(
    traced: None,
) -> None:
    keeper = Keeper()
    async with switchboard.serve(keeper, "127.0.0.1", 0) as server:
        await exchange(server, BIG, count=5)
        await keeper.all_closed()
        assert len(keeper.kept) == 5
        for ws in keeper.kept:
            codec = ws.protocol.deflate
            assert codec is not None
            assert codec._encoder is None and codec._decoder is None
        # Nothing of zlib's is left, on either side, though all 5 are referenced.
        assert zlib_bytes() < ZLIB_STATE


async def test_no_zlib_state_for_connections_that_never_compress(traced: None) -> None:
    keeper = Keeper()
    async with switchboard.serve(keeper, "127.0.0.1", 0) as server:
        async with switchboard.connect(url(server)) as ws:
            for _ in range(3):
                await ws.send(SMALL)
                assert await ws.recv() == SMALL
            [theirs] = keeper.kept
            assert ws.protocol.deflate is not None and theirs.protocol.deflate is not None
            codec = theirs.protocol.deflate
            assert codec._encoder is None and codec._decoder is None
            assert zlib_bytes() < ZLIB_STATE  # negotiated, but no zlib state on either side


async def test_server_compressor_and_decompressor_are_small() -> None:
    keeper = Keeper()
    async with switchboard.serve(keeper, "127.0.0.1", 0) as server:
        async with switchboard.connect(url(server)) as ws:
            await ws.send(BIG)
            assert await ws.recv() == BIG
            assert ws.response is not None
            # Our own window is not announced; the client's is limited to 12 bits (and
            # reset after each message when zlib-ng inflates: nothing kept).
            extensions = ws.response.headers["Sec-WebSocket-Extensions"]
            reset = "client_no_context_takeover; " if deflate.BACKEND == "zlib-ng" else ""
            assert extensions == f"permessage-deflate; {reset}client_max_window_bits=12"
            codec = keeper.kept[0].protocol.deflate
            assert codec is not None
            assert (codec.local_max_window_bits, codec.local_window_bits) == (15, 12)
            assert (codec.mem_level, codec.remote_max_window_bits) == (4, 12)
            assert codec.memory < 42 * 1024  # 30 KiB to compress, 11 KiB to decompress


async def echo(ws: switchboard.WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def test_traced_memory_bounded_across_rounds(traced: None) -> None:
    async with switchboard.serve(echo, "127.0.0.1", 0) as server:
        after = []
        for _ in range(4):
            await exchange(server, BIG, count=20)
            await asyncio.sleep(0.05)  # the server's side finishes closing
            gc.collect()
            after.append(tracemalloc.get_traced_memory()[0])
    # 20 compressed connections hold about 20 * 80 KiB; what stays from one round
    # to the next (after a first round that fills caches) is under 2 connections.
    assert max(after[1:]) - after[1] < 160 * 1024, after


@pytest.fixture
def no_gc() -> Any:
    """Only reference counting frees objects: what a cycle or a timer holds stays."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


async def until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never met")


async def test_closed_connection_freed_at_once_after_keepalive_pings(no_gc: None) -> None:
    # A keepalive ping's timeout check (20 s by default) held the connection, and all
    # it references, that long after it closed.
    refs: list[weakref.ref[switchboard.WebSocket]] = []

    async def handler(ws: switchboard.WebSocket) -> None:
        refs.append(weakref.ref(ws))
        await ws.wait_closed()

    pings = switchboard.serve(handler, "127.0.0.1", 0, ping_interval=0.01, ping_timeout=600.0)
    async with pings as server:
        async with switchboard.connect(url(server), ping_interval=None) as client:
            await until(lambda: refs and (ws := refs[0]()) is not None and ws.bytes_out > 0)
            await client.send(BIG)  # let the pong come back: pings answered and not
        await until(lambda: not server.connections)
        await until(lambda: refs[0]() is None)


async def test_closed_transport_freed_at_once(no_gc: None) -> None:
    # CPython < 3.12's selector transport is in a reference cycle with a bound method
    # of itself: without a full collection, every closed connection's stayed.
    transports: list[weakref.ref[asyncio.BaseTransport]] = []

    async def handler(ws: switchboard.WebSocket) -> None:
        assert ws._transport is not None
        transports.append(weakref.ref(ws._transport))
        await echo(ws)

    async with switchboard.serve(handler, "127.0.0.1", 0) as server:
        await exchange(server, BIG, count=3)
        await until(lambda: not server.connections)
        await until(lambda: all(ref() is None for ref in transports))
    assert len(transports) == 3


async def test_server_counts_closed_connections_and_trims() -> None:
    trims: list[None] = []
    async with switchboard.serve(Keeper(), "127.0.0.1", 0) as server:
        trimmer = server.memory
        assert isinstance(trimmer, MemoryTrimmer)
        trimmer.threshold, trimmer.delay, trimmer.collect = 1, 0.0, None
        trimmer.trim = lambda: trims.append(None)
        await exchange(server, BIG, count=3)
        for _ in range(100):
            if trims:
                break
            await asyncio.sleep(0.01)
    assert trims and trimmer.trims == len(trims)


# -- MemoryTrimmer ------------------------------------------------------------------


def closed_connection(codec: deflate.PerMessageDeflate | None = None) -> Any:
    return SimpleNamespace(protocol=SimpleNamespace(deflate=codec))


async def run_callbacks(trimmer: MemoryTrimmer, trims: int) -> None:
    for _ in range(100):
        if trimmer.trims >= trims:
            return
        await asyncio.sleep(0.01)


async def test_trimmer_estimates_what_connections_free() -> None:
    trimmer = MemoryTrimmer(threshold=None, collect=None, trim=lambda: pytest.fail("disabled"))
    codec = deflate.PerMessageDeflate()
    trimmer.connection_closed(closed_connection())
    trimmer.connection_closed(closed_connection(codec))
    assert trimmer.freed == 2 * CONNECTION_MEMORY + codec.memory
    assert trimmer._handle is None  # threshold None: never trims


async def test_trimmer_waits_for_the_threshold_then_trims_once() -> None:
    calls: list[str] = []
    trimmer = MemoryTrimmer(
        3 * CONNECTION_MEMORY,
        delay=0.0,
        collect=lambda: calls.append("collect"),
        trim=lambda: calls.append("trim"),
    )
    for _ in range(2):
        trimmer.connection_closed(closed_connection())
    await asyncio.sleep(0.02)
    assert calls == [] and trimmer._handle is None
    for _ in range(5):  # the third reaches it; the rest join the same trim
        trimmer.connection_closed(closed_connection())
    await run_callbacks(trimmer, 1)
    assert calls == ["collect", "trim"] and trimmer.trims == 1 and trimmer.freed == 0


async def test_trimmer_waits_for_closing_to_pause_but_not_forever() -> None:
    calls: list[None] = []
    trimmer = MemoryTrimmer(
        1, delay=1000.0, interval=2000.0, collect=None, trim=lambda: calls.append(None)
    )
    trimmer.connection_closed(closed_connection())
    first = trimmer._handle
    assert first is not None
    first.cancel()
    trimmer._run()  # as if the timer fired while connections were still closing
    assert calls == [] and trimmer._handle is not None and trimmer._handle is not first
    trimmer._handle.cancel()
    trimmer._reached -= 3000.0  # the threshold was reached longer than interval ago
    trimmer._run()
    assert calls == [None] and trimmer._handle is None


async def test_trimmer_keeps_an_interval_between_trims() -> None:
    calls: list[None] = []
    trimmer = MemoryTrimmer(
        1, delay=0.0, interval=1000.0, collect=None, trim=lambda: calls.append(None)
    )
    trimmer.connection_closed(closed_connection())
    await run_callbacks(trimmer, 1)
    assert calls == [None] and trimmer._last is not None
    trimmer.connection_closed(closed_connection())
    handle = trimmer._handle
    assert handle is not None and handle.when() >= trimmer._last + 1000.0
    trimmer.cancel()
    assert trimmer._handle is None and handle.cancelled()


async def test_trimmer_spends_at_most_five_percent_of_the_time() -> None:
    # A trim that took 20 ms (or more) waits 20 times that before the next one.
    trimmer = MemoryTrimmer(1, delay=0.0, interval=0.0, collect=None, trim=lambda: time.sleep(0.02))
    trimmer.connection_closed(closed_connection())
    await run_callbacks(trimmer, 1)
    assert trimmer._last is not None and trimmer._spacing >= 0.4
    trimmer.connection_closed(closed_connection())
    assert trimmer._handle is not None
    assert trimmer._handle.when() >= trimmer._last + trimmer._spacing
    trimmer.cancel()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_malloc_trim_returns_freed_zlib_memory_to_the_system() -> None:
    # The cause this works around, in a fresh process: zlib state freed at close
    # stays resident (small live objects pin the heap's top) until malloc_trim.
    script = textwrap.dedent(
        """
        import zlib
        from switchboard.server.memory import malloc_trim

        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * 4096 >> 20

        codecs, pins = [], []
        for i in range(400):
            c = zlib.compressobj(6, zlib.DEFLATED, -15, 8)
            c.compress(bytes(range(256)) * 256)
            c.flush(zlib.Z_SYNC_FLUSH)
            codecs.append(c)
            pins.append(bytearray(1024))  # outlives the codecs, as a server's objects do
        before = rss()
        del codecs
        freed = rss()
        trimmed = malloc_trim()
        print(before, freed, rss(), trimmed)
        """
    )
    if not memory.malloc_trim():  # not glibc (musl): nothing to show
        pytest.skip("no glibc malloc_trim")
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    before, freed, trimmed, returned = out.stdout.split()
    # 400 compressors are about 100 MiB of RSS; freeing them returns little of it.
    assert int(before) - int(freed) < (int(before) - int(trimmed)) / 4, out.stdout
    assert int(trimmed) < int(before) - 50 and returned == "True", out.stdout

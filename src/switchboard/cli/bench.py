"""``switchboard bench``: round trips per second and their latency, against an echo server."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
import time
from typing import Any

from ..client import connect
from ..websocket import WebSocket
from .errors import CommandError
from .options import add_client_options, bounded, client_options
from .output import Console, format_seconds, format_size

EXAMPLES = """examples:
  switchboard bench ws://127.0.0.1:8765/
  switchboard bench --connections 16 --size 1024 --duration 10 ws://127.0.0.1:8765/
  switchboard bench --no-compression -c 4 wss://echo.example.com/

Each connection sends a message of --size random bytes (binary), waits for its echo,
and repeats until --duration is over. msg/s counts echoes received per second.
"""

SAMPLES = 100_000  # round-trip times kept for the percentiles (a uniform sample)
PROGRESS_EVERY = 0.25  # seconds between updates of the progress line


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "bench",
        help="measure messages per second and round-trip times against an echo server",
        description="Benchmark an echo server: open the connections, echo messages on all of "
        "them for the duration (one in flight per connection), then report messages per "
        "second and round-trip percentiles.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", metavar="URL", help="ws:// or wss:// URL of an echo server")
    parser.add_argument(
        "-c",
        "--connections",
        type=bounded(int, 1, 10_000),
        default=1,
        metavar="N",
        help="connections in parallel (1)",
    )
    parser.add_argument(
        "--size",
        type=bounded(int, 0, 64 << 20),
        default=32,
        metavar="BYTES",
        help="message size (32)",
    )
    parser.add_argument(
        "-d",
        "--duration",
        type=bounded(float, 0.1, 3600),
        default=5.0,
        metavar="SECONDS",
        help="how long to send messages (5)",
    )
    parser.add_argument(
        "--timeout",
        type=bounded(float, 0.1, 300),
        default=10.0,
        metavar="SECONDS",
        help="longest wait for one echo before giving up (10)",
    )
    add_client_options(parser)
    parser.set_defaults(run=run)


class Stats:
    """Round-trip times: a count, the maximum, and a bounded uniform sample
    (reservoir sampling) for the percentiles, however long the run."""

    def __init__(self, seed: int = 0) -> None:
        self.count = 0
        self.max = 0.0
        self.samples: list[float] = []
        self._random = random.Random(seed)

    def add(self, rtt: float) -> None:
        self.count += 1
        self.max = max(self.max, rtt)
        if len(self.samples) < SAMPLES:
            self.samples.append(rtt)
        else:
            slot = self._random.randrange(self.count)
            if slot < SAMPLES:
                self.samples[slot] = rtt

    def percentile(self, p: float) -> float:
        """The nearest-rank percentile ``p`` (0-100) of the sample."""
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def run(args: argparse.Namespace) -> int:
    stats, elapsed = asyncio.run(bench(args))
    if not stats.count:
        raise CommandError("no echo came back: is this an echo server?")
    rate = stats.count / elapsed
    Console().table(
        [
            ("url", args.url, ""),
            ("connections", str(args.connections), ""),
            ("message size", format_size(args.size), ""),
            ("duration", f"{elapsed:.2f} s", ""),
            ("messages", f"{stats.count} round trips", ""),
            ("msg/s", f"{rate:.0f}", "green"),
            *[
                (f"rtt {name}", format_seconds(value), "")
                for name, value in (
                    ("p50", stats.percentile(50)),
                    ("p90", stats.percentile(90)),
                    ("p99", stats.percentile(99)),
                    ("max", stats.max),
                )
            ],
        ]
    )
    return 0


async def bench(args: argparse.Namespace) -> tuple[Stats, float]:
    """Run the benchmark; return the statistics and how long sending lasted."""
    options = client_options(args) | dict(ping_interval=None)
    connections = await asyncio.gather(
        *(connect(args.url, **options) for _ in range(args.connections))
    )
    payload = os.urandom(args.size)
    stats = Stats()
    start = time.perf_counter()
    deadline = start + args.duration
    workers = [asyncio.create_task(_echo_loop(ws, payload, deadline, stats)) for ws in connections]
    progress = asyncio.create_task(_progress(stats, start, args.duration))
    try:
        done, _ = await asyncio.wait(workers, timeout=args.duration + args.timeout)
        if len(done) < len(workers):
            raise CommandError(f"an echo took longer than {args.timeout:g} s")
        for worker in done:
            worker.result()
        elapsed = time.perf_counter() - start
    finally:
        progress.cancel()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)
    return stats, elapsed


async def _echo_loop(ws: WebSocket, payload: bytes, deadline: float, stats: Stats) -> None:
    clock = time.perf_counter
    while clock() < deadline:
        sent = clock()
        await ws.send(payload)
        reply = await ws.recv()
        stats.add(clock() - sent)
        if reply != payload:
            raise CommandError(f"the server answered {len(reply)} bytes that are not the echo")


async def _progress(stats: Stats, start: float, duration: float) -> None:
    """Rewrite one status line on standard error while the benchmark runs (terminals only)."""
    if not sys.stderr.isatty():
        return
    try:
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            elapsed = time.perf_counter() - start
            sys.stderr.write(
                f"\r\033[K{min(elapsed, duration):5.1f} / {duration:g} s  "
                f"{stats.count} round trips  {stats.count / elapsed:.0f} msg/s"
            )
            sys.stderr.flush()
    finally:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()

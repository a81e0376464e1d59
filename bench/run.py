"""Switchboard vs websockets, aiohttp and picows: echo and broadcast benchmarks.

    .venv/bin/python bench/run.py [--quick] [--scenarios ...] [--rounds N]

Each server runs in its own process (bench/servers.py); this process is the load
generator, with the same raw-socket client for every server. Measurements are interleaved:
each round measures every scenario on every server (in a rotated order), and the
table reports the median across rounds. See docs/performance.md for the method.

The last line of output is one JSON object with every sample, for machines.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import uvloop
from servers import MESSAGE_SIZE, raise_fd_limit

HERE = Path(__file__).resolve().parent
ECHO_SERVERS = ["switchboard", "websockets", "aiohttp", "picows"]
BROADCAST_SERVERS = ["switchboard", "websockets", "picows"]  # aiohttp has no broadcast
SMALL = b"x" * 32
LARGE = bytes(range(256)) * 4096  # 1 MiB
TIMEOUT = 30.0  # seconds past the planned duration before a measurement is declared stuck
CHUNK = 256 * 1024  # reads are compared against the expected stream this much at a time


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool = True


METRICS = {
    "echo": [Metric("echo", "echo 32 B, 1 in flight", "round trips/s")],
    "pipelined": [Metric("pipelined", "pipelined 32 B, window 100", "messages/s")],
    "large": [Metric("large", "echo 1 MiB binary", "MiB/s")],
    "broadcast": [
        Metric("broadcast", "broadcast 32 B to {clients}", "deliveries/s"),
        Metric("broadcast_latency", "  call -> last client", "ms", higher_is_better=False),
    ],
}


# --- Servers -----------------------------------------------------------------


class ServerProcess:
    """One server in its own process; it exits when we close its stdin or kill it."""

    def __init__(self, name: str, mode: str, loop: str, profile: str | None) -> None:
        self.name = name
        self.mode = mode
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.errors = ""  # the end of its stderr, once stopped
        env = dict(os.environ)
        if profile:
            env["BENCH_PROFILE"] = profile
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "servers.py"), name, mode, loop],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the servers
        )
        self.port = self._read_port()

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"{self.name} ({self.mode}) server did not start:\n{self.errors}")
        return int(line.split()[1])

    def stop(self) -> None:
        """Stop by PID: SIGTERM, then SIGKILL if it has not exited after 5 s."""
        if self.stderr.closed:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self.stderr.seek(0)
        self.errors = self.stderr.read().decode(errors="replace")[-4000:]
        self.stderr.close()

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(
                f"{self.name} ({self.mode}) server exited with {self.proc.returncode}:\n"
                + self.errors
            )


# --- Client ------------------------------------------------------------------
#
# A minimal raw WebSocket client on asyncio.Protocol. Every outgoing frame is
# built and masked once, up front; incoming echoes are checked against the exact
# expected bytes with one memcmp per read, and counted by length, so the client
# does O(1) Python work per socket read instead of per message.

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MASK = os.urandom(4)


def frame(opcode: int, payload: bytes, *, masked: bool) -> bytes:
    """One unfragmented frame with minimal length encoding, as the servers send them."""
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, n])
    elif n < 1 << 16:
        header = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    if not masked:
        return header + payload
    key = int.from_bytes((MASK * (n // 4 + 1))[:n], "big")
    body = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
    return bytes([header[0], header[1] | 0x80]) + header[2:] + MASK + body


CLOSE = frame(0x8, (1000).to_bytes(2, "big"), masked=True)
GO = frame(0x1, b"go", masked=True)


class Client(asyncio.Protocol):
    """One client connection; after the handshake, reads go to ``on_data``."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport
        self.head = b""
        self.handshake: asyncio.Future[bytes] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.on_data: Callable[[bytes], None] | None = None
        self.waiter: asyncio.Future[Any] | None = None  # failed if the connection drops

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.on_data is not None:
            self.on_data(data)
        elif not self.handshake.done():
            self.head += data
            if b"\r\n\r\n" in self.head:
                self.handshake.set_result(self.head)
        # else: the closing handshake; nothing to check

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError("the server closed the connection")
        for future in (self.handshake, self.waiter):
            if future is not None and not future.done():
                future.set_exception(error)
        self.closed.set_result(None)

    def fail(self, message: str) -> None:
        self.on_data = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(AssertionError(message))


async def connect(port: int) -> Client:
    """Open a WebSocket connection and check the server did not enable an extension."""
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(Client, "127.0.0.1", port)
    key = base64.b64encode(os.urandom(16))
    client.transport.write(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
        % (port, key)
    )
    head = await asyncio.wait_for(client.handshake, TIMEOUT)
    status, *lines = head.decode("latin-1").split("\r\n\r\n")[0].split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    if not status.startswith("HTTP/1.1 101") or headers.get("sec-websocket-accept") != accept:
        raise AssertionError(f"handshake failed: {head!r}")
    if "sec-websocket-extensions" in headers:
        raise AssertionError(f"server negotiated {headers['sec-websocket-extensions']}")
    if not head.endswith(b"\r\n\r\n"):
        raise AssertionError("server sent data right after the handshake")
    return client


async def disconnect(clients: list[Client]) -> None:
    """Closing handshake on every connection; abort any that takes over TIMEOUT."""
    for client in clients:
        client.on_data = None
        client.waiter = None
        client.transport.write(CLOSE)
    try:
        await asyncio.wait_for(asyncio.gather(*(c.closed for c in clients)), TIMEOUT)
    except asyncio.TimeoutError:
        for client in clients:
            client.transport.abort()


async def pump(
    client: Client, opcode: int, payload: bytes, window: int, duration: float
) -> tuple[int, float]:
    """Keep ``window`` echoes in flight for ``duration``; return (messages, seconds).

    After the deadline no new message is sent and the clock stops when the last
    one in flight is back, so every message counted made the full round trip.
    """
    loop = asyncio.get_running_loop()
    done = client.waiter = loop.create_future()
    out = frame(opcode, payload, masked=True)
    batches = [out * k for k in range(window + 1)]  # batches[k]: k messages in one write
    echo = frame(opcode, payload, masked=False)
    size = len(echo)
    expected = echo * (CHUNK // size + 2)  # any read, at any offset, is a slice of this
    write = client.transport.write
    perf_counter = time.perf_counter
    received = completed = sent = 0
    deadline = end = 0.0
    stopping = False

    def on_data(data: bytes) -> None:
        nonlocal received, completed, sent, end, stopping
        offset = received % size
        for i in range(0, len(data), CHUNK):
            if not expected.startswith(data[i : i + CHUNK], offset + i % size):
                client.fail(f"unexpected bytes in the echo stream at {received + i}")
                return
        received += len(data)
        new = received // size - completed
        completed += new
        if not stopping:
            if perf_counter() < deadline:
                write(batches[new])
                sent += new
                return
            stopping = True
        if completed == sent:
            end = perf_counter()
            done.set_result(None)

    client.on_data = on_data
    start = perf_counter()
    deadline = start + duration
    write(batches[window])
    sent = window
    await asyncio.wait_for(done, duration + TIMEOUT)
    client.on_data = None
    return completed, end - start


async def measure_echo(
    port: int, opcode: int, payload: bytes, window: int, duration: float, warmup: float
) -> float:
    """Messages per second echoed, on a fresh connection."""
    client = await connect(port)
    try:
        await pump(client, opcode, payload, window, warmup)
        count, seconds = await pump(client, opcode, payload, window, duration)
    finally:
        await disconnect([client])
    return count / seconds


async def measure_broadcast(
    port: int, clients: int, duration: float, warmup: float
) -> dict[str, float]:
    """Deliveries/s and median ms from the server's broadcast call to the last delivery.

    The receivers are read by a tight ``epoll`` loop on their sockets, outside the
    event loop: through asyncio protocols, the load generator spent more CPU per
    delivery than the fastest servers and became what the benchmark measured.
    """
    receivers: list[Client] = []
    for i in range(0, clients, 100):  # batches stay under every server's listen backlog
        receivers += await asyncio.gather(*(connect(port) for _ in range(min(100, clients - i))))
    controller = await connect(port)
    await asyncio.sleep(0.2)  # let the servers' per-connection handlers register everyone
    for client in receivers:
        client.transport.pause_reading()  # from here on, poll() below reads them
    go_fd = controller.transport.get_extra_info("socket").fileno()

    size = 2 + MESSAGE_SIZE  # a text frame with a 7-bit length
    header = bytes([0x81, MESSAGE_SIZE])
    poller = select.epoll()
    for client in receivers:
        poller.register(client.transport.get_extra_info("socket").fileno(), select.EPOLLIN)

    def one_broadcast() -> float:
        """Send "go", read one frame from every receiver; return ns since the call."""
        os.write(go_fd, GO)
        count = 0
        deadline = time.monotonic() + TIMEOUT
        while count < clients:
            events = poller.poll(1.0)
            if not events and time.monotonic() > deadline:
                raise AssertionError(f"only {count} of {clients} receivers got the broadcast")
            for fd, _ in events:
                data = os.read(fd, 4096)
                if len(data) != size or not data.startswith(header):
                    raise AssertionError(f"expected one {size}-byte text frame, got {data[:64]!r}")
                count += 1
        return time.monotonic_ns() - int(data[2:])

    def run(seconds: float) -> tuple[int, float, list[float]]:
        latencies: list[float] = []
        start = time.perf_counter()
        while True:
            latencies.append(one_broadcast() / 1e6)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return len(latencies) * clients, elapsed, latencies

    try:
        run(warmup)
        deliveries, seconds, latencies = run(duration)
    finally:
        poller.close()
        for client in receivers:
            client.transport.resume_reading()
        await disconnect([*receivers, controller])
    return {
        "broadcast": deliveries / seconds,
        "broadcast_latency": statistics.median(latencies),
    }


# --- Orchestration -----------------------------------------------------------


def rotated(items: list[str], by: int) -> list[str]:
    by %= len(items)
    return items[by:] + items[:by]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(scenario: str, port: int, args: argparse.Namespace) -> dict[str, float]:
    if scenario == "echo":
        return {"echo": await measure_echo(port, 0x1, SMALL, 1, args.duration, args.warmup)}
    if scenario == "pipelined":
        rate = await measure_echo(port, 0x1, SMALL, 100, args.duration, args.warmup)
        return {"pipelined": rate}
    if scenario == "large":
        rate = await measure_echo(port, 0x2, LARGE, 1, args.duration, args.warmup)
        return {"large": rate * len(LARGE) / (1 << 20)}
    return await measure_broadcast(port, args.clients, args.duration, args.warmup)


async def run_rounds(
    args: argparse.Namespace, servers: dict[tuple[str, str], ServerProcess]
) -> dict[str, dict[str, list[float]]]:
    """Every round measures every scenario on every server, rotating the server order.

    Also records the CPU share (CPU seconds / wall seconds, 1.0 = one core) of the
    server and of this client process, under ``<scenario>_server_cpu`` and
    ``<scenario>_client_cpu``: a client near 1.0 would mean a client-bound result.
    """
    samples: dict[str, dict[str, list[float]]] = {}
    for r in range(args.rounds):
        for scenario in args.scenarios:
            mode = "broadcast" if scenario == "broadcast" else "echo"
            names = BROADCAST_SERVERS if mode == "broadcast" else ECHO_SERVERS
            for name in rotated([n for n in names if n in args.servers], r):
                server = servers[name, mode]
                wall, own, theirs = (
                    time.perf_counter(),
                    time.process_time(),
                    cpu_seconds(server.proc.pid),
                )
                result = await measure(scenario, server.port, args)
                wall = time.perf_counter() - wall
                result[f"{scenario}_server_cpu"] = (cpu_seconds(server.proc.pid) - theirs) / wall
                result[f"{scenario}_client_cpu"] = (time.process_time() - own) / wall
                server.check_alive()
                for key, value in result.items():
                    samples.setdefault(key, {}).setdefault(name, []).append(value)
                shown = ", ".join(f"{k} {v:,.2f}" for k, v in result.items())
                print(f"  round {r + 1}/{args.rounds}  {name:<12} {shown}", file=sys.stderr)
                await asyncio.sleep(args.settle)  # let the server finish closing
    return samples


def median_cell(found: dict[str, Any] | None) -> str:
    """A table cell: the median and half the spread of the samples, or "-" if none."""
    if not found:
        return f"{'-':>18}"
    median, values = found["median"], found["samples"]
    spread = (max(values) - min(values)) / 2 / median * 100 if median else 0.0
    return f"{median:>12,.1f} ±{spread:>2.0f}%"


def summarize(
    samples: dict[str, dict[str, list[float]]], args: argparse.Namespace
) -> tuple[list[str], dict[str, Any]]:
    """The human-readable tables and the JSON summary."""
    servers = [n for n in ECHO_SERVERS if n in args.servers]
    peers = servers[1:]
    metrics = [m for s in args.scenarios for m in METRICS[s]]
    results = {
        key: {name: {"median": statistics.median(v), "samples": v} for name, v in per.items()}
        for key, per in samples.items()
    }
    ratios: dict[str, dict[str, float]] = {}
    for metric in metrics:
        ours = results.get(metric.key, {}).get("switchboard")
        for name in peers:
            theirs = results.get(metric.key, {}).get(name)
            if ours and theirs:
                a, b = ours["median"], theirs["median"]
                ratios.setdefault(metric.key, {})[name] = (
                    a / b if metric.higher_is_better else b / a
                )

    def label(metric: Metric) -> str:
        return metric.label.format(clients=f"{args.clients:,}")

    def cell(key: str, name: str) -> str:
        return median_cell(results.get(key, {}).get(name))

    lines = [f"{'scenario':<30} {'unit':<14}" + "".join(f"{n:>18}" for n in servers)]
    for metric in metrics:
        cells = "".join(cell(metric.key, n) for n in servers)
        lines.append(f"{label(metric):<30} {metric.unit:<14}{cells}")
    lines += ["", "switchboard / peer (>1: Switchboard is faster; for latency, peer / switchboard)"]
    lines.append(f"{'scenario':<45}" + "".join(f"{'vs ' + n:>18}" for n in peers))
    for metric in metrics:
        row = ratios.get(metric.key, {})
        cells = "".join(f"{row[n]:>18.2f}" if n in row else f"{'-':>18}" for n in peers)
        lines.append(f"{label(metric):<45}{cells}")
    lines += ["", "CPU share during the measurement, server / client (1.00 = one core busy)"]
    lines.append(f"{'scenario':<45}" + "".join(f"{n:>18}" for n in servers))
    for scenario in args.scenarios:
        cells = ""
        for name in servers:
            server = results.get(f"{scenario}_server_cpu", {}).get(name)
            client = results.get(f"{scenario}_client_cpu", {}).get(name)
            shares = (
                f"{server['median']:.2f} / {client['median']:.2f}" if server and client else "-"
            )
            cells += f"{shares:>18}"
        lines.append(f"{label(METRICS[scenario][0]):<45}{cells}")
    summary = {
        "command": " ".join([".venv/bin/python", "bench/run.py", *sys.argv[1:]]),
        "loop": args.loop,
        "rounds": args.rounds,
        "duration": args.duration,
        "clients": args.clients,
        "versions": versions(),
        "units": {m.key: m.unit for ms in METRICS.values() for m in ms},
        "results": results,
        "ratios": ratios,
    }
    return lines, summary


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("switchboard-ws", "websockets", "aiohttp", "picows", "uvloop"):
        try:
            found[dist] = version(dist)
        except Exception:
            found[dist] = "?"
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=[*METRICS, "all"],
        default=["echo", "pipelined", "large"],
        help="default: echo pipelined large; 'all' adds broadcast",
    )
    parser.add_argument("--servers", nargs="+", choices=ECHO_SERVERS, default=ECHO_SERVERS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=0.3, help="seconds before each one")
    parser.add_argument("--clients", type=int, default=1000, help="broadcast receivers")
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="the servers' event loop (the client always uses uvloop)",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="cProfile the Switchboard servers into FILE.<mode>"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 round of 0.2 s, 100 broadcast receivers"
    )
    args = parser.parse_args(argv)
    if "all" in args.scenarios:
        args.scenarios = list(METRICS)
    args.scenarios = [s for s in METRICS if s in args.scenarios]
    if "switchboard" not in args.servers:
        args.servers.insert(0, "switchboard")  # the baseline of every ratio
    if args.quick:
        args.rounds, args.duration, args.warmup, args.clients = 1, 0.2, 0.05, 100
    args.settle = 0.05 if args.quick else 0.3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    hard = raise_fd_limit()
    if args.clients + 64 > hard:
        raise SystemExit(f"--clients {args.clients} needs more file descriptors than {hard}")
    modes = ["echo"] * any(s != "broadcast" for s in args.scenarios)
    modes += ["broadcast"] * ("broadcast" in args.scenarios)
    servers: dict[tuple[str, str], ServerProcess] = {}
    print(
        f"servers: {', '.join(args.servers)} on {args.loop}; client: raw sockets on uvloop; "
        f"{args.rounds} round(s) x {args.duration} s per measurement",
        file=sys.stderr,
    )
    try:
        for mode in modes:
            for name in BROADCAST_SERVERS if mode == "broadcast" else ECHO_SERVERS:
                if name in args.servers:
                    profile = (
                        f"{args.profile}.{mode}" if args.profile and name == "switchboard" else None
                    )
                    servers[name, mode] = ServerProcess(name, mode, args.loop, profile)
        samples = uvloop.run(run_rounds(args, servers))
    finally:
        for server in servers.values():
            server.stop()
    lines, summary = summarize(samples, args)
    v = summary["versions"]
    print(
        f"\nSwitchboard {v['switchboard-ws']} vs websockets {v['websockets']}, aiohttp "
        f"{v['aiohttp']}, picows {v['picows']}; Python {v['python']}, servers on {args.loop}, "
        f"{os.cpu_count()} CPUs\nmedian of {args.rounds} round(s) x {args.duration} s "
        "(± half the min-max spread across rounds)\n"
    )
    print("\n".join(lines))
    if args.profile:
        import pstats

        for mode in modes:
            print(f"\ncProfile of the Switchboard {mode} server, top 25 by own time:")
            pstats.Stats(f"{args.profile}.{mode}").sort_stats("tottime").print_stats(25)
    print()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted; servers stopped")

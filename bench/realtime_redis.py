"""The real-time layer on two nodes over Redis: Switchboard's hub with its
RedisBroker vs Node's socket.io with @socket.io/redis-adapter and python-socketio
with AsyncRedisManager.

    .venv/bin/python bench/realtime_redis.py [--quick] [--rounds N] [--clients 1000] ...

Every stack runs as two server processes (node A and node B) on different ports,
sharing one ``redis-server`` that this script starts on a free loopback port (no
persistence) and stops by its PID; Redis is emptied (``FLUSHALL``) before every
measurement. Two scenarios, each measured on every stack in one interleaved run:

* fanout: CLIENTS clients in one room, half on each node; one of them, on node A,
  emits "fanout" with a ~200-byte JSON payload carrying its send time; the
  server emits "tick" with it to the room, so it reaches node B through Redis;
  the next emit goes out when every member has its tick. Deliveries/s overall,
  and p50/p99 latency from the emit to each receipt, separately for the near
  node (A, the publisher's) and the far node (B).
* ack: ACK_CLIENTS clients split over the two nodes, each with one emit-with-ack
  ("echo") outstanding: acks/s, and p50/p99 round-trip latency.

The load generator is bench/realtime.py's (raw sockets that speak each wire
format, read by a tight epoll loop); its CPU share is reported next to the
servers' and Redis's. See docs/performance.md, "Real-time layer on Redis (two
nodes)". The last line of output is one JSON object with every sample.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import uvloop
from run import cpu_seconds, median_cell, rotated

from realtime import (
    NODE_DIR,
    PAYLOAD_SIZE,
    Client,
    Fanout,
    ProtocolError,
    ServerProcess,
    SwitchboardV1,
    Wire,
    check_fds_and_note_missing,
    choose_servers,
    connect_many,
    disconnect,
    fill_defaults,
    percentile,
    run_acks,
    versions,
    wire_for,
)

HERE = Path(__file__).resolve().parent

STACKS = [
    "switchboard-redis",
    "switchboard-redis-full",
    "socketio-node-redis",
    "socketio-aiohttp-redis",
]
LABELS = {
    "switchboard-redis": "Switchboard hub",
    "switchboard-redis-full": "hub + hist/pres",
    "socketio-node-redis": "socket.io Node",
    "socketio-aiohttp-redis": "p-sio aiohttp",
}
OURS = "switchboard-redis"
NODE = "socketio-node-redis"
PYTHON = "socketio-aiohttp-redis"
SCENARIOS = ["fanout", "ack"]
PRESENCE_GRACE = 5.0  # the hub's default: a full hub's leaves reach Redis that late
ROOM = "bench"
# Clients connecting (and joining) at once per node. Under 100: redis-py 8's
# asyncio pool holds at most 100 connections by default and fails a command beyond
# that ("Too many connections") instead of waiting, so 100 joins at once on one
# node of the hub lose some (docs/performance.md, "Real-time layer on Redis").
BATCH = 50


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool = True
    ratio: bool = True  # shown in the ratio table


METRICS = {
    "fanout": [
        Metric("fanout", "fan-out ~200 B to {a} + {b}", "deliveries/s"),
        Metric("fanout_near_p50", "  near node (A) p50", "ms", False),
        Metric("fanout_near_p99", "  near node (A) p99", "ms", False),
        Metric("fanout_far_p50", "  far node (B) p50", "ms", False),
        Metric("fanout_far_p99", "  far node (B) p99", "ms", False),
        Metric("fanout_server_us", "  servers' CPU per delivery", "µs", False),
        Metric("fanout_redis_us", "  Redis CPU per delivery", "µs", False, ratio=False),
    ],
    "ack": [
        Metric("ack", "emit + ack, {ack_a} + {ack_b} clients x 1", "acks/s"),
        Metric("ack_p50", "  round trip p50", "ms", False),
        Metric("ack_p99", "  round trip p99", "ms", False),
        Metric("ack_server_us", "  servers' CPU per ack", "µs", False),
    ],
}


# --- Redis -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A ``redis-server`` of our own on a free loopback port, without persistence;
    stopped by its PID."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (./dev bench installs it)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="switchboard-bench-redis-")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--loglevel",
                "warning",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches only us; we stop it
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if self.command("PING").startswith(b"+PONG"):
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *args: str) -> bytes:
        """One command over a raw socket (PING, FLUSHALL, INFO)."""
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"".join(parts))
            reply = sock.recv(65536)
            if reply.startswith(b"$"):  # a bulk string: read it all
                size = int(reply[1 : reply.index(b"\r\n")])
                while len(reply) < size + len(b"$%d\r\n\r\n" % size):
                    more = sock.recv(65536)
                    if not more:
                        break
                    reply += more
            return reply

    def flush(self) -> None:
        reply = self.command("FLUSHALL")
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL failed: {reply!r}")

    def version(self) -> str:
        for line in self.command("INFO", "server").decode(errors="replace").splitlines():
            if line.startswith("redis_version:"):
                return line.partition(":")[2].strip()
        return "?"

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.proc.returncode}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # our own child, by its PID
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


# --- Two nodes per stack -----------------------------------------------------


class Pair:
    """Node A and node B of one stack, both on the same Redis."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.a = ServerProcess(name, extra=(url,))
        try:
            self.b = ServerProcess(name, extra=(url,))
        except BaseException:
            self.a.stop()
            raise

    @property
    def pids(self) -> list[int]:
        return [self.a.pid, self.b.pid]

    def check_alive(self) -> None:
        self.a.check_alive()
        self.b.check_alive()

    def stop(self) -> None:
        self.a.stop()
        self.b.stop()


class Cpu:
    """CPU seconds of the two nodes, of Redis and of us, from when we were made."""

    def __init__(self, pair: Pair, redis: RedisServer) -> None:
        self.pids = [*pair.pids, redis.pid]
        self.wall = time.perf_counter()
        self.own = time.process_time()
        self.start = [cpu_seconds(pid) for pid in self.pids]

    def report(self, scenario: str, operations: int) -> dict[str, float]:
        wall = time.perf_counter() - self.wall
        a, b, redis = (cpu_seconds(pid) - t for pid, t in zip(self.pids, self.start, strict=True))
        own = time.process_time() - self.own
        return {
            f"{scenario}_a_cpu": a / wall,
            f"{scenario}_b_cpu": b / wall,
            f"{scenario}_redis_cpu": redis / wall,
            f"{scenario}_client_cpu": own / wall,
            f"{scenario}_server_us": (a + b) / operations * 1e6,
            f"{scenario}_redis_us": redis / operations * 1e6,
            f"{scenario}_client_us": own / operations * 1e6,
        }


class JoinedV1(SwitchboardV1):
    """switchboard.v1, where a client counts as connected once it is in the room:
    the hub welcomes a client before it joins the welcome's rooms, and over Redis a
    join takes Redis round trips (the history's position; presence, with the
    room's whole presence state read back), so the client waits for its
    ``joined`` and, in a presence room, for the presence state that follows."""

    def __init__(self, presence: bool) -> None:
        self.presence = presence

    async def open(self, client: Client) -> None:
        await super().open(client)
        while True:
            message = json.loads(await client.recv())
            kind, room = message.get("t"), message.get("room")
            if kind == "joined" and room == ROOM and not self.presence:
                return
            if kind == "presence" and room == ROOM and "state" in message:
                return
            if kind == "error":
                raise ProtocolError(f"the hub sent an error: {message}")
            if kind not in ("joined", "presence", "ping"):
                raise ProtocolError(f"unexpected message while joining: {message}")
            if kind == "ping":
                client.send(b'{"t":"pong"}')


def wire_of(name: str) -> Wire:
    if name.startswith("switchboard"):
        return JoinedV1(presence=name == "switchboard-redis-full")
    return wire_for(name)


def split(total: int) -> tuple[int, int]:
    """Clients on node A (the publisher's, the odd one) and on node B."""
    return total - total // 2, total // 2


async def connect_pair(pair: Pair, total: int) -> tuple[list[Client], list[Client]]:
    """``total`` clients, the first (odd) half on node A; BATCH at a time per node."""
    wire = wire_of(pair.name)
    on_a, on_b = split(total)
    clients_a: list[Client] = []
    clients_b: list[Client] = []
    try:
        for port, clients, count in (
            (pair.a.port, clients_a, on_a),
            (pair.b.port, clients_b, on_b),
        ):
            for i in range(0, count, BATCH):
                clients += await connect_many(port, wire, min(BATCH, count - i))
    except BaseException:
        await disconnect(clients_a + clients_b)
        raise
    return clients_a, clients_b


async def measure_fanout(
    pair: Pair, redis: RedisServer, args: argparse.Namespace
) -> dict[str, float]:
    clients_a, clients_b = await connect_pair(pair, args.clients)
    fan = None
    try:
        fan = Fanout(clients_a + clients_b, args.window)  # the publisher: clients_a[0]
        fan.barrier()  # one tick reached every member on both nodes
        fan.run(args.warmup, None)
        near: list[int] = []
        far: list[int] = []
        by_fd = {c.fd: near.append for c in clients_a} | {c.fd: far.append for c in clients_b}
        cpu = Cpu(pair, redis)
        deliveries, seconds = fan.run(args.duration, None, by_fd)
        cpu_report = cpu.report("fanout", deliveries)
    finally:
        if fan is not None:
            fan.close()
        await disconnect(clients_a + clients_b)
    if len(near) + len(far) != deliveries or not far:
        raise AssertionError(f"{len(near)} + {len(far)} latencies for {deliveries} deliveries")
    return {
        "fanout": deliveries / seconds,
        "fanout_near_p50": percentile(near, 50),
        "fanout_near_p99": percentile(near, 99),
        "fanout_far_p50": percentile(far, 50),
        "fanout_far_p99": percentile(far, 99),
        "fanout_p99": percentile(near + far, 99),
        **cpu_report,
    }


async def measure_ack(pair: Pair, redis: RedisServer, args: argparse.Namespace) -> dict[str, float]:
    clients_a, clients_b = await connect_pair(pair, args.ack_clients)
    clients = clients_a + clients_b
    try:
        run_acks(clients, args.warmup, None)
        latencies: list[int] = []
        cpu = Cpu(pair, redis)
        acks, seconds = run_acks(clients, args.duration, latencies)
        cpu_report = cpu.report("ack", acks)
    finally:
        await disconnect(clients)
    return {
        "ack": acks / seconds,
        "ack_p50": percentile(latencies, 50),
        "ack_p99": percentile(latencies, 99),
        **cpu_report,
    }


async def quiesce(pids: list[int], limit: float) -> float:
    """Wait (at most ``limit`` s) until every process in ``pids`` used under 3% of a
    core over 0.2 s: what a stack does after its clients left (unsubscribing,
    parking sessions) is not measured on the next one. Returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        before = [cpu_seconds(pid) for pid in pids]
        await asyncio.sleep(0.2)
        used = [cpu_seconds(pid) - t for pid, t in zip(pids, before, strict=True)]
        if max(used) < 0.2 * 0.03:
            break
    return time.monotonic() - began


async def run_rounds(
    args: argparse.Namespace, pairs: dict[str, Pair], redis: RedisServer
) -> dict[str, dict[str, list[float]]]:
    """Every round measures every scenario on every stack, rotating the stack order;
    Redis is emptied before each measurement."""
    samples: dict[str, dict[str, list[float]]] = {}
    everyone = [redis.pid, *(pid for pair in pairs.values() for pid in pair.pids)]
    for r in range(args.rounds):
        for scenario in args.scenarios:
            for name in rotated(args.servers, r):
                pair = pairs[name]
                redis.flush()
                began = time.perf_counter()
                measure = measure_fanout if scenario == "fanout" else measure_ack
                result = await measure(pair, redis, args)
                pair.check_alive()
                redis.check_alive()
                for key, value in result.items():
                    samples.setdefault(key, {}).setdefault(name, []).append(value)
                shown = ", ".join(
                    f"{k} {v:,.2f}"
                    for k, v in result.items()
                    if not k.endswith(("_cpu", "_us")) or k.endswith("client_cpu")
                )
                took = time.perf_counter() - began
                print(
                    f"  round {r + 1}/{args.rounds}  {name:<23} {shown} ({took:.1f} s)",
                    file=sys.stderr,
                )
                if name == "switchboard-redis-full" and not args.quick:
                    await asyncio.sleep(PRESENCE_GRACE + 0.3)  # its leaves, after the grace
                await asyncio.sleep(args.settle)
                await quiesce(everyone, 2.0 if args.quick else 8.0)
    return samples


# --- Report ------------------------------------------------------------------


def summarize(
    samples: dict[str, dict[str, list[float]]], args: argparse.Namespace, found: dict[str, str]
) -> tuple[list[str], dict[str, Any]]:
    servers = args.servers
    ours = OURS if OURS in servers else None
    peers = [n for n in servers if not n.startswith("switchboard")]
    metrics = [m for s in args.scenarios for m in METRICS[s]]
    results: dict[str, dict[str, dict[str, Any]]] = {
        key: {name: {"median": statistics.median(v), "samples": v} for name, v in per.items()}
        for key, per in samples.items()
    }

    def median(key: str, name: str) -> float | None:
        found = results.get(key, {}).get(name)
        return found["median"] if found else None

    ratios: dict[str, dict[str, float]] = {}
    per_round: dict[str, dict[str, list[float]]] = {}
    for metric in metrics:
        a = median(metric.key, ours) if ours else None
        for name in peers:
            b = median(metric.key, name)
            if a and b:
                ratios.setdefault(metric.key, {})[name] = (
                    a / b if metric.higher_is_better else b / a
                )
                assert ours is not None
                pairs = zip(samples[metric.key][ours], samples[metric.key][name], strict=True)
                per_round.setdefault(metric.key, {})[name] = [
                    (x / y if metric.higher_is_better else y / x) if x and y else 0.0
                    for x, y in pairs
                ]

    on_a, on_b = split(args.clients)
    ack_a, ack_b = split(args.ack_clients)

    def label(metric: Metric) -> str:
        return metric.label.format(a=f"{on_a:,}", b=f"{on_b:,}", ack_a=ack_a, ack_b=ack_b)

    def cell(key: str, name: str) -> str:
        return median_cell(results.get(key, {}).get(name))

    lines = [f"{'scenario':<34} {'unit':<13}" + "".join(f"{LABELS[n]:>18}" for n in servers)]
    for metric in metrics:
        cells = "".join(cell(metric.key, n) for n in servers)
        lines.append(f"{label(metric):<34} {metric.unit:<13}{cells}")
    if ours and peers:
        lines += [
            "",
            "Switchboard / peer (> 1: Switchboard is better; for latency and CPU, "
            "peer / Switchboard):",
            "ratio of the medians (min-max of the per-round ratios)",
            f"{'scenario':<40}" + "".join(f"{'vs ' + LABELS[n]:>22}" for n in peers),
        ]
        for metric in metrics:
            if not metric.ratio:
                continue
            row, rounds = ratios.get(metric.key, {}), per_round.get(metric.key, {})
            cells = ""
            for name in peers:
                if name not in row:
                    cells += f"{'-':>22}"
                else:
                    r = rounds[name]
                    cells += f"{f'{row[name]:.2f} ({min(r):.1f}-{max(r):.1f})':>22}"
            lines.append(f"{label(metric):<40}{cells}")
    lines += [
        "",
        "CPU share during the measurement (1.00 = one core): node A / node B / Redis / "
        "load generator",
        f"{'scenario':<34}" + "".join(f"{LABELS[n]:>27}" for n in servers),
    ]
    for scenario in args.scenarios:
        cells = ""
        for name in servers:
            shares = [median(f"{scenario}_{w}_cpu", name) for w in ("a", "b", "redis", "client")]
            text = " / ".join("-" if s is None else f"{s:.2f}" for s in shares)
            cells += f"{text:>27}"
        lines.append(f"{label(METRICS[scenario][0]):<34}{cells}")
        cells = ""
        for name in servers:
            c = median(f"{scenario}_client_us", name)
            cells += f"{'-' if c is None else f'{c:.1f}':>27}"
        unit = "delivery" if scenario == "fanout" else "ack"
        lines.append(f"{f'  load generator CPU µs per {unit}':<34}{cells}")
    for name in servers:
        if name.startswith("switchboard"):
            lines += targets(results, args, name)
    summary = {
        "command": " ".join([".venv/bin/python", "bench/realtime_redis.py", *sys.argv[1:]]),
        "rounds": args.rounds,
        "duration": args.duration,
        "clients": args.clients,
        "clients_per_node": [on_a, on_b],
        "ack_clients": args.ack_clients,
        "window": args.window,
        "payload_bytes": PAYLOAD_SIZE,
        "versions": found,
        "units": {m.key: m.unit for ms in METRICS.values() for m in ms},
        "results": results,
        "ratios": ratios,
        "ratios_per_round": per_round,
    }
    return lines, summary


def targets(results: dict[str, Any], args: argparse.Namespace, ours: str) -> list[str]:
    """Issue 10's targets, each with the measured value and whether it is met."""

    def med(key: str, name: str) -> float | None:
        found = results.get(key, {}).get(name)
        return found["median"] if found else None

    lines = ["", f"Targets (issue 10), {LABELS[ours]}"]

    def show(text: str, ok: bool) -> None:
        lines.append(f"  {text:<70} {'met' if ok else 'MISSED'}")

    a, b = med("fanout", ours), med("fanout", NODE)
    if a and b:
        show(f">= 1.5x Node socket.io on fan-out deliveries/s: {a / b:.2f}x", a / b >= 1.5)
    a = med("fanout_far_p99", ours)
    others = [(n, med("fanout_far_p99", n)) for n in (NODE, PYTHON) if n in args.servers]
    known = [(n, v) for n, v in others if v is not None]
    if a is not None and known:
        best = min(v for _, v in known)
        show(f"far-node p99 below every peer: {a:.2f} ms vs best {best:.2f} ms", a < best)
    return lines


def all_versions(redis_version: str) -> dict[str, str]:
    """What is measured: bench/realtime.py's list (with the commit and whether src/
    had uncommitted changes), Redis, redis-py and the Node Redis packages."""
    found = versions()
    found["redis-server"] = redis_version
    try:
        found["redis-py"] = version("redis")
    except Exception:
        found["redis-py"] = "?"
    for package in ("@socket.io/redis-adapter", "redis"):
        try:
            meta = json.loads((NODE_DIR / "node_modules" / package / "package.json").read_text())
            found[f"npm {package}"] = meta["version"]
        except Exception:
            found[f"npm {package}"] = "?"
    return found


# --- Command line ------------------------------------------------------------


def available(name: str) -> str | None:
    """Why a stack cannot run here, or None."""
    if name == NODE:
        if shutil.which("node") is None:
            return "no node on PATH"
        for package in ("socket.io", "@socket.io/redis-adapter", "redis"):
            if not (NODE_DIR / "node_modules" / package).is_dir():
                return f"bench/node/node_modules lacks {package} (./dev bench installs it)"
        return None
    check = {
        "switchboard-redis": "import redis.asyncio; from switchboard.realtime import RedisBroker",
        "switchboard-redis-full": "import redis.asyncio; from switchboard.realtime import Hub",
        PYTHON: "import socketio, aiohttp, redis.asyncio",
    }[name]
    found = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    if found.returncode == 0:
        return None
    return f"cannot {check}: install the 'bench' and 'redis' extras"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=SCENARIOS)
    parser.add_argument(
        "--servers",
        nargs="+",
        choices=STACKS,
        help="default: all; any that cannot run here is left out with a note",
    )
    parser.add_argument("--rounds", type=int, help="default 5 (--quick: 1)")
    parser.add_argument("--duration", type=float, help="seconds per measurement (2; --quick: 0.3)")
    parser.add_argument("--warmup", type=float, help="seconds before each one (0.3; --quick: 0.05)")
    parser.add_argument(
        "--clients", type=int, help="room members, split over the nodes (1000; --quick: 100)"
    )
    parser.add_argument(
        "--ack-clients", type=int, help="clients for the ack scenario, split (50; --quick: 10)"
    )
    parser.add_argument(
        "--window",
        type=int,
        default=1,
        help="fan-out emits in flight (default 1: the next emit goes out when every "
        "member on both nodes has the previous one)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 round of 0.3 s, 100 room members, 10 ack clients (explicit "
        "options still win)",
    )
    args = parser.parse_args(argv)
    fill_defaults(args)
    if args.clients < 2 or args.ack_clients < 2:
        parser.error("--clients and --ack-clients need at least one client per node")
    args.settle = 0.05 if args.quick else 0.3
    choose_servers(parser, args, STACKS, available, "no stack can run here")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_fds_and_note_missing(args)
    redis = RedisServer()
    pairs: dict[str, Pair] = {}
    try:
        redis_version = redis.version()
        found = all_versions(redis_version)  # before the servers start: the code they run
        print(
            f"stacks: {', '.join(args.servers)}, two nodes each on redis-server "
            f"{redis_version} (port {redis.port}); load generator: raw sockets, epoll; "
            f"{args.rounds} round(s) x {args.duration} s per measurement",
            file=sys.stderr,
        )
        for name in args.servers:
            pairs[name] = Pair(name, redis.url)
        samples = uvloop.run(run_rounds(args, pairs, redis))
    except BaseException:
        for pair in pairs.values():
            pair.stop()
            for node, server in (("A", pair.a), ("B", pair.b)):
                lines = server.errors.strip().splitlines()
                if lines:  # the last distinct lines of what the server logged
                    tail = list(dict.fromkeys(lines[-200:]))[-12:]
                    print(f"{pair.name} node {node} logged:", *tail, sep="\n  ", file=sys.stderr)
        raise
    finally:
        for pair in pairs.values():
            pair.stop()
        redis.stop()
    lines, summary = summarize(samples, args, found)
    v = summary["versions"]
    on_a, on_b = split(args.clients)
    print(
        f"\nSwitchboard {v['switchboard-ws']} ({v['commit']}, redis-py {v['redis-py']}) vs "
        f"socket.io {v['socket.io']} on Node {v['node']} (@socket.io/redis-adapter "
        f"{v['npm @socket.io/redis-adapter']}, redis {v['npm redis']}), python-socketio "
        f"{v['python-socketio']} on aiohttp {v['aiohttp']} (AsyncRedisManager); Redis "
        f"{v['redis-server']}; Python {v['python']}, uvloop {v['uvloop']}, "
        f"{os.cpu_count()} CPUs\ntwo nodes per stack ({on_a} + {on_b} room members, the "
        f"publisher on node A); median of {args.rounds} round(s) x {args.duration} s "
        f"(± half the min-max spread across rounds); {PAYLOAD_SIZE}-byte JSON data; "
        f"fan-out window {args.window}\n"
    )
    print("\n".join(lines))
    print()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted; servers and Redis stopped")

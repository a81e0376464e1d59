"""Planning poker under load: how many rooms of 10 people voting at once one process
holds with every member's table updated within 100 ms (p99) of a vote.

    .venv/bin/python bench/poker_load.py [--steps 25,50,100,200,400] [--duration 20]

The server is the app as ``switchboard serve poker`` runs it (plain asyncio, SQLite
in WAL mode on a temporary file, the hub's default limits), in its own process.
This process is the load generator: for each step it creates rooms through the HTTP
API (one moderator and nine voters each), connects one WebSocket per person
(``switchboard.v1``, permessage-deflate as browsers do), and makes every room play
rounds without a pause: the moderator starts a round, each of the ten casts a vote
at a random moment of the next ``--round`` seconds (5 s), the moderator reveals,
and the next round starts half a second later. That is 2.4 moves a second per room,
each one a ``poker.state`` to all ten.

A vote's latency is from just before its emit is written to the moment the last of
the room's ten connections has received a ``poker.state`` at least as new as the
one the vote made (its ack's ``v``). Each step is measured for ``--duration``
seconds after a warm-up; steps go up until the p99 passes ``--target`` ms. CPU is
reported for the server and for this process, with the share of time each spent
runnable but waiting for a CPU (Linux schedstat) and the machine's load average,
and so is the worst stall of each one's event loop (how late a 10 ms sleep woke
up), its longest garbage collection and the server's slowest SQLite move: on a
shared machine, a stall with little CPU used is a process waiting for a core.

The last line of output is one JSON object with every step, for machines.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import gc
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import switchboard

SUBPROTOCOL = "switchboard.v1"


class Stalls:
    """How late the event loop wakes up: a 10 ms sleep, over and over. A long
    lateness is a stall (the process was descheduled, or something blocked it)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_gc = 0.0
        self._gc_start = 0.0
        gc.callbacks.append(self._gc)
        self.task = asyncio.ensure_future(self.watch())

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.worst_gc = max(self.worst_gc, time.perf_counter() - self._gc_start)

    async def watch(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - start - 0.01)

    def take(self) -> float:
        """The worst lateness since the last call, in ms."""
        worst, self.worst = self.worst, 0.0
        return round(worst * 1000, 1)

    def take_gc(self) -> float:
        """The longest garbage collection since the last call, in ms."""
        worst, self.worst_gc = self.worst_gc, 0.0
        return round(worst * 1000, 1)


class Moves:
    """The slowest of the server's SQLite transactions (a move: load, check, save)."""

    def __init__(self, app: Any) -> None:
        self.worst = 0.0
        table = app.store.table

        @contextlib.contextmanager
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            start = time.perf_counter()
            with table(*args, **kwargs) as loaded:
                yield loaded
            self.worst = max(self.worst, time.perf_counter() - start)

        app.store.table = timed

    def take(self) -> float:
        worst, self.worst = self.worst, 0.0
        return round(worst * 1000, 1)


def waiting_seconds(pid: int) -> float:
    """Time a process spent runnable but waiting for a CPU (Linux schedstat)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the server process -----------------------------------------------------------------


def serve(db_path: str) -> None:
    """``--serve DB``: the app on 127.0.0.1:0; prints the port, runs until killed."""
    from switchboard.apps.poker import PokerApp

    async def main() -> None:
        app = PokerApp(
            db_path=db_path,
            # The generator is one address: lift the per-address limits on creating
            # rooms and joining them (the hub's per-session limits stay).
            create_limit=(10**9, 1.0),
            probe_limit=(10**9, 1.0),
        )
        moves = Moves(app)
        async with switchboard.serve(app.router, "127.0.0.1", 0, max_connections=None) as server:
            print(server.port, flush=True)
            stalls = Stalls()
            while True:  # the worst stall of each second, for the generator to read
                await asyncio.sleep(1.0)
                print(f"stall {stalls.take()} {stalls.take_gc()} {moves.take()}", flush=True)

    asyncio.run(main())


# -- the load generator -----------------------------------------------------------------


class Conn:
    """One person's WebSocket: emits with acks, and when each state version arrived."""

    def __init__(self, ws: switchboard.WebSocket) -> None:
        self.ws = ws
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.next_id = 0
        self.versions: list[int] = []  # of the states received, in order
        self.times: list[float] = []  # when each arrived
        self.joined = asyncio.Event()
        self.reader = asyncio.ensure_future(self.read())

    async def read(self) -> None:
        try:
            async for text in self.ws:
                now = time.perf_counter()
                message = json.loads(text)
                kind = message["t"]
                if kind == "event":
                    if message["event"] == "poker.state":
                        self.versions.append(message["data"]["v"])
                        self.times.append(now)
                elif kind == "ack":
                    future = self.pending.pop(message["id"], None)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif kind == "ping":
                    await self.ws.send('{"t":"pong"}')
                elif kind == "joined":
                    self.joined.set()
        except switchboard.ConnectionClosed:
            pass
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("closed"))

    async def emit(self, event: str, data: Any = None) -> tuple[float, dict[str, Any]]:
        """Send an emit; return when it was sent and its ack."""
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        frame = json.dumps({"t": "emit", "event": event, "data": data, "id": self.next_id})
        sent = time.perf_counter()
        await self.ws.send(frame)
        return sent, await asyncio.wait_for(future, 30)

    def first_at_least(self, version: int) -> float | None:
        """When the first state at least as new as ``version`` arrived."""
        i = bisect.bisect_left(self.versions, version)
        return self.times[i] if i < len(self.times) else None


@dataclass
class Room:
    code: str
    conns: list[Conn]
    samples: list[tuple[float, int]] = field(default_factory=list)  # (sent, version)
    errors: int = 0
    task: asyncio.Future[None] | None = None

    def latencies(self, start: float, end: float) -> list[float]:
        """Vote-to-everyone-updated latencies of the votes sent in [start, end)."""
        found = []
        for sent, version in self.samples:
            if not start <= sent < end:
                continue
            arrivals = [conn.first_at_least(version) for conn in self.conns]
            if all(t is not None for t in arrivals):
                found.append(max(t for t in arrivals if t is not None) - sent)
        return found


def post(port: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if response.status != 201:
            raise RuntimeError(f"POST {path}: {response.status} {data[:200]!r}")
        answer: dict[str, Any] = json.loads(data)
        return answer
    finally:
        conn.close()


async def open_room(port: int, people: int, deflate: bool) -> Room:
    created = await asyncio.to_thread(
        post, port, "/api/rooms", {"name": "Mod", "deck": {"kind": "fibonacci", "range": [0, 9]}}
    )
    code = created["code"]
    tokens = [created["token"]]
    for n in range(1, people):
        seat = await asyncio.to_thread(post, port, f"/api/rooms/{code}/seats", {"name": f"P{n}"})
        tokens.append(seat["token"])
    conns = []
    for token in tokens:
        ws = await switchboard.connect(
            f"ws://127.0.0.1:{port}/rt",
            subprotocols=[SUBPROTOCOL],
            **({} if deflate else {"compression": None}),
        )
        await ws.send(json.dumps({"t": "hello", "v": 1, "auth": {"room": code, "seat": token}}))
        conns.append(Conn(ws))
    for conn in conns:
        await asyncio.wait_for(conn.joined.wait(), 30)
    return Room(code, conns)


async def play(room: Room, round_time: float) -> None:
    """Rounds without end: start, ten votes at random moments, reveal."""
    moderator = room.conns[0]
    cards = ["0.5", "1", "2", "3", "5", "8", "13", "21", "34", "55"]
    await asyncio.sleep(random.random() * round_time)  # rooms out of step
    while True:
        _, ack = await moderator.emit("poker.start")
        if "error" in ack:
            room.errors += 1
            await asyncio.sleep(1)
            continue
        number = ack["data"]["round"]

        async def vote(conn: Conn, number: int = number) -> None:
            await asyncio.sleep(random.random() * round_time)
            sent, answer = await conn.emit(
                "poker.vote", {"round": number, "card": random.choice(cards)}
            )
            if "error" in answer:
                room.errors += 1
            else:
                room.samples.append((sent, answer["data"]["v"]))

        await asyncio.gather(*(vote(conn) for conn in room.conns))
        await moderator.emit("poker.reveal")
        await asyncio.sleep(0.5)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix="poker-bench-")
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(Path(folder) / "poker.sqlite3")],
        stdout=subprocess.PIPE,
        text=True,
    )
    steps: list[dict[str, Any]] = []
    rooms: list[Room] = []
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        server_stalls: list[float] = []
        server_gcs: list[float] = []
        server_moves: list[float] = []

        def read_stalls() -> None:
            assert server.stdout is not None
            for line in server.stdout:
                if line.startswith("stall "):
                    server_stalls.append(float(line.split()[1]))
                    server_gcs.append(float(line.split()[2]))
                    server_moves.append(float(line.split()[3]))

        reading = asyncio.get_running_loop().run_in_executor(None, read_stalls)
        stalls = Stalls()
        for target in args.steps:
            while len(rooms) < target:
                room = await open_room(port, args.people, args.deflate)
                room.task = asyncio.ensure_future(play(room, args.round))
                rooms.append(room)
            await asyncio.sleep(args.warmup)
            gc.collect()
            gc.disable()  # the generator's own collections would count as latency
            stalls.take()
            stalls.take_gc()
            server_stalls.clear()
            server_gcs.clear()
            server_moves.clear()
            start, cpu_server, cpu_self = (
                time.perf_counter(),
                cpu_seconds(server.pid),
                time.process_time(),
            )
            wait_server, wait_self = waiting_seconds(server.pid), waiting_seconds(os.getpid())
            await asyncio.sleep(args.duration)
            end = time.perf_counter()
            gc.enable()
            generator_stall, generator_gc = stalls.take(), stalls.take_gc()
            server_move = max(server_moves, default=0.0)
            server_stall = max(server_stalls, default=0.0)
            server_gc = max(server_gcs, default=0.0)
            server_wait = (waiting_seconds(server.pid) - wait_server) / (end - start)
            self_wait = (waiting_seconds(os.getpid()) - wait_self) / (end - start)
            server_cpu = (cpu_seconds(server.pid) - cpu_server) / (end - start)
            self_cpu = (time.process_time() - cpu_self) / (end - start)
            await asyncio.sleep(1.0)  # the last votes' states arrive
            latencies = [ms * 1000 for room in rooms for ms in room.latencies(start, end)]
            step = {
                "rooms": len(rooms),
                "connections": len(rooms) * args.people,
                "votes": len(latencies),
                "votes_per_s": round(len(latencies) / (end - start), 1),
                "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
                "p99_ms": round(percentile(latencies, 99), 2) if latencies else None,
                "max_ms": round(max(latencies), 2) if latencies else None,
                "errors": sum(room.errors for room in rooms),
                "server_cpu": round(server_cpu, 2),
                "generator_cpu": round(self_cpu, 2),
                "server_worst_stall_ms": server_stall,
                "generator_worst_stall_ms": generator_stall,
                "server_waiting_for_cpu": round(server_wait, 3),
                "generator_waiting_for_cpu": round(self_wait, 3),
                "load_average": os.getloadavg()[0],
                "server_worst_gc_ms": server_gc,
                "server_worst_move_ms": server_move,
                "generator_worst_gc_ms": generator_gc,
            }
            steps.append(step)
            print(
                f"{step['rooms']:>5} rooms {step['connections']:>6} connections "
                f"{step['votes_per_s']:>7} votes/s  p50 {step['p50_ms']:>7} ms  "
                f"p99 {step['p99_ms']:>7} ms  max {step['max_ms']:>7} ms  "
                f"CPU server {step['server_cpu']:.0%} generator {step['generator_cpu']:.0%}  "
                f"waiting for a CPU server {server_wait:.1%} generator {self_wait:.1%}  "
                f"load {step['load_average']:.1f}  "
                f"worst stall (GC, move) server {server_stall:g} ({server_gc:g}, "
                f"{server_move:g}) ms "
                f"generator {generator_stall:g} ({generator_gc:g}) ms  "
                f"errors {step['errors']}",
                flush=True,
            )
            if step["p99_ms"] is None or step["p99_ms"] > args.target:
                break
    finally:
        for room in rooms:
            if room.task is not None:
                room.task.cancel()
        server.kill()  # our own child, by PID
        server.wait()
        if "reading" in locals():
            await reading
        shutil.rmtree(folder, ignore_errors=True)
    held = [s["rooms"] for s in steps if s["p99_ms"] is not None and s["p99_ms"] <= args.target]
    return {
        "target_p99_ms": args.target,
        "rooms_held": max(held) if held else 0,
        "people_per_room": args.people,
        "round_s": args.round,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "steps": steps,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument(
        "--steps",
        default="25,50,100,200,300,400,600",
        type=lambda text: [int(n) for n in text.split(",")],
        help="active rooms at each step (default: 25,50,100,200,300,400,600)",
    )
    parser.add_argument("--people", type=int, default=10, help="people per room (10)")
    parser.add_argument("--round", type=float, default=5.0, help="seconds of voting (5)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per step (20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before each (5)")
    parser.add_argument("--target", type=float, default=100.0, help="p99 target in ms (100)")
    parser.add_argument(
        "--no-deflate", dest="deflate", action="store_false", help="no permessage-deflate"
    )
    parser.add_argument("--quick", action="store_true", help="two short steps (a smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.duration, args.warmup = [2, 4], 3.0, 1.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    result = asyncio.run(run(args))
    print(
        f"held {result['rooms_held']} rooms of {args.people} with p99 under {args.target:g} ms",
        flush=True,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fragment floods: a legal 1 MiB message sent as 1,048,576 one-byte fragments.

    .venv/bin/python bench/fragments.py [--rounds N] [--attackers N] [--servers ...]

Each measurement starts a fresh echo server in its own process (the servers of
bench/servers.py, but with each library's default limits), then, from this process:
one or more attacker connections write the flood (7 MB on the wire: 2 bytes of
header, a 4-byte mask and 1 byte of payload per frame) and wait for the echo or a
close frame, while a normal client on another connection does 32-byte echo round
trips, one in flight. Reported per server (median across rounds, which are
interleaved: each round measures every server, in a rotated order):

* the outcome: the echo came back, or the close code and reason, and when;
* the server's RSS (VmRSS) before the flood, its peak (VmHWM: the process is
  fresh, so its lifetime peak is the flood's) and after (1 s after the end);
* the server's CPU seconds (utime + stime) from the flood's start to its end;
* the normal client's round trips meanwhile: p50, p99, max, count.

``switchboard`` runs with ``Limits()`` as they come; ``switchboard-unlimited`` with
``Limits(max_fragments=None)``, the fragment limit lifted, which shows what
coalescing fragments costs. The last line of output is one JSON object with every
sample. Also a server: ``fragments.py --serve NAME LOOP`` (run by this script).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import servers as bench_servers
from run import MASK, Client, ServerProcess, connect, cpu_seconds, frame, versions

NAMES = ["switchboard", "switchboard-unlimited", "websockets", "aiohttp"]
SIZE = 1 << 20  # the message: 1 MiB, one byte per fragment (--fragments changes it)
PAYLOAD = bytes(range(256)) * (SIZE // 256)
SMALL = b"x" * 32
MIB = 1 << 20


# --- Servers (run as ``fragments.py --serve NAME LOOP``) ------------------------


async def _echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


def switchboard_server(limits: Any) -> Any:
    async def start(mode: str) -> int:
        import switchboard

        server = await switchboard.serve(
            _echo, bench_servers.HOST, 0, compression=None, limits=limits, backlog=2048
        )
        return server.port

    return start


async def websockets_server(mode: str) -> int:
    from websockets.asyncio.server import serve

    server = await serve(_echo, bench_servers.HOST, 0, compression=None, backlog=2048)
    return int(server.sockets[0].getsockname()[1])


async def aiohttp_server(mode: str) -> int:
    return await bench_servers.aiohttp_echo_server(compress=False)  # default max_msg_size: 4 MiB


def serve(name: str, loop: str) -> None:
    import switchboard

    bench_servers.SERVERS.update(
        {
            "switchboard": switchboard_server(switchboard.Limits()),
            "switchboard-unlimited": switchboard_server(switchboard.Limits(max_fragments=None)),
            "websockets": websockets_server,
            "aiohttp": aiohttp_server,
        }
    )
    bench_servers.run(name, "echo", loop)


class FragmentServer(ServerProcess):
    """A server of this file, in its own process, stopped like bench/run.py's."""

    def __init__(self, name: str, loop: str) -> None:
        self.name = name
        self.mode = "echo"
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.errors = ""
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", name, loop],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            start_new_session=True,
        )
        self.port = self._read_port()


# --- Measuring -----------------------------------------------------------------


def flood(size: int) -> bytes:
    """``PAYLOAD[:size]`` as a binary message of one-byte masked fragments."""
    n = size
    wire = bytearray(7 * n)
    wire[0::7] = b"\x00" * n  # continuation frames without FIN ...
    wire[0] = 0x02  # ... after a first binary frame
    wire[7 * (n - 1)] = 0x80  # and a last one with FIN
    wire[1::7] = b"\x81" * n  # masked, 1 byte of payload
    for i in range(4):
        wire[2 + i :: 7] = MASK[i : i + 1] * n
    wire[6::7] = PAYLOAD[:size].translate(bytes(b ^ MASK[0] for b in range(256)))
    return bytes(wire)


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MiB."""
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    return found


def frames_in(buf: bytearray) -> list[tuple[int, bytes]]:
    """Take the complete (unmasked) frames at the start of ``buf``: (opcode, payload)."""
    frames = []
    pos = 0
    while len(buf) - pos >= 2:
        length, p = buf[pos + 1] & 0x7F, pos + 2
        if length >= 126:
            size = 2 if length == 126 else 8
            if len(buf) - p < size:
                break
            length, p = int.from_bytes(buf[p : p + size], "big"), p + size
        if len(buf) - p < length:
            break
        frames.append((buf[pos] & 0x0F, bytes(buf[p : p + length])))
        pos = p + length
    del buf[:pos]
    return frames


class Peer:
    """What a client needs beyond bench/run.py's Client: frames parsed, pings answered
    (as a real client would: without it, keepalive closes slow measurements)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.buf = bytearray()
        self.on_frame: Callable[[int, bytes], None] = lambda opcode, payload: None
        client.on_data = self._on_data

    def _on_data(self, data: bytes) -> None:
        self.buf += data
        for opcode, payload in frames_in(self.buf):
            if opcode == 0x9:
                self.client.transport.write(frame(0xA, payload, masked=True))
            elif opcode != 0xA:
                self.on_frame(opcode, payload)


async def attack(port: int, wire: bytes, size: int) -> tuple[str, float]:
    """Write the flood; return the outcome ("echo", "close CODE 'REASON'" or
    "dropped") and the seconds until it was known."""
    peer = Peer(await connect(port))
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_frame(opcode: int, payload: bytes) -> None:
        if done.done():
            return
        if opcode == 0x8:
            code = int.from_bytes(payload[:2], "big") if payload else 1005
            done.set_result(f"close {code} {payload[2:].decode(errors='replace')!r}")
            peer.client.transport.abort()  # stop sending the rest
        else:
            ok = opcode == 0x2 and payload == PAYLOAD[:size]
            done.set_result("echo" if ok else f"wrong echo (opcode {opcode}, {len(payload)} B)")

    peer.on_frame = on_frame
    peer.client.closed.add_done_callback(
        lambda _: done.done() or done.set_result("dropped without a close frame")
    )
    start = time.perf_counter()
    peer.client.transport.write(wire)
    outcome = await asyncio.wait_for(done, 600)
    seconds = time.perf_counter() - start
    peer.client.transport.abort()
    return outcome, seconds


async def round_trips(port: int, stop: asyncio.Event) -> list[tuple[float, float]]:
    """32-byte text echoes, one in flight, until ``stop``: (start, round trip in ms)."""
    peer = Peer(await connect(port))
    out = frame(0x1, SMALL, masked=True)
    loop = asyncio.get_running_loop()

    def on_frame(opcode: int, payload: bytes) -> None:
        waiter = peer.client.waiter
        if waiter is not None and not waiter.done():
            if opcode == 0x1 and payload == SMALL:
                waiter.set_result(None)
            else:
                waiter.set_exception(AssertionError(f"unexpected frame {opcode}: {payload!r}"))

    peer.on_frame = on_frame
    latencies: list[tuple[float, float]] = []
    try:
        while not stop.is_set():
            waiter = peer.client.waiter = loop.create_future()  # failed if the connection drops
            t0 = time.perf_counter()
            peer.client.transport.write(out)
            await asyncio.wait_for(waiter, 600)
            latencies.append((t0, (time.perf_counter() - t0) * 1000))
    finally:
        peer.client.transport.abort()
    return latencies


async def measure(server: FragmentServer, wire: bytes, size: int, attackers: int) -> dict[str, Any]:
    pid = server.proc.pid
    stop = asyncio.Event()
    warm = asyncio.create_task(round_trips(server.port, stop))  # connection set up, warm
    await asyncio.sleep(0.3)
    before, cpu = memory(pid)["VmRSS"], cpu_seconds(pid)
    start = time.perf_counter()
    results = await asyncio.gather(*(attack(server.port, wire, size) for _ in range(attackers)))
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu
    stop.set()
    # Only the round trips that started during the flood count.
    during = sorted(ms for t0, ms in await warm if start <= t0 <= start + elapsed)
    await asyncio.sleep(1.0)
    mem = memory(pid)
    server.check_alive()
    nan = float("nan")
    return {
        "outcome": sorted({o for o, _ in results}),
        "seconds": max(s for _, s in results),
        "rss_before": before,
        "rss_peak": mem["VmHWM"],
        "rss_after": mem["VmRSS"],
        "cpu": cpu,
        "rtt_p50": during[len(during) // 2] if during else nan,
        "rtt_p99": during[min(len(during) - 1, len(during) * 99 // 100)] if during else nan,
        "rtt_max": during[-1] if during else nan,
        "rtt_count": len(during),
    }


async def run_rounds(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    wire = flood(args.fragments)
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in args.servers}
    for r in range(args.rounds):
        order = args.servers[r % len(args.servers) :] + args.servers[: r % len(args.servers)]
        for name in order:
            server = FragmentServer(name, args.loop)
            try:
                result = await measure(server, wire, args.fragments, args.attackers)
            finally:
                server.stop()
            samples[name].append(result)
            print(
                f"  round {r + 1}/{args.rounds}  {name:<22} {', '.join(result['outcome'])} "
                f"in {result['seconds']:.2f} s; RSS {result['rss_before']:.0f} -> "
                f"{result['rss_peak']:.0f} -> {result['rss_after']:.0f} MiB; "
                f"CPU {result['cpu']:.2f} s; RTT p50 {result['rtt_p50']:.1f} ms, "
                f"p99 {result['rtt_p99']:.1f} ms",
                file=sys.stderr,
            )
    return samples


ROWS = [
    ("seconds", "until echo or close (s)", "{:.2f}"),
    ("rss_before", "server RSS before (MiB)", "{:.0f}"),
    ("rss_peak", "server RSS peak (MiB)", "{:.0f}"),
    ("rss_after", "server RSS after (MiB)", "{:.0f}"),
    ("cpu", "server CPU (s)", "{:.2f}"),
    ("rtt_p50", "other client RTT p50 (ms)", "{:.1f}"),
    ("rtt_p99", "other client RTT p99 (ms)", "{:.1f}"),
    ("rtt_max", "other client RTT max (ms)", "{:.1f}"),
    ("rtt_count", "other client round trips", "{:.0f}"),
]


def table(samples: dict[str, list[dict[str, Any]]]) -> list[str]:
    names = list(samples)
    width = max(24, *(len(n) + 2 for n in names))
    lines = [f"{'':<28}" + "".join(f"{n:>{width}}" for n in names)]
    outcomes = {n: sorted({o for s in samples[n] for o in s["outcome"]}) for n in names}
    short = {n: ", ".join(" ".join(o.split()[:2]) for o in outcomes[n]) for n in names}
    lines.append(f"{'outcome':<28}" + "".join(f"{short[n]:>{width}}" for n in names))
    for key, label, fmt in ROWS:
        cells = "".join(
            f"{fmt.format(statistics.median(s[key] for s in samples[n])):>{width}}" for n in names
        )
        lines.append(f"{label:<28}{cells}")
    lines.append("")
    lines += [f"{n}: {'; '.join(outcomes[n])}" for n in names]
    return lines


def main() -> int:
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], sys.argv[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", nargs="+", choices=NAMES, default=NAMES)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--attackers", type=int, default=1, help="connections flooding at once")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument(
        "--fragments", type=int, default=SIZE, help="one byte each (default: 1 MiB of them)"
    )
    args = parser.parse_args()
    bench_servers.raise_fd_limit()
    import uvloop

    print(
        f"{args.attackers} attacker(s) x a message of {args.fragments:,} one-byte fragments, "
        f"{args.rounds} round(s); servers on {args.loop}, client on uvloop",
        file=sys.stderr,
    )
    samples = uvloop.run(run_rounds(args))
    v = versions()
    print(
        f"\nSwitchboard {v['switchboard-ws']}, websockets {v['websockets']}, aiohttp "
        f"{v['aiohttp']}; Python {v['python']}, servers on {args.loop}, {os.cpu_count()} CPUs\n"
        f"{args.attackers} attacker(s), each a {args.fragments:,}-byte message in one-byte "
        f"fragments ({7 * args.fragments:,} bytes on the wire); median of {args.rounds} "
        "round(s)\n"
    )
    print("\n".join(table(samples)))
    print()
    command = " ".join([".venv/bin/python", "bench/fragments.py", *sys.argv[1:]])
    print(json.dumps({"command": command, "versions": v, "samples": samples}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

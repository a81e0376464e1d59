"""Socket.IO clients against the hub's Socket.IO endpoint, Node's socket.io and
python-socketio, in one interleaved run.

    .venv/bin/python bench/realtime_socketio.py [--quick] [--rounds N] [--clients 1000] ...

The same two scenarios as bench/realtime.py (whose load generator, servers and
measurements this reuses): fan-out of a ~200-byte event to CLIENTS members of one
room, and emit-with-ack round trips by ACK_CLIENTS clients. Every client speaks
Socket.IO v5 over Engine.IO v4's WebSocket transport, so the servers differ only
in what serves them:

* ``hub-socketio``: Switchboard's hub, the bench app of bench/realtime_servers.py
  (rooms without history or presence, no rate limit), with
  ``router.mount("/socket.io", SocketIO(hub))``;
* ``hub-native``: the same hub to native ``switchboard.v1`` clients (the
  reference: what the Socket.IO wire costs);
* ``socketio-node`` and ``socketio-aiohttp``: Node's socket.io 4 and
  python-socketio on aiohttp.

Ratios are hub-socketio / peer, of the medians, with each round's ratio range.
The last line of output is one JSON object with every sample.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import uvloop

from realtime import (
    ServerProcess,
    available,
    check_fds_and_note_missing,
    choose_servers,
    fill_defaults,
    measure_ack,
    measure_fanout,
    rotated,
    server_command,
    versions,
)

SERVERS = ["hub-socketio", "hub-native", "socketio-node", "socketio-aiohttp"]
# What bench/realtime.py calls them (its load generator picks the wire by name).
PEER_NAMES = {"hub-native": "switchboard", "socketio-node": "socketio-node"}
OURS = "hub-socketio"
METRICS = [  # key, label, unit, higher is better
    ("fanout", "fan-out ~200 B to {clients}", "deliveries/s", True),
    ("fanout_p50", "  emit -> receipt p50", "ms", False),
    ("fanout_p99", "  emit -> receipt p99", "ms", False),
    ("fanout_server_us", "  server CPU per delivery", "µs", False),
    ("ack", "emit + ack, {ack_clients} clients x 1", "acks/s", True),
    ("ack_p50", "  round trip p50", "ms", False),
    ("ack_p99", "  round trip p99", "ms", False),
    ("ack_server_us", "  server CPU per ack", "µs", False),
]


def serve() -> None:
    """The hub-socketio server (``--serve``): bench/realtime_servers.py's hub app,
    with its Socket.IO endpoint."""
    from realtime_servers import BACKLOG, HOST, switchboard_router
    from servers import raise_fd_limit, serve_until_stopped

    import switchboard
    from switchboard.realtime import Hub
    from switchboard.realtime.socketio import SocketIO

    async def start() -> int:
        router = switchboard_router()
        # The router's hub: its start() is the router's startup hook.
        hub = next(h.__self__ for h in router.startup_hooks if isinstance(h.__self__, Hub))
        router.mount("/socket.io", SocketIO(hub))
        server = await switchboard.serve(router, HOST, 0, compression=None, backlog=BACKLOG)
        return int(server.port)

    raise_fd_limit()
    uvloop.run(serve_until_stopped(start))


def start_server(name: str) -> ServerProcess:
    if name == OURS:
        command = [sys.executable, str(Path(__file__).resolve()), "--serve"]
        # The load generator speaks Socket.IO to any name that is not switchboard*.
        return ServerProcess(OURS, command=command)
    peer = PEER_NAMES.get(name, name)
    server = ServerProcess(peer, command=server_command(peer))
    return server


async def run_rounds(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    samples: dict[str, dict[str, list[float]]] = {}
    servers = {name: start_server(name) for name in args.servers}
    try:
        for r in range(args.rounds):
            for measure in (measure_fanout, measure_ack):
                for name in rotated(args.servers, r):
                    began = time.perf_counter()
                    result = await measure(servers[name], args)
                    servers[name].check_alive()
                    for key, value in result.items():
                        samples.setdefault(key, {}).setdefault(name, []).append(value)
                    shown = ", ".join(f"{k} {v:,.2f}" for k, v in result.items())
                    took = time.perf_counter() - began
                    print(f"  round {r + 1}/{args.rounds}  {name:<17} {shown} ({took:.1f} s)")
                    await asyncio.sleep(args.settle)
    finally:
        for server in servers.values():
            server.stop()
    return samples


def report(samples: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> list[str]:
    names = args.servers
    peers = [n for n in names if n != OURS]
    lines = [f"{'scenario':<34} {'unit':<13}" + "".join(f"{n:>18}" for n in names)]
    for key, label, unit, _ in METRICS:
        cells = ""
        for name in names:
            values = samples.get(key, {}).get(name)
            cells += f"{statistics.median(values):>18,.2f}" if values else f"{'-':>18}"
        text = label.format(clients=f"{args.clients:,}", ack_clients=args.ack_clients)
        lines.append(f"{text:<34} {unit:<13}{cells}")
    if OURS in names and peers:
        lines += ["", f"{OURS} / peer (> 1: better; for latency and CPU, peer / {OURS}):"]
        lines.append(f"{'scenario':<34}" + "".join(f"{'vs ' + n:>26}" for n in peers))
        for key, label, _, higher in METRICS:
            ours = samples.get(key, {}).get(OURS)
            cells = ""
            for name in peers:
                theirs = samples.get(key, {}).get(name)
                if not ours or not theirs or not all(ours) or not all(theirs):
                    cells += f"{'-':>26}"
                    continue
                a, b = statistics.median(ours), statistics.median(theirs)
                rounds = [x / y if higher else y / x for x, y in zip(ours, theirs, strict=True)]
                ratio = a / b if higher else b / a
                cells += f"{f'{ratio:.2f} ({min(rounds):.2f}-{max(rounds):.2f})':>26}"
            text = label.format(clients=f"{args.clients:,}", ack_clients=args.ack_clients)
            lines.append(f"{text:<34}{cells}")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", nargs="+", choices=SERVERS)
    parser.add_argument("--rounds", type=int, default=None, help="default 5 (--quick: 1)")
    parser.add_argument("--duration", type=float, default=None, help="seconds (2; 0.3)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds (0.3; 0.05)")
    parser.add_argument("--clients", type=int, default=None, help="room members (1000; 100)")
    parser.add_argument("--ack-clients", type=int, default=None, help="ack clients (50; 10)")
    parser.add_argument("--window", type=int, default=1, help="fan-out emits in flight")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args(argv)
    fill_defaults(args)
    args.settle = 0.05 if args.quick else 0.3

    def why_not(name: str) -> str | None:
        return None if name == OURS else available(PEER_NAMES.get(name, name))

    choose_servers(parser, args, SERVERS, why_not, "no server can run here")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_fds_and_note_missing(args)
    print(f"servers: {', '.join(args.servers)}; {args.rounds} round(s) x {args.duration} s")
    samples = uvloop.run(run_rounds(args))
    v = versions()
    print(
        f"\nSwitchboard {v['switchboard-ws']} ({v['commit']}), socket.io {v['socket.io']} "
        f"on Node {v['node']}, python-socketio {v['python-socketio']}; Python {v['python']}"
    )
    print("\n".join(report(samples, args)))
    command = " ".join([".venv/bin/python", "bench/realtime_socketio.py", *sys.argv[1:]])
    print(json.dumps({"command": command, "versions": v, "samples": samples}))
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        sys.exit(main())

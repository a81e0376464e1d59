"""ASGI both ways: the same FastAPI app on uvicorn and on Switchboard, and the same hub
on Switchboard's own server and under uvicorn.

    .venv/bin/python bench/asgi.py [--quick] [--rounds N] [--duration S] ...

Scenarios, each measured on every server in one interleaved run (the server order
rotates every round), medians over the rounds:

* http: ``GET /api/items/{n}`` of a FastAPI app (a path parameter, a ~100-byte JSON
  answer) under load from ``wrk`` (Debian's; ``--connections`` keep-alive
  connections, one thread): requests/s. Servers: ``fastapi-uvicorn`` (uvicorn with
  httptools) and ``fastapi-switchboard`` (``serve(router, asgi=app)``, the request
  going through an empty router first); ``native`` is the same route as a
  Switchboard handler, for reference.
* fanout and ack: bench/realtime.py's load generator and app (its scenarios,
  imported) on ``switchboard`` (the hub on Switchboard's server) and
  ``switchboard-uvicorn`` (the same hub, ``router.asgi()``, under uvicorn with
  the websockets library): deliveries/s and acks/s.

Every server runs in its own process on uvloop (``python bench/asgi.py serve NAME``
prints ``PORT <n>``). Ratios are "Switchboard-side / uvicorn-side" for http, and
"under uvicorn / native" for the hub. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
HTTP_SERVERS = ["fastapi-uvicorn", "fastapi-switchboard", "native"]
HUB_SERVERS = ["switchboard", "switchboard-uvicorn"]
PATH = "/api/items/42"


# --- Servers (in their own processes) ---------------------------------------


def fastapi_app() -> Any:
    from fastapi import FastAPI

    api = FastAPI()

    @api.get("/api/items/{n}")
    async def item(n: int) -> dict[str, Any]:
        return {"id": n, "name": f"item {n}", "tags": ["bench", "asgi"], "price": 12.5}

    return api


def native_router() -> Any:
    import switchboard

    router = switchboard.Router()

    @router.get("/api/items/{n}")
    async def item(request: switchboard.Request) -> dict[str, Any]:
        n = int(request.path_params["n"])
        return {"id": n, "name": f"item {n}", "tags": ["bench", "asgi"], "price": 12.5}

    return router


async def on_uvicorn(app: Any, **options: Any) -> int:
    import uvicorn
    from realtime_servers import _uvicorn, listening_socket

    config = uvicorn.Config(
        app,
        loop="none",  # already on uvloop
        http="httptools",
        log_level="warning",
        access_log=False,
        **options,
    )
    server = uvicorn.Server(config)
    sock = listening_socket()
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    _uvicorn.extend([server, task])
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return int(sock.getsockname()[1])


async def start(name: str) -> int:
    from realtime_servers import BACKLOG, switchboard_router

    import switchboard

    if name == "fastapi-uvicorn":
        return await on_uvicorn(fastapi_app(), lifespan="on", backlog=BACKLOG)
    if name == "switchboard-uvicorn":
        app = switchboard_router().asgi()
        return await on_uvicorn(app, ws_per_message_deflate=False, backlog=BACKLOG)
    if name == "fastapi-switchboard":
        router, asgi = switchboard.Router(), fastapi_app()
    elif name == "native":
        router, asgi = native_router(), None
    else:
        raise SystemExit(f"unknown server {name!r}")
    server = await switchboard.serve(router, HOST, 0, asgi=asgi, backlog=BACKLOG)
    return int(server.port)


def serve(name: str) -> None:
    import uvloop
    from servers import raise_fd_limit, serve_until_stopped

    raise_fd_limit()
    uvloop.run(serve_until_stopped(lambda: start(name)))


# --- Measurements ------------------------------------------------------------


def wrk(port: int, args: argparse.Namespace) -> tuple[float, int]:
    """Requests/s and requests that wrk measured on ``PATH``."""
    seconds = max(1, round(args.duration))
    result = subprocess.run(
        ["wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s", f"http://{HOST}:{port}{PATH}"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    rate = re.search(r"Requests/sec:\s*([\d.]+)", result.stdout)
    count = re.search(r"(\d+) requests in", result.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", result.stdout)
    if result.returncode or rate is None or count is None or errors is not None:
        raise RuntimeError(f"wrk failed on port {port}:\n{result.stdout}{result.stderr}")
    return float(rate[1]), int(count[1])


async def measure(scenario: str, server: Any, args: argparse.Namespace) -> tuple[float, float]:
    """The scenario's rate on ``server``, and the server's CPU microseconds per
    operation (which holds better than the rate when other jobs share the machine)."""
    from run import cpu_seconds

    import realtime

    if scenario == "http":
        before = cpu_seconds(server.pid)
        loop = asyncio.get_running_loop()
        rate, count = await loop.run_in_executor(None, wrk, server.port, args)
        return rate, (cpu_seconds(server.pid) - before) / count * 1e6
    measure_hub = realtime.measure_fanout if scenario == "fanout" else realtime.measure_ack
    result = await measure_hub(server, args)
    return result[scenario], result[f"{scenario}_server_us"]


async def run_rounds(args: argparse.Namespace, servers: dict[str, Any]) -> dict[str, Any]:
    from run import rotated

    samples: dict[str, dict[str, list[float]]] = {}
    for r in range(args.rounds):
        for scenario in args.scenarios:
            names = HTTP_SERVERS if scenario == "http" else HUB_SERVERS
            for name in rotated(names, r):
                rate, cost = await measure(scenario, servers[name], args)
                servers[name].check_alive()
                samples.setdefault(scenario, {}).setdefault(name, []).append(rate)
                samples.setdefault(f"{scenario}_us", {}).setdefault(name, []).append(cost)
                print(
                    f"  round {r + 1}/{args.rounds}  {scenario:<6} {name:<20} {rate:>9,.0f}/s"
                    f"  server {cost:,.1f} us CPU each",
                    file=sys.stderr,
                )
                await asyncio.sleep(args.settle)
    return samples


RATIOS = {  # scenario: (numerator, denominator, what the ratio says)
    "http": ("fastapi-switchboard", "fastapi-uvicorn", "FastAPI on Switchboard / on uvicorn"),
    "fanout": ("switchboard-uvicorn", "switchboard", "hub under uvicorn / native"),
    "ack": ("switchboard-uvicorn", "switchboard", "hub under uvicorn / native"),
}
UNITS = {
    "http": "requests/s",
    "fanout": "deliveries/s",
    "ack": "acks/s",
    "http_us": "server CPU us per request",
    "fanout_us": "server CPU us per delivery",
    "ack_us": "server CPU us per ack",
}


def summarize(samples: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    lines, summary = [], {"samples": samples, "medians": {}, "ratios": {}}
    for metric, by_server in samples.items():
        medians = {name: statistics.median(values) for name, values in by_server.items()}
        summary["medians"][metric] = medians
        lines.append(f"{metric} ({UNITS[metric]}):")
        for name, median in medians.items():
            lines.append(f"  {name:<22} {median:>12,.1f}")
        top, bottom, what = RATIOS[metric.removesuffix("_us")]
        ratios = [a / b for a, b in zip(by_server[top], by_server[bottom], strict=True)]
        ratio = medians[top] / medians[bottom]
        summary["ratios"][metric] = {"median": ratio, "rounds": ratios}
        lines.append(
            f"  ratio {what}: {ratio:.2f}x (per round {min(ratios):.2f}-{max(ratios):.2f})"
        )
    return lines, summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", choices=list(RATIOS), default=list(RATIOS))
    parser.add_argument("--rounds", type=int, help="default 3 (--quick: 1)")
    parser.add_argument("--duration", type=float, help="seconds per measurement (3; --quick: 1)")
    parser.add_argument("--connections", type=int, default=32, help="wrk's connections (32)")
    parser.add_argument("--clients", type=int, help="hub room members for fan-out (500; 50)")
    parser.add_argument("--ack-clients", type=int, help="clients for acks (50; 10)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 short round")
    args = parser.parse_args(argv)
    quick = {"rounds": 1, "duration": 1.0, "clients": 50, "ack_clients": 10}
    full = {"rounds": 3, "duration": 3.0, "clients": 500, "ack_clients": 50}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.warmup = 0.05 if args.quick else 0.3
    args.window = 1
    args.settle = 0.05 if args.quick else 0.3
    if "http" in args.scenarios and shutil.which("wrk") is None:
        parser.error("wrk is not installed: apt-get install wrk (./dev bench sets it up)")
    return args


def main(argv: list[str] | None = None) -> int:
    import uvloop

    from realtime import ServerProcess

    args = parse_args(argv)
    names = [n for n in HTTP_SERVERS if "http" in args.scenarios]
    names += [n for n in HUB_SERVERS if set(args.scenarios) - {"http"}]
    servers: dict[str, Any] = {}
    try:
        for name in names:
            # "switchboard" is bench/realtime.py's own; the others are served from here.
            ours = [sys.executable, str(Path(__file__).resolve()), "serve", name]
            servers[name] = ServerProcess(name, command=None if name == "switchboard" else ours)
        samples = uvloop.run(run_rounds(args, servers))
    finally:
        for server in servers.values():
            server.stop()
    lines, summary = summarize(samples)
    summary["versions"] = {
        p: version(p) for p in ("switchboard-ws", "fastapi", "starlette", "uvicorn", "websockets")
    }
    summary["versions"]["wrk_connections"] = str(args.connections)
    print(
        f"\nmedian of {args.rounds} round(s) x {args.duration:g} s; {os.cpu_count()} CPUs; "
        + ", ".join(f"{k} {v}" for k, v in summary["versions"].items())
    )
    print("\n".join(lines))
    print()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))  # run.py, realtime.py, servers.py
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit(main())

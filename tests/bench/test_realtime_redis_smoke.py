"""bench/realtime_redis.py runs end to end on a tiny load: every stack on two nodes
over a real redis-server (which the benchmark starts and stops itself), both
scenarios.

No timing is asserted (the machine is shared); only that each measurement
completed (the load generator checks every tick and ack it gets, on both nodes)
and was reported, with the near and far node apart. Node's socket.io is left out
when bench/node/node_modules lacks @socket.io/redis-adapter.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

for module in ("aiohttp", "socketio", "uvloop", "redis"):
    pytest.importorskip(module, reason="the benchmark peers are in the 'bench' and 'redis' extras")
if shutil.which("redis-server") is None:
    pytest.skip("redis-server is not installed (./dev test installs it)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "bench/node/node_modules"
SERVERS = ["switchboard-redis", "switchboard-redis-full", "socketio-aiohttp-redis"]
if shutil.which("node") and all(
    (NODE_MODULES / package).is_dir()
    for package in ("socket.io", "@socket.io/redis-adapter", "redis")
):
    SERVERS.append("socketio-node-redis")
PEERS = {name for name in SERVERS if not name.startswith("switchboard")}


@pytest.fixture(scope="module")
def quick_run(
    run_realtime_tiny: Callable[[str, list[str]], subprocess.CompletedProcess[str]],
) -> subprocess.CompletedProcess[str]:
    return run_realtime_tiny("bench/realtime_redis.py", SERVERS)


def test_completes(quick_run: subprocess.CompletedProcess[str]) -> None:
    assert quick_run.returncode == 0, quick_run.stderr[-4000:]


def test_every_stack_and_scenario_measured(quick_run: subprocess.CompletedProcess[str]) -> None:
    summary = json.loads(quick_run.stdout.strip().splitlines()[-1])
    results = summary["results"]
    keys = (
        "fanout",
        "fanout_near_p50",
        "fanout_near_p99",
        "fanout_far_p50",
        "fanout_far_p99",
        "ack",
        "ack_p50",
        "ack_p99",
    )
    for key in keys:
        assert set(results[key]) == set(SERVERS), key
        for found in results[key].values():
            assert len(found["samples"]) == 1
            assert found["median"] > 0
    for scenario in ("fanout", "ack"):
        for who in ("a", "b", "redis", "client"):
            assert set(results[f"{scenario}_{who}_cpu"]) == set(SERVERS)
    for key in ("fanout", "fanout_far_p99", "ack"):
        assert set(summary["ratios"][key]) == PEERS, key
    assert summary["clients_per_node"] == [10, 10]
    assert (summary["clients"], summary["ack_clients"]) == (20, 4)
    assert summary["versions"]["redis-server"].count(".") == 2


def test_table_names_every_stack_and_target(quick_run: subprocess.CompletedProcess[str]) -> None:
    table = quick_run.stdout
    for label in (
        "fan-out ~200 B to 10 + 10",
        "near node (A) p99",
        "far node (B) p99",
        "emit + ack, 2 + 2 clients x 1",
        "Switchboard hub",
        "hub + hist/pres",
        "p-sio aiohttp",
        "node A / node B / Redis / load generator",
        "Targets (issue 10), Switchboard hub",
        "far-node p99 below every peer",
    ):
        assert label in table
    if "socketio-node-redis" in SERVERS:
        assert ">= 1.5x Node socket.io on fan-out deliveries/s" in table

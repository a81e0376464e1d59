"""bench/realtime.py runs end to end on a tiny load: every server, every scenario.

No timing is asserted (the machine is shared); only that each measurement
completed (the load generator checks every tick and ack it gets) and was
reported. Node's socket.io is left out when bench/node/node_modules is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

for module in ("aiohttp", "socketio", "uvicorn", "uvloop"):
    pytest.importorskip(module, reason="the benchmark peers are in the 'bench' extra")

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ["switchboard", "switchboard-full", "socketio-aiohttp", "socketio-uvicorn"]
if shutil.which("node") and (ROOT / "bench/node/node_modules/socket.io").is_dir():
    SERVERS.append("socketio-node")
PEERS = {name for name in SERVERS if not name.startswith("switchboard")}


@pytest.fixture(scope="module")
def quick_run(
    run_realtime_tiny: Callable[[str, list[str]], subprocess.CompletedProcess[str]],
) -> subprocess.CompletedProcess[str]:
    return run_realtime_tiny("bench/realtime.py", SERVERS)


def test_completes(quick_run: subprocess.CompletedProcess[str]) -> None:
    assert quick_run.returncode == 0, quick_run.stderr[-4000:]


def test_every_server_and_scenario_measured(quick_run: subprocess.CompletedProcess[str]) -> None:
    summary = json.loads(quick_run.stdout.strip().splitlines()[-1])
    results = summary["results"]
    for key in ("fanout", "fanout_p50", "fanout_p99", "ack", "ack_p50", "ack_p99", "memory"):
        assert set(results[key]) == set(SERVERS), key
    for key in ("fanout_server_cpu", "fanout_client_cpu", "ack_server_cpu", "ack_client_cpu"):
        assert set(results[key]) == set(SERVERS), key
    for key in ("fanout", "ack", "fanout_p99", "ack_p99", "memory_rss"):
        for found in results[key].values():
            assert len(found["samples"]) == 1
            assert found["median"] > 0
    for key in ("fanout", "ack", "fanout_p99", "memory"):
        assert set(summary["ratios"][key]) == PEERS, key
    assert (summary["clients"], summary["ack_clients"]) == (20, 4)


def test_table_names_every_server_and_target(quick_run: subprocess.CompletedProcess[str]) -> None:
    table = quick_run.stdout
    for label in (
        "fan-out ~200 B to 20",
        "emit -> receipt p99",
        "emit + ack, 4 clients x 1",
        "idle memory per client",
        "Switchboard hub",
        "p-sio aiohttp",
        "p-sio uvicorn",
        "server / load generator",
        "Targets (issue 9), Switchboard hub",
    ):
        assert label in table
    if "socketio-node" in SERVERS:
        assert ">= 1.5x Node socket.io on acks/s" in table


TINY_ACK_COST = ["--clients", "2", "--warmup", "0.3", "--duration", "0.5"]


def test_ack_cost_counts_bytecodes_per_ack() -> None:
    """bench/ack_cost.py --bytecodes on a tiny load (callgrind's mode needs valgrind
    and a minute: run by hand)."""
    run = subprocess.run(
        [sys.executable, "bench/ack_cost.py", "--bytecodes", *TINY_ACK_COST],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    first = run.stdout.splitlines()[0]
    assert first.startswith("switchboard: ") and first.endswith(" bytecodes per ack"), run.stdout
    assert "hub.py:_run_handler" in run.stdout  # the hub's own code was traced

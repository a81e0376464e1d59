"""bench/run.py --quick runs end to end: every server, every scenario, a JSON summary.

No timing is asserted (the machine is shared); only that each measurement
completed, echoed correctly (run.py checks every byte, decompressed for the
deflate scenario) and was reported, with the server's CPU per operation.
Node's ``ws`` is left out when bench/node's packages are not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

for module in ("aiohttp", "picows", "uvloop", "websockets"):
    pytest.importorskip(module, reason="the benchmark peers are in the 'bench' extra")

NODE_WS = (Path(__file__).resolve().parents[2] / "bench/node/node_modules/ws").is_dir()
SERVERS = {"switchboard", "picows", "aiohttp", "websockets"} | ({"node-ws"} if NODE_WS else set())
SERVERS_OF = {
    "echo": SERVERS,
    "pipelined": SERVERS,
    "large": SERVERS,
    "handshakes": SERVERS,
    "deflate": SERVERS - {"picows"},
    "broadcast": SERVERS - {"aiohttp"},
}


@pytest.fixture(scope="module")
def quick_run(
    run_bench: Callable[..., subprocess.CompletedProcess[str]],
) -> subprocess.CompletedProcess[str]:
    if NODE_WS and shutil.which("node") is None:
        pytest.skip("bench/node is installed but node is not on PATH")
    return run_bench("bench/run.py", "--quick", "--servers", *sorted(SERVERS))


@pytest.fixture(scope="module")
def summary(quick_run: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert quick_run.returncode == 0, quick_run.stderr[-4000:]
    found: dict[str, object] = json.loads(quick_run.stdout.strip().splitlines()[-1])
    return found


def test_every_server_and_scenario_measured(summary: dict[str, object]) -> None:
    results = summary["results"]
    assert isinstance(results, dict)
    for scenario, servers in SERVERS_OF.items():
        for key in (scenario, f"{scenario}_cpu_us", f"{scenario}_server_cpu"):
            assert set(results[key]) == servers, key
    assert set(results["broadcast_latency"]) == SERVERS_OF["broadcast"]
    for per_server in results.values():
        for found in per_server.values():
            assert len(found["samples"]) == 1
            assert found["median"] > 0


def test_ratios_against_every_peer(summary: dict[str, object]) -> None:
    ratios = summary["ratios"]
    assert isinstance(ratios, dict)
    for scenario, servers in SERVERS_OF.items():
        assert set(ratios[scenario]) == servers - {"switchboard"}, scenario
        assert set(ratios[f"{scenario}_cpu_us"]) == servers - {"switchboard"}, scenario
    assert summary["clients"] == 100


def test_table_names_every_server_and_scenario(
    quick_run: subprocess.CompletedProcess[str],
) -> None:
    table = quick_run.stdout
    for name in SERVERS:
        assert f"vs {name}" in table or name == "switchboard"
        assert name in table
    for label in (
        "echo 32 B, 1 in flight",
        "pipelined 32 B, window 100",
        "echo 1 MiB binary",
        "handshakes, 50 concurrent",
        "deflate echo 16 KiB JSON",
        "broadcast 32 B to 100",
        "call -> last client",
        "server CPU per handshake",
        "server CPU per 1 MiB echo",
    ):
        assert label in table

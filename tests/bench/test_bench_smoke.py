"""bench/run.py --quick runs end to end: every server, every scenario, a JSON summary.

No timing is asserted (the machine is shared); only that each measurement
completed, echoed correctly (run.py checks every byte) and was reported.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

for module in ("aiohttp", "picows", "uvloop", "websockets"):
    pytest.importorskip(module, reason="the benchmark peers are in the 'bench' extra")

ECHO_SERVERS = {"switchboard", "websockets", "aiohttp", "picows"}
BROADCAST_SERVERS = {"switchboard", "websockets", "picows"}


@pytest.fixture(scope="module")
def quick_run(
    run_bench: Callable[..., subprocess.CompletedProcess[str]],
) -> subprocess.CompletedProcess[str]:
    return run_bench("bench/run.py", "--quick", "--scenarios", "all")


def test_completes(quick_run: subprocess.CompletedProcess[str]) -> None:
    assert quick_run.returncode == 0, quick_run.stderr[-4000:]


def test_every_server_and_scenario_measured(quick_run: subprocess.CompletedProcess[str]) -> None:
    summary = json.loads(quick_run.stdout.strip().splitlines()[-1])
    results = summary["results"]
    for key in ("echo", "pipelined", "large"):
        assert set(results[key]) == ECHO_SERVERS, key
    for key in ("broadcast", "broadcast_latency"):
        assert set(results[key]) == BROADCAST_SERVERS, key
    for per_server in results.values():
        for found in per_server.values():
            assert len(found["samples"]) == 1
            assert found["median"] > 0
    assert set(summary["ratios"]["echo"]) == {"websockets", "aiohttp", "picows"}
    assert set(summary["ratios"]["broadcast"]) == {"websockets", "picows"}
    assert summary["clients"] == 100


def test_table_names_every_server_and_scenario(
    quick_run: subprocess.CompletedProcess[str],
) -> None:
    table = quick_run.stdout
    for name in ECHO_SERVERS:
        assert name in table
    for label in (
        "echo 32 B, 1 in flight",
        "pipelined 32 B, window 100",
        "echo 1 MiB binary",
        "broadcast 32 B to 100",
        "call -> last client",
        "vs websockets",
        "vs aiohttp",
        "vs picows",
    ):
        assert label in table

"""bench/memory.py runs end to end on a few connections: every server, with and
without compression (picows has none), a JSON summary. Nothing about the numbers
is asserted. Node's ``ws`` is left out when bench/node's packages are not installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

for module in ("aiohttp", "picows", "websockets"):
    pytest.importorskip(module, reason="the benchmark peers are in the 'bench' extra")
if not sys.platform.startswith("linux"):
    pytest.skip("bench/memory.py reads RSS from /proc", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
NODE_WS = (ROOT / "bench/node/node_modules/ws").is_dir() and shutil.which("node") is not None
SERVERS = ["switchboard", "picows", "aiohttp", "websockets"] + ["node-ws"] * NODE_WS


def test_memory_bench_measures_every_server(
    run_bench: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    run = run_bench(
        "bench/memory.py",
        *("--connections", "20", "--rounds", "2", "--settle", "0.2", "--servers", *SERVERS),
    )
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(summary["results"]) == {
        f"{name} {mode}"
        for name in SERVERS
        for mode in ("plain", "deflate")
        if (name, mode) != ("picows", "deflate")
    }
    for result in summary["results"].values():
        assert result["baseline"] > 0
        assert len(result["open"]) == len(result["closed"]) == 2
    assert set(summary["versions"]) == set(SERVERS)

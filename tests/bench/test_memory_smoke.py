"""bench/memory.py runs end to end on a few connections: every server, with and
without compression, a JSON summary. Nothing about the numbers is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

for module in ("aiohttp", "websockets"):
    pytest.importorskip(module, reason="the benchmark peers are in the 'bench' extra")
if not sys.platform.startswith("linux"):
    pytest.skip("bench/memory.py reads RSS from /proc", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]


def test_memory_bench_measures_every_server() -> None:
    command = ["bench/memory.py", "--connections", "20", "--rounds", "2", "--settle", "0.2"]
    run = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(summary["results"]) == {
        f"{name} {mode}"
        for name in ("switchboard", "websockets", "aiohttp")
        for mode in ("plain", "deflate")
    }
    for result in summary["results"].values():
        assert result["baseline"] > 0
        assert len(result["open"]) == len(result["closed"]) == 2

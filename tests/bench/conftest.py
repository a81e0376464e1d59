"""Shared by the bench smoke tests: run one bench script as a subprocess from the root."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BenchRun = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def run_bench() -> BenchRun:
    """``run_bench("bench/x.py", *args)``: the script's completed run, output captured."""

    def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, script, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


@pytest.fixture(scope="session")
def run_realtime_tiny(
    run_bench: BenchRun,
) -> Callable[[str, list[str]], subprocess.CompletedProcess[str]]:
    """A real-time bench script on a tiny load: --quick, 20 room members, 4 ack
    clients, 0.2 s per measurement, the given servers."""

    def run(script: str, servers: list[str]) -> subprocess.CompletedProcess[str]:
        return run_bench(
            script,
            "--quick",
            "--clients",
            "20",
            "--ack-clients",
            "4",
            "--duration",
            "0.2",
            "--servers",
            *servers,
        )

    return run

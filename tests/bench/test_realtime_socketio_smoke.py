"""bench/realtime_socketio.py runs end to end on a tiny load: the hub's Socket.IO
endpoint, the native hub and python-socketio (and Node's socket.io when
bench/node/node_modules is there), both scenarios.

No timing is asserted (the machine is shared); only that each measurement
completed (the load generator checks every tick and ack it gets) and was reported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

for module in ("aiohttp", "socketio", "uvloop"):
    pytest.importorskip(module, reason="the benchmark peers are in the 'bench' extra")

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ["hub-socketio", "hub-native", "socketio-aiohttp"]
if shutil.which("node") and (ROOT / "bench/node/node_modules/socket.io").is_dir():
    SERVERS.append("socketio-node")


@pytest.fixture(scope="module")
def quick_run(
    run_realtime_tiny: Callable[[str, list[str]], subprocess.CompletedProcess[str]],
) -> subprocess.CompletedProcess[str]:
    return run_realtime_tiny("bench/realtime_socketio.py", SERVERS)


def test_every_server_and_scenario_measured(quick_run: subprocess.CompletedProcess[str]) -> None:
    assert quick_run.returncode == 0, quick_run.stderr[-4000:]
    summary = json.loads(quick_run.stdout.strip().splitlines()[-1])
    for key in ("fanout", "fanout_p99", "ack", "ack_p99"):
        assert set(summary["samples"][key]) == set(SERVERS), key
        assert all(v[0] > 0 for v in summary["samples"][key].values()), key
    assert "hub-socketio / peer" in quick_run.stdout

"""bench/asgi.py runs end to end on a tiny load and reports every ratio."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable

import pytest

for module in ("uvicorn", "uvloop", "fastapi"):
    pytest.importorskip(module, reason="the benchmark peers are in the 'bench' extra")


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (./dev sets it up)")
def test_asgi_bench_reports_the_ratios(
    run_bench: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    done = run_bench("bench/asgi.py", "--quick", "--clients", "20", "--ack-clients", "4")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(summary["ratios"]) == {"http", "fanout", "ack", "http_us", "fanout_us", "ack_us"}
    for scenario, ratio in summary["ratios"].items():
        assert ratio["median"] > 0, scenario
    http = summary["medians"]["http"]
    assert set(http) == {"fastapi-uvicorn", "fastapi-switchboard", "native"}
    assert all(value > 0 for value in http.values())
    assert "ratio FastAPI on Switchboard / on uvicorn" in done.stdout

"""Autobahn|Testsuite against Switchboard's echo server and client.

Runs run.py's `ci` case set (every case but 9.*, 12.*, 13.*, plus a sample of 9.*,
12.* and 13.* covering every payload and every permessage-deflate parameter set) in both
modes.  Off with SWITCHBOARD_CONFORMANCE=0; the full suite is
`./dev conformance server all` / `./dev conformance client all`.  The failure
message names the failed cases and the report (index.html, in pytest's tmp dir).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(
        os.environ.get("SWITCHBOARD_CONFORMANCE") == "0", reason="SWITCHBOARD_CONFORMANCE=0"
    ),
]


@pytest.fixture(scope="session")
def wstest() -> None:
    """Install wstest once (about 30 s the first time on a machine, 1 s after)."""
    proc = subprocess.run(
        [str(HERE / "install_wstest.sh")], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"install_wstest.sh failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("mode", ["server", "client"])
def test_autobahn(wstest: None, mode: str, tmp_path: Path) -> None:
    outdir = tmp_path / "autobahn"
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "run.py"),
            mode,
            "ci",
            "--outdir",
            str(outdir),
            "--timeout",
            "1500",
        ],
        capture_output=True,
        text=True,
    )
    print(proc.stdout, proc.stderr, sep="\n")
    assert (outdir / "summary.json").exists(), f"run.py {mode} broke:\n{proc.stderr}"
    s = json.loads((outdir / "summary.json").read_text())
    assert not s["error"], f"{s['error']}\n{proc.stderr}"
    assert s["failed"] == 0, f"{mode}: FAILED cases {' '.join(s['failed_ids'])} ({s['report']})"
    assert s["unimpl"] == 0, f"{mode}: UNIMPLEMENTED {' '.join(s['unimpl_ids'])}"
    assert s["missing"] == 0, f"{mode}: {s['missing']} cases have no result ({s['report']})"
    assert s["total"] > 250

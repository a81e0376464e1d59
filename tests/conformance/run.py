#!/usr/bin/env python3
"""Run the Autobahn|Testsuite (wstest) against Switchboard, on loopback.

usage:
  run.py server [CASES] [--cmd CMD]   fuzzingclient against an echo server; by default
                                      `python tests/conformance/autobahn_server.py` (the
                                      handler of `switchboard echo`, no size or fragment
                                      limits) on a free port
  run.py client [CASES] [--cmd CMD]   fuzzingserver; by default the client is
                                      `python tests/conformance/autobahn_client.py`
  run.py summarize REPORT_DIR         print the summary of an existing report

CASES: comma separated wstest case patterns, '-' excludes ('1.*,2.*', '*,-9.*', '12.1.3').
Shortcuts: all (default: 517 cases), ci (what the test suite runs: all but 9.*, 12.*,
13.* plus a sample of 12.* and 13.*), quick (no 9.*, 12.*, 13.*), nocomp (no 12.*, 13.*),
nobig (no 9.*).  A pattern with '*' matches case ids by prefix; one without is exact.

--cmd runs another peer (through the shell); in server mode '{port}' in it is replaced
by the port to listen on; in client mode the client gets AUTOBAHN_URL and AUTOBAHN_AGENT
and must read /getCaseCount, run every /runCase?case=N&agent=AGENT echoing all
messages, then call /updateReports?agent=AGENT.

wstest comes from install_wstest.sh (cache dir $SWITCHBOARD_AUTOBAHN_DIR, default
~/.cache/switchboard/autobahn).  Reports go to --outdir (default reports/autobahn/MODE
in the repository; open index.html there).  The summary's last line is
  autobahn: ok=N nonstrict=N info=N unimpl=N failed=N total=N missing=N wall_s=S
and summary.json in the report dir has the same counts plus the case ids.  Exit status:
0 when failed, unimpl and missing are all 0; 1 otherwise; 2 when the harness broke.
"""

from __future__ import annotations

import argparse
import base64
import glob
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CACHE = Path(
    os.environ.get("SWITCHBOARD_AUTOBAHN_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "switchboard/autobahn"
)
AGENT = "switchboard"

# The `ci` set: every case but the long 9.* (performance), 12.* and 13.*
# (permessage-deflate) groups, plus a sample of those.  12.N.* and 13.N.* repeat the
# same 18 (size, count, fragment size) combinations: 12.1-12.5 over five payloads
# (text and binary), 13.1-13.7 over the seven permessage-deflate parameter sets
# (context takeover on/off, window bits default / 9 / 15, several offers).  The sample
# keeps every group, with sizes 1 (16 B), 4 (1 KiB), 7 (16 KiB) and 11 (8 KiB in 256 B
# fragments); 13.* also with 9 (64 KiB: past every window); and 12.2.16, 13.5.16
# (128 KiB in 1 KiB fragments).  9.*: 16 MiB messages, 4 MiB in 4 KiB fragments,
# 1 MiB in 64 B TCP chops, 1000 round trips.  A pattern with '*' matches by prefix.
CI_CASES = ",".join(
    [f"{n}.*" for n in (1, 2, 3, 4, 5, 6, 7, 10)]
    + ["9.1.6", "9.2.6", "9.3.4", "9.4.4", "9.5.1", "9.7.1", "9.8.1"]
    + [f"12.{g}.{i}" for g in range(1, 6) for i in (1, 4, 7, 11)]
    + [f"13.{g}.{i}" for g in range(1, 8) for i in (1, 4, 7, 9, 11)]
    + ["12.2.16", "13.5.16"]
)
SHORTCUTS = {
    "all": "*",
    "ci": CI_CASES,
    "quick": "*,-9.*,-12.*,-13.*",
    "nocomp": "*,-12.*,-13.*",
    "nobig": "*,-9.*",
}
OK_BEHAVIORS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED")


def case_patterns(spec: str) -> dict[str, list[str]]:
    spec = SHORTCUTS.get(spec.strip() or "all", spec)
    inc: list[str] = []
    exc: list[str] = []
    for p in re.split(r"[,\s]+", spec):
        if p:
            (exc if p.startswith("-") else inc).append(p.lstrip("-"))
    return {"cases": inc or ["*"], "exclude-cases": exc}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes]) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def wstest(*args: str) -> list[str]:
    python = CACHE / "venv/bin/python"
    if not python.exists():
        sys.exit(
            f"wstest is not installed: run {HERE / 'install_wstest.sh'} (or ./dev conformance)"
        )
    return [str(python), "-u", str(HERE / "wstest_lo.py"), *args]


def wstest_env() -> dict[str, str]:
    libs = glob.glob(str(CACHE / "py27root/usr/lib/*-linux-gnu"))
    old = os.environ.get("LD_LIBRARY_PATH")
    return dict(
        os.environ,
        LD_LIBRARY_PATH=":".join(libs + ([old] if old else [])),
        PYTHONWARNINGS="ignore",
    )


def stop(proc: subprocess.Popen[bytes], name: str) -> None:
    """Stop a child by its PID: SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            print(f"run.py: {name} (pid {proc.pid}) ignored SIGTERM; killing it", file=sys.stderr)
            proc.kill()
            proc.wait()


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def expected_cases(log: Path) -> int | None:
    m = re.search(r"^Ok, will run (\d+) test cases", log.read_text(errors="replace"), re.M)
    return int(m.group(1)) if m else None


def prepare(outdir: Path, spec: dict[str, Any]) -> None:
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    spec = {
        "outdir": str(outdir),
        "options": {"failByDrop": False},
        **spec,
        "exclude-agent-cases": {},
    }
    (outdir / "spec.json").write_text(json.dumps(spec, indent=1))


def run_server_suite(cases: str, outdir: Path, cmd: str | None, timeout: float) -> dict[str, Any]:
    port = free_port()
    url = f"ws://127.0.0.1:{port}"
    prepare(outdir, {"servers": [{"agent": AGENT, "url": url}], **case_patterns(cases)})
    argv = (
        ["/bin/sh", "-c", "exec " + cmd.replace("{port}", str(port))]
        if cmd
        else [sys.executable, str(HERE / "autobahn_server.py"), str(port)]
    )
    target = cmd or "autobahn_server.py"
    print(f"run.py: server suite, cases '{cases}', against {shlex.join(argv)} -> {outdir}")
    with open(outdir / "server.log", "wb") as log:
        server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    harness: dict[str, Any] = {"mode": "server", "target": target, "cases": cases}
    try:
        if not wait_port(port, 30, server):
            harness["error"] = f"server did not listen on {url} (rc={server.poll()})"
            print(tail(outdir / "server.log"), file=sys.stderr)
            return harness
        t0 = time.monotonic()
        with open(outdir / "wstest.log", "wb") as log:
            try:
                subprocess.run(
                    wstest("-m", "fuzzingclient", "-s", "spec.json"),
                    cwd=outdir,
                    env=wstest_env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                harness["error"] = f"wstest timed out after {timeout:.0f} s"
        harness["wall_s"] = round(time.monotonic() - t0, 1)
        harness["expected"] = expected_cases(outdir / "wstest.log")
        if server.poll() is not None:
            harness["error"] = f"the server exited during the run (rc={server.returncode})"
            print(tail(outdir / "server.log"), file=sys.stderr)
    finally:
        stop(server, "server")
    return harness


def update_reports(port: int) -> None:
    """A bare handshake to /updateReports, so that a crashed client still leaves reports."""
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(
            f"GET /updateReports?agent=harness HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        s.settimeout(120)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass


def run_client_suite(cases: str, outdir: Path, cmd: str | None, timeout: float) -> dict[str, Any]:
    port = free_port()
    url = f"ws://127.0.0.1:{port}"
    prepare(outdir, {"url": url, **case_patterns(cases)})
    argv = (
        ["/bin/sh", "-c", "exec " + cmd]
        if cmd
        else [sys.executable, str(HERE / "autobahn_client.py")]
    )
    target = cmd or "autobahn_client.py"
    harness: dict[str, Any] = {"mode": "client", "target": target, "cases": cases}
    with open(outdir / "wstest.log", "wb") as log:
        server = subprocess.Popen(
            wstest("-m", "fuzzingserver", "-s", "spec.json", "-u", "0"),
            cwd=outdir,
            env=wstest_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        if not wait_port(port, 60, server):
            harness["error"] = f"wstest fuzzingserver did not start (rc={server.poll()})"
            print(tail(outdir / "wstest.log"), file=sys.stderr)
            return harness
        harness["expected"] = expected_cases(outdir / "wstest.log")
        print(f"run.py: client suite, cases '{cases}', client {shlex.join(argv)} -> {outdir}")
        t0 = time.monotonic()
        env = dict(os.environ, AUTOBAHN_URL=url, AUTOBAHN_AGENT=AGENT)
        with open(outdir / "client.log", "wb") as log:
            client = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
            try:
                rc = client.wait(timeout)
                if rc:
                    harness["error"] = f"the client exited with rc={rc}"
            except subprocess.TimeoutExpired:
                harness["error"] = f"the client timed out after {timeout:.0f} s"
                stop(client, "client")
        harness["wall_s"] = round(time.monotonic() - t0, 1)
        if "error" in harness:
            print(tail(outdir / "client.log"), file=sys.stderr)
        update_reports(port)
    finally:
        stop(server, "wstest fuzzingserver")
    return harness


def case_key(cid: str) -> tuple[int, ...]:
    return tuple(int(x) for x in cid.split("."))


def summarize(outdir: Path, harness: dict[str, Any] | None = None) -> dict[str, Any]:
    """Print the summary of outdir/index.json, write outdir/summary.json, return it."""
    hpath = outdir / "harness.json"
    if harness is None:
        harness = json.loads(hpath.read_text()) if hpath.exists() else {}
    else:
        hpath.write_text(json.dumps(harness, indent=1))
    ipath = outdir / "index.json"
    index = json.loads(ipath.read_text()).get(AGENT, {}) if ipath.exists() else {}
    if not ipath.exists():
        print(f"no report in {outdir} (index.json is missing)")

    ids: dict[str, list[str]] = defaultdict(list)
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    secs: Counter[str] = Counter()
    for cid, res in index.items():
        b = res.get("behavior", "FAILED")
        b = b if b in OK_BEHAVIORS else "FAILED"  # NO_CLOSE and the like count as failed
        ids[b].append(cid)
        groups[cid.split(".")[0]][b] += 1
        secs[cid.split(".")[0]] += res.get("duration", 0) / 1000
    print(f"\nAutobahn|Testsuite, {harness.get('mode', '?')} mode: {harness.get('target', '?')}")
    print(f"report: {outdir / 'index.html'}")
    print("group       OK  NONSTRICT  INFO  UNIMPL  FAILED   secs")
    for g in sorted(groups, key=int):
        c = groups[g]
        print(
            f"{g + '.*':7} {c['OK']:6} {c['NON-STRICT']:10} {c['INFORMATIONAL']:5} "
            f"{c['UNIMPLEMENTED']:7} {c['FAILED']:7} {secs[g]:6.1f}"
        )
    for b in ("FAILED", "UNIMPLEMENTED", "NON-STRICT"):
        if ids[b]:
            shown = sorted(ids[b], key=case_key)
            more = f" ... (+{len(shown) - 40} more)" if len(shown) > 40 else ""
            print(f"{b} ({len(shown)}): {' '.join(shown[:40])}{more}")
    expected = harness.get("expected")
    summary: dict[str, Any] = {
        "ok": len(ids["OK"]),
        "nonstrict": len(ids["NON-STRICT"]),
        "info": len(ids["INFORMATIONAL"]),
        "unimpl": len(ids["UNIMPLEMENTED"]),
        "failed": len(ids["FAILED"]),
        "total": len(index),
        "missing": max(0, expected - len(index)) if isinstance(expected, int) else 0,
        "wall_s": harness.get("wall_s", float("nan")),
    }
    if not index:  # a run that broke before any case counts everything as missing
        summary["missing"] = max(summary["missing"], expected or 1)
    if summary["missing"]:
        print(f"MISSING: {summary['missing']} of {expected} expected cases have no result")
    if harness.get("error"):
        print(f"ERROR: {harness['error']}")
    line = "autobahn: " + " ".join(f"{k}={v}" for k, v in summary.items())
    summary.update(
        failed_ids=sorted(ids["FAILED"], key=case_key),
        unimpl_ids=sorted(ids["UNIMPLEMENTED"], key=case_key),
        error=harness.get("error"),
        report=str(outdir / "index.html"),
    )
    (outdir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(line)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        usage=__doc__.split("\n\n")[1].split("\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("mode", choices=["server", "client", "summarize"])
    parser.add_argument("cases", nargs="?", default="all", help="case patterns (default: all)")
    parser.add_argument("--cmd", help="the peer to test instead of Switchboard")
    parser.add_argument("--outdir", type=Path, help="report dir (default: reports/autobahn/MODE)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds (default: 3600)")
    args = parser.parse_args()
    if args.mode == "summarize":
        s = summarize(Path(args.cases).resolve())
    else:
        outdir = (args.outdir or ROOT / "reports/autobahn" / args.mode).resolve()
        run = run_server_suite if args.mode == "server" else run_client_suite
        s = summarize(outdir, run(args.cases, outdir, args.cmd, args.timeout))
    if s["error"]:
        return 2
    return 1 if s["failed"] or s["unimpl"] or s["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())

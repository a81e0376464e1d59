"""``switchboard bench``: messages per second and round-trip percentiles."""

from __future__ import annotations

import re

import pexpect

from switchboard.cli.bench import SAMPLES, Stats

from .conftest import Servers
from .helpers import cli_env, run_cli, spawn, table_rows


def test_report(servers: Servers) -> None:
    result = run_cli("bench", "-c", "2", "--size", "64", "-d", "0.5", servers.url())
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    assert rows["url"] == servers.url()
    assert rows["connections"] == "2"
    assert rows["message size"] == "64 B"
    count = int(re.fullmatch(r"(\d+) round trips", rows["messages"])[1])  # type: ignore[index]
    assert count > 0
    assert float(rows["msg/s"]) > 0
    for name in ("rtt p50", "rtt p90", "rtt p99", "rtt max"):
        assert re.fullmatch(r"\d+\.\d+ (ms|s)", rows[name]), name
    assert result.stderr == ""  # no progress line when standard error is not a terminal


def test_progress_line_on_a_terminal(servers: Servers) -> None:
    child = spawn("bench", "-d", "1", servers.url(), env=cli_env())
    child.expect(r"\r\x1b\[K +0\.\d / 1 s  \d+ round trips  \d+ msg/s")
    child.expect(r"\r\x1b\[Kurl +ws://")  # the line is erased before the report
    child.expect(r"msg/s +\d+")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_not_an_echo_server(servers: Servers) -> None:
    result = run_cli("bench", "-d", "0.5", servers.url("/greet"))
    assert result.returncode == 1
    assert result.stderr == (
        "switchboard bench: the server answered 7 bytes that are not the echo\n"
    )


def test_duration_is_bounded() -> None:
    result = run_cli("bench", "-d", "0", "ws://127.0.0.1:1/")
    assert result.returncode == 2
    assert "argument -d/--duration: 0 is not between 0.1 and 3600" in result.stderr


def test_percentiles_from_a_bounded_sample() -> None:
    stats = Stats()
    for i in range(1, 101):
        stats.add(i / 1000)
    assert (stats.percentile(50), stats.percentile(90), stats.percentile(99)) == (0.05, 0.09, 0.099)
    assert stats.max == 0.1
    for _ in range(SAMPLES):
        stats.add(0.001)
    assert len(stats.samples) == SAMPLES
    assert stats.count == SAMPLES + 100
    assert stats.max == 0.1

"""Running ``python -m switchboard`` in tests: through pipes, or on a pseudo-terminal."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from typing import IO

import pexpect

# A message or sent line as the interactive session prints it (NO_COLOR).
STAMP = r"\d\d:\d\d:\d\d\.\d{3}"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment without proxy variables (the machine's must not leak in) and
    without colours, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.pop("NO_COLOR", None)
    env.update(NO_COLOR="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def table_rows(text: str) -> dict[str, str]:
    """The rows of a two-column table as printed (columns two spaces or more apart)."""
    rows = [re.split(r"\s{2,}", line, maxsplit=1) for line in text.splitlines()]
    return {label: value for label, value in rows}


def run_cli(
    *args: str, input: str = "", timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the command line through pipes, bounded by ``timeout``."""
    return subprocess.run(
        [sys.executable, "-m", "switchboard", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env() if env is None else env,
    )


def run_cli_open_input(*args: str, input: str, timeout: float = 30) -> tuple[int, str, str]:
    """Like :func:`run_cli`, but standard input stays open after ``input``: the
    command ends only when the connection does. Returns (status, stdout, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "switchboard", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(input)
    proc.stdin.flush()
    try:
        status = proc.wait(timeout)
    finally:
        proc.kill()
        proc.stdin.close()
    return status, proc.stdout.read(), proc.stderr.read()


def spawn(*args: str, env: dict[str, str]) -> pexpect.spawn:
    """Run the command line on a pseudo-terminal (every ``expect`` waits 10 s at most)."""
    return pexpect.spawn(
        sys.executable,
        ["-m", "switchboard", *args],
        env=env,
        encoding="utf-8",
        timeout=10,
        dimensions=(40, 200),
    )


def start_server(*args: str) -> tuple[subprocess.Popen[bytes], re.Match[str]]:
    """Start a server command; return it and the match of the address it announces."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "switchboard", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered, so that select() sees every line
        env=cli_env(),
    )
    assert proc.stderr is not None
    match = wait_for_line(proc.stderr, r"(wss?|https?)://127\.0\.0\.1:(\d+)")
    return proc, match


def wait_for_line(stream: IO[bytes], pattern: str, timeout: float = 10) -> re.Match[str]:
    """Read lines from ``stream`` until one matches ``pattern`` (for ``timeout`` at most)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], deadline - time.monotonic())
        if not ready:
            break
        line = stream.readline().decode()
        if not line:
            break
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matching {pattern!r} in {seen!r}")

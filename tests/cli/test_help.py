"""``--help`` everywhere, with examples."""

from __future__ import annotations

import pytest

from .helpers import run_cli


def test_top_level_help_lists_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("connect", "probe", "bench", "echo", "serve"):
        assert f"\n  switchboard {command} " in result.stdout


@pytest.mark.parametrize("command", ["connect", "probe", "bench", "echo", "serve"])
def test_command_help_has_examples(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: switchboard {command} ")
    examples = result.stdout.split("\nexamples:\n", 1)[1]
    assert f"  switchboard {command} " in examples


def test_usage_error_exits_2() -> None:
    result = run_cli("connect")
    assert result.returncode == 2
    assert "error: the following arguments are required: URL" in result.stderr

"""The ``switchboard`` command line: one module per command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import echo

__all__ = ["main"]

COMMANDS = {"echo": echo}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Switchboard: WebSocket servers, clients and troubleshooting tools.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        module.add_parser(commands)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"switchboard {args.command}: {exc.strerror or exc}", file=sys.stderr)
        return 1

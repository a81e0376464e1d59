"""The ``switchboard`` command line: one module per command.

Every failure a user can cause or meet (a bad URL, an unreachable host, a refused
handshake, a TLS error, an abnormal close) ends the command with one line on
standard error and exit status 1 (2 for usage errors); see :mod:`.errors`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import bench, connect, echo, probe, serve
from .errors import EXIT_ERROR, EXIT_USAGE, describe_error, is_usage_error, target

__all__ = ["main"]

COMMANDS = (connect, probe, bench, echo, serve)

EXAMPLES = """examples:
  switchboard connect ws://127.0.0.1:8765/          interactive session
  echo hello | switchboard connect ws://127.0.0.1:8765/
  switchboard connect --trace wss://example.com/ws  handshake and frames
  switchboard probe wss://example.com/ws            what does this server do?
  switchboard bench -c 8 -d 10 ws://127.0.0.1:8765/ messages/s and round trips
  switchboard echo --port 8765                      an echo server
  switchboard serve --port 8000                     the chat demo app

'switchboard COMMAND --help' shows a command's options and examples.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Switchboard: WebSocket servers, clients and troubleshooting tools.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`| head`): stop quietly, and keep
        # Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:
        line = describe_error(exc, target(args))
        if line is None:
            raise  # a bug: the traceback is what a report needs
        print(f"switchboard {args.command}: {line}", file=sys.stderr)
        return EXIT_USAGE if is_usage_error(exc) else EXIT_ERROR

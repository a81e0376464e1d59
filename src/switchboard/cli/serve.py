"""``switchboard serve [chat|poker]``: run a demo app (pages, HTTP API and WebSocket, one port)."""

from __future__ import annotations

import argparse
import logging
import sqlite3
from typing import Any

from ..server.server import run as run_server
from .errors import CommandError
from .options import add_server_options, server_ssl

EXAMPLES = """examples:
  switchboard serve                       the chat demo on http://127.0.0.1:8000/
  switchboard serve poker                 planning poker (rooms kept in ./poker.sqlite3)
  switchboard serve poker --db /var/lib/poker.sqlite3
  switchboard serve --host 0.0.0.0 --port 8080
  switchboard serve --port 8443 --certfile cert.pem --keyfile key.pem    (https://)
  switchboard serve --port 8001 --redis redis://127.0.0.1:6379/0   (one of several nodes)

The first Ctrl-C (or SIGTERM) shuts down gracefully; a second one aborts.
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run a demo app: the chat (default) or planning poker",
        description="Serve a demo app: its pages, HTTP API and WebSocket on one port. "
        "Logs the URL to open, then each connection, on standard error.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "app",
        nargs="?",
        choices=("chat", "poker"),
        default="chat",
        help="which app: chat (the default) or poker",
    )
    add_server_options(parser, port=8000)
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="share rooms, presence and history with other nodes through this Redis "
        "(redis://host:port/db; needs the redis extra)",
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        default="poker.sqlite3",
        help="poker: the SQLite file that keeps the rooms (default: poker.sqlite3); "
        "nodes on one host share it",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ssl = server_ssl(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    broker = None
    if args.redis is not None:
        try:
            from ..realtime.brokers.redis import RedisBroker

            broker = RedisBroker(args.redis)
        except (ImportError, ValueError) as exc:
            raise CommandError(str(exc)) from None
    if args.app == "poker":
        from ..apps.poker import create_app as create_poker

        try:
            app = create_poker(db_path=args.db, broker=broker)
        except sqlite3.Error as exc:
            raise CommandError(f"cannot open --db {args.db}: {exc}") from None
    else:
        from ..apps.chat import create_app

        app = create_app(broker=broker)
    run_server(app, args.host, args.port, ssl=ssl)
    return 0

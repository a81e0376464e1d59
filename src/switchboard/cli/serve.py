"""``switchboard serve``: run the chat demo app (pages, HTTP API and WebSocket, one port)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from ..apps.chat import create_app
from ..server.server import run as run_server
from .errors import CommandError
from .options import add_server_options, server_ssl

EXAMPLES = """examples:
  switchboard serve                       http://127.0.0.1:8000/
  switchboard serve --host 0.0.0.0 --port 8080
  switchboard serve --port 8443 --certfile cert.pem --keyfile key.pem    (https://)
  switchboard serve --port 8001 --redis redis://127.0.0.1:6379/0   (one of several nodes)

The first Ctrl-C (or SIGTERM) shuts down gracefully; a second one aborts.
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the chat demo app",
        description="Serve the chat demo: its pages, HTTP polling API and WebSocket on one "
        "port. Logs the URL to open, then each connection, on standard error.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_server_options(parser, port=8000)
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="share rooms, presence and history with other nodes through this Redis "
        "(redis://host:port/db; needs the redis extra)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ssl = server_ssl(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.redis is not None:
        try:
            from ..realtime.brokers.redis import RedisBroker

            broker = RedisBroker(args.redis)
        except (ImportError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        app = create_app(broker=broker)
    else:
        app = create_app()
    run_server(app, args.host, args.port, ssl=ssl)
    return 0

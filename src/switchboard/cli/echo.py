"""``switchboard echo``: an echo server, every message sent back as it came."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from ..protocol.deflate import DeflateOptions
from ..protocol.limits import Limits
from ..server import serve
from ..websocket import WebSocket
from .options import add_server_options, bounded, server_ssl

EXAMPLES = """examples:
  switchboard echo --port 8765
  switchboard echo --host 0.0.0.0 --port 9001 --max-message-size 0
  switchboard echo --port 8443 --certfile cert.pem --keyfile key.pem    (wss://)
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "echo",
        help="run an echo server",
        description="Run a WebSocket echo server: text comes back as text, binary as "
        "binary, until interrupted (Ctrl-C or SIGTERM).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_server_options(parser, port=8765)
    parser.add_argument(
        "--max-message-size",
        type=bounded(int, 0, 1 << 40),
        default=1 << 20,
        metavar="BYTES",
        help="largest message accepted, 0 for no limit (1 MiB)",
    )
    parser.add_argument("--no-compression", action="store_true", help="refuse permessage-deflate")
    parser.set_defaults(run=run)


async def echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def serve_echo(args: argparse.Namespace) -> None:
    size = args.max_message_size or None
    limits = Limits(max_message_size=size, max_frame_size=size)
    compression = None if args.no_compression else DeflateOptions()
    ssl = server_ssl(args)
    async with serve(
        echo, args.host, args.port, limits=limits, compression=compression, ssl=ssl
    ) as server:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.close)
        scheme = "wss" if ssl else "ws"
        print(f"echo server listening on {scheme}://{args.host}:{server.port}/", file=sys.stderr)
        await server.serve_forever()


def run(args: argparse.Namespace) -> int:
    asyncio.run(serve_echo(args))
    return 0

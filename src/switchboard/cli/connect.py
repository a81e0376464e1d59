"""``switchboard connect``: talk to a WebSocket server, interactively or through pipes."""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import os
import threading
from typing import Any

from ..client import connect
from ..protocol.errors import ConnectionClosed, ConnectionClosedOK
from ..websocket import WebSocket
from .errors import CommandError
from .options import add_client_options, bounded, client_options
from .output import Console
from .trace import TracedConnection, Tracer

EXAMPLES = """examples:
  switchboard connect ws://127.0.0.1:8765/
      an interactive session: type a line to send it; /help lists the commands
  echo '{"op": "hello"}' | switchboard connect ws://127.0.0.1:8765/
      piped: each input line is a message, each received message a line
  switchboard connect --trace wss://example.com/socket
      also show the handshake and every frame (on standard error)
  switchboard connect -H 'Authorization: Bearer TOKEN' -s chat.v1 wss://example.com/chat
  switchboard connect --cafile ca.pem wss://localhost:8443/

exit status: 0 after a clean close (a normal closure, or a closing handshake that
we started), 1 otherwise (the reason is on standard error), 2 for usage errors.
"""

# Piped mode: the longest input line, and how many lines may wait to be sent, so
# that a runaway input cannot fill memory.
MAX_LINE = 16 << 20
QUEUED = 16


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "connect",
        help="talk to a WebSocket server (interactive, or through pipes)",
        description="Connect to a WebSocket server. On a terminal: an interactive session "
        "with line editing and history; typed lines are sent as text and received messages "
        "are printed with their direction and time. With standard input not a terminal: "
        "each input line is sent as a text message and each received message is printed "
        "on its own line (binary messages in hex), until the input ends.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", metavar="URL", help="ws:// or wss:// URL")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="print the handshake headers and every frame, both ways, on standard error",
    )
    parser.add_argument(
        "--wait",
        type=bounded(float, 0, 3600),
        default=1.0,
        metavar="SECONDS",
        help="piped mode: once the input ends, close after SECONDS without a message (1)",
    )
    add_client_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    interactive = os.isatty(0) and os.isatty(1)
    if interactive and importlib.util.find_spec("prompt_toolkit") is None:
        raise CommandError(
            "the interactive session needs prompt_toolkit: pip install 'switchboard-ws[cli]' "
            "(piped input works without it)"
        )
    return asyncio.run(session(args, interactive))


async def session(args: argparse.Namespace, interactive: bool) -> int:
    console = Console()
    options = client_options(args)
    tracer = Tracer(console) if args.trace else None
    if tracer is None:
        ws = await connect(args.url, **options)
    else:
        factory = functools.partial(TracedConnection, tracer=tracer)
        ws = await connect(args.url, connection_factory=factory, **options)
        tracer.handshake(ws.request, ws.response)
    if interactive:
        from .interactive import Session  # imports prompt_toolkit

        await Session(ws, console, args.url).run()
    else:
        await piped(ws, console, args.wait)
    await ws.wait_closed()
    closed = ws.protocol.closed_exception()
    if tracer is not None and not interactive:  # the session says it already
        tracer.closed(f"connection closed: {closed}")
    if not is_clean(closed):
        raise closed
    return 0


def is_clean(closed: ConnectionClosed) -> bool:
    """A normal closure, or a closing handshake that we started and that completed
    (``/close 4000 bye`` ends a session cleanly)."""
    return isinstance(closed, ConnectionClosedOK) or (
        closed.rcvd is not None and closed.rcvd_then_sent is False
    )


async def piped(ws: WebSocket, console: Console, wait: float) -> None:
    """Send standard input line by line and print every message received; once the
    input ends, close when no message came for ``wait`` seconds.

    Closing at once would lose replies: a server answers a close frame as soon as it
    reads it, before its handler sees the messages that arrived with it.
    """
    loop = asyncio.get_running_loop()
    lines = StdinLines(loop)
    last_message = 0.0  # when the last message arrived (loop time)

    async def print_messages() -> None:
        nonlocal last_message
        try:
            while True:
                message = await ws.recv()
                last_message = loop.time()
                console.out(message if isinstance(message, str) else message.hex())
        except ConnectionClosed:
            return

    receiver = asyncio.create_task(print_messages())
    sender = asyncio.create_task(_send_lines(ws, lines))
    try:
        await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
        if sender.done():
            sender.result()  # an input error
            end_of_input = loop.time()
            while not receiver.done():
                quiet_until = max(end_of_input, last_message) + wait
                if loop.time() >= quiet_until:
                    break
                await asyncio.wait({receiver}, timeout=quiet_until - loop.time())
    finally:
        sender.cancel()
        await ws.close()
        await receiver


async def _send_lines(ws: WebSocket, lines: StdinLines) -> None:
    number = 0
    while (line := await lines.get()) is not None:
        number += 1
        try:
            text = line.decode()
        except UnicodeDecodeError:
            raise CommandError(f"input line {number} is not valid UTF-8") from None
        try:
            await ws.send(text)
        except ConnectionClosed:
            return  # the receiver reports how it closed


class StdinLines:
    """Standard input line by line, read by a thread; at most ``QUEUED`` lines wait.

    ``os.read`` works on every kind of input (the event loop cannot poll a regular
    file) and holds no lock, so exiting while the thread blocks in it is harmless.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[bytes | CommandError | None] = asyncio.Queue()
        self._slots = threading.Semaphore(QUEUED)
        threading.Thread(target=self._read, daemon=True).start()

    async def get(self) -> bytes | None:
        """The next line without its end of line, or ``None`` at the end of the input."""
        item = await self._queue.get()
        self._slots.release()
        if isinstance(item, CommandError):
            raise item
        return item

    def _put(self, item: bytes | CommandError | None) -> None:
        self._slots.acquire()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _read(self) -> None:
        buf = bytearray()
        try:
            while chunk := _read_stdin():
                pos, searched = 0, len(buf)  # what is already in buf holds no newline
                buf += chunk
                while (end := buf.find(b"\n", searched)) >= 0:
                    self._put(bytes(buf[pos:end]).removesuffix(b"\r"))
                    pos = searched = end + 1
                del buf[:pos]
                if len(buf) > MAX_LINE:
                    self._put(CommandError(f"an input line is longer than {MAX_LINE} bytes"))
                    return
            if buf:
                self._put(bytes(buf).removesuffix(b"\r"))
            self._put(None)
        except RuntimeError:  # the event loop is closed: the session is over
            return


def _read_stdin() -> bytes:
    try:
        return os.read(0, 65536)
    except OSError:  # no standard input at all (closed): as if it were empty
        return b""

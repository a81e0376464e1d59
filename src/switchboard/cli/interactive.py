"""The interactive session of ``switchboard connect``: line editing, history, commands.

prompt_toolkit (the ``cli`` extra) draws the input line; ``patch_stdout`` makes
every print, such as a message arriving while you type, appear above it, leaving
the half-typed line intact. The stdlib ``readline`` cannot do that: output from
another task lands in the middle of the line being edited.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout

from ..protocol.errors import ConnectionClosed
from ..websocket import Data, WebSocket
from .output import Console, format_seconds, format_size, timestamp

__all__ = ["Session", "HELP"]

HELP = """\
commands:
  /ping [TEXT]             send a ping (with TEXT as its payload), print the round trip
  /binary HEX              send a binary message: /binary 48 69 or /binary 4869
  /close [CODE [REASON]]   close the connection (1000 by default): /close 4000 bye
  /json                    pretty-print received JSON messages, or stop doing it
  /quit                    close normally and exit (Ctrl-D and Ctrl-C too)
  /help                    this list
  //TEXT                   send a text message that starts with "/"
anything else is sent as a text message"""

PING_TIMEOUT = 10.0
BINARY_PREVIEW = 64  # bytes of a binary message shown in hex

# C0 and C1 control characters but newline and tab: shown escaped, so that a message
# cannot move the cursor or recolour the terminal.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(32), *range(127, 160)) if c not in (9, 10)}


class Session:
    """Reads commands and messages from the terminal, prints what arrives."""

    def __init__(self, ws: WebSocket, console: Console, url: str) -> None:
        self.ws = ws
        self.console = console
        self.url = url
        self.pretty_json = False
        self.commands: dict[str, Callable[[str], Awaitable[None]]] = {
            "ping": self.ping,
            "binary": self.binary,
            "close": self.close,
            "json": self.toggle_json,
            "quit": self.quit,
            "help": self.help,
        }

    async def run(self) -> None:
        """Until the connection closes (from either side)."""
        prompt: PromptSession[str] = PromptSession(history=_history(), erase_when_done=True)
        with patch_stdout(raw=True):
            self.info(f"connected to {self.url}{_negotiated(self.ws)}; /help lists commands")
            receiver = asyncio.create_task(self.receive())
            while not receiver.done():
                reading = asyncio.ensure_future(prompt.prompt_async("> "))
                await asyncio.wait({reading, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():  # the server closed the connection
                    reading.cancel()
                    await asyncio.gather(reading, return_exceptions=True)
                    break
                try:
                    line = reading.result()
                except (EOFError, KeyboardInterrupt):
                    line = "/quit"
                await self.handle(line)
            await receiver
            self.info(f"connection closed: {self.ws.protocol.closed_exception()}")

    async def handle(self, line: str) -> None:
        if line.startswith("/") and not line.startswith("//"):
            name, _, rest = line[1:].partition(" ")
            command = self.commands.get(name)
            if command is None:
                self.error(f"unknown command /{name}; /help lists them")
                return
            await command(rest.strip())
        else:
            await self.send(line.removeprefix("/"))

    # -- commands -------------------------------------------------------------

    async def send(self, message: Data) -> None:
        try:
            await self.ws.send(message)
        except ConnectionClosed:
            return  # the receiver reports the closure
        self.show(">", message)

    async def ping(self, text: str) -> None:
        try:
            rtt = await asyncio.wait_for(self.ws.ping(text.encode() or None), PING_TIMEOUT)
        except ValueError as exc:  # payload over 125 bytes
            self.error(str(exc))
        except TimeoutError:
            self.error(f"no pong within {PING_TIMEOUT:g} s")
        except ConnectionClosed:
            return
        else:
            self.info(f"pong: round trip {format_seconds(rtt)}")

    async def binary(self, text: str) -> None:
        try:
            data = bytes.fromhex(text)
        except ValueError:
            self.error(f"/binary takes hexadecimal bytes, such as 48 69, not {text!r}")
            return
        await self.send(data)

    async def close(self, text: str) -> None:
        code_text, _, reason = text.partition(" ")
        try:
            code = int(code_text) if code_text else 1000
            await self.ws.close(code, reason.strip())
        except ValueError as exc:
            self.error(f"/close {text}: {exc}")

    async def toggle_json(self, text: str) -> None:
        self.pretty_json = not self.pretty_json
        self.info(f"JSON pretty-printing {'on' if self.pretty_json else 'off'}")

    async def quit(self, text: str) -> None:
        await self.ws.close()

    async def help(self, text: str) -> None:
        self.info(HELP)

    # -- output ---------------------------------------------------------------

    async def receive(self) -> None:
        try:
            while True:
                self.show("<", await self.ws.recv())
        except ConnectionClosed:
            return

    def show(self, direction: str, message: Data) -> None:
        arrow = self.console.paint_out(direction, "cyan" if direction == "<" else "green")
        stamp = self.console.paint_out(timestamp(), "dim")
        if isinstance(message, bytes):
            body = self.console.paint_out(f"(binary, {format_size(len(message))})", "magenta")
            body += " " + message[:BINARY_PREVIEW].hex(" ")
            body += " …" if len(message) > BINARY_PREVIEW else ""
        else:
            body = _pretty(message) if self.pretty_json else message
            body = body.translate(_CONTROLS)
        self.console.out(f"{stamp} {arrow} {body}")

    def info(self, text: str) -> None:
        self.console.out(text, "yellow")

    def error(self, text: str) -> None:
        self.console.out(text, "red")


def _pretty(text: str) -> str:
    """``text`` indented on the lines after it if it is a JSON object or array."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if not isinstance(value, dict | list):
        return text
    return "\n" + json.dumps(value, indent=2, ensure_ascii=False)


def _negotiated(ws: WebSocket) -> str:
    parts = []
    if ws.subprotocol:
        parts.append(f"subprotocol {ws.subprotocol}")
    if ws.response is not None:
        parts += ws.response.headers.get_all("Sec-WebSocket-Extensions")
    return f" ({', '.join(parts)})" if parts else ""


def _history() -> History:
    """Lines typed in earlier sessions, in $XDG_STATE_HOME/switchboard/history."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    path = Path(state) / "switchboard" / "history"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError:  # a read-only home: history for this session only
        return InMemoryHistory()
    return FileHistory(str(path))

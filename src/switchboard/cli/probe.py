"""``switchboard probe``: what a WebSocket server negotiates and how it behaves."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
from dataclasses import dataclass
from typing import Any

from ..client import connect
from ..protocol.errors import ConnectionClosed
from ..protocol.handshake import parse_extensions
from ..protocol.limits import Limits
from ..websocket import Data, WebSocket
from .errors import describe_error, target
from .options import add_client_options, bounded, client_options
from .output import Console, format_seconds, format_size

EXAMPLES = """examples:
  switchboard probe ws://127.0.0.1:8765/
  switchboard probe --json wss://example.com/socket | jq .echo
  switchboard probe -s chat.v2 -s chat.v1 --max-size 1048576 wss://example.com/chat

sample output:
  handshake    101 Switching Protocols in 1.9 ms
  subprotocol  none
  extensions   permessage-deflate
  ping         0.081 ms (median of 5)
  echo         yes, up to 1 MiB; 4 MiB: closed 1009 (message too big) 'message too big: ...'
  close        yes: 1000 (normal closure) in 0.342 ms

exit status: 0 when every check passed, 1 when one failed or the handshake did.
"""

PINGS = 5
FIRST_ECHO = 1024  # echo sizes go 1 KiB, 4 KiB, 16 KiB, ... up to --max-size


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "probe",
        help="check a server: handshake, extensions, ping, echo size, close",
        description="Check a WebSocket server and report: handshake status and time, the "
        "negotiated subprotocol and extensions with their parameters, the ping round trip, "
        "the largest message it echoes (if it is an echo server) and whether it answers a "
        "close correctly (on a second connection).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", metavar="URL", help="ws:// or wss:// URL")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--timeout",
        type=bounded(float, 0.1, 300),
        default=5.0,
        metavar="SECONDS",
        help="how long each step may take (5; echoes get a second more per MiB)",
    )
    parser.add_argument(
        "--max-size",
        type=bounded(int, FIRST_ECHO, 1 << 30),
        default=16 << 20,
        metavar="BYTES",
        help="largest echo to try (16 MiB)",
    )
    add_client_options(parser)
    parser.set_defaults(run=run)


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the report: ``name`` is the table label and JSON key."""

    name: str
    text: str
    data: Any
    ok: bool = True


def run(args: argparse.Namespace) -> int:
    try:
        checks = asyncio.run(probe(args))
    except Exception as exc:
        line = describe_error(exc, target(args))
        if not args.json or line is None:
            raise
        print(json.dumps({"url": args.url, "ok": False, "error": line}, indent=2))
        return 1
    ok = all(check.ok for check in checks)
    if args.json:
        report = {"url": args.url, "ok": ok} | {check.name: check.data for check in checks}
        print(json.dumps(report, indent=2))
    else:
        Console().table([(c.name, c.text, "green" if c.ok else "red") for c in checks])
    return 0 if ok else 1


async def probe(args: argparse.Namespace) -> list[Check]:
    loop = asyncio.get_running_loop()
    options = client_options(args) | dict(
        open_timeout=args.timeout,
        close_timeout=args.timeout,
        ping_interval=None,
        limits=Limits(max_message_size=args.max_size, max_frame_size=args.max_size),
    )
    start = loop.time()
    ws = await connect(args.url, **options)
    elapsed = loop.time() - start
    try:
        checks = [
            _handshake(ws, elapsed),
            Check("subprotocol", ws.subprotocol or "none", ws.subprotocol),
            _extensions(ws),
            await _ping(ws, args.timeout),
            await _echo(ws, args.timeout, args.max_size),
        ]
    finally:
        await ws.close()
    # A fresh connection: a failed echo may have left the first one closed or clogged.
    ws = await connect(args.url, **options)
    checks.append(await _close(ws, args.timeout))
    return checks


def _handshake(ws: WebSocket, elapsed: float) -> Check:
    assert ws.response is not None
    status, reason = ws.response.status, ws.response.reason
    return Check(
        "handshake",
        f"{status} {reason} in {format_seconds(elapsed)}",
        {"status": status, "reason": reason, "time_ms": round(elapsed * 1000, 3)},
    )


def _extensions(ws: WebSocket) -> Check:
    assert ws.response is not None
    extensions = parse_extensions(ws.response.headers.get_all("Sec-WebSocket-Extensions"))
    texts = []
    for name, params in extensions:
        texts.append(
            "; ".join(
                [name] + [key if value is None else f"{key}={value}" for key, value in params]
            )
        )
    data = [{"name": name, "params": dict(params)} for name, params in extensions]
    return Check("extensions", ", ".join(texts) or "none", data)


async def _ping(ws: WebSocket, timeout: float) -> Check:
    rtts = []
    try:
        for _ in range(PINGS):
            rtts.append(await asyncio.wait_for(ws.ping(), timeout))
    except TimeoutError:
        return Check("ping", f"no pong within {timeout:g} s", None, ok=False)
    except ConnectionClosed as exc:
        return Check("ping", f"connection closed: {exc}", None, ok=False)
    median = statistics.median(rtts)
    return Check(
        "ping",
        f"{format_seconds(median)} (median of {PINGS})",
        {"median_ms": round(median * 1000, 3), "count": PINGS},
    )


async def _echo(ws: WebSocket, timeout: float, max_size: int) -> Check:
    failure = await _echoes(ws, f"switchboard probe {secrets.token_hex(8)}", timeout)
    if failure is not None:
        return Check("echo", f"no: a text message got no echo ({failure})", {"echoes": False})
    largest = 0
    size = FIRST_ECHO
    while size <= max_size:
        failure = await _echoes(ws, os.urandom(size), timeout + size / (1 << 20))
        if failure is not None:
            break
        largest = size
        size *= 4
    data = {"echoes": True, "largest": largest, "failed_size": None, "failure": failure}
    if failure is None:
        return Check("echo", f"yes, up to {format_size(largest)} (the most tried)", data)
    data["failed_size"] = size
    text = f"up to {format_size(largest)}" if largest else "text only"
    return Check("echo", f"yes, {text}; {format_size(size)}: {failure}", data)


async def _echoes(ws: WebSocket, message: Data, timeout: float) -> str | None:
    """Send ``message`` and wait for it to come back; ``None`` if it did, else why not."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        # Uncompressed, so that the size tried is the size on the wire.
        await asyncio.wait_for(ws.send(message, compress=False), timeout)
        while await asyncio.wait_for(ws.recv(), deadline - loop.time()) != message:
            pass  # something else (a greeting, a broadcast): keep waiting
    except TimeoutError:
        return f"no echo within {timeout:.3g} s"
    except ConnectionClosed as exc:
        return f"closed {exc.rcvd}" if exc.rcvd else str(exc)
    return None


async def _close(ws: WebSocket, timeout: float) -> Check:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await ws.close(1000, "switchboard probe")
    elapsed = loop.time() - start
    rcvd = ws.protocol.close_rcvd
    data: dict[str, Any] = {
        "code": rcvd.code if rcvd else None,
        "reason": rcvd.reason if rcvd else None,
        "time_ms": round(elapsed * 1000, 3),
    }
    if ws.protocol.failure is not None:
        text = f"no: invalid answer: {ws.protocol.failure.reason}"
    elif rcvd is None and elapsed < timeout:
        text = "no: the server dropped the connection without a close frame"
    elif rcvd is None:
        text = f"no: no close frame within {timeout:g} s"
    elif elapsed >= timeout:
        text = f"no: answered {rcvd} but left the TCP connection open for {timeout:g} s"
    else:
        return Check("close", f"yes: {rcvd} in {format_seconds(elapsed)}", data | {"ok": True})
    return Check("close", text, data | {"ok": False}, ok=False)

"""Server memory per connection, and after the connections close: Switchboard vs
picows, aiohttp, Node's ws and websockets, with and without permessage-deflate.

    .venv/bin/python bench/memory.py [--connections 10000] [--rounds 3] [--settle 6]

Each server runs in its own process, a fresh one for each compression setting (picows
has no permessage-deflate), all started at once and measured in turn, the order
rotated each round. The Python ones run on the stock asyncio loop with their
library's defaults, except: no keepalive pings (``ping_interval=None``, aiohttp's and
picows' default; Node's ws sends none) and no connection limit. This process is the
load generator. Each round opens ``--connections`` connections to one server (a
browser's offer when compressing: ``permessage-deflate; client_max_window_bits``),
sends one 500-byte JSON text message on each and reads its echo (above Switchboard's
128-byte threshold, so compressed both ways; under Node's ws's 1 KiB threshold, so
ws answers it uncompressed), reads the server's RSS with all of them open, closes
them all (a close frame, then the server's close frame and end of file), waits
``--settle`` seconds and reads the RSS again. The baseline is the RSS after one
warm-up connection. RSS comes from /proc, so this runs on Linux only.

Reported per round: KiB of RSS per open connection, (open - baseline) / N, and MiB
of RSS after they all closed. The last line of output is one JSON object with every
sample, for machines. See docs/performance.md ("Memory") for results.

Run as ``bench/memory.py --serve NAME on|off``, it is one of the Python servers: it
prints ``PORT <n>`` when ready and exits when its stdin closes (so it never outlives
the load generator) or on SIGTERM. Node's is ``bench/node/ws_server.js echo|deflate``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import platform
import select
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from importlib.metadata import version
from pathlib import Path
from typing import Any

from servers import HOST, aiohttp_echo_server, picows_server, raise_fd_limit, serve_until_stopped

HERE = Path(__file__).resolve().parent
SERVERS = ["switchboard", "picows", "aiohttp", "node-ws", "websockets"]
NO_DEFLATE = {"picows"}  # servers without permessage-deflate
TIMEOUT = 60.0  # seconds for any one step of a round (all handshakes, all closes)
CONCURRENCY = 100  # handshakes in flight at once: under every server's listen backlog
MESSAGE = json.dumps(
    {
        "type": "message",
        "message": {
            "user": "user17",
            "text": "the quick brown fox jumps over the lazy dog " * 9,
            "time": 1700000000000,
        },
    }
).encode()[:500]


# --- Servers ------------------------------------------------------------------


async def echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


async def switchboard_server(compress: bool) -> int:
    import switchboard

    server = await switchboard.serve(
        echo,
        HOST,
        0,
        compression=switchboard.DeflateOptions() if compress else None,
        ping_interval=None,
        max_connections=None,
        backlog=2048,
    )
    return int(server.port)


async def websockets_server(compress: bool) -> int:
    from websockets.asyncio.server import serve

    server = await serve(
        echo, HOST, 0, compression="deflate" if compress else None, ping_interval=None, backlog=2048
    )
    return int(server.sockets[0].getsockname()[1])


async def aiohttp_server(compress: bool) -> int:
    return await aiohttp_echo_server(compress=compress)


async def picows_echo_server(compress: bool) -> int:
    return await picows_server("echo")


STARTERS = {
    "switchboard": switchboard_server,
    "picows": picows_echo_server,
    "aiohttp": aiohttp_server,
    "websockets": websockets_server,
}


class ServerProcess:
    """One server in its own process, stopped by PID. Servers start side by side:
    construct them all, then call ``started()`` on each."""

    def __init__(self, name: str, compress: bool) -> None:
        self.name = name
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        if name == "node-ws":
            node = shutil.which("node")
            if node is None or not (HERE / "node" / "node_modules" / "ws").is_dir():
                raise SystemExit("node-ws needs node and `npm ci` in bench/node (./dev bench)")
            command = [node, str(HERE / "node" / "ws_server.js"), "deflate" if compress else "echo"]
        else:
            command = [sys.executable, __file__, "--serve", name, "on" if compress else "off"]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the servers
        )
        self.port = 0  # known once started()

    def started(self) -> None:
        """Wait until it listens (at most 30 s) and read its port."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("PORT "):
            raise RuntimeError(f"{self.name} did not start:\n{self.stop()}")
        self.port = int(line.split()[1])

    def rss(self) -> float:
        """The server's resident set size, in MiB."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError(f"{self.name} exited:\n{self.stop()}")

    def stop(self) -> str:
        """Stop it (its stdin closed, then SIGTERM, SIGKILL: 5 s each); return the end
        of its stderr."""
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        for end in (None, self.proc.terminate, self.proc.kill):
            if end is not None:
                end()
            try:
                self.proc.wait(5)
                break
            except subprocess.TimeoutExpired:
                pass
        if self.stderr.closed:
            return ""
        self.stderr.seek(0)
        errors = self.stderr.read().decode(errors="replace")[-4000:]
        self.stderr.close()
        return errors


# --- Client -------------------------------------------------------------------

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TAIL = b"\x00\x00\xff\xff"


def frame(first: int, payload: bytes) -> bytes:
    """A masked client frame; ``first`` is the first byte (FIN, RSV1, opcode)."""
    n = len(payload)
    if n < 126:
        header = bytes([first, 0x80 | n])
    elif n < 1 << 16:
        header = bytes([first, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, 0x80 | 127]) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return header + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


def window_bits(extensions: str, name: str) -> int:
    for param in extensions.split(";"):
        key, _, value = param.strip().partition("=")
        if key == name and value:
            return int(value.strip('"'))
    return 15


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return b0, await reader.readexactly(n)


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, compress: bool) -> Connection:
        """Handshake, then one message each way, checked."""
        reader, writer = await asyncio.open_connection(HOST, port)
        key = base64.b64encode(os.urandom(16))
        offer = b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        writer.write(
            b"GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
            % (HOST.encode(), port, key, offer if compress else b"")
        )
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status, *lines = head.strip().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        if not status.startswith("HTTP/1.1 101") or headers.get("sec-websocket-accept") != accept:
            raise AssertionError(f"handshake failed: {head!r}")
        extensions = headers.get("sec-websocket-extensions", "")
        if extensions.startswith("permessage-deflate") is not compress:
            raise AssertionError(f"compression {compress}, but extensions {extensions!r}")
        if compress:
            bits = window_bits(extensions, "client_max_window_bits")
            encoder = zlib.compressobj(6, zlib.DEFLATED, -bits)
            payload = encoder.compress(MESSAGE) + encoder.flush(zlib.Z_SYNC_FLUSH)[:-4]
            writer.write(frame(0xC1, payload))
        else:
            writer.write(frame(0x81, MESSAGE))
        b0, payload = await read_frame(reader)
        if b0 & 0x40:
            decoder = zlib.decompressobj(-window_bits(extensions, "server_max_window_bits"))
            payload = decoder.decompress(payload + TAIL)
        if b0 & 0x0F != 1 or payload != MESSAGE:
            raise AssertionError(f"bad echo: {b0:#x} {payload[:60]!r}")
        return cls(reader, writer)

    async def close(self) -> None:
        """Closing handshake: our close frame, the server's, then its end of file."""
        self.writer.write(frame(0x88, (1000).to_bytes(2, "big")))
        b0, _ = await read_frame(self.reader)
        if b0 & 0x0F != 8:
            raise AssertionError(f"expected a close frame, got opcode {b0 & 0x0F}")
        await self.reader.read()  # until the server closes TCP
        self.writer.close()


async def open_all(port: int, compress: bool, n: int) -> list[Connection]:
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one() -> Connection:
        async with slots:
            return await Connection.open(port, compress)

    return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), TIMEOUT)


async def close_all(connections: list[Connection]) -> None:
    slots = asyncio.Semaphore(10 * CONCURRENCY)

    async def one(conn: Connection) -> None:
        async with slots:
            await conn.close()

    await asyncio.wait_for(asyncio.gather(*(one(c) for c in connections)), TIMEOUT)


# --- Measurement --------------------------------------------------------------


async def measure_round(
    server: ServerProcess, compress: bool, n: int, settle: float, result: dict[str, Any]
) -> None:
    """One round on one server: the RSS with ``n`` connections open, then closed."""
    connections = await open_all(server.port, compress, n)
    await asyncio.sleep(min(0.5, settle))  # let the server finish its per-connection work
    result["open"].append(server.rss())
    await close_all(connections)
    del connections
    await asyncio.sleep(settle)
    result["closed"].append(server.rss())


def report(results: dict[str, dict[str, Any]], n: int, rounds: int, settle: float) -> None:
    print(f"\nserver RSS, {n:,} connections per round, one 500-byte message each way")
    print(
        "KiB/conn: (RSS with all open - baseline) / connections; closed: RSS "
        f"{settle:g} s after the last one closed\n"
    )
    head = f"{'server':<28}{'baseline':>10}"
    for r in range(1, rounds + 1):
        head += f"{f'open {r}':>12}{f'closed {r}':>11}"
    print(head)
    print(f"{'':<28}{'MiB':>10}" + f"{'KiB/conn':>12}{'MiB':>11}" * rounds)
    for key, result in results.items():
        base = result["baseline"]
        line = f"{key:<28}{base:>10.1f}"
        for opened, closed in zip(result["open"], result["closed"], strict=True):
            line += f"{(opened - base) * 1024 / n:>12.1f}{closed:>11.1f}"
        print(line)


async def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """All the servers at once; each round measures each of them in turn, the order
    rotated by one each round, so that a change on the machine lands on all alike."""
    configs = [
        (name, compress)
        for name in args.servers
        for compress in (False, True)
        if not (compress and name in NO_DEFLATE)
    ]
    keys = [f"{name} {'deflate' if compress else 'plain'}" for name, compress in configs]
    servers: dict[str, ServerProcess] = {}
    results: dict[str, dict[str, Any]] = {}
    try:
        for key, (name, compress) in zip(keys, configs, strict=True):
            servers[key] = ServerProcess(name, compress)
        for server, (_, compress) in zip(servers.values(), configs, strict=True):
            server.started()
            await close_all(await open_all(server.port, compress, 1))  # imports, caches
        await asyncio.sleep(args.settle)
        for key, server in servers.items():
            results[key] = {"baseline": server.rss(), "open": [], "closed": []}
        for r in range(args.rounds):
            for i in [*range(r % len(keys), len(keys)), *range(r % len(keys))]:
                name, compress = configs[i]
                print(f"round {r + 1}: {keys[i]} ...", file=sys.stderr, flush=True)
                start = time.monotonic()
                await measure_round(
                    servers[keys[i]], compress, args.connections, args.settle, results[keys[i]]
                )
                print(f"  done in {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    finally:
        for key, server in servers.items():
            errors = server.stop()
            if errors.strip():
                print(f"{key} stderr:\n{errors}", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10_000, help="per round (10,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server (3)")
    parser.add_argument(
        "--settle", type=float, default=6.0, help="seconds after closing before reading RSS (6)"
    )
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=SERVERS)
    parser.add_argument("--serve", nargs=2, metavar=("NAME", "on|off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    hard = raise_fd_limit()
    if args.serve:
        name, compress = args.serve
        asyncio.run(serve_until_stopped(lambda: STARTERS[name](compress == "on")))
        return
    if args.connections + 64 > hard:
        raise SystemExit(
            f"--connections {args.connections} needs more file descriptors than {hard}"
        )
    results = asyncio.run(run(args))
    report(results, args.connections, args.rounds, args.settle)
    versions = {
        n: version("switchboard-ws" if n == "switchboard" else n)
        for n in args.servers
        if n != "node-ws"
    }
    if "node-ws" in args.servers:
        package = HERE / "node" / "node_modules" / "ws" / "package.json"
        versions["node-ws"] = json.loads(package.read_text())["version"]
    print(
        json.dumps(
            {
                "connections": args.connections,
                "rounds": args.rounds,
                "settle": args.settle,
                "python": platform.python_version(),
                "versions": versions,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()

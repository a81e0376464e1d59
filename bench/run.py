"""Switchboard vs picows, aiohttp, Node's ws and websockets: echo, handshakes,
compression and broadcast benchmarks.

    .venv/bin/python bench/run.py [--quick] [--scenarios ...] [--rounds N]

Each server runs in its own process (bench/servers.py, bench/node/ws_server.js);
this process is the load generator, with the same raw-socket client for every
server. Measurements are interleaved: each round measures every scenario on every
server (in a rotated order), and the table reports the median across rounds, the
server's CPU time per operation (from /proc/<pid>/stat) and Switchboard / peer
ratios. See docs/performance.md for the method.

The last line of output is one JSON object with every sample, for machines.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import platform
import random
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import uvloop
from servers import HOST, MESSAGE_SIZE, raise_fd_limit

HERE = Path(__file__).resolve().parent
SERVERS = ["switchboard", "picows", "aiohttp", "node-ws", "websockets", "switchboard-zlib"]
NODE_SERVER = HERE / "node" / "ws_server.js"
SMALL = b"x" * 32
LARGE = bytes(range(256)) * 4096  # 1 MiB
TIMEOUT = 30.0  # seconds past the planned duration before a measurement is declared stuck
CHUNK = 256 * 1024  # reads are compared against the expected stream this much at a time
HANDSHAKERS = 50  # concurrent clients in the handshakes scenario
OFFER = "permessage-deflate; client_max_window_bits"  # what browsers offer


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool = True


@dataclass(frozen=True)
class Scenario:
    """A scenario: the servers' mode, which servers have it, what it reports, and
    what one operation is (the server's CPU time is reported per operation)."""

    mode: str
    servers: tuple[str, ...]
    metrics: tuple[Metric, ...]
    operation: str

    def cpu_metric(self, name: str) -> Metric:
        return Metric(f"{name}_cpu_us", f"  server CPU per {self.operation}", "µs", False)


ALL = tuple(n for n in SERVERS if n != "switchboard-zlib")  # it differs only when compressing
SCENARIOS = {
    "echo": Scenario(
        "echo", ALL, (Metric("echo", "echo 32 B, 1 in flight", "round trips/s"),), "round trip"
    ),
    "pipelined": Scenario(
        "echo", ALL, (Metric("pipelined", "pipelined 32 B, window 100", "messages/s"),), "message"
    ),
    "large": Scenario("echo", ALL, (Metric("large", "echo 1 MiB binary", "MiB/s"),), "1 MiB echo"),
    "handshakes": Scenario(
        "echo",
        ALL,
        (Metric("handshakes", f"handshakes, {HANDSHAKERS} concurrent", "handshakes/s"),),
        "handshake",
    ),
    "deflate": Scenario(
        "deflate",
        tuple(n for n in SERVERS if n != "picows"),  # picows has no permessage-deflate
        (Metric("deflate", "deflate echo 16 KiB JSON", "messages/s"),),
        "message",
    ),
    "broadcast": Scenario(
        "broadcast",
        tuple(n for n in ALL if n != "aiohttp"),  # aiohttp has no broadcast
        (
            Metric("broadcast", "broadcast 32 B to {clients}", "deliveries/s"),
            Metric("broadcast_latency", "  call -> last client", "ms", higher_is_better=False),
        ),
        "delivery",
    ),
}


def metrics(name: str) -> list[Metric]:
    """A scenario's rows: its own metrics, then the server CPU per operation."""
    scenario = SCENARIOS[name]
    return [*scenario.metrics, scenario.cpu_metric(name)]


# --- Servers -----------------------------------------------------------------


class ServerProcess:
    """One server in its own process; it exits when we close its stdin or kill it.
    Servers start side by side: construct them all, then call ``started()`` on each."""

    def __init__(self, name: str, mode: str, loop: str, profile: str | None) -> None:
        self.name = name
        self.mode = mode
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.errors = ""  # the end of its stderr, once stopped
        env = dict(os.environ)
        if profile:
            env["BENCH_PROFILE"] = profile
        if name == "node-ws":
            command = [node(), str(NODE_SERVER), mode]
        else:
            command = [sys.executable, str(HERE / "servers.py"), name, mode, loop]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the servers
        )
        self.port = 0  # known once started()

    def started(self) -> None:
        """Wait until it listens (at most 30 s) and read its port."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"{self.name} ({self.mode}) server did not start:\n{self.errors}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        """Stop by PID: SIGTERM, then SIGKILL if it has not exited after 5 s."""
        if self.stderr.closed:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self.stderr.seek(0)
        self.errors = self.stderr.read().decode(errors="replace")[-4000:]
        self.stderr.close()

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(
                f"{self.name} ({self.mode}) server exited with {self.proc.returncode}:\n"
                + self.errors
            )


def node() -> str:
    """The node executable, or a clear error if Node or bench/node's packages are missing."""
    found = shutil.which("node")
    if found is None or not (HERE / "node" / "node_modules" / "ws").is_dir():
        raise SystemExit("node-ws needs node and `npm ci` in bench/node (./dev bench does both)")
    return found


# --- Client ------------------------------------------------------------------
#
# A minimal raw WebSocket client on asyncio.Protocol. Every outgoing frame is
# built and masked once, up front; incoming echoes are checked against the exact
# expected bytes with one memcmp per read, and counted by length, so the client
# does O(1) Python work per socket read instead of per message.

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MASK = os.urandom(4)


def frame(opcode: int, payload: bytes, *, masked: bool, rsv1: bool = False) -> bytes:
    """One unfragmented frame with minimal length encoding, as the servers send them
    (``rsv1``: a compressed message)."""
    n = len(payload)
    first = 0x80 | 0x40 * rsv1 | opcode
    if n < 126:
        header = bytes([first, n])
    elif n < 1 << 16:
        header = bytes([first, 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, 127]) + n.to_bytes(8, "big")
    if not masked:
        return header + payload
    key = int.from_bytes((MASK * (n // 4 + 1))[:n], "big")
    body = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
    return bytes([header[0], header[1] | 0x80]) + header[2:] + MASK + body


CLOSE = frame(0x8, (1000).to_bytes(2, "big"), masked=True)
GO = frame(0x1, b"go", masked=True)


class Client(asyncio.Protocol):
    """One client connection; after the handshake, reads go to ``on_data``."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport
        self.head = b""
        self.handshake: asyncio.Future[bytes] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.on_data: Callable[[bytes], None] | None = None
        self.waiter: asyncio.Future[Any] | None = None  # failed if the connection drops
        self.extensions = ""  # the server's Sec-WebSocket-Extensions

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.on_data is not None:
            self.on_data(data)
        elif not self.handshake.done():
            self.head += data
            if b"\r\n\r\n" in self.head:
                self.handshake.set_result(self.head)
        # else: the closing handshake; nothing to check

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError("the server closed the connection")
        for future in (self.handshake, self.waiter):
            if future is not None and not future.done():
                future.set_exception(error)
        self.closed.set_result(None)

    def fail(self, message: str) -> None:
        self.on_data = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(AssertionError(message))


async def connect(port: int, offer: str | None = None) -> Client:
    """Open a WebSocket connection, offering ``offer`` as its extensions; check the
    server accepted permessage-deflate if offered, and no extension otherwise."""
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(Client, HOST, port)
    key = base64.b64encode(os.urandom(16))
    extensions = b"Sec-WebSocket-Extensions: %s\r\n" % offer.encode() if offer else b""
    client.transport.write(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
        % (port, key, extensions)
    )
    head = await asyncio.wait_for(client.handshake, TIMEOUT)
    status, *lines = head.decode("latin-1").split("\r\n\r\n")[0].split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    accepted = headers.get("sec-websocket-accept") == accept_key(key)
    if not status.startswith("HTTP/1.1 101") or not accepted:
        raise AssertionError(f"handshake failed: {head!r}")
    client.extensions = headers.get("sec-websocket-extensions", "")
    if offer and not client.extensions.startswith("permessage-deflate"):
        raise AssertionError(f"server did not accept {offer!r}: {head!r}")
    if not offer and client.extensions:
        raise AssertionError(f"server negotiated {client.extensions}")
    if not head.endswith(b"\r\n\r\n"):
        raise AssertionError("server sent data right after the handshake")
    return client


def accept_key(key: bytes) -> str:
    """The Sec-WebSocket-Accept a server must answer ``key`` with."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()


async def disconnect(clients: list[Client]) -> None:
    """Closing handshake on every connection; abort any that takes over TIMEOUT."""
    for client in clients:
        client.on_data = None
        client.waiter = None
        client.transport.write(CLOSE)
    try:
        await asyncio.wait_for(asyncio.gather(*(c.closed for c in clients)), TIMEOUT)
    except asyncio.TimeoutError:
        for client in clients:
            client.transport.abort()


async def pump(
    client: Client, opcode: int, payload: bytes, window: int, duration: float
) -> tuple[int, float]:
    """Keep ``window`` echoes in flight for ``duration``; return (messages, seconds).

    After the deadline no new message is sent and the clock stops when the last
    one in flight is back, so every message counted made the full round trip.
    """
    loop = asyncio.get_running_loop()
    done = client.waiter = loop.create_future()
    out = frame(opcode, payload, masked=True)
    batches = [out * k for k in range(window + 1)]  # batches[k]: k messages in one write
    echo = frame(opcode, payload, masked=False)
    size = len(echo)
    expected = echo * (CHUNK // size + 2)  # any read, at any offset, is a slice of this
    write = client.transport.write
    perf_counter = time.perf_counter
    received = completed = sent = 0
    deadline = end = 0.0
    stopping = False

    def on_data(data: bytes) -> None:
        nonlocal received, completed, sent, end, stopping
        offset = received % size
        for i in range(0, len(data), CHUNK):
            if not expected.startswith(data[i : i + CHUNK], offset + i % size):
                client.fail(f"unexpected bytes in the echo stream at {received + i}")
                return
        received += len(data)
        new = received // size - completed
        completed += new
        if not stopping:
            if perf_counter() < deadline:
                write(batches[new])
                sent += new
                return
            stopping = True
        if completed == sent:
            end = perf_counter()
            done.set_result(None)

    client.on_data = on_data
    start = perf_counter()
    deadline = start + duration
    write(batches[window])
    sent = window
    await asyncio.wait_for(done, duration + TIMEOUT)
    client.on_data = None
    return completed, end - start


class Meter:
    """``with meter:`` around the timed part of a measurement: its wall time, and the
    CPU time of this process and of the server (all of its threads, from /proc)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.wall = self.own = self.server = 0.0

    def __enter__(self) -> Meter:
        self.wall, self.own = time.perf_counter(), time.process_time()
        self.server = cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server = cpu_seconds(self.pid) - self.server
        self.wall = time.perf_counter() - self.wall
        self.own = time.process_time() - self.own


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (utime + stime, all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_echo(
    port: int, opcode: int, payload: bytes, window: int, args: argparse.Namespace, meter: Meter
) -> int:
    """Messages echoed in the timed part, on a fresh connection."""
    client = await connect(port)
    try:
        await pump(client, opcode, payload, window, args.warmup)
        with meter:
            count, _ = await pump(client, opcode, payload, window, args.duration)
    finally:
        await disconnect([client])
    return count


# --- Compression --------------------------------------------------------------
#
# The client offers what browsers offer, takes the server's parameters, and sends
# frames compressed once, up front: each message on its own, so with no context
# takeover from the client's side, which a sender may always choose. It decompresses
# every echo with one decompressor per connection (as the server's context takeover
# requires) and checks it. Eight different 16 KiB messages in turn: one message
# repeated would compress to a few bytes of back-references in a 15-bit window.

TAIL = b"\x00\x00\xff\xff"  # cut after compressing, put back before decompressing (RFC 7692)
WORDS = [
    "order",
    "price",
    "size",
    "bid",
    "ask",
    "user",
    "room",
    "chat",
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
]


def json_message(seed: int, size: int = 16 * 1024) -> bytes:
    """A JSON text of exactly ``size`` bytes: records drawn from a seeded generator,
    so that messages differ but share keys and words, as a stream of updates does."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []

    def dump(pad: int) -> bytes:
        message = {"seq": seed, "items": items, "pad": " " * pad}
        return json.dumps(message, separators=(",", ":")).encode()

    while len(dump(0)) <= size:
        items.append(
            {
                "id": seed * 1000 + len(items),
                "user": f"user{rng.randrange(1000)}",
                "price": round(rng.uniform(1, 1000), 2),
                "size": rng.randrange(1, 10_000),
                "text": " ".join(rng.choices(WORDS, k=rng.randrange(3, 12))),
                "tags": rng.sample(WORDS, 3),
            }
        )
    items.pop()
    return dump(size - len(dump(0)))


DEFLATE_MESSAGES = [json_message(seed) for seed in range(8)]


def deflate_params(extensions: str) -> dict[str, str]:
    """The parameters of the permessage-deflate the server accepted."""
    params = {}
    for item in extensions.split(",")[0].split(";")[1:]:
        key, _, value = item.strip().partition("=")
        params[key.strip()] = value.strip().strip('"')
    return params


def compressed_frame(message: bytes, bits: int) -> bytes:
    """A masked compressed text frame of ``message``, compressed on its own."""
    encoder = zlib.compressobj(6, zlib.DEFLATED, -max(bits, 9))  # zlib's least is 9
    data = encoder.compress(message) + encoder.flush(zlib.Z_SYNC_FLUSH)
    return frame(0x1, data.removesuffix(TAIL), masked=True, rsv1=True)


async def measure_deflate(port: int, args: argparse.Namespace, meter: Meter) -> int:
    """Compressed 16 KiB JSON echoes in the timed part, one in flight."""
    client = await connect(port, OFFER)
    params = deflate_params(client.extensions)
    frames = [
        compressed_frame(m, int(params.get("client_max_window_bits") or 15))
        for m in DEFLATE_MESSAGES
    ]
    server_bits = int(params.get("server_max_window_bits") or 15)
    reset = "server_no_context_takeover" in params
    decoder = zlib.decompressobj(-server_bits)
    count = len(frames)
    buffer = bytearray()
    completed = 0

    def on_message(first: int, payload: bytes) -> bool:
        """Check one echo; False if it is wrong."""
        nonlocal decoder, completed
        if first & 0x40:
            payload = decoder.decompress(payload + TAIL)
            if reset:
                decoder = zlib.decompressobj(-server_bits)
        if first & 0xBF != 0x81 or payload != DEFLATE_MESSAGES[completed % count]:
            return False
        completed += 1
        return True

    async def run(seconds: float) -> int:
        loop = asyncio.get_running_loop()
        done = client.waiter = loop.create_future()
        begin = completed
        deadline = time.perf_counter() + seconds

        def on_data(data: bytes) -> None:
            buffer.extend(data)
            while (found := split_frame(buffer)) is not None:
                if not on_message(*found):
                    client.fail(f"bad echo of message {completed}: {found[1][:60]!r}")
                    return
                if time.perf_counter() < deadline:
                    client.transport.write(frames[completed % count])
                else:
                    done.set_result(None)

        client.on_data = on_data
        client.transport.write(frames[completed % count])
        await asyncio.wait_for(done, seconds + TIMEOUT)
        client.on_data = None
        return completed - begin

    try:
        await run(args.warmup)
        with meter:
            return await run(args.duration)
    finally:
        await disconnect([client])


def split_frame(buffer: bytearray) -> tuple[int, bytes] | None:
    """Take one whole unmasked frame off the front of ``buffer``: (first byte,
    payload), or None if it is not all there yet."""
    if len(buffer) < 2:
        return None
    n, start = buffer[1] & 0x7F, 2
    if n >= 126:
        start = 4 if n == 126 else 10
        if len(buffer) < start:
            return None
        n = int.from_bytes(buffer[2:start], "big")
    if len(buffer) < start + n:
        return None
    first, payload = buffer[0], bytes(buffer[start : start + n])
    del buffer[: start + n]
    return first, payload


# --- Handshakes ---------------------------------------------------------------
#
# Like the broadcast receivers, the handshaking clients are non-blocking sockets
# driven by a tight epoll loop outside the event loop, to keep the client's Python
# out of the way. The client still costs about 95 µs per handshake, most of it in
# the kernel (on loopback, the connecting side also runs much of the TCP handshake
# and teardown), so at picows' rate both processes keep a core busy.


class Handshaker:
    """One client socket of the handshakes scenario, through its stages: connecting,
    waiting for the 101 (checked), then for the server's close frame and its end of
    file after our close frame."""

    def __init__(self, port: int, poller: select.epoll) -> None:
        key = base64.b64encode(os.urandom(16))
        self.request = (
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (port, key)
        )
        self.accept = accept_key(key).encode()
        self.received = b""
        self.upgraded = False
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.sock.connect_ex((HOST, port))  # EINPROGRESS: writable once connected
        poller.register(self.sock, select.EPOLLOUT)

    def on_event(self, poller: select.epoll) -> bool:
        """Advance on an epoll event; True once the server has closed the connection."""
        if not self.request_sent():
            poller.modify(self.sock, select.EPOLLIN)
            return False
        data = self.sock.recv(65536)
        self.received += data
        if not self.upgraded and b"\r\n\r\n" in self.received:
            head = self.received.partition(b"\r\n\r\n")[0]
            if not head.startswith(b"HTTP/1.1 101") or self.accept not in head:
                raise AssertionError(f"handshake failed: {self.received[:300]!r}")
            self.upgraded = True
            self.sock.send(CLOSE)
        if data:
            return False
        if not self.upgraded or not self.received.partition(b"\r\n\r\n")[2].startswith(b"\x88"):
            raise AssertionError(f"closed without a close frame: {self.received[:300]!r}")
        poller.unregister(self.sock)
        self.sock.close()
        return True

    def request_sent(self) -> bool:
        """Send the request on the first event (the socket is then connected)."""
        if self.request:
            self.sock.send(self.request)
            self.request = b""
            return False
        return True


def handshakes_for(port: int, seconds: float) -> int:
    """Handshakes by HANDSHAKERS clients, each connecting, upgrading and closing,
    again and again, starting no new one after ``seconds``; all are finished."""
    poller = select.epoll()
    clients: dict[int, Handshaker] = {}
    count = 0
    deadline = time.perf_counter() + seconds
    try:
        for _ in range(HANDSHAKERS):
            client = Handshaker(port, poller)
            clients[client.sock.fileno()] = client
        while clients:
            events = poller.poll(TIMEOUT)
            if not events:
                raise AssertionError(f"{len(clients)} handshakes stuck for {TIMEOUT} s")
            for fd, _ in events:
                if not clients[fd].on_event(poller):
                    continue
                del clients[fd]
                count += 1
                if time.perf_counter() < deadline:
                    client = Handshaker(port, poller)
                    clients[client.sock.fileno()] = client
    finally:
        for client in clients.values():
            client.sock.close()
        poller.close()
    return count


async def measure_handshakes(port: int, args: argparse.Namespace, meter: Meter) -> int:
    """Handshakes done in the timed part (see ``handshakes_for``)."""
    handshakes_for(port, args.warmup)
    with meter:
        return handshakes_for(port, args.duration)


async def measure_broadcast(port: int, args: argparse.Namespace, meter: Meter) -> tuple[int, float]:
    """Deliveries in the timed part, and the median ms from the server's broadcast
    call to the last delivery.

    The receivers are read by a tight ``epoll`` loop on their sockets, outside the
    event loop: through asyncio protocols, the load generator spent more CPU per
    delivery than the fastest servers and became what the benchmark measured.
    """
    clients = args.clients
    receivers: list[Client] = []
    for i in range(0, clients, 100):  # batches stay under every server's listen backlog
        receivers += await asyncio.gather(*(connect(port) for _ in range(min(100, clients - i))))
    controller = await connect(port)
    await asyncio.sleep(0.2)  # let the servers' per-connection handlers register everyone
    for client in receivers:
        client.transport.pause_reading()  # from here on, poll() below reads them
    go_fd = controller.transport.get_extra_info("socket").fileno()

    size = 2 + MESSAGE_SIZE  # a text frame with a 7-bit length
    header = bytes([0x81, MESSAGE_SIZE])
    poller = select.epoll()
    for client in receivers:
        poller.register(client.transport.get_extra_info("socket").fileno(), select.EPOLLIN)

    def one_broadcast() -> float:
        """Send "go", read one frame from every receiver; return ns since the call."""
        os.write(go_fd, GO)
        count = 0
        deadline = time.monotonic() + TIMEOUT
        while count < clients:
            events = poller.poll(1.0)
            if not events and time.monotonic() > deadline:
                raise AssertionError(f"only {count} of {clients} receivers got the broadcast")
            for fd, _ in events:
                data = os.read(fd, 4096)
                if len(data) != size or not data.startswith(header):
                    raise AssertionError(f"expected one {size}-byte text frame, got {data[:64]!r}")
                count += 1
        return time.monotonic_ns() - int(data[2:])

    def run(seconds: float) -> list[float]:
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds
        while not latencies or time.perf_counter() < deadline:
            latencies.append(one_broadcast() / 1e6)
        return latencies

    try:
        run(args.warmup)
        with meter:
            latencies = run(args.duration)
    finally:
        poller.close()
        for client in receivers:
            client.transport.resume_reading()
        await disconnect([*receivers, controller])
    return len(latencies) * clients, statistics.median(latencies)


# --- Orchestration -----------------------------------------------------------


def rotated(items: list[str], by: int) -> list[str]:
    by %= len(items)
    return items[by:] + items[:by]


async def measure(
    scenario: str, port: int, args: argparse.Namespace, meter: Meter
) -> tuple[dict[str, float], int]:
    """One measurement: its results (the scenario's metrics) and its operations."""
    if scenario == "broadcast":
        ops, latency = await measure_broadcast(port, args, meter)
        return {"broadcast": ops / meter.wall, "broadcast_latency": latency}, ops
    if scenario == "handshakes":
        ops = await measure_handshakes(port, args, meter)
    elif scenario == "deflate":
        ops = await measure_deflate(port, args, meter)
    elif scenario == "large":
        ops = await measure_echo(port, 0x2, LARGE, 1, args, meter)
        return {"large": ops * len(LARGE) / (1 << 20) / meter.wall}, ops
    else:
        window = 100 if scenario == "pipelined" else 1
        ops = await measure_echo(port, 0x1, SMALL, window, args, meter)
    return {scenario: ops / meter.wall}, ops


async def run_rounds(
    args: argparse.Namespace, servers: dict[tuple[str, str], ServerProcess]
) -> dict[str, dict[str, list[float]]]:
    """Every round measures every scenario on every server, rotating the server order,
    after priming each server with ``--prime`` seconds of each scenario.

    Also records the server's CPU time per operation in µs (``<scenario>_cpu_us``),
    and the CPU share (CPU seconds / wall seconds, 1.0 = one core) of the server and
    of this client process, under ``<scenario>_server_cpu`` and
    ``<scenario>_client_cpu``: a client near 1.0 would mean a client-bound result.
    All over the timed part of the measurement only.
    """
    if args.prime:
        print(f"priming: every scenario for {args.prime} s on every server", file=sys.stderr)
        primer = argparse.Namespace(**{**vars(args), "duration": args.prime, "warmup": 0.0})
        for scenario in args.scenarios:
            for name in SCENARIOS[scenario].servers:
                if name in args.servers:
                    server = servers[name, SCENARIOS[scenario].mode]
                    await measure(scenario, server.port, primer, Meter(server.proc.pid))
    samples: dict[str, dict[str, list[float]]] = {}
    for r in range(args.rounds):
        for scenario in args.scenarios:
            mode = SCENARIOS[scenario].mode
            for name in rotated([n for n in SCENARIOS[scenario].servers if n in args.servers], r):
                server = servers[name, mode]
                meter = Meter(server.proc.pid)
                result, ops = await measure(scenario, server.port, args, meter)
                result[f"{scenario}_cpu_us"] = meter.server / ops * 1e6
                result[f"{scenario}_server_cpu"] = meter.server / meter.wall
                result[f"{scenario}_client_cpu"] = meter.own / meter.wall
                server.check_alive()
                for key, value in result.items():
                    samples.setdefault(key, {}).setdefault(name, []).append(value)
                shown = ", ".join(f"{k} {v:,.2f}" for k, v in result.items())
                print(f"  round {r + 1}/{args.rounds}  {name:<12} {shown}", file=sys.stderr)
                await asyncio.sleep(args.settle)  # let the server finish closing
    return samples


def median_cell(found: dict[str, Any] | None) -> str:
    """A table cell: the median and half the spread of the samples, or "-" if none."""
    if not found:
        return f"{'-':>18}"
    median, values = found["median"], found["samples"]
    spread = (max(values) - min(values)) / 2 / median * 100 if median else 0.0
    return f"{median:>12,.1f} ±{spread:>2.0f}%"


def summarize(
    samples: dict[str, dict[str, list[float]]], args: argparse.Namespace
) -> tuple[list[str], dict[str, Any]]:
    """The human-readable tables and the JSON summary."""
    servers = [n for n in SERVERS if n in args.servers]
    peers = servers[1:]
    rows = [m for s in args.scenarios for m in metrics(s)]
    results: dict[str, dict[str, dict[str, Any]]] = {
        key: {name: {"median": statistics.median(v), "samples": v} for name, v in per.items()}
        for key, per in samples.items()
    }
    ratios: dict[str, dict[str, float]] = {}
    for metric in rows:
        ours = results.get(metric.key, {}).get("switchboard")
        for name in peers:
            theirs = results.get(metric.key, {}).get(name)
            if ours and theirs:
                a, b = ours["median"], theirs["median"]
                ratios.setdefault(metric.key, {})[name] = (
                    a / b if metric.higher_is_better else b / a
                )

    def label(metric: Metric) -> str:
        return metric.label.format(clients=f"{args.clients:,}")

    def cell(key: str, name: str) -> str:
        return median_cell(results.get(key, {}).get(name))

    lines = [f"{'scenario':<30} {'unit':<14}" + "".join(f"{n:>18}" for n in servers)]
    for metric in rows:
        cells = "".join(cell(metric.key, n) for n in servers)
        lines.append(f"{label(metric):<30} {metric.unit:<14}{cells}")
    lines += [
        "",
        "switchboard / peer (>1: Switchboard is better; for latency and CPU, peer / switchboard)",
    ]
    lines.append(f"{'scenario':<45}" + "".join(f"{'vs ' + n:>18}" for n in peers))
    for metric in rows:
        row = ratios.get(metric.key, {})
        cells = "".join(f"{row[n]:>18.2f}" if n in row else f"{'-':>18}" for n in peers)
        lines.append(f"{label(metric):<45}{cells}")
    lines += ["", "CPU share during the measurement, server / client (1.00 = one core busy)"]
    lines.append(f"{'scenario':<45}" + "".join(f"{n:>18}" for n in servers))
    for scenario in args.scenarios:
        cells = ""
        for name in servers:
            server = results.get(f"{scenario}_server_cpu", {}).get(name)
            client = results.get(f"{scenario}_client_cpu", {}).get(name)
            shares = (
                f"{server['median']:.2f} / {client['median']:.2f}" if server and client else "-"
            )
            cells += f"{shares:>18}"
        lines.append(f"{label(SCENARIOS[scenario].metrics[0]):<45}{cells}")
    summary = {
        "command": " ".join([".venv/bin/python", "bench/run.py", *sys.argv[1:]]),
        "loop": args.loop,
        "rounds": args.rounds,
        "duration": args.duration,
        "clients": args.clients,
        "versions": versions(),
        "units": {m.key: m.unit for s in SCENARIOS for m in metrics(s)},
        "results": results,
        "ratios": ratios,
    }
    return lines, summary


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("switchboard-ws", "websockets", "aiohttp", "picows", "uvloop"):
        try:
            found[dist] = version(dist)
        except Exception:
            found[dist] = "?"
    try:
        package = HERE / "node" / "node_modules" / "ws" / "package.json"
        found["node"] = subprocess.run(
            [node(), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        found["ws"] = json.loads(package.read_text())["version"]
    except (SystemExit, OSError, subprocess.CalledProcessError):
        found["node"] = found["ws"] = "?"
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=[*SCENARIOS, "all"],
        default=["all"],
        help="default: all (" + " ".join(SCENARIOS) + ")",
    )
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=SERVERS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=0.3, help="seconds before each one")
    parser.add_argument(
        "--prime",
        type=float,
        default=1.5,
        help="seconds of each scenario on every server before the rounds, not measured "
        "(Node's JIT needs about that much traffic before it is up to speed)",
    )
    parser.add_argument("--clients", type=int, default=1000, help="broadcast receivers")
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="the Python servers' event loop (the client always uses uvloop)",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="cProfile the Switchboard servers into FILE.<mode>"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 round of 0.2 s, 100 broadcast receivers"
    )
    args = parser.parse_args(argv)
    if "all" in args.scenarios:
        args.scenarios = list(SCENARIOS)
    args.scenarios = [s for s in SCENARIOS if s in args.scenarios]
    if "switchboard" not in args.servers:
        args.servers.insert(0, "switchboard")  # the baseline of every ratio
    if args.quick:
        args.rounds, args.duration, args.warmup, args.clients, args.prime = 1, 0.2, 0.05, 100, 0
    args.settle = 0.05 if args.quick else 0.3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    hard = raise_fd_limit()
    if args.clients + 64 > hard:
        raise SystemExit(f"--clients {args.clients} needs more file descriptors than {hard}")
    needed = {
        (name, SCENARIOS[s].mode)
        for s in args.scenarios
        for name in SCENARIOS[s].servers
        if name in args.servers
    }
    modes = sorted({mode for _, mode in needed})
    servers: dict[tuple[str, str], ServerProcess] = {}
    print(
        f"servers: {', '.join(args.servers)} (Python ones on {args.loop}); "
        f"client: raw sockets on uvloop; {args.rounds} round(s) x {args.duration} s per "
        "measurement",
        file=sys.stderr,
    )
    try:
        for name, mode in sorted(needed):
            profile = f"{args.profile}.{mode}" if args.profile and name == "switchboard" else None
            servers[name, mode] = ServerProcess(name, mode, args.loop, profile)
        for server in servers.values():
            server.started()
        samples = uvloop.run(run_rounds(args, servers))
    finally:
        for server in servers.values():
            server.stop()
    lines, summary = summarize(samples, args)
    v = summary["versions"]
    print(
        f"\nSwitchboard {v['switchboard-ws']} vs picows {v['picows']}, aiohttp {v['aiohttp']}, "
        f"Node {v['node']} ws {v['ws']}, websockets {v['websockets']}; Python {v['python']}, "
        f"Python servers on {args.loop}, {os.cpu_count()} CPUs\n"
        f"median of {args.rounds} round(s) x {args.duration} s "
        "(± half the min-max spread across rounds)\n"
    )
    print("\n".join(lines))
    if args.profile:
        import pstats

        for mode in modes:
            print(f"\ncProfile of the Switchboard {mode} server, top 25 by own time:")
            pstats.Stats(f"{args.profile}.{mode}").sort_stats("tottime").print_stats(25)
    print()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted; servers stopped")

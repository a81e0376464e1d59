"""The real-time layer: Switchboard's hub vs Node's socket.io and python-socketio.

    .venv/bin/python bench/realtime.py [--quick] [--rounds N] [--clients 1000] ...

Three scenarios, each measured on every server in one interleaved run:

* fanout: CLIENTS clients in one room; one of them emits "fanout" with a ~200-byte
  JSON payload carrying its send time, the server emits "tick" with it to the
  room; the next emit goes out when every member has its tick. Deliveries/s, and
  p50/p99 latency from the emit to each receipt.
* ack: ACK_CLIENTS clients, each with one emit-with-ack ("echo") outstanding:
  acks/s, and p50/p99 round-trip latency.
* memory: a fresh server process; its RSS before and after connecting CLIENTS
  idle clients (joined to the room), divided by CLIENTS.

Each server runs in its own process (bench/realtime_servers.py, and
bench/node/server.js for Node). This process is the load generator: raw sockets
that speak each wire format directly (Socket.IO v5 over Engine.IO v4's WebSocket
transport, and switchboard.v1), read by a tight epoll loop during measurements;
its CPU share is reported next to the servers'. See docs/performance.md.

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
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import uvloop
from run import GUID, MASK, cpu_seconds, frame, median_cell, rotated
from servers import raise_fd_limit

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
TIMEOUT = 30.0  # seconds past the planned duration before a measurement is declared stuck
PAYLOAD_SIZE = 200  # bytes of the event's JSON data
READ = 16384  # bytes per read: small enough for malloc to take from its heap, not mmap

SERVERS = [
    "switchboard",
    "switchboard-json",
    "switchboard-full",
    "socketio-node",
    "socketio-aiohttp",
    "socketio-uvicorn",
]
LABELS = {
    "switchboard": "Switchboard hub",
    "switchboard-json": "hub, json module",
    "switchboard-full": "hub + hist/pres",
    "socketio-node": "socket.io Node",
    "socketio-aiohttp": "p-sio aiohttp",
    "socketio-uvicorn": "p-sio uvicorn",
}
SCENARIOS = ["fanout", "ack", "memory"]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool = True
    ratio: bool = True  # shown in the ratio table


METRICS = {
    "fanout": [
        Metric("fanout", "fan-out ~200 B to {clients}", "deliveries/s"),
        Metric("fanout_p50", "  emit -> receipt p50", "ms", higher_is_better=False),
        Metric("fanout_p99", "  emit -> receipt p99", "ms", higher_is_better=False),
        Metric("fanout_server_us", "  server CPU per delivery", "µs", higher_is_better=False),
    ],
    "ack": [
        Metric("ack", "emit + ack, {ack_clients} clients x 1", "acks/s"),
        Metric("ack_p50", "  round trip p50", "ms", higher_is_better=False),
        Metric("ack_p99", "  round trip p99", "ms", higher_is_better=False),
        Metric("ack_server_us", "  server CPU per ack", "µs", higher_is_better=False),
    ],
    "memory": [
        Metric("memory", "idle memory per client", "KiB", higher_is_better=False),
        Metric("memory_rss", "  server RSS with {clients}", "MiB", False, ratio=False),
    ],
}


def payload(seq: int, ts: int) -> bytes:
    """The event's data: a JSON object of exactly PAYLOAD_SIZE bytes."""
    head = b'{"seq":%d,"ts":%d,"pad":"' % (seq, ts)
    return head + b"x" * (PAYLOAD_SIZE - len(head) - 2) + b'"}'


TICK = re.compile(rb'"seq": ?(\d+), ?"ts": ?(\d+)')  # finds them in any server's encoding


# --- Wire formats ------------------------------------------------------------


class ProtocolError(AssertionError):
    pass


class SocketIO:
    """Socket.IO v5 over Engine.IO v4, WebSocket transport only, default namespace."""

    path = "/socket.io/?EIO=4&transport=websocket"
    subprotocol: str | None = None
    ping = b"2"

    async def open(self, client: Client) -> None:
        opened = await client.recv()
        if not opened.startswith(b"0") or "sid" not in json.loads(opened[1:]):
            raise ProtocolError(f"expected an Engine.IO open packet, got {opened[:200]!r}")
        client.send(b"40")
        connected = await client.recv()
        if not connected.startswith(b"40") or "sid" not in json.loads(connected[2:]):
            raise ProtocolError(f"expected a Socket.IO CONNECT, got {connected[:200]!r}")

    def emit(self, event: bytes, data: bytes, ack: int | None = None) -> bytes:
        return b'42%s["%s",%s]' % (b"" if ack is None else b"%d" % ack, event, data)

    def is_tick(self, message: bytes) -> bool:
        return message.startswith(b'42["tick",')

    def tick_data(self, message: bytes) -> Any:
        event, data = json.loads(message[2:])
        if event != "tick":
            raise ProtocolError(f"expected a tick, got {message[:200]!r}")
        return data

    def expected_ack(self, ack: int, data: bytes) -> bytes:
        """The ack as a server that writes compact JSON sends it."""
        return b"43%d[%s]" % (ack, data)

    def ack(self, message: bytes) -> tuple[int, Any] | None:
        if not message.startswith(b"43"):
            return None
        i = message.index(b"[")
        args = json.loads(message[i:])
        return int(message[2:i]), args[0] if args else None

    def pong(self, message: bytes) -> bytes | None:
        return b"3" if message == b"2" else None

    def control(self, message: bytes) -> bytes | None:
        """The reply to a message that is neither a tick nor an ack, if any."""
        if message == b"2":
            return b"3"  # Engine.IO ping -> pong
        if message.startswith((b"1", b"41", b"44")):
            raise ProtocolError(f"the server closed the session: {message[:200]!r}")
        raise ProtocolError(f"unexpected message {message[:200]!r}")


class SwitchboardV1:
    """switchboard.v1 (docs/realtime-protocol.md), anonymous, on the hub at /rt."""

    path = "/rt"
    subprotocol: str | None = "switchboard.v1"

    async def open(self, client: Client) -> None:
        client.send(b'{"t":"hello","v":1}')
        while True:
            message = json.loads(await client.recv())
            if message.get("t") == "welcome":
                return
            if message.get("t") == "error":
                raise ProtocolError(f"the hub refused the hello: {message}")

    def emit(self, event: bytes, data: bytes, ack: int | None = None) -> bytes:
        tail = b"}" if ack is None else b',"id":%d}' % ack
        return b'{"t":"emit","event":"%s","data":%s%s' % (event, data, tail)

    def is_tick(self, message: bytes) -> bool:
        return b'"tick"' in message

    def tick_data(self, message: bytes) -> Any:
        m = json.loads(message)
        if m.get("t") != "event" or m.get("event") != "tick" or m.get("room") != "bench":
            raise ProtocolError(f"expected a tick event in room bench, got {message[:200]!r}")
        return m.get("data")

    def expected_ack(self, ack: int, data: bytes) -> bytes:
        """The ack as a hub that writes compact JSON in the documented order sends it."""
        return b'{"t":"ack","id":%d,"data":%s}' % (ack, data)

    def ack(self, message: bytes) -> tuple[int, Any] | None:
        if b'"ack"' not in message:
            return None
        m = json.loads(message)
        if m.get("t") != "ack":
            return None
        if "error" in m:
            raise ProtocolError(f"error ack: {m['error']}")
        return int(m["id"]), m.get("data")

    def pong(self, message: bytes) -> bytes | None:
        if b'"ping"' in message and json.loads(message).get("t") == "ping":
            return b'{"t":"pong"}'
        return None

    def control(self, message: bytes) -> bytes | None:
        m = json.loads(message)
        t = m.get("t")
        if t == "ping":
            return b'{"t":"pong"}'
        if t == "error":
            raise ProtocolError(f"the hub sent an error: {m}")
        if t in ("joined", "presence", "left"):
            return None
        raise ProtocolError(f"unexpected message {message[:200]!r}")


Wire = SocketIO | SwitchboardV1


def wire_for(name: str) -> Wire:
    return SwitchboardV1() if name.startswith("switchboard") else SocketIO()


# --- WebSocket framing (server -> client frames are unmasked) ----------------


def parse_frames(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The complete frames at the start of ``data`` as (first byte, payload), and
    how many bytes they took."""
    frames = []
    i, size = 0, len(data)
    while size - i >= 2:
        length, h = data[i + 1], 2
        if length & 0x80:
            raise ProtocolError("the server masked a frame")
        if length == 126:
            if size - i < 4:
                break
            length, h = (data[i + 2] << 8) | data[i + 3], 4
        elif length == 127:
            if size - i < 10:
                break
            length, h = int.from_bytes(data[i + 2 : i + 10], "big"), 10
        if size - i - h < length:
            break
        frames.append((data[i], data[i + h : i + h + length]))
        i += h + length
    return frames, i


def control_frame(wire: Wire, b0: int, message: bytes) -> bytes | None:
    """The frame to send back for a frame that is not a tick or an ack, if any."""
    if b0 == 0x81:
        reply = wire.control(message)
        return None if reply is None else frame(0x1, reply, masked=True)
    if b0 == 0x89:  # WebSocket ping
        return frame(0xA, message, masked=True)
    if b0 == 0x8A:  # unsolicited pong
        return None
    if b0 == 0x88:
        raise ProtocolError(f"the server closed the connection: {message[:200]!r}")
    raise ProtocolError(f"unexpected frame: first byte {b0:#x} (fragmented or binary)")


# --- Connecting (asyncio; measurements read the sockets with epoll) ----------


class Client(asyncio.Protocol):
    def __init__(self, wire: Wire) -> None:
        loop = asyncio.get_running_loop()
        self.wire = wire
        self.transport: asyncio.Transport
        self.head = b""
        self.buffer = b""
        self.messages: deque[bytes] = deque()
        self.handshake: asyncio.Future[bytes] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.waiter: asyncio.Future[None] | None = None
        self.error: BaseException | None = None
        self.closing = False
        self.fd = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.fd = transport.get_extra_info("socket").fileno()

    def data_received(self, data: bytes) -> None:
        if not self.handshake.done():
            self.head += data
            if b"\r\n\r\n" in self.head:
                self.head, _, data = self.head.partition(b"\r\n\r\n")
                self.handshake.set_result(self.head)
            else:
                return
        self.buffer += data
        try:
            frames, used = parse_frames(self.buffer)
            self.buffer = self.buffer[used:]
            for b0, message in frames:
                if b0 == 0x88 and self.closing:
                    self.transport.close()  # the server's reply to our close
                    continue
                pong = self.wire.pong(message) if b0 == 0x81 else None
                if b0 == 0x81 and pong is None:
                    self.messages.append(message)
                    continue
                reply = control_frame(self.wire, b0, message)
                if reply:
                    self.transport.write(reply)
        except Exception as exc:
            self.error = exc
            self.transport.abort()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.error is None:
            self.error = ConnectionError("the server closed the connection")
        for future in (self.handshake, self.waiter):
            if future is not None and not future.done():
                future.set_exception(self.error)
        self.closed.set_result(None)

    def send(self, message: bytes) -> None:
        self.transport.write(frame(0x1, message, masked=True))

    async def recv(self) -> bytes:
        deadline = time.monotonic() + TIMEOUT
        while not self.messages:
            if self.error is not None:
                raise self.error
            self.waiter = asyncio.get_running_loop().create_future()
            await asyncio.wait_for(self.waiter, max(0.0, deadline - time.monotonic()))
        return self.messages.popleft()

    async def recv_until(self, wanted: Callable[[bytes], bool]) -> bytes:
        """The next message that is ``wanted``; the others must be harmless
        (a hub's ``joined`` or ``presence``, say)."""
        while True:
            message = await self.recv()
            if wanted(message):
                return message
            self.wire.control(message)

    def take_over(self) -> bytes:
        """Stop asyncio from reading; return the bytes it had that are not a frame yet.

        Messages that arrived after the setup (a hub's ``joined``, say) are checked."""
        self.transport.pause_reading()
        while self.messages:
            message = self.messages.popleft()
            if not self.wire.is_tick(message):
                control_frame(self.wire, 0x81, message)
        rest, self.buffer = self.buffer, b""
        return rest


async def connect(port: int, wire: Wire) -> Client:
    """WebSocket handshake, then the protocol's own (Engine.IO open + CONNECT, or
    hello + welcome)."""
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: Client(wire), "127.0.0.1", port)
    key = base64.b64encode(os.urandom(16))
    offer = (
        b""
        if wire.subprotocol is None
        else b"Sec-WebSocket-Protocol: %s\r\n" % (wire.subprotocol.encode())
    )
    client.transport.write(
        b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
        % (wire.path.encode(), port, key, offer)
    )
    head = await asyncio.wait_for(client.handshake, TIMEOUT)
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    if not status.startswith("HTTP/1.1 101") or headers.get("sec-websocket-accept") != accept:
        raise ProtocolError(f"handshake failed: {head!r}")
    if "sec-websocket-extensions" in headers:
        raise ProtocolError(f"server negotiated {headers['sec-websocket-extensions']}")
    if headers.get("sec-websocket-protocol") != wire.subprotocol:
        raise ProtocolError(f"server chose subprotocol {headers.get('sec-websocket-protocol')}")
    await asyncio.wait_for(wire.open(client), TIMEOUT)
    return client


async def connect_many(port: int, wire: Wire, count: int) -> list[Client]:
    clients: list[Client] = []
    try:
        for i in range(0, count, 100):  # batches stay under every server's listen backlog
            clients += await asyncio.gather(
                *(connect(port, wire) for _ in range(min(100, count - i)))
            )
    except BaseException:
        for client in clients:
            client.transport.abort()
        raise
    return clients


async def disconnect(clients: list[Client]) -> None:
    """Closing handshake on every connection; abort any that takes over 5 s."""
    close = frame(0x8, (1000).to_bytes(2, "big"), masked=True)
    for client in clients:
        client.closing = True
        client.error = client.error or ConnectionError("closing")
        if not client.transport.is_closing():
            client.transport.resume_reading()
            client.transport.write(close)
    try:
        await asyncio.wait_for(asyncio.gather(*(c.closed for c in clients)), 5.0)
    except asyncio.TimeoutError:
        for client in clients:
            client.transport.abort()


def write_all(fd: int, data: bytes) -> None:
    sent = os.write(fd, data)
    if sent != len(data):  # the socket buffer is nearly empty here: never expected
        raise ProtocolError(f"short write: {sent} of {len(data)} bytes")


# --- Fan-out -----------------------------------------------------------------


class Fanout:
    """Drives room fan-out over raw sockets: one member emits, all members receive."""

    def __init__(self, clients: list[Client], window: int) -> None:
        self.wire = clients[0].wire
        self.n = len(clients)
        self.window = window
        self.controller = clients[0].fd
        self.poller = select.epoll()
        self.buffers: dict[int, bytes] = {}
        for client in clients:
            self.buffers[client.fd] = client.take_over()
            self.poller.register(client.fd, select.EPOLLIN)
        self.seq = 0
        self.sent: dict[int, bytes] = {}  # seq -> the data we sent
        self.last: dict[int, int] = {}  # fd -> the last seq it received

    def close(self) -> None:
        self.poller.close()

    def emit(self) -> int:
        self.seq += 1
        data = payload(self.seq, time.monotonic_ns())
        self.sent[self.seq] = data
        write_all(self.controller, frame(0x1, self.wire.emit(b"fanout", data), masked=True))
        return self.seq

    def check(self, message: bytes, seq: int) -> None:
        """Full check of one tick: the event, and exactly the data we sent."""
        data = self.sent.get(seq)
        if data is None or self.wire.tick_data(message) != json.loads(data):
            raise ProtocolError(f"tick {seq} does not carry the data sent: {message[:300]!r}")

    def reads(self, timeout: float) -> list[tuple[int, bytes]]:
        """(fd, complete frames' bytes) for every readable socket."""
        out = []
        for fd, _ in self.poller.poll(timeout):
            data = os.read(fd, READ)
            if not data:
                raise ProtocolError("a client's connection was closed by the server")
            out.append((fd, data))
        return out

    def barrier(self) -> None:
        """Emit until one tick reaches every client: then all have joined the room."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            seq, got = self.emit(), set()
            wait_until = time.monotonic() + 2.0
            while len(got) < self.n and time.monotonic() < wait_until:
                for fd, data in self.reads(0.2):
                    frames, used = parse_frames(self.buffers[fd] + data)
                    self.buffers[fd] = (self.buffers[fd] + data)[used:]
                    for b0, message in frames:
                        if b0 == 0x81 and self.wire.is_tick(message):
                            m = TICK.search(message)
                            if m and int(m[1]) == seq:
                                self.check(message, seq)
                                got.add(fd)
                        else:
                            reply = control_frame(self.wire, b0, message)
                            if reply:
                                write_all(fd, reply)
            if len(got) == self.n:
                self.last = dict.fromkeys(self.buffers, seq)
                self.sent.clear()
                return
        raise ProtocolError(f"only {len(got)} of {self.n} clients got a tick: not in the room?")

    def run(
        self,
        seconds: float,
        latencies: list[int] | None,
        by_fd: dict[int, Callable[[int], None]] | None = None,
    ) -> tuple[int, float]:
        """Emit for ``seconds`` with ``window`` emits in flight; return (deliveries,
        seconds from the first emit to the last delivery). Appends each delivery's
        latency in ns (receipt time - the ``ts`` in its payload) to ``latencies``,
        or, with ``by_fd`` instead (a recorder per client's fd), hands it to the
        receiving client's recorder (bench/realtime_redis.py: near and far node).

        The first receipt of each tick is parsed and checked in full (event, room,
        exactly the data sent); after that, a read that is byte for byte that same
        frame is counted with one dict lookup, so the load generator's work per
        delivery is one ``read()`` and a few Python operations."""
        n, wire, buffers, last, sent = self.n, self.wire, self.buffers, self.last, self.sent
        is_tick, search, check = wire.is_tick, TICK.search, self.check
        read, poll, now_ns = os.read, self.poller.poll, time.monotonic_ns
        record = latencies.append if latencies is not None else None
        recorders = by_fd if record is None else None
        counts: dict[int, int] = {}  # seq -> deliveries so far, for the ticks in flight
        known: dict[bytes, int] = {}  # a checked tick frame -> its seq
        stamps: dict[int, int] = {}  # seq -> the ts in its payload
        start = now_ns()
        deadline = start + int(seconds * 1e9)
        stuck = time.monotonic() + seconds + TIMEOUT
        end = start
        completed = 0
        for _ in range(self.window):
            counts[self.emit()] = 0
        while counts:
            events = poll(0.5)
            if not events and time.monotonic() > stuck:
                raise ProtocolError(f"fan-out stuck: {counts} of {n} deliveries")
            for fd, _ in events:
                data = read(fd, READ)
                now = now_ns()
                seq = known.get(data)
                if seq is not None and not buffers[fd]:  # the fast path: one known frame
                    if last[fd] >= seq:
                        raise ProtocolError(f"tick {seq} duplicated or out of order")
                    last[fd] = seq
                    if record is not None:
                        record(now - stamps[seq])
                    elif recorders is not None:
                        recorders[fd](now - stamps[seq])
                    count = counts[seq] + 1
                    if count < n:
                        counts[seq] = count
                        continue
                    ticks = [seq]
                else:
                    ticks = []
                    if not data:
                        raise ProtocolError("a client's connection was closed by the server")
                    rest = buffers[fd]
                    if rest:
                        data = rest + data
                    i, size = 0, len(data)
                    while size - i >= 2:
                        length, h = data[i + 1], 2
                        if length == 126:
                            if size - i < 4:
                                break
                            length, h = (data[i + 2] << 8) | data[i + 3], 4
                        elif length > 126:
                            raise ProtocolError("a masked frame or a 64-bit length")
                        if size - i - h < length:
                            break
                        b0, message = data[i], data[i + h : i + h + length]
                        whole = data[i : i + h + length]
                        i += h + length
                        if b0 != 0x81 or not is_tick(message):
                            reply = control_frame(wire, b0, message)
                            if reply:
                                write_all(fd, reply)
                            continue
                        m = search(message)
                        if m is None:
                            raise ProtocolError(f"a tick without seq and ts: {message[:200]!r}")
                        seq = int(m[1])
                        if seq not in counts or last[fd] >= seq:
                            raise ProtocolError(f"tick {seq} duplicated or out of order")
                        last[fd] = seq
                        if known.get(whole) != seq:
                            check(message, seq)  # first receipt, or encoded per receiver
                            if seq not in stamps:
                                known[whole], stamps[seq] = seq, int(m[2])
                        if record is not None:
                            record(now - stamps[seq])
                        elif recorders is not None:
                            recorders[fd](now - stamps[seq])
                        counts[seq] += 1
                        if counts[seq] == n:
                            ticks.append(seq)
                    buffers[fd] = data[i:]
                for seq in ticks:  # every member has it
                    del counts[seq], sent[seq], stamps[seq]
                    for frame_bytes in [k for k, v in known.items() if v == seq]:
                        del known[frame_bytes]
                    completed += 1
                    end = now
                    if now < deadline:
                        counts[self.emit()] = 0
        return completed * n, (end - start) / 1e9


# --- Acks --------------------------------------------------------------------


def run_acks(
    clients: list[Client], seconds: float, latencies: list[int] | None
) -> tuple[int, float]:
    """Every client keeps one emit-with-ack in flight for ``seconds``; return (acks,
    seconds from the first emit to the last ack).

    The usual read is exactly the ack expected, as one frame: compared byte for byte
    with the frame built when the emit was sent, so the load generator spends little
    per ack (its CPU is reported: it must not be what limits the rate)."""
    wire = clients[0].wire
    poller = select.epoll()
    buffers: dict[int, bytes] = {}
    # fd -> (id, sent ns, data, the expected ack's frame as the server sends it)
    pending: dict[int, tuple[int, int, bytes, bytes]] = {}
    seq = 0
    now_ns, read, write, poll = time.monotonic_ns, os.read, os.write, poller.poll
    expect, emit = wire.expected_ack, wire.emit

    def send(fd: int) -> None:
        nonlocal seq
        seq += 1
        ts = now_ns()
        data = payload(seq, ts)
        pending[fd] = (seq, ts, data, frame(0x1, expect(seq, data), masked=False))
        message = masked_frame(emit(b"echo", data, ack=seq))
        if write(fd, message) != len(message):  # the socket buffer is nearly empty here
            raise ProtocolError("short write")

    try:
        for client in clients:
            buffers[client.fd] = client.take_over()
            poller.register(client.fd, select.EPOLLIN)
        start = now_ns()
        deadline = start + int(seconds * 1e9)
        stuck = time.monotonic() + seconds + TIMEOUT
        end, acks = start, 0
        for fd in buffers:
            send(fd)
        while pending:
            events = poll(0.5)
            if not events and time.monotonic() > stuck:
                raise ProtocolError(f"acks stuck: {len(pending)} outstanding")
            for fd, _ in events:
                data = read(fd, READ)
                now = now_ns()
                if not data:
                    raise ProtocolError("a client's connection was closed by the server")
                expected = pending.get(fd)
                if buffers[fd] or expected is None or data != expected[3]:
                    if buffers[fd]:
                        data = buffers[fd] + data
                    frames, used = parse_frames(data)
                    buffers[fd] = data[used:]
                    found = [check_ack(wire, fd, b0, m, pending) for b0, m in frames]
                    if not any(found):  # every frame looked at: a ping is answered
                        continue
                acks += 1
                end = now
                if latencies is not None:
                    latencies.append(now - pending[fd][1])
                if now < deadline:
                    send(fd)
                else:
                    del pending[fd]
        return acks, (end - start) / 1e9
    finally:
        poller.close()
        for client in clients:  # a frame's first bytes, for the next take_over()
            client.buffer = buffers.get(client.fd, b"")


def check_ack(
    wire: Wire, fd: int, b0: int, message: bytes, pending: dict[int, tuple[int, int, bytes, bytes]]
) -> bool:
    """Whether a frame is the ack ``fd`` waits for (then checked: it echoes the data);
    answers pings and skips other messages (the slow path: unusual reads)."""
    ack = wire.ack(message) if b0 == 0x81 else None
    if ack is None:
        reply = control_frame(wire, b0, message)
        if reply:
            write_all(fd, reply)
        return False
    expected = pending.get(fd)
    if expected is None or ack[0] != expected[0]:
        raise ProtocolError(f"unexpected ack {ack[0]} (waiting for {expected})")
    if ack[1] != json.loads(expected[2]):
        raise ProtocolError(f"ack {ack[0]} does not echo the data: {ack[1]!r}")
    return True


_MASK_KEYS: dict[int, int] = {}


def masked_frame(payload: bytes) -> bytes:
    """``frame(0x1, payload, masked=True)`` with the mask's key kept per length."""
    n = len(payload)
    key = _MASK_KEYS.get(n)
    if key is None:
        key = _MASK_KEYS[n] = int.from_bytes((MASK * (n // 4 + 1))[:n], "big")
    body = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
    if n < 126:
        return bytes((0x81, 0x80 | n)) + MASK + body
    if n < 1 << 16:
        return bytes((0x81, 0xFE)) + n.to_bytes(2, "big") + MASK + body
    return bytes((0x81, 0xFF)) + n.to_bytes(8, "big") + MASK + body


# --- Servers -----------------------------------------------------------------


def server_command(name: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The command that runs server ``name``; ``extra`` arguments are appended (a
    Redis URL, for bench/realtime_redis.py's variants)."""
    if name.startswith("socketio-node"):
        return ["node", str(NODE_DIR / "server.js"), *extra]
    return [sys.executable, str(HERE / "realtime_servers.py"), name, *extra]


class ServerProcess:
    """One server in its own process; it exits when we close its stdin or kill it."""

    def __init__(
        self,
        name: str,
        profile: str | None = None,
        extra: tuple[str, ...] = (),
        command: list[str] | None = None,
    ) -> None:
        """``command``: how to run it, when not one of this file's servers."""
        self.name = name
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.errors = ""
        env = dict(os.environ)
        if profile:
            env["BENCH_PROFILE"] = profile
        self.proc = subprocess.Popen(
            command or server_command(name, extra),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the servers
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"{name} server did not start:\n{self.errors}")
        self.port = int(line.split()[1])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> int:
        """Resident set size in bytes."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

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
                f"{self.name} server exited with {self.proc.returncode}:\n{self.errors}"
            )


# --- Scenarios ---------------------------------------------------------------


def percentile(values: list[int], p: float) -> float:
    """The p-th percentile (nearest rank) of ns values, in ms."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank] / 1e6


class Cpu:
    """CPU share (CPU seconds / wall seconds, 1.0 = one core) of a server and of us."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.wall, self.own, self.theirs = (
            time.perf_counter(),
            time.process_time(),
            cpu_seconds(pid),
        )

    def used(self) -> tuple[float, float, float]:
        """(wall, server CPU, our CPU) seconds since we were made."""
        wall = time.perf_counter() - self.wall
        return wall, cpu_seconds(self.pid) - self.theirs, time.process_time() - self.own

    def report(self, scenario: str, operations: int) -> dict[str, float]:
        """CPU shares, and CPU microseconds per operation (delivery, ack) of the
        server and of the load generator: the shares say who was saturated, the
        costs hold better than rates when other jobs share the machine."""
        wall, server, own = self.used()
        return {
            f"{scenario}_server_cpu": server / wall,
            f"{scenario}_client_cpu": own / wall,
            f"{scenario}_server_us": server / operations * 1e6,
            f"{scenario}_client_us": own / operations * 1e6,
        }


async def measure_fanout(server: ServerProcess, args: argparse.Namespace) -> dict[str, float]:
    clients = await connect_many(server.port, wire_for(server.name), args.clients)
    fan = None
    try:
        fan = Fanout(clients, args.window)
        fan.barrier()
        fan.run(args.warmup, None)
        latencies: list[int] = []
        cpu = Cpu(server.pid)
        deliveries, seconds = fan.run(args.duration, latencies)
        cpu_report = cpu.report("fanout", deliveries)
    finally:
        if fan is not None:
            fan.close()
        await disconnect(clients)
    return {
        "fanout": deliveries / seconds,
        "fanout_p50": percentile(latencies, 50),
        "fanout_p99": percentile(latencies, 99),
        **cpu_report,
    }


async def measure_ack(server: ServerProcess, args: argparse.Namespace) -> dict[str, float]:
    clients = await connect_many(server.port, wire_for(server.name), args.ack_clients)
    try:
        run_acks(clients, args.warmup, None)
        latencies: list[int] = []
        cpu = Cpu(server.pid)
        acks, seconds = run_acks(clients, args.duration, latencies)
        cpu_report = cpu.report("ack", acks)
    finally:
        await disconnect(clients)
    return {
        "ack": acks / seconds,
        "ack_p50": percentile(latencies, 50),
        "ack_p99": percentile(latencies, 99),
        **cpu_report,
    }


async def measure_memory(name: str, args: argparse.Namespace) -> dict[str, float]:
    """A fresh server: one client does a fan-out and an ack first (so code paths and
    caches are warm), then RSS before and after CLIENTS more connect and idle."""
    server = ServerProcess(name)
    clients: list[Client] = []
    try:
        wire = wire_for(name)
        clients = await connect_many(server.port, wire, 1)
        warm = clients[0]
        warm.send(wire.emit(b"fanout", payload(1, 0)))
        await warm.recv_until(wire.is_tick)
        warm.send(wire.emit(b"echo", payload(2, 0), ack=1))
        await warm.recv_until(lambda message: wire.ack(message) is not None)
        await asyncio.sleep(args.settle_memory)
        before = server.rss()
        clients += await connect_many(server.port, wire, args.clients)
        await asyncio.sleep(args.settle_memory)
        after = server.rss()
        server.check_alive()
    finally:
        for client in clients:  # first: servers wait for open connections on SIGTERM
            client.transport.abort()
        await asyncio.sleep(0.1)
        server.stop()
    return {"memory": (after - before) / args.clients / 1024, "memory_rss": after / (1 << 20)}


async def run_rounds(
    args: argparse.Namespace, servers: dict[str, ServerProcess]
) -> dict[str, dict[str, list[float]]]:
    """Every round measures every scenario on every server, rotating the server order."""
    samples: dict[str, dict[str, list[float]]] = {}
    for r in range(args.rounds):
        for scenario in args.scenarios:
            for name in rotated(args.servers, r):
                began = time.perf_counter()
                if scenario == "memory":
                    result = await measure_memory(name, args)
                else:
                    server = servers[name]
                    measure = measure_fanout if scenario == "fanout" else measure_ack
                    result = await measure(server, args)
                    server.check_alive()
                for key, value in result.items():
                    samples.setdefault(key, {}).setdefault(name, []).append(value)
                shown = ", ".join(f"{k} {v:,.2f}" for k, v in result.items())
                took = time.perf_counter() - began
                print(
                    f"  round {r + 1}/{args.rounds}  {name:<17} {shown} ({took:.1f} s)",
                    file=sys.stderr,
                )
                await asyncio.sleep(args.settle)
    return samples


# --- Report ------------------------------------------------------------------


def summarize(
    samples: dict[str, dict[str, list[float]]], args: argparse.Namespace
) -> tuple[list[str], dict[str, Any]]:
    servers = args.servers
    ours = "switchboard" if "switchboard" in servers else None
    peers = [n for n in servers if not n.startswith("switchboard")]
    metrics = [m for s in args.scenarios for m in METRICS[s]]
    results = {
        key: {name: {"median": statistics.median(v), "samples": v} for name, v in per.items()}
        for key, per in samples.items()
    }

    def median(key: str, name: str) -> float | None:
        found = results.get(key, {}).get(name)
        return found["median"] if found else None

    ratios: dict[str, dict[str, float]] = {}  # of the medians
    per_round: dict[str, dict[str, list[float]]] = {}  # each round's servers, seconds apart
    for metric in metrics:
        a = median(metric.key, ours) if ours else None
        for name in peers:
            b = median(metric.key, name)
            if a and b:
                ratios.setdefault(metric.key, {})[name] = (
                    a / b if metric.higher_is_better else b / a
                )
                assert ours is not None
                pairs = zip(samples[metric.key][ours], samples[metric.key][name], strict=True)
                per_round.setdefault(metric.key, {})[name] = [
                    (x / y if metric.higher_is_better else y / x) if x and y else 0.0
                    for x, y in pairs
                ]

    def label(metric: Metric) -> str:
        return metric.label.format(clients=f"{args.clients:,}", ack_clients=args.ack_clients)

    def cell(key: str, name: str) -> str:
        return median_cell(results.get(key, {}).get(name))

    lines = [f"{'scenario':<34} {'unit':<13}" + "".join(f"{LABELS[n]:>18}" for n in servers)]
    for metric in metrics:
        cells = "".join(cell(metric.key, n) for n in servers)
        lines.append(f"{label(metric):<34} {metric.unit:<13}{cells}")
    if ours and peers:
        lines += [
            "",
            "Switchboard / peer (> 1: Switchboard is better; for latency, CPU and memory, "
            "peer / Switchboard):",
            "ratio of the medians (min-max of the per-round ratios)",
        ]
        lines.append(f"{'scenario':<40}" + "".join(f"{'vs ' + LABELS[n]:>22}" for n in peers))
        for metric in metrics:
            if not metric.ratio:
                continue
            row, rounds = ratios.get(metric.key, {}), per_round.get(metric.key, {})

            def ratio(name: str, row: dict[str, float] = row, rounds: Any = rounds) -> str:
                if name not in row:
                    return f"{'-':>22}"
                r = rounds[name]
                return f"{f'{row[name]:.2f} ({min(r):.1f}-{max(r):.1f})':>22}"

            lines.append(f"{label(metric):<40}" + "".join(ratio(n) for n in peers))
    timed = [s for s in args.scenarios if s != "memory"]
    if timed:
        lines += ["", "CPU share during the measurement, server / load generator (1.00 = one core)"]
        lines.append(f"{'scenario':<34}{'':14}" + "".join(f"{LABELS[n]:>18}" for n in servers))
    for scenario in timed:
        cells = ""
        for name in servers:
            s = median(f"{scenario}_server_cpu", name)
            c = median(f"{scenario}_client_cpu", name)
            cells += f"{f'{s:.2f} / {c:.2f}' if s is not None and c is not None else '-':>18}"
        lines.append(f"{label(METRICS[scenario][0]):<48}{cells}")
        cells = ""
        for name in servers:
            c = median(f"{scenario}_client_us", name)
            cells += f"{'-' if c is None else f'{c:.1f}':>18}"
        unit = "delivery" if scenario == "fanout" else "ack"
        lines.append(f"{f'  load generator CPU µs per {unit}':<48}{cells}")
    for name in servers:
        if name.startswith("switchboard"):
            lines += targets(results, args, name)
    summary = {
        "command": " ".join([".venv/bin/python", "bench/realtime.py", *sys.argv[1:]]),
        "rounds": args.rounds,
        "duration": args.duration,
        "clients": args.clients,
        "ack_clients": args.ack_clients,
        "window": args.window,
        "payload_bytes": PAYLOAD_SIZE,
        "versions": versions(),
        "units": {m.key: m.unit for ms in METRICS.values() for m in ms},
        "results": results,
        "ratios": ratios,
        "ratios_per_round": per_round,
    }
    return lines, summary


def targets(results: dict[str, Any], args: argparse.Namespace, ours: str) -> list[str]:
    """The issue's targets, each with the measured value and whether it is met."""

    def med(key: str, name: str) -> float | None:
        found = results.get(key, {}).get(name)
        return found["median"] if found else None

    lines = ["", f"Targets (issue 9), {LABELS[ours]}"]
    node = "socketio-node"
    python_peers = [n for n in ("socketio-aiohttp", "socketio-uvicorn") if n in args.servers]

    def show(text: str, ok: bool | None) -> None:
        mark = "-" if ok is None else ("met" if ok else "MISSED")
        lines.append(f"  {text:<70} {mark}")

    for key, what in (("fanout", "fan-out deliveries/s"), ("ack", "acks/s")):
        a, b = med(key, ours), med(key, node)
        if a and b:
            show(f">= 1.5x Node socket.io on {what}: {a / b:.2f}x", a / b >= 1.5)
    a = med("fanout_p99", ours)
    others = [(n, med("fanout_p99", n)) for n in [node, *python_peers]]
    others = [(n, v) for n, v in others if v is not None]
    if a is not None and others:
        best = min(v for _, v in others)
        show(f"p99 fan-out latency below every peer: {a:.2f} ms vs best {best:.2f} ms", a < best)
    a = med("memory", ours)
    if a is not None:
        show(f"<= 12 KiB per connected client: {a:.1f} KiB", a <= 12)
    return lines


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("switchboard-ws", "python-socketio", "python-engineio", "aiohttp", "uvicorn"):
        try:
            found[dist] = version(dist)
        except Exception:
            found[dist] = "?"
    try:  # the code measured: the commit, and whether src/ had uncommitted changes
        git = ["git", "-C", str(HERE.parent)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
        dirty = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True)
        found["commit"] = head.stdout.decode().strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        found["commit"] = "?"
    for dist in ("uvloop", "websockets", "orjson"):
        try:
            found[dist] = version(dist)
        except Exception:
            found[dist] = "?"
    try:
        found["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        meta = json.loads((NODE_DIR / "node_modules" / "socket.io" / "package.json").read_text())
        found["socket.io"] = meta["version"]
    except Exception:
        found.setdefault("node", "?")
        found["socket.io"] = "?"
    return found


def available(name: str) -> str | None:
    """Why a server cannot run here, or None."""
    if name == "socketio-node":
        if shutil.which("node") is None:
            return "no node on PATH"
        if not (NODE_DIR / "node_modules" / "socket.io").is_dir():
            return "bench/node/node_modules is missing (./dev bench installs it)"
        return None
    check = {
        "switchboard": "from switchboard.realtime import Hub",
        "switchboard-json": "from switchboard.realtime import Hub",
        "switchboard-full": "from switchboard.realtime import Hub",
        "socketio-aiohttp": "import socketio, aiohttp",
        "socketio-uvicorn": "import socketio, uvicorn",
    }[name]
    found = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    if found.returncode == 0:
        return None
    return f"cannot {check}" + ("" if name.startswith("switch") else ": install the 'bench' extra")


def fill_defaults(args: argparse.Namespace) -> None:
    """Fill the options left unset with the full (or --quick) defaults."""
    defaults = {"rounds": 5, "duration": 2.0, "warmup": 0.3, "clients": 1000, "ack_clients": 50}
    if args.quick:
        defaults = {"rounds": 1, "duration": 0.3, "warmup": 0.05, "clients": 100, "ack_clients": 10}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def choose_servers(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    names: list[str],
    available: Callable[[str], str | None],
    none_left: str,
) -> None:
    """Set args.servers (in the order of names) and args.missing (name: why not).

    A server asked for by --servers that cannot run is an error; one left out of a
    default run is noted in args.missing.
    """
    explicit = args.servers is not None
    wanted = args.servers or names
    args.servers, args.missing = [], {}
    for name in names:
        if name in wanted:
            why = available(name)
            if why and explicit:
                parser.error(f"{name}: {why}")
            if why:
                args.missing[name] = why
            else:
                args.servers.append(name)
    if not args.servers:
        parser.error(none_left)


def check_fds_and_note_missing(args: argparse.Namespace) -> None:
    """Raise the open-file limit, refuse --clients beyond it, note the servers left out."""
    hard = raise_fd_limit()
    if args.clients + 64 > hard:
        raise SystemExit(f"--clients {args.clients} needs more file descriptors than {hard}")
    for name, why in args.missing.items():
        print(f"note: {name} left out: {why}", file=sys.stderr)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=SCENARIOS)
    parser.add_argument(
        "--servers",
        nargs="+",
        choices=SERVERS,
        help="default: all; any that cannot run here is left out with a note",
    )
    parser.add_argument("--rounds", type=int, help="default 5 (--quick: 1)")
    parser.add_argument("--duration", type=float, help="seconds per measurement (2; --quick: 0.3)")
    parser.add_argument("--warmup", type=float, help="seconds before each one (0.3; --quick: 0.05)")
    parser.add_argument("--clients", type=int, help="room members: fan-out, memory (1000; 100)")
    parser.add_argument("--ack-clients", type=int, help="clients for the ack scenario (50; 10)")
    parser.add_argument(
        "--window",
        type=int,
        default=1,
        help="fan-out emits in flight (default 1: the next "
        "emit goes out when every member has the previous one)",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="cProfile the Switchboard server into FILE"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 round of 0.3 s, 100 room members, 10 ack clients (explicit "
        "options still win)",
    )
    args = parser.parse_args(argv)
    fill_defaults(args)
    args.settle = 0.05 if args.quick else 0.3
    args.settle_memory = 0.3 if args.quick else 1.0
    choose_servers(parser, args, SERVERS, available, "no server can run here")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_fds_and_note_missing(args)
    print(
        f"servers: {', '.join(args.servers)}; load generator: raw sockets, epoll; "
        f"{args.rounds} round(s) x {args.duration} s per measurement",
        file=sys.stderr,
    )
    servers: dict[str, ServerProcess] = {}
    try:
        if set(args.scenarios) - {"memory"}:
            for name in args.servers:
                profile = args.profile if name == "switchboard" else None
                servers[name] = ServerProcess(name, profile)
        samples = uvloop.run(run_rounds(args, servers))
    finally:
        for server in servers.values():
            server.stop()
    lines, summary = summarize(samples, args)
    v = summary["versions"]
    print(
        f"\nSwitchboard {v['switchboard-ws']} ({v['commit']}) vs socket.io {v['socket.io']} "
        f"on Node {v['node']}, python-socketio {v['python-socketio']} (aiohttp {v['aiohttp']}, "
        f"uvicorn {v['uvicorn']}); Python {v['python']}, uvloop {v['uvloop']}, "
        f"{os.cpu_count()} CPUs\nmedian of {args.rounds} round(s) x {args.duration} s "
        f"(± half the min-max spread across rounds); {PAYLOAD_SIZE}-byte JSON data; "
        f"fan-out window {args.window}\n"
    )
    print("\n".join(lines))
    if args.profile and "switchboard" in servers:
        import pstats

        print("\ncProfile of the Switchboard server, top 25 by own time:")
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)
    print()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted; servers stopped")

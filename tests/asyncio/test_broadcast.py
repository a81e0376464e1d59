"""broadcast(): framed once, never waits, slow consumers closed."""

from __future__ import annotations

import asyncio
import socket

import switchboard
from switchboard import DeflateOptions, WebSocket, broadcast

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class Room:
    """Server side: collects connections until told to stop."""

    def __init__(self) -> None:
        self.members: set[WebSocket] = set()
        self.joined = asyncio.Condition()

    async def handler(self, ws: WebSocket) -> None:
        async with self.joined:
            self.members.add(ws)
            self.joined.notify_all()
        try:
            await ws.wait_closed()
        finally:
            self.members.discard(ws)

    async def wait_for(self, n: int) -> None:
        async with self.joined:
            await asyncio.wait_for(self.joined.wait_for(lambda: len(self.members) >= n), 5)


async def test_everyone_gets_the_message() -> None:
    room = Room()
    async with switchboard.serve(room.handler, "127.0.0.1", 0) as srv:
        uri = f"ws://127.0.0.1:{srv.port}/"
        clients = [await switchboard.connect(uri, compression=c) for c in (None, DeflateOptions())]
        await room.wait_for(2)
        assert broadcast(room.members, "hello all") == 2
        assert broadcast(room.members, b"\x01\x02") == 2
        for ws in clients:
            assert await ws.recv() == "hello all"
            assert await ws.recv() == b"\x01\x02"
            await ws.close()


async def test_compressed_once_for_no_context_takeover_peers() -> None:
    room = Room()
    options = DeflateOptions(server_no_context_takeover=True, threshold=0)
    async with switchboard.serve(room.handler, "127.0.0.1", 0, compression=options) as srv:
        uri = f"ws://127.0.0.1:{srv.port}/"
        clients = [await switchboard.connect(uri) for _ in range(3)]
        await room.wait_for(3)
        text = "compressible " * 500
        assert broadcast(room.members, text) == 3
        for ws in clients:
            assert ws.protocol.deflate is not None
            assert await ws.recv() == text
        # The frame on the wire was compressed: far fewer bytes than the text.
        assert all(member.bytes_out < len(text) // 10 for member in room.members)
        for ws in clients:
            await ws.close()


async def test_closed_connections_are_skipped() -> None:
    room = Room()
    async with switchboard.serve(room.handler, "127.0.0.1", 0) as srv:
        uri = f"ws://127.0.0.1:{srv.port}/"
        a = await switchboard.connect(uri)
        b = await switchboard.connect(uri)
        await room.wait_for(2)
        members = list(room.members)
        await b.close()
        for _ in range(100):  # the server side sees the close shortly after
            if len(room.members) == 1:
                break
            await asyncio.sleep(0.01)
        assert len(room.members) == 1
        assert broadcast(members, "still here?") == 1  # the closed one is skipped
        assert await a.recv() == "still here?"
        await a.close()


async def test_slow_consumer_is_closed_and_memory_stays_bounded() -> None:
    room = Room()
    async with switchboard.serve(room.handler, "127.0.0.1", 0, compression=None) as srv:
        fast = await switchboard.connect(f"ws://127.0.0.1:{srv.port}/", compression=None)
        # A client that completes the handshake and then never reads.
        slow = socket.create_connection(("127.0.0.1", srv.port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(UPGRADE)
        await room.wait_for(2)
        for ws in room.members:
            ws.write_budget = 256 * 1024
        chunk = b"x" * 65536
        biggest = 0
        received = 0
        for _ in range(200):
            broadcast(room.members, chunk)
            assert await fast.recv() == chunk  # the fast reader keeps up
            received += 1
            biggest = max(
                [biggest]
                + [m._transport.get_write_buffer_size() for m in room.members if m._transport]
            )
        closed = [m for m in room.members if m.close_cause == "slow consumer"]
        assert len(closed) == 1 and closed[0].protocol.close_sent is not None
        assert closed[0].protocol.close_sent.code == 1013
        assert received == 200
        # Never more than the budget plus one message (and the close frame) buffered.
        assert biggest <= 256 * 1024 + 2 * len(chunk)
        slow.close()
        await fast.close()

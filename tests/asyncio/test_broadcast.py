"""broadcast(): framed once, never waits, slow consumers closed."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

import switchboard
from switchboard import DeflateOptions, Group, WebSocket, _direct, broadcast

if TYPE_CHECKING:
    from conftest import TLS

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class Room:
    """Server side: collects connections (in a set or a Group) until they close."""

    def __init__(self, kind: Callable[[], Any] = set) -> None:
        self.members: set[WebSocket] | Group = kind()
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


@pytest.mark.parametrize("kind", [set, Group])
async def test_slow_consumer_is_closed_and_memory_stays_bounded(kind: Callable[[], Any]) -> None:
    room = Room(kind)
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


# --- Group, and frames sent straight to the socket (switchboard._direct) ---------


async def test_group_is_a_set_of_connections() -> None:
    room = Room()
    async with switchboard.serve(room.handler, "127.0.0.1", 0) as srv:
        clients = [await switchboard.connect(f"ws://127.0.0.1:{srv.port}/") for _ in range(3)]
        await room.wait_for(3)
        a, b, c = room.members
        group = Group([a, b])
        group.add(a)  # already in: no change
        group.add(c)
        assert len(group) == 3 and a in group and set(group) == {a, b, c}
        group.discard(a)
        group.discard(a)  # not in: no error
        assert len(group) == 2 and a not in group and set(group) == {b, c}
        for member in group:  # iteration is over a snapshot
            group.discard(member)
        assert len(group) == 0 and repr(group) == "<Group of 0>"
        for ws in clients:
            await ws.close()


async def test_closed_connections_are_skipped_and_leave_every_group() -> None:
    room = Room()
    async with switchboard.serve(room.handler, "127.0.0.1", 0) as srv:
        uri = f"ws://127.0.0.1:{srv.port}/"
        a = await switchboard.connect(uri)
        b = await switchboard.connect(uri)
        await room.wait_for(2)
        members = list(room.members)
        group = Group(members)
        await b.close()
        for _ in range(100):  # the server side sees the close shortly after
            if len(room.members) == 1:
                break
            await asyncio.sleep(0.01)
        assert len(room.members) == len(group) == 1  # the group lost it by itself
        [gone] = [ws for ws in members if ws not in group]
        await gone.wait_closed()
        group.add(gone)  # a lost connection is not added back
        assert gone not in group
        assert broadcast(members, "still here?") == 1  # the closed one is skipped
        assert broadcast(group, "and here?") == 1
        assert await a.recv() == "still here?"
        assert await a.recv() == "and here?"
        await a.close()


async def test_a_reused_socket_never_gets_a_former_members_broadcast() -> None:
    # A closed connection's descriptor is reused by the next one: the group must
    # not send to it, although the group once held that descriptor.
    room = Room()
    async with switchboard.serve(room.handler, "127.0.0.1", 0) as srv:
        uri = f"ws://127.0.0.1:{srv.port}/"
        first = await switchboard.connect(uri)
        await room.wait_for(1)
        [old] = room.members
        group = Group([old])
        broadcast(group, "for members")  # arms the direct path
        assert await first.recv() == "for members"
        fd = old._socket_fd
        await first.close()
        await old.wait_closed()
        reused = False
        for _ in range(20):  # the kernel hands out the lowest free descriptor
            second = await switchboard.connect(uri)
            await room.wait_for(1)
            [new] = room.members
            if new._socket_fd == fd:
                reused = True
                break
            await second.close()
            await new.wait_closed()
        assert reused, "the test needs the descriptor to be reused"
        assert len(group) == 0
        assert broadcast(group, "for members") == 0
        await new.send("only for you")
        assert await second.recv() == "only for you"  # nothing came before it
        await second.close()


@pytest.mark.parametrize("kind", [set, Group])
async def test_direct_sends_are_counted_and_survive_the_close(kind: Callable[[], Any]) -> None:
    room = Room(kind)
    async with switchboard.serve(room.handler, "127.0.0.1", 0, compression=None) as srv:
        clients = [await switchboard.connect(f"ws://127.0.0.1:{srv.port}/") for _ in range(3)]
        await room.wait_for(3)
        members = list(room.members)
        for i in range(10):
            assert broadcast(room.members, f"message {i}") == 3
        # After the first broadcast, every member takes frames straight to its socket.
        assert all(ws._socket_fd >= 0 and _direct.READY[ws._socket_fd] for ws in members)
        for ws in clients:
            assert [await ws.recv() for _ in range(10)] == [f"message {i}" for i in range(10)]
        assert [ws.messages_out for ws in members] == [10, 10, 10]
        assert [ws.bytes_out for ws in members] == [10 * (2 + 9)] * 3  # header + payload
        for ws in clients:
            await ws.close()
        for ws in members:
            await ws.wait_closed()
        assert [ws.messages_out for ws in members] == [10, 10, 10]  # the close frame
        assert all(ws.bytes_out > 10 * 11 for ws in members)  # is counted on top


@pytest.mark.parametrize("kind", [set, Group])
async def test_a_broadcast_queues_behind_bytes_the_socket_did_not_take(
    kind: Callable[[], Any],
) -> None:
    room = Room(kind)
    async with switchboard.serve(room.handler, "127.0.0.1", 0, compression=None) as srv:
        client = await switchboard.connect(
            f"ws://127.0.0.1:{srv.port}/", compression=None, limits=switchboard.Limits(None, None)
        )
        await room.wait_for(1)
        [member] = room.members
        member.write_budget = 64 << 20
        broadcast(room.members, "small")  # arms the direct path
        big = bytes(range(256)) * (32 << 10)  # 8 MiB: more than the socket buffers take
        messages: list[str | bytes] = ["small", big, "after big"]
        assert broadcast(room.members, big) == 1
        assert member._transport is not None and member._transport.get_write_buffer_size() > 0
        assert broadcast(room.members, "after big") == 1  # must not overtake the rest of big
        await member.send("sent after")
        for message in [*messages, "sent after"]:
            assert await client.recv() == message
        await client.close()


async def test_bytes_left_in_the_transport_by_send_stop_direct_broadcasts() -> None:
    room = Room(Group)
    async with switchboard.serve(room.handler, "127.0.0.1", 0, compression=None) as srv:
        client = await switchboard.connect(
            f"ws://127.0.0.1:{srv.port}/", compression=None, limits=switchboard.Limits(None, None)
        )
        await room.wait_for(1)
        [member] = room.members
        broadcast(room.members, "small")  # arms the direct path
        assert _direct.READY[member._socket_fd] == 1
        assert member._transport is not None
        member._transport.set_write_buffer_limits(64 << 20)  # so send() does not wait
        member.write_budget = 64 << 20
        big = bytes(range(256)) * (32 << 10)
        await member.send(big)  # the socket takes part; the transport keeps the rest
        assert member._transport.get_write_buffer_size() > 0
        assert _direct.READY[member._socket_fd] == 0
        broadcast(room.members, "after big")
        for message in ["small", big, "after big"]:
            assert await client.recv() == message
        await client.close()


async def test_tls_connections_go_through_the_transport(tls: TLS) -> None:
    room = Room(Group)
    async with switchboard.serve(room.handler, "127.0.0.1", 0, ssl=tls.server) as srv:
        client = await switchboard.connect(f"wss://127.0.0.1:{srv.port}/", ssl=tls.client)
        await room.wait_for(1)
        [member] = room.members
        assert member._socket_fd == -1
        assert broadcast(room.members, "over TLS") == 1
        assert await client.recv() == "over TLS"
        assert member.messages_out == 1
        await client.close()


async def test_without_the_c_extension_everything_goes_through_the_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_direct, "send_nowait", None)
    monkeypatch.setattr(_direct, "send_to_ready", None)
    room = Room(Group)
    async with switchboard.serve(room.handler, "127.0.0.1", 0) as srv:
        clients = [await switchboard.connect(f"ws://127.0.0.1:{srv.port}/") for _ in range(2)]
        await room.wait_for(2)
        assert all(ws._socket_fd == -1 for ws in room.members)
        for i in range(3):
            assert broadcast(room.members, f"pure {i}") == 2
        for ws in clients:
            assert [await ws.recv() for _ in range(3)] == ["pure 0", "pure 1", "pure 2"]
            await ws.close()


async def test_direct_sends_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> tuple[list[str | bytes], list[int], bool]:
        room = Room(Group)
        async with switchboard.serve(room.handler, "127.0.0.1", 0) as srv:
            uri = f"ws://127.0.0.1:{srv.port}/"
            clients = [await switchboard.connect(uri) for _ in range(2)]
            await room.wait_for(2)
            for i in range(3):
                broadcast(room.members, f"uv {i}")
            ready = all(_direct.READY[ws._socket_fd] for ws in room.members)
            received = [await ws.recv() for ws in clients for _ in range(3)]
            counts = [ws.messages_out for ws in room.members]
            for ws in clients:
                await ws.close()
        return received, counts, ready

    received, counts, ready = await asyncio.get_running_loop().run_in_executor(
        None, uvloop.run, main()
    )
    assert received == ["uv 0", "uv 1", "uv 2"] * 2
    assert counts == [3, 3]
    assert ready

"""What the Socket.IO tests share: a hub serving both wires on a real server.

(tests/socketio is not a package: as one it would be named ``socketio`` and hide
python-socketio.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import socketio

import switchboard
from switchboard.realtime import Hub, HubClient, Identity, Session
from switchboard.realtime import connect as connect_native
from switchboard.realtime.session import Hello
from switchboard.realtime.socketio import SocketIO


class Both:
    """A running hub: ``url`` (http://127.0.0.1:port), ``native_url``, ``sio(...)``;
    ``socketio`` is its :class:`SocketIO` endpoint."""

    def __init__(self, hub: Hub, server: switchboard.Server, sio: SocketIO) -> None:
        self.hub = hub
        self.server = server
        self.socketio = sio
        self.url = f"http://127.0.0.1:{server.port}"
        self.native_url = f"ws://127.0.0.1:{server.port}/rt"
        self.clients: list[socketio.AsyncClient] = []
        self.natives: list[HubClient] = []

    async def sio(self, *, connect: bool = True, **options: Any) -> socketio.AsyncClient:
        """A python-socketio AsyncClient (connected, with default transports, unless
        told otherwise: ``transports=["websocket"]``, ``auth={...}``)."""
        client = socketio.AsyncClient(reconnection_delay=0.05, reconnection_delay_max=0.2)
        self.clients.append(client)
        if connect:
            await client.connect(self.url, wait_timeout=5, **options)
        return client

    async def native(self) -> HubClient:
        """A native client (switchboard.realtime.connect), closed with the others."""
        client = await connect_native(self.native_url)
        self.natives.append(client)
        return client

    async def members(self, event: str, *, websockets: int = 1) -> Members:
        """Members of the room "lobby" (joined with the echo hub's ``enter``): a
        Socket.IO client on polling, ``websockets`` on a WebSocket, and a native
        client; each ``event`` they get goes to a queue (Socket.IO: its arguments,
        as a list; native: its data)."""
        members = Members([], await self.native(), asyncio.Queue(), asyncio.Queue())
        transports = [["polling"]] + [["websocket"]] * websockets
        for transport in transports:  # polling: its events wait for its next poll
            client = await self.sio(transports=transport)
            client.on(event, lambda *args: members.sio_got.put_nowait(list(args)))
            assert await client.call("enter", "lobby", timeout=5) == {"joined": "lobby"}
            members.sio.append(client)
        members.native.on(event)(lambda data, meta: members.native_got.put_nowait(data))
        assert await members.native.emit("enter", "lobby") == {"joined": "lobby"}
        return members

    async def close(self) -> None:
        for client in self.clients:
            if client.connected:
                await client.disconnect()
        for native in self.natives:
            await native.close()


@dataclass
class Members:
    """What :meth:`Both.members` made."""

    sio: list[socketio.AsyncClient]
    native: HubClient
    sio_got: asyncio.Queue[list[Any]]
    native_got: asyncio.Queue[Any]


ServeBoth = Callable[..., Awaitable[Both]]


def echo_hub(**options: Any) -> Hub:
    """A hub with the handlers the tests use: echo (the ack says who asked),
    enter (joins a room), shout (emits to a room)."""
    hub = Hub(**options)

    @hub.on("echo")
    async def echo(session: Session, data: Any) -> Any:
        return {"echo": data, "user": session.user.id}

    @hub.on("enter")
    async def join(session: Session, room: str) -> dict[str, Any]:
        await session.join(room)
        return {"joined": room}

    @hub.on("shout")
    async def shout(session: Session, data: dict[str, Any]) -> None:
        await hub.to(data["room"]).emit("shouted", data["text"])

    return hub


def blob_hub() -> Hub:
    """:func:`echo_hub` with handlers that send bytes: blob (the ack holds ``n``
    bytes), push (``session.emit``), room.blob (a room emit)."""
    hub = echo_hub()

    @hub.on("blob")
    def blob(session: Session, n: int) -> dict[str, Any]:
        return {"n": n, "data": bytes(range(n)), "parts": [b"\xff", {"deep": b"\x00"}]}

    @hub.on("push")
    async def push(session: Session) -> None:
        await session.emit("pushed", {"blob": bytearray(b"\x01\x02")})

    @hub.on("room.blob")
    async def room_blob(session: Session, room: str) -> None:
        await hub.to(room).emit("blobbed", [b"\x07", memoryview(b"ab"), "text"])

    return hub


def admin_hub(seen: list[Any]) -> Hub:
    """The hub of a second namespace: echo_hub's handlers and ``whoami``; its
    ``on_connect`` records each auth in ``seen`` and names the user after it."""
    hub = echo_hub()

    @hub.on_connect
    def identify(hello: Hello) -> Identity:
        seen.append(hello.auth)
        token = hello.auth.get("token") if isinstance(hello.auth, dict) else None
        return Identity(f"admin-{token}")

    @hub.on("whoami")
    def whoami(session: Session) -> dict[str, Any]:
        return {"hub": "admin", "user": session.user.id}

    @hub.on("ask.me")
    async def ask_me(session: Session) -> Any:
        return await session.call("question", {"q": 6}, timeout=5)

    return hub

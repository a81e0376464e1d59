"""Namespaces: each served by a hub of its own, several on one Engine.IO session
(python-socketio's AsyncClient with ``namespaces=[...]``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sio_helpers import ServeBoth, admin_hub, echo_hub

from switchboard.realtime import Session
from switchboard.realtime.socketio import SocketIO
from switchboard.realtime.socketio.server import SocketIOSession


async def test_two_namespaces_share_one_engine_io_session(serve_both: ServeBoth) -> None:
    seen: list[Any] = []
    admin = admin_hub(seen)
    both = await serve_both(echo_hub(), namespaces={"/admin": admin})
    client = await both.sio(namespaces=["/", "/admin"], auth={"token": "t"})
    (root,) = both.hub.sessions
    (session,) = admin.sessions
    assert isinstance(root, SocketIOSession) and isinstance(session, SocketIOSession)
    assert (root.namespace, session.namespace) == ("/", "/admin")
    assert root.engine is session.engine
    assert list(both.socketio.engine.sockets) == [root.engine.sid]
    assert (client.get_sid("/"), client.get_sid("/admin")) == (root.id, session.id)
    assert seen == [{"token": "t"}]
    assert await client.call("whoami", namespace="/admin", timeout=5) == {
        "hub": "admin",
        "user": "admin-t",
    }
    # Each namespace's handlers are its hub's: "/" has no whoami.
    assert await client.call("whoami", timeout=5) == {
        "error": {"code": "unknown_event", "message": "no handler for event 'whoami'"}
    }


async def test_rooms_acks_and_calls_stay_in_their_namespace(serve_both: ServeBoth) -> None:
    admin = admin_hub([])
    both = await serve_both(echo_hub(), namespaces={"/admin": admin})
    client = await both.sio(namespaces=["/", "/admin"])
    got: dict[str, asyncio.Queue[Any]] = {"/": asyncio.Queue(), "/admin": asyncio.Queue()}
    for namespace, queue in got.items():
        client.on("shouted", queue.put_nowait, namespace=namespace)
    client.on("question", lambda data: {"on": "/admin", "q": data["q"]}, namespace="/admin")
    # The same room name in both hubs: two rooms.
    for namespace in got:
        assert await client.call("enter", "ops", namespace=namespace, timeout=5) == {
            "joined": "ops"
        }
    await client.emit("shout", {"room": "ops", "text": "admins only"}, namespace="/admin")
    assert await asyncio.wait_for(got["/admin"].get(), 5) == "admins only"
    await client.emit("shout", {"room": "ops", "text": "everyone"})
    assert await asyncio.wait_for(got["/"].get(), 5) == "everyone"
    assert got["/"].empty() and got["/admin"].empty()
    assert await client.call("ask.me", namespace="/admin", timeout=5) == {"on": "/admin", "q": 6}


async def test_a_namespace_closed_by_the_server_leaves_the_others(serve_both: ServeBoth) -> None:
    admin = admin_hub([])
    both = await serve_both(echo_hub(), namespaces={"/admin": admin})
    client = await both.sio(namespaces=["/", "/admin"])
    left = asyncio.Event()
    client.on("disconnect", lambda *reason: left.set(), namespace="/admin")
    (session,) = admin.sessions
    await session.close()
    await asyncio.wait_for(left.wait(), 5)
    await asyncio.wait_for(session._worker, 5)  # type: ignore[arg-type]
    assert not admin.sessions
    (root,) = both.hub.sessions
    assert isinstance(root, SocketIOSession)
    assert not root.closed and not root.engine.closed
    assert await client.call("echo", "still here", timeout=5) == {
        "echo": "still here",
        "user": root.user.id,
    }
    # The last namespace ends the Engine.IO session with it.
    await root.close()
    await asyncio.wait_for(root._worker, 5)  # type: ignore[arg-type]
    assert root.engine.closed and not both.socketio.engine.sockets


async def test_transport_close_ends_every_namespace(serve_both: ServeBoth) -> None:
    admin = admin_hub([])
    both = await serve_both(echo_hub(), namespaces={"/admin": admin})
    await both.sio(namespaces=["/", "/admin"], transports=["websocket"])
    sessions: list[Session] = [*both.hub.sessions, *admin.sessions]
    assert len(sessions) == 2
    next(iter(both.socketio.engine.sockets.values())).close("test")
    for session in sessions:
        await asyncio.wait_for(session._worker, 5)  # type: ignore[arg-type]
        assert session.closed


@pytest.mark.parametrize("name", ["admin", "/", "/a,b"])
def test_namespace_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="a namespace starts with '/'"):
        SocketIO(echo_hub(), namespaces={name: echo_hub()})

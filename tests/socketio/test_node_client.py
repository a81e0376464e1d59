"""The official socket.io-client 4 (npm, under Node) against the hub, with its
default options: long-polling first, then the upgrade to a WebSocket."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sio_helpers import ServeBoth, admin_hub, blob_hub, echo_hub

from switchboard.realtime import Hub, Identity, Session, Unauthorized
from switchboard.realtime.session import Hello

NODE = Path(__file__).parent / "node"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE / "node_modules" / "socket.io-client").is_dir(),
    reason="needs node and tests/socketio/node's npm ci (./dev does it)",
)


class NodeClient:
    """``node client.mjs <url> <scenario>``, read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, url: str, scenario: str) -> NodeClient:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(NODE / "client.mjs"),
            url,
            scenario,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def next(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 15)
        if not line:
            assert self.process.stderr is not None
            raise AssertionError(f"node exited: {(await self.process.stderr.read()).decode()}")
        value = json.loads(line)
        assert "error" not in value, value
        return dict(value)

    async def finish(self) -> None:
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        finally:
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
        assert self.process.returncode == 0


async def run(url: str, scenario: str) -> list[dict[str, Any]]:
    client = await NodeClient.start(url, scenario)
    assert client.process.stdout is not None
    lines = []
    try:
        while line := await asyncio.wait_for(client.process.stdout.readline(), 20):
            lines.append(json.loads(line))
    finally:
        await client.finish()
    return lines


def asking_hub() -> Hub:
    hub = echo_hub()

    @hub.on("ask.me")
    async def ask_me(session: Session) -> Any:
        return await session.call("question", {"q": 6}, timeout=5)

    @hub.on("size")
    def size(session: Session, data: dict[str, Any]) -> dict[str, Any]:
        blob = data["blob"]
        assert isinstance(blob, bytes)
        return {"name": data["name"], "size": len(blob), "last": blob[-1]}

    return hub


async def test_default_options_poll_then_upgrade(serve_both: ServeBoth) -> None:
    both = await serve_both(asking_hub())
    lines = await run(both.url, "defaults")
    sid = lines[0]["connected"]
    assert lines[0]["transport"] == "polling"
    assert lines[1] == {"ack": {"echo": {"n": 1}, "user": sid}}
    assert lines[2] == {"transport": "websocket"}
    assert lines[3] == {"ack": {"echo": "after the upgrade", "user": sid}}
    assert lines[4] == {"asked": 42}  # the server's session.call(), answered by the client


async def test_websocket_only(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub())
    lines = await run(both.url, "websocket")
    assert lines[0] == {"transport": "websocket"}
    assert lines[1]["ack"]["echo"] == [1, 2]


async def test_refusal_is_a_connect_error(serve_both: ServeBoth) -> None:
    hub = echo_hub()

    @hub.on_connect
    def identify(hello: Hello) -> Identity:
        raise Unauthorized(f"no token in {hello.auth!r}")

    both = await serve_both(hub)
    (line,) = await run(both.url, "refused")
    assert line["connect_error"] == "unauthorized: no token in {'token': 'nope'}"
    assert line["data"]["code"] == "unauthorized"


async def test_binary_attachments_reach_the_handler(serve_both: ServeBoth) -> None:
    both = await serve_both(asking_hub())
    (line,) = await run(both.url, "binary")
    assert line == {"ack": {"name": "f", "size": 4, "last": 250}}


async def test_bytes_from_the_server_are_buffers(serve_both: ServeBoth) -> None:
    both = await serve_both(blob_hub())
    first, pushed, blobbed, upgraded, blobbed_again = await run(both.url, "binaryOut")
    parts = [{"buffer": [255]}, {"deep": {"buffer": [0]}}]
    assert first == {
        "ack": {"n": 3, "data": {"buffer": [0, 1, 2]}, "parts": parts},
    }
    assert pushed == {"pushed": {"blob": {"buffer": [1, 2]}}}
    room_data = [{"buffer": [7]}, {"buffer": [97, 98]}, "text"]
    assert blobbed == blobbed_again == {"blobbed": room_data}
    assert upgraded == {
        "transport": "websocket",
        "ack": {"n": 2, "data": {"buffer": [0, 1]}, "parts": parts},
    }


async def test_a_room_emit_reaches_node_members(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub())
    clients = [await NodeClient.start(both.url, "room") for _ in range(2)]
    for client in clients:
        assert (await client.next())["ack"] == {"joined": "lobby"}
        assert await client.next() == {"ready": True}
    python = await both.sio()
    await python.call("enter", "lobby", timeout=5)
    await python.emit("shout", {"room": "lobby", "text": "hi"})
    for client in clients:
        assert await client.next() == {"event": "shouted", "args": ["hi"]}
    for session in both.hub.sessions:
        await session.close()
    for client in clients:
        await client.finish()


async def test_two_namespaces_through_one_manager(serve_both: ServeBoth) -> None:
    seen: list[Any] = []
    admin = admin_hub(seen)
    both = await serve_both(echo_hub(), namespaces={"/admin": admin})
    client = await NodeClient.start(both.url, "namespaces")
    ids = await client.next()
    assert ids["shared"] is True  # one Manager...
    assert len(both.socketio.engine.sockets) == 1  # ...one Engine.IO session
    (root,) = both.hub.sessions
    (session,) = admin.sessions
    assert (ids["root"], ids["admin"]) == (root.id, session.id)
    assert seen == [{"token": "admin"}]  # the namespace's own auth, to its own hub
    assert (await client.next())["ack"] == {"echo": 1, "user": root.user.id}
    assert (await client.next())["ack"] == {"hub": "admin", "user": "admin-admin"}
    assert (await client.next())["ack"] == {"joined": "ops"}
    assert (await client.next())["ack"] == {"answered": "on /admin", "data": {"q": 6}}
    # The room emit reaches the /admin socket, and only it.
    assert await client.next() == {"ns": "/admin", "event": "shouted", "args": ["to /admin"]}
    # /admin disconnected; / goes on over the same Engine.IO session.
    assert (await client.next())["ack"] == {"echo": "/ goes on", "user": root.user.id}
    assert not admin.sessions
    await client.finish()


async def test_an_unknown_namespace_is_a_connect_error(serve_both: ServeBoth) -> None:
    both = await serve_both(echo_hub(), namespaces={"/admin": admin_hub([])})
    assert await run(both.url, "unknown") == [{"connect_error": "Invalid namespace"}]

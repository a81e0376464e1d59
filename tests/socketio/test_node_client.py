"""The official socket.io-client 4 (npm, under Node) against the hub, with its
default options: long-polling first, then the upgrade to a WebSocket."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sio_helpers import ServeBoth, echo_hub

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

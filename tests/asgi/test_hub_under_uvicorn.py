"""The hub as an ASGI app under real uvicorn, alone and mounted in FastAPI and
Starlette, with the Python client: events and acks, rooms, presence, close codes."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

import switchboard
from switchboard.realtime import Hello, Hub, HubClient, Identity, Session, Unauthorized, connect

from .conftest import fetch, uvicorn_serving


def chat_hub() -> Hub:
    hub = Hub(presence_interval=0.01)

    @hub.on_connect
    def identify(hello: Hello) -> Identity:
        user = (hello.auth or {}).get("user")
        if user is None:
            raise Unauthorized("who are you?")
        return Identity(user, {"name": user.title()})

    @hub.authorize_join
    def may_join(session: Session, room: str) -> bool:
        return not room.startswith("secret")

    @hub.on("add")
    async def add(session: Session, data: dict[str, int]) -> dict[str, Any]:
        total = data["a"] + data["b"]
        await hub.to("sums").emit("sum", {"by": session.user.id, "total": total})
        return {"total": total, "path": session.request.path}

    return hub


@contextlib.asynccontextmanager
async def clients(url: str, *users: str) -> AsyncIterator[list[HubClient]]:
    opened = [await connect(url, auth={"user": user}, backoff=(0.05, 0.2)) for user in users]
    try:
        yield opened
    finally:
        for client in opened:
            await client.close()


async def exercise(url: str) -> None:
    """Events with acks, a room emit reaching both members, presence, a refused join."""
    async with clients(url, "ada", "bob") as (ada, bob):
        sums: list[Any] = []
        bob.on("sum")(lambda data, meta: sums.append((data, meta.room)))
        await ada.join("sums")
        await bob.join("sums")
        ack = await ada.emit("add", {"a": 2, "b": 3})
        assert ack == {"total": 5, "path": "/"}
        for _ in range(500):
            if sums and set(bob.presence("sums")) == {"ada", "bob"}:
                break
            await asyncio.sleep(0.01)
        assert sums == [({"by": "ada", "total": 5}, "sums")]
        assert bob.presence("sums")["ada"] == {"info": {"name": "Ada"}}
        with pytest.raises(switchboard.realtime.HubError, match="not allowed"):
            await ada.join("secret-room")


async def test_the_hub_alone_under_uvicorn() -> None:
    hub = chat_hub()
    async with uvicorn_serving(hub) as port:  # the hub is an ASGI app itself
        await exercise(f"ws://127.0.0.1:{port}/")
        client_js = await fetch(port, "GET", "/client.js")
        assert client_js.status == 200 and b"export" in client_js.body
    assert hub._started is None  # lifespan shutdown closed the hub


HUB_MODULE = """
from switchboard.realtime import Hub

hub = Hub()

@hub.on("echo")
def echo(session, data):
    return data
"""


async def test_uvicorns_command_line_serves_module_colon_hub(tmp_path: Path) -> None:
    (tmp_path / "hubapp.py").write_text(HUB_MODULE)
    uvicorn = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "hubapp:hub",
        "--port",
        "0",
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    assert uvicorn.stderr is not None
    try:
        port = None
        for _ in range(20):  # bounded: uvicorn logs a few lines before it listens
            line = (await asyncio.wait_for(uvicorn.stderr.readline(), 20)).decode()
            found = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found[1])
                break
        assert port is not None, "uvicorn did not say where it listens"
        async with connect(f"ws://127.0.0.1:{port}/") as client:
            assert await client.emit("echo", [1, "two"]) == [1, "two"]
    finally:
        uvicorn.terminate()
        await asyncio.wait_for(uvicorn.wait(), 20)


async def test_the_hub_mounted_in_fastapi() -> None:
    hub = chat_hub()
    api = FastAPI()

    @api.get("/api/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    api.mount("/rt", hub.asgi())
    try:
        async with uvicorn_serving(api) as port:
            await exercise(f"ws://127.0.0.1:{port}/rt/")
            assert (await fetch(port, "GET", "/api/ping")).body == b'{"pong":"yes"}'
            assert (await fetch(port, "GET", "/rt/client.js")).status == 200
    finally:
        await hub.close()  # Starlette sends no lifespan events to mounted apps


async def test_the_hub_mounted_in_starlette() -> None:
    hub = chat_hub()
    app = Starlette(routes=[Mount("/live", app=hub.asgi())])
    try:
        async with uvicorn_serving(app) as port:
            await exercise(f"ws://127.0.0.1:{port}/live/")
    finally:
        await hub.close()


async def test_a_refused_hello_closes_with_the_hubs_code_and_reason() -> None:
    hub = chat_hub()
    async with uvicorn_serving(hub.asgi()) as port:
        ws = await switchboard.connect(
            f"ws://127.0.0.1:{port}/", subprotocols=[switchboard.realtime.SUBPROTOCOL]
        )
        await ws.send('{"t":"hello","v":1}')  # no auth: on_connect refuses
        await ws.wait_closed()
        assert ws.close_code == switchboard.realtime.wire.CLOSE_UNAUTHORIZED
        assert ws.close_reason == "unauthorized: who are you?"


async def test_a_handshake_without_the_subprotocol_is_refused() -> None:
    hub = chat_hub()
    async with uvicorn_serving(hub.asgi()) as port:
        with pytest.raises(switchboard.InvalidHandshake) as refused:
            await switchboard.connect(f"ws://127.0.0.1:{port}/")
        assert refused.value.status == 403  # uvicorn's answer to a close before accept


async def test_a_cross_origin_browser_is_refused_as_by_serve() -> None:
    hub = chat_hub()
    async with uvicorn_serving(hub.asgi()) as port:
        with pytest.raises(switchboard.InvalidHandshake):
            await switchboard.connect(
                f"ws://127.0.0.1:{port}/",
                subprotocols=[switchboard.realtime.SUBPROTOCOL],
                origin="http://evil.example",
            )


async def test_a_client_closing_reaches_the_hub_with_its_code() -> None:
    hub = chat_hub()
    closed: list[str] = []
    hub.on_disconnect(lambda session, why: closed.append(why))
    async with uvicorn_serving(hub.asgi()) as port:
        async with clients(f"ws://127.0.0.1:{port}/", "ada"):
            for _ in range(500):
                if hub.sessions:
                    break
                await asyncio.sleep(0.01)
            assert len(hub.sessions) == 1
        for _ in range(500):
            if closed:
                break
            await asyncio.sleep(0.01)
        assert not hub.sessions
        assert closed and "1000" in closed[0]

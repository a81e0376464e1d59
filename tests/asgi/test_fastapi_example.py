"""examples/fastapi_app served as its ``__main__`` serves it: FastAPI and the hub on
one Switchboard port; a note posted over HTTP reaches the hub's clients."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import switchboard
from switchboard.realtime import connect

from .conftest import fetch, http_client

APP = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app" / "app.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_app_example", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic looks the module up
    spec.loader.exec_module(module)
    return module


async def test_a_posted_note_reaches_the_hubs_clients() -> None:
    example = load()
    async with switchboard.serve(example.router, "127.0.0.1", 0, asgi=example.api) as server:
        url = f"ws://127.0.0.1:{server.port}/rt"
        async with connect(url, auth={"name": "ada"}) as ada, connect(url) as guest:
            seen: list[Any] = []
            typing: list[Any] = []
            ada.on("note.added")(lambda data, meta: seen.append((data, meta.room)))
            ada.on("note.typing")(lambda data, meta: typing.append(data))
            await guest.emit("note.typing")
            body = json.dumps({"author": "bob", "text": "lunch at one"}).encode()
            created = await post(server.port, body)
            assert created == (201, {"id": 1, "author": "bob", "text": "lunch at one"})
            for _ in range(500):
                if seen and typing:
                    break
                await asyncio.sleep(0.01)
            assert seen == [({"author": "bob", "text": "lunch at one"}, "board")]
            assert typing == [{"name": "guest"}]
        listed = await fetch(server.port, "GET", "/api/notes")
        assert json.loads(listed.body) == [{"author": "bob", "text": "lunch at one"}]
        empty = await post(server.port, b'{"author": "bob", "text": "  "}')
        assert empty[0] == 422
        docs = await fetch(server.port, "GET", "/openapi.json")
        assert "/api/notes" in json.loads(docs.body)["paths"]


async def post(port: int, body: bytes) -> tuple[int, Any]:
    async with http_client(port) as client:
        json_type = [("Content-Type", "application/json")]
        response = await client.request("POST", "/api/notes", body, json_type)
    return response.status, json.loads(response.body)

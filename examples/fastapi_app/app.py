"""A FastAPI app and the real-time hub on one port, served by Switchboard.

FastAPI answers the HTTP API (``/api/...``, its docs at ``/docs``); the hub's
WebSocket (``/rt``) and its browser client (``/rt/client.js``) stay native. A note
posted over HTTP reaches every connected client as a hub event. Run it from the
repository root::

    .venv/bin/python examples/fastapi_app/app.py       # http://127.0.0.1:8000/docs

tests/asgi/test_fastapi_example.py serves this very file.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

import switchboard
from switchboard.realtime import Hello, Hub, Identity, Session

BOARD = "board"  # the one room: everyone is in it


class NoteIn(BaseModel):
    author: str
    text: str


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    # Runs around the Switchboard server: before it accepts connections, after it closed.
    yield {"notes": []}


api = FastAPI(title="notes", lifespan=lifespan)
hub = Hub()


@hub.on_connect
def identify(hello: Hello) -> Identity:
    name = str((hello.auth or {}).get("name") or "guest")
    return Identity(f"{name}-{hello.request.client_address}", {"name": name}, rooms=(BOARD,))


@hub.on("note.typing")
async def typing(session: Session) -> None:
    await hub.to(BOARD).emit("note.typing", session.user.info, skip=session)


@api.get("/api/notes")
async def list_notes(request: Request) -> list[dict[str, str]]:
    return list(request.state.notes)


@api.post("/api/notes", status_code=201)
async def add_note(note: NoteIn, request: Request) -> dict[str, Any]:
    if not note.text.strip():
        raise HTTPException(422, "a note needs some text")
    stored = {"author": note.author, "text": note.text}
    request.state.notes.append(stored)
    await hub.to(BOARD).emit("note.added", stored)  # to every WebSocket client, at once
    return {"id": len(request.state.notes), **stored}


router = switchboard.Router()
router.mount("/rt", hub)

if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO)
    switchboard.run(router, "127.0.0.1", 8000, asgi=api)

"""The chat demo's routes: pages, the polling API and the chat WebSocket on one port.

==========================  ===============================================
``GET /``                   the home page (and the other pages in ``web/``)
``GET /api/history``        ``{"messages", "last_id", "poll_interval", "limits"}``
``GET /api/messages?after`` ``{"messages": [id > after], "last_id"}``
``POST /api/messages``      ``{"author", "text", "sent"?}`` -> ``{"message"}``
``/ws/chat`` (WebSocket)    send ``{"author", "text", "sent"?}`` (as for
                            POST); receive ``{"type": "message", "message"}``
                            for every message and ``{"type": "error",
                            "error"}`` when yours is refused
==========================  ===============================================
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ...protocol.errors import InvalidHTTP
from ...protocol.http11 import Request, Response
from ...server import Router, json_response
from ...websocket import WebSocket
from .room import ChatMessage, ChatRoom, InvalidChatMessage, Transport

__all__ = ["create_app"]

WEB = Path(__file__).parent / "web"
_ID = re.compile("[0-9]{1,18}")


def create_app(*, poll_interval: float = 2.0, history_size: int = 200) -> Router:
    """The chat demo as a router: serve it with ``switchboard.serve(router, host, port)``.

    ``poll_interval`` (seconds) tells the polling page how often to ask for new
    messages; ``history_size`` is how many messages the room keeps.

    Example::

        router = create_app(poll_interval=0.5)
        async with switchboard.serve(router, "127.0.0.1", 8000) as server:
            await server.serve_forever()
    """
    if not poll_interval > 0:
        raise ValueError(f"poll_interval must be positive, got {poll_interval}")
    room = ChatRoom(history_size=history_size)
    router = Router()

    @router.get("/api/history")
    async def history(request: Request) -> dict[str, Any]:
        return {
            "messages": _serialize(room.history()),
            "last_id": room.last_id,
            "poll_interval": poll_interval,
            "limits": {
                "max_length": room.max_length,
                "max_name": room.max_name,
                "history_size": history_size,
            },
        }

    @router.get("/api/messages")
    async def poll(request: Request) -> dict[str, Any] | Response:
        after = request.query_params.get("after", ["0"])[0]
        if _ID.fullmatch(after) is None:
            return _error(f"after must be a message id (a non-negative integer), got {after!r}")
        return {"messages": _serialize(room.since(int(after))), "last_id": room.last_id}

    @router.post("/api/messages")
    async def post(request: Request) -> dict[str, Any] | Response:
        try:
            message = _post(room, request.json(), "polling")
        except (InvalidHTTP, InvalidChatMessage) as exc:
            return _error(str(exc))
        return {"message": message.to_json()}

    @router.websocket("/ws/chat")
    async def chat(ws: WebSocket) -> None:
        room.subscribers.add(ws)
        try:
            async for data in ws:
                try:
                    _post(room, _parse(data), "websocket")
                except InvalidChatMessage as exc:
                    await ws.send(json.dumps({"type": "error", "error": str(exc)}))
        finally:
            room.subscribers.discard(ws)

    # no-cache: browsers revalidate (ETag, 304) so an upgraded demo shows at once.
    router.static("/", WEB, max_age=0)
    return router


def _post(room: ChatRoom, data: object, via: Transport) -> ChatMessage:
    """Post a client's JSON object (either transport) to the room."""
    if not isinstance(data, dict):
        raise InvalidChatMessage('expected a JSON object like {"author": ..., "text": ...}')
    return room.post(data.get("author"), data.get("text"), sent=data.get("sent"), via=via)


def _parse(data: str | bytes) -> object:
    if isinstance(data, bytes):
        raise InvalidChatMessage("expected a text message holding JSON, got a binary one")
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise InvalidChatMessage("message is not valid JSON") from None


def _error(message: str) -> Response:
    """A refused request: 400 with ``{"error": message}``."""
    return json_response({"error": message}, 400)


def _serialize(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    return [message.to_json() for message in messages]

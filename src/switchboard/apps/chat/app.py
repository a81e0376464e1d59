"""The chat demo's routes: pages, the polling API and the real-time hub on one port.

===============================  ===================================================
``GET /``                        the home page (and the other pages in ``web/``)
``GET /api/history?room``        ``{"room", "rooms", "messages", "last_id",
                                 "poll_interval", "limits"}``
``GET /api/messages?room&after`` ``{"messages": [id > after], "last_id"}``
``POST /api/messages``           ``{"room"?, "author", "text", "sent"?}`` ->
                                 ``{"message"}``
``/rt`` (WebSocket)              the hub (``switchboard.v1``): ``auth`` is
                                 ``{"name"}``; join ``chat:<room>``; emit
                                 ``chat.send`` ``{"room", "text", "sent"?}``, ack
                                 ``{"id"}``; every member gets ``chat.message``
``GET /rt/client.js``            the hub's browser client
===============================  ===================================================

A room is one :class:`ChatRoom` (the history both transports read) and one hub room,
``chat:<name>``, that keeps the same number of messages for recovery. Whichever way a
message arrives, it is stored in the ``ChatRoom`` and emitted to the hub room.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...protocol.errors import InvalidHTTP
from ...protocol.http11 import Request, Response
from ...realtime import (
    Broker,
    Hello,
    Hub,
    Identity,
    Rate,
    Rejected,
    RoomOptions,
    Session,
    Unavailable,
)
from ...server import Router, json_response
from .room import ChatMessage, ChatRoom, InvalidChatMessage, clean_name

__all__ = ["create_app", "DEFAULT_ROOMS", "HUB_PREFIX"]

logger = logging.getLogger("switchboard.apps.chat")

WEB = Path(__file__).parent / "web"
DEFAULT_ROOMS = ("lobby", "random", "help")
HUB_PREFIX = "/rt"
_ID = re.compile("[0-9]{1,18}")
_ROOM_NAME = re.compile("[a-z0-9][a-z0-9_-]{0,31}")


@dataclass
class ChatSend:
    """The data of a ``chat.send`` emit (checked by the hub before the handler)."""

    room: str
    text: str
    sent: float | None = None


def create_app(
    *,
    poll_interval: float = 2.0,
    history_size: int = 200,
    rooms: Sequence[str] = DEFAULT_ROOMS,
    broker: Broker | str | None = None,
) -> Router:
    """The chat demo as a router: serve it with ``switchboard.serve(router, host, port)``.

    ``poll_interval`` (seconds) tells the polling page how often to ask for new
    messages; ``history_size`` is how many messages each room keeps (for the HTTP
    history and for the hub's recovery); ``rooms`` names the rooms (lowercase
    letters, digits, ``-`` and ``_``; the first one is the default). ``broker``: the
    hub's broker (a Redis URL for several processes; the HTTP history stays per
    process, so a page whose history is reloaded sees that process's messages).

    Example::

        router = create_app(poll_interval=0.5, rooms=["lobby", "dev"])
        async with switchboard.serve(router, "127.0.0.1", 8000) as server:
            await server.serve_forever()
    """
    if not poll_interval > 0:
        raise ValueError(f"poll_interval must be positive, got {poll_interval}")
    if isinstance(rooms, str):
        raise TypeError(f"rooms is a list of names: rooms=[{rooms!r}]")
    names = list(rooms)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"rooms must be at least one name, without repeats: {names}")
    for name in names:
        if not isinstance(name, str) or _ROOM_NAME.fullmatch(name) is None:
            raise ValueError(f"invalid room name {name!r}: use a-z, 0-9, '-' and '_' (1 to 32)")
    chats = {name: ChatRoom(history_size=history_size) for name in names}
    default = names[0]
    limits = {
        "max_length": chats[default].max_length,
        "max_name": chats[default].max_name,
        "history_size": history_size,
    }

    def chat_room(name: object) -> ChatRoom:
        room = chats.get(name) if isinstance(name, str) else None
        if room is None:
            raise InvalidChatMessage(f"unknown room {name!r}: the rooms are {', '.join(names)}")
        return room

    hub = Hub(
        broker=broker,
        rooms=RoomOptions(history_size=history_size),
        max_rooms=len(names),
        name="chat",
    )

    @hub.on_connect
    def identify(hello: Hello) -> Identity | None:
        """The display name the page sends (``auth: {"name": ...}``), made safe; no
        usable name: an anonymous session. Names are not verified: this is a demo."""
        given = hello.auth.get("name") if isinstance(hello.auth, dict) else None
        name = clean_name(given, limits["max_name"])
        return None if name is None else Identity(f"name:{name}", {"name": name})

    @hub.authorize_join
    def may_join(session: Session, room: str) -> bool:
        return room.startswith("chat:") and room[5:] in chats

    @hub.on("chat.send", rate=Rate(5, 20))
    async def send(session: Session, data: ChatSend) -> dict[str, Any]:
        try:
            author = session.user.info.get("name", "anonymous")
            room = chat_room(data.room)
            message = room.post(author, data.text, sent=data.sent, via="websocket")
        except InvalidChatMessage as exc:
            raise Rejected(str(exc)) from None
        await hub.to(f"chat:{data.room}").emit("chat.message", message.to_json())
        return {"id": message.id}

    router = Router()

    @router.get("/api/history")
    async def history(request: Request) -> dict[str, Any] | Response:
        name = _query(request, "room", default)
        try:
            room = chat_room(name)
        except InvalidChatMessage as exc:
            return _error(str(exc))
        return {
            "room": name,
            "rooms": names,
            "messages": _serialize(room.history()),
            "last_id": room.last_id,
            "poll_interval": poll_interval,
            "limits": limits,
        }

    @router.get("/api/messages")
    async def poll(request: Request) -> dict[str, Any] | Response:
        after = _query(request, "after", "0")
        if _ID.fullmatch(after) is None:
            return _error(f"after must be a message id (a non-negative integer), got {after!r}")
        try:
            room = chat_room(_query(request, "room", default))
        except InvalidChatMessage as exc:
            return _error(str(exc))
        return {"messages": _serialize(room.since(int(after))), "last_id": room.last_id}

    @router.post("/api/messages")
    async def post(request: Request) -> dict[str, Any] | Response:
        try:
            data = request.json()
            if not isinstance(data, dict):
                raise InvalidChatMessage('expected a JSON object like {"author": ..., "text": ...}')
            name = data.get("room", default)
            room = chat_room(name)
            message = room.post(
                data.get("author"), data.get("text"), sent=data.get("sent"), via="polling"
            )
        except (InvalidHTTP, InvalidChatMessage) as exc:
            return _error(str(exc))
        try:
            await hub.to(f"chat:{name}").emit("chat.message", message.to_json())
        except Unavailable as exc:  # stored all the same: polling clients will see it
            logger.warning("message %d in %s not pushed: %s", message.id, name, exc)
        return {"message": message.to_json()}

    # The hub: its WebSocket at /rt, its browser client at /rt/client.js, its metrics.
    router.mount(HUB_PREFIX, hub)
    # no-cache: browsers revalidate (ETag, 304) so an upgraded demo shows at once.
    router.static("/", WEB, max_age=0)
    return router


def _query(request: Request, name: str, default: str) -> str:
    return request.query_params.get(name, [default])[0]


def _error(message: str) -> Response:
    """A refused request: 400 with ``{"error": message}``."""
    return json_response({"error": message}, 400)


def _serialize(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    return [message.to_json() for message in messages]

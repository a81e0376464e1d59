"""The Python client of the real-time layer, for bots, scripts and tests.

It speaks ``switchboard.v1`` like the browser client, with the same features::

    async with switchboard.realtime.connect("ws://127.0.0.1:8000/rt",
                                            auth={"token": "t-ada"}) as client:
        @client.on("chat.message")
        def show(data, meta):
            print(meta.room, data["text"])

        await client.join("lobby")
        await client.emit("chat.send", {"room": "lobby", "text": "hi"})   # the ack

It reconnects by itself (exponential backoff with jitter), resumes its session,
recovers what it missed in each room, and re-sends the emits whose acks had not
come, with their idempotency keys, so the hub applies each once. ``state`` is one
of ``connecting``, ``connected``, ``reconnecting``, ``disconnected``, ``failed``.

Data is JSON, and bytes anywhere in it go both ways: ``bytes`` (``bytearray``,
``memoryview``) sent travel as ``{"$binary": "<base64>"}`` and such objects received
are ``bytes`` again (docs/realtime-protocol.md, "Binary data").
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import secrets
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..client import connect as ws_connect
from ..protocol.errors import ConnectionClosed, InvalidHandshake
from ..websocket import WebSocket
from . import wire
from .brokers.base import Position
from .errors import AckTimeout, Disconnected, HubError, Unauthorized

__all__ = ["connect", "HubClient", "EventMeta", "RoomEvent"]

logger = logging.getLogger("switchboard.realtime.client")

_F = TypeVar("_F", bound=Callable[..., Any])
_MAX_OUTBOX = 1000  # emits waiting for a connection


@dataclass(frozen=True, slots=True)
class EventMeta:
    """Where an event came from: its ``room`` (``None`` when sent to this client, its
    user or everyone) and, for rooms with history, its ``offset`` and ``epoch``."""

    room: str | None = None
    offset: int | None = None
    epoch: str | None = None


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """The client entered (``"joined"``) or left (``"left"``) a room.

    ``recovered``: ``None`` when there was nothing to recover, ``True`` when every
    missed publication follows, ``False`` when some are lost: reload the room's state.
    """

    type: str
    room: str
    recovered: bool | None = None


class HubClient:
    """A connection to a hub that survives reconnects. Use :func:`connect`."""

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        auth: Any | Callable[[], Any] = None,
        ack_timeout: float = 10.0,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.5, 10.0),
        open_timeout: float = 10.0,
        **options: Any,
    ) -> None:
        #: The hub's URLs: a reconnect that fails moves on to the next one (other nodes).
        self.urls = [url] if isinstance(url, str) else list(url)
        if not self.urls:
            raise ValueError("connect() needs at least one URL")
        self._url = 0  # the one in use
        self.auth = auth
        self.ack_timeout = ack_timeout
        self.reconnect_enabled = reconnect
        self.backoff = backoff
        self.open_timeout = open_timeout
        self.options = options
        #: connecting, connected, reconnecting, disconnected or failed.
        self.state = "connecting"
        #: ``{"id": ..., "info": ...}`` from the last welcome.
        self.user: dict[str, Any] | None = None
        self.session_id: str | None = None
        #: Why the last connection closed: ``(code, reason)``.
        self.close_info: tuple[int, str] | None = None
        self._session: dict[str, str] | None = None
        self._rooms: dict[str, Position | None] = {}
        self._own_rooms: set[str] = set()  # joined by this client: rejoin if not resumed
        self._presence: dict[str, dict[str, dict[str, Any]]] = {}
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self._call_handlers: dict[str, Callable[[Any], Any]] = {}
        self._state_listeners: list[Callable[[str], Any]] = []
        self._room_listeners: list[Callable[[RoomEvent], Any]] = []
        self._presence_listeners: dict[str, list[Callable[..., Any]]] = {}
        self._error_listeners: list[Callable[[HubError], Any]] = []
        self._pending: dict[int, tuple[asyncio.Future[Any], str]] = {}  # id -> (future, frame)
        self._outbox: deque[str] = deque()
        self._next_id = 0
        self._cid = secrets.token_urlsafe(8)
        self._ws: WebSocket | None = None
        self._runner: asyncio.Task[None] | None = None
        self._welcomed: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._closing = False
        self._heartbeat = 20.0  # interval + timeout, from the welcome
        self._max_payload: int | None = None  # from the welcome
        self._joining: set[str] = set()  # rooms of the welcome whose joined is awaited
        self._got_welcome = False

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> HubClient:
        """Connect and wait for the first welcome; raise if that fails.

        Raises :class:`~switchboard.realtime.Unauthorized` when the hub refuses the
        client, :class:`~switchboard.realtime.HubError` for other refusals, or the
        connection error (``OSError``, ``InvalidHandshake``, ``TimeoutError``).
        """
        loop = asyncio.get_running_loop()
        self._welcomed = loop.create_future()
        self._runner = loop.create_task(self._run())
        try:
            await self._welcomed
        except BaseException:
            self._closing = True
            self._runner.cancel()
            raise
        return self

    async def close(self) -> None:
        """Close for good: state ``disconnected``, pending emits fail."""
        self._closing = True
        if self._ws is not None:
            await self._ws.close(1000, "client closed")
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
        self._fail_pending(Disconnected("the client was closed"))
        self._set_state("disconnected")

    async def reconnect(self) -> None:
        """Drop the connection and connect again now (backoff reset)."""
        if self._ws is not None:
            await self._ws.close(1000, "reconnecting")

    async def __aenter__(self) -> HubClient:
        return self if self._runner is not None else await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def wait_for_state(self, state: str, timeout: float = 10.0) -> None:
        """Wait until ``state`` is reached (for tests and scripts)."""
        if self.state == state:
            return
        reached = asyncio.get_running_loop().create_future()

        def watch(new: str) -> None:
            if new == state and not reached.done():
                reached.set_result(None)

        self._state_listeners.append(watch)
        try:
            await asyncio.wait_for(reached, timeout)
        finally:
            self._state_listeners.remove(watch)

    # -- the application's API ----------------------------------------------------

    @property
    def rooms(self) -> dict[str, Position | None]:
        """The rooms this client is in, with the last position seen in each."""
        return dict(self._rooms)

    def presence(self, room: str) -> dict[str, dict[str, Any]]:
        """Who is in ``room``: ``{user id: {"info": ...}}`` (presence rooms only)."""
        return dict(self._presence.get(room, {}))

    async def emit(
        self, event: str, data: Any = None, *, timeout: float | None = None, key: str | None = None
    ) -> Any:
        """Emit ``event`` and return the handler's ack; raise its error.

        Raises a :class:`~switchboard.realtime.HubError` subclass for an error ack
        (``Rejected``, ``InvalidPayload`` with ``field``, ``RateLimited``, ...) and
        :class:`~switchboard.realtime.AckTimeout` after ``timeout`` seconds. Made
        while disconnected, the emit waits for the connection; if the connection
        drops before the ack, it is sent again with the same idempotency key: by
        default one of its own, or ``key`` (a vote's id, say, so that it counts once
        even when the script itself retries).
        """
        wire.check_name(event, "event", wire.MAX_EVENT_NAME)
        self._next_id += 1
        request_id = self._next_id
        frame = wire.dumps(
            {
                "t": "emit",
                "event": event,
                "data": data,
                "id": request_id,
                "key": key or f"{self._cid}-{request_id}",
            }
        )
        return await self._request(request_id, frame, event, timeout)

    async def send(self, event: str, data: Any = None) -> None:
        """Emit ``event`` without an ack; dropped when not connected."""
        wire.check_name(event, "event", wire.MAX_EVENT_NAME)
        if self.state == "connected" and self._ws is not None:
            await self._ws.send(wire.dumps({"t": "emit", "event": event, "data": data}))

    async def join(self, room: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Join ``room`` (the hub's ``authorize_join`` decides); return its position
        and ``recovered``."""
        wire.check_name(room, "room", wire.MAX_ROOM_NAME)
        self._next_id += 1
        message: dict[str, Any] = {"t": "join", "room": room, "id": self._next_id}
        position = self._rooms.get(room)
        if position is not None:
            message.update(position.to_wire())
        result = await self._request(self._next_id, wire.dumps(message), f"join {room}", timeout)
        self._own_rooms.add(room)
        return dict(result)

    async def leave(self, room: str, *, timeout: float | None = None) -> None:
        """Leave ``room``."""
        self._next_id += 1
        frame = wire.dumps({"t": "leave", "room": room, "id": self._next_id})
        await self._request(self._next_id, frame, f"leave {room}", timeout)
        self._own_rooms.discard(room)

    def on(self, event: str) -> Callable[[_F], _F]:
        """Decorator: ``fn(data, meta)`` runs for every ``event`` received (a
        coroutine function runs as a task)."""

        def register(fn: _F) -> _F:
            self._listeners.setdefault(event, []).append(fn)
            return fn

        return register

    def handle(self, event: str) -> Callable[[_F], _F]:
        """Decorator: ``fn(data)`` answers the server's ``call(event, ...)``; its
        return value is the reply, a raised exception an error (``rejected`` for a
        :class:`~switchboard.realtime.Rejected`, else ``internal``)."""

        def register(fn: _F) -> _F:
            self._call_handlers[event] = fn
            return fn

        return register

    def on_state(self, fn: Callable[[str], Any]) -> Callable[[str], Any]:
        """Decorator: ``fn(state)`` on every state change."""
        self._state_listeners.append(fn)
        return fn

    def on_room(self, fn: Callable[[RoomEvent], Any]) -> Callable[[RoomEvent], Any]:
        """Decorator: ``fn(RoomEvent)`` when the client joins or leaves a room."""
        self._room_listeners.append(fn)
        return fn

    def on_presence(self, room: str) -> Callable[[_F], _F]:
        """Decorator: ``fn(members, joins, leaves)`` on every presence change in ``room``."""

        def register(fn: _F) -> _F:
            self._presence_listeners.setdefault(room, []).append(fn)
            return fn

        return register

    def on_error(self, fn: Callable[[HubError], Any]) -> Callable[[HubError], Any]:
        """Decorator: ``fn(error)`` for an ``error`` message from the hub."""
        self._error_listeners.append(fn)
        return fn

    # -- requests -----------------------------------------------------------------

    async def _request(self, request_id: int, frame: str, what: str, timeout: float | None) -> Any:
        if self._closing or self.state in ("failed", "disconnected"):
            raise Disconnected(f"the client is {self.state}")
        size = wire.utf8_length(frame)
        if self._max_payload is not None and size > self._max_payload:
            raise HubError(
                f"message too large: {size} bytes; the hub's limit is {self._max_payload}",
                code="too_large",
            )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (future, frame)
        if self.state == "connected" and self._ws is not None:
            self._write(frame)
        elif len(self._outbox) < _MAX_OUTBOX:
            self._outbox.append(frame)
        else:
            del self._pending[request_id]
            raise HubError("too many emits waiting for the connection", code="rate_limited")
        limit = self.ack_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(future, limit)
        except asyncio.TimeoutError:
            raise AckTimeout(f"no ack for {what} within {limit} s") from None
        finally:
            self._pending.pop(request_id, None)

    def _write(self, frame: str) -> None:
        if self._ws is not None:
            self._spawn(self._ws.send(frame))

    def _spawn(self, awaitable: Any) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, ConnectionClosed):
                logger.error("client task failed", exc_info=exc)

    def _fail_pending(self, error: HubError) -> None:
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        self._outbox.clear()

    # -- the connection loop ------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            self._set_state(
                "connecting" if attempt == 0 and self.session_id is None else "reconnecting"
            )
            self._got_welcome = False
            try:
                code, reason = await self._connect_once()
                if self._got_welcome:
                    attempt = 0  # it worked for a while: back off from the start
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
                code, reason = 1006, str(exc)
                self._url = (self._url + 1) % len(self.urls)  # try another node next
                if self._welcomed is not None and not self._welcomed.done():
                    if self._url != 0:
                        continue  # the first connection: try every URL once, at once
                    # No URL worked: tell the caller rather than retry.
                    self._welcomed.set_exception(exc)
                    self._set_state("failed")
                    return
            self.close_info = (code, reason)
            if self._closing:
                break
            if 4400 <= code < 4500:
                error: HubError = (
                    Unauthorized(reason.removeprefix("unauthorized: "))
                    if code == wire.CLOSE_UNAUTHORIZED
                    else HubError(f"closed by the hub: {code} {reason}", code="refused")
                )
                self._set_state("failed")
                self._fail_pending(error)
                if self._welcomed is not None and not self._welcomed.done():
                    self._welcomed.set_exception(error)
                return
            if not self.reconnect_enabled:
                self._set_state("disconnected")
                self._fail_pending(Disconnected(f"connection closed: {code} {reason}"))
                if self._welcomed is not None and not self._welcomed.done():
                    self._welcomed.set_exception(Disconnected(f"{code} {reason}"))
                return
            attempt += 1
            initial, most = self.backoff
            delay = min(most, initial * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            self._set_state("reconnecting")
            await asyncio.sleep(delay)

    async def _connect_once(self) -> tuple[int, str]:
        """One connection, from the handshake to its close; returns (code, reason)."""
        ws = await ws_connect(
            self.urls[self._url],
            subprotocols=[wire.SUBPROTOCOL],
            open_timeout=self.open_timeout,
            **self.options,
        )
        self._ws = ws
        try:
            auth = self.auth() if callable(self.auth) else self.auth
            if inspect.isawaitable(auth):
                auth = await auth
            hello: dict[str, Any] = {"t": "hello", "v": wire.VERSION}
            if auth is not None:
                hello["auth"] = auth
            if self._session is not None:
                hello["session"] = self._session
            positions = {r: p.to_wire() for r, p in self._rooms.items() if p is not None}
            if positions:
                hello["rooms"] = positions
            await ws.send(wire.dumps(hello))
            await self._read(ws)
        except ConnectionClosed:
            pass
        finally:
            self._ws = None
            if not self._closing and self.state == "connected":
                self._set_state("reconnecting")
        closed = ws.protocol.closed_exception()
        return closed.code, closed.reason

    async def _read(self, ws: WebSocket) -> None:
        while True:
            try:
                text = await asyncio.wait_for(ws.recv(), self._heartbeat)
            except asyncio.TimeoutError:
                logger.info("no message from the hub for %s s: reconnecting", self._heartbeat)
                # Do not wait for a dead hub to answer the close: it ends on its own
                # (close_timeout) while the client already connects again.
                self._spawn(ws.close(wire.CLOSE_TIMEOUT, "heartbeat timeout"))
                return
            if not isinstance(text, str):
                continue
            try:
                message = wire.decode(text, max_payload=1 << 30, max_depth=1000)
            except wire.MessageError as exc:
                logger.warning("bad message from the hub: %s", exc)
                continue
            self._receive(message)

    def _receive(self, message: dict[str, Any]) -> None:
        kind = message["t"]
        if kind == "event":
            self._receive_event(message)
        elif kind == "ack":
            entry = self._pending.get(message.get("id", -1))
            if entry is not None and not entry[0].done():
                if "error" in message:
                    entry[0].set_exception(HubError.from_wire(message["error"]))
                else:
                    entry[0].set_result(message.get("data"))
        elif kind == "ping":
            self._write(wire.PONG)
        elif kind == "welcome":
            self._receive_welcome(message)
        elif kind == "joined":
            room = message["room"]
            offset, epoch = message.get("offset"), message.get("epoch")
            self._rooms[room] = _position(offset, epoch)
            self._emit_room(RoomEvent("joined", room, message.get("recovered")))
            self._joining.discard(room)
            self._check_welcomed()
        elif kind == "left":
            room = message["room"]
            self._rooms.pop(room, None)
            self._own_rooms.discard(room)
            self._presence.pop(room, None)
            self._emit_room(RoomEvent("left", room))
            self._joining.discard(room)  # a room of the welcome that could not be joined
            self._check_welcomed()
        elif kind == "presence":
            self._receive_presence(message)
        elif kind == "call":
            task = asyncio.ensure_future(self._answer_call(message))
            self._tasks.add(task)
            task.add_done_callback(self._done)
        elif kind == "error":
            error = HubError.from_wire(message)
            for fn in list(self._error_listeners):
                self._call(fn, error)

    def _receive_welcome(self, message: dict[str, Any]) -> None:
        previous_rooms = set(self._rooms)
        session = message.get("session") or {}
        self._session = {"id": str(session.get("id")), "token": str(session.get("token"))}
        self.session_id = session.get("id")
        self.user = message.get("user")
        beat = message.get("heartbeat") or {}
        self._heartbeat = float(beat.get("interval", 10)) + float(beat.get("timeout", 10))
        limit = (message.get("limits") or {}).get("max_payload")
        self._max_payload = limit if type(limit) is int else None
        now_in = set(message.get("rooms") or ())
        for room in previous_rooms - now_in:  # not restored: rejoin what we joined ourselves
            if room in self._own_rooms:
                task = asyncio.ensure_future(self._rejoin(room))
                self._tasks.add(task)
                task.add_done_callback(self._done)
            else:
                self._rooms.pop(room, None)
                self._emit_room(RoomEvent("left", room))
        self._got_welcome = True
        self._set_state("connected")
        self._joining = set(now_in)  # start() returns once these are joined
        self._check_welcomed()
        sent = set()
        for frame in self._outbox:
            self._write(frame)
            sent.add(frame)
        self._outbox.clear()
        for _, frame in self._pending.values():  # un-acked: again, same key
            if frame not in sent:
                self._write(frame)

    def _check_welcomed(self) -> None:
        if not self._joining and self._welcomed is not None and not self._welcomed.done():
            self._welcomed.set_result(None)

    async def _rejoin(self, room: str) -> None:
        try:
            await self.join(room)
        except HubError as exc:
            logger.warning("could not rejoin %r: %s", room, exc)
            self._rooms.pop(room, None)
            self._own_rooms.discard(room)
            self._emit_room(RoomEvent("left", room))

    def _receive_event(self, message: dict[str, Any]) -> None:
        room = message.get("room")
        offset, epoch = message.get("offset"), message.get("epoch")
        if room is not None and epoch is not None and room in self._rooms:
            self._rooms[room] = _position(offset, epoch)
        meta = EventMeta(room, offset, epoch)
        for fn in list(self._listeners.get(message.get("event", ""), ())):
            self._call(fn, message.get("data"), meta)

    def _receive_presence(self, message: dict[str, Any]) -> None:
        room = message.get("room")
        if not isinstance(room, str):
            return
        joins: dict[str, Any] = message.get("joins") or {}
        leaves: dict[str, Any] = message.get("leaves") or {}
        if "state" in message:
            members = self._presence[room] = dict(message["state"])
        else:
            # Diffs are idempotent: one that changes nothing (a joiner's own join,
            # which its full state listed already) is applied but not reported.
            members = self._presence.setdefault(room, {})
            joins = {user: entry for user, entry in joins.items() if members.get(user) != entry}
            leaves = {user: entry for user, entry in leaves.items() if user in members}
            members.update(joins)
            for user in leaves:
                members.pop(user, None)
            if not joins and not leaves:
                return
        for fn in list(self._presence_listeners.get(room, ())):
            self._call(fn, dict(members), joins, leaves)

    async def _answer_call(self, message: dict[str, Any]) -> None:
        call_id = message.get("id")
        handler = self._call_handlers.get(message.get("event", ""))
        reply: dict[str, Any] = {"t": "ack", "id": call_id}
        try:
            if handler is None:
                raise HubError(f"no handler for {message.get('event')!r}", code="unknown_event")
            result = handler(message.get("data"))
            if inspect.isawaitable(result):
                result = await result
            reply["data"] = result
        except HubError as exc:
            reply["error"] = exc.to_wire()
        except Exception as exc:
            logger.exception("call handler failed")
            reply["error"] = {"code": "internal", "message": str(exc)}
        self._write(wire.dumps(reply))

    # -- listeners ----------------------------------------------------------------

    def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        for fn in list(self._state_listeners):
            self._call(fn, state)

    def _emit_room(self, event: RoomEvent) -> None:
        for fn in list(self._room_listeners):
            self._call(fn, event)

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            result = fn(*args)
        except Exception:
            logger.exception("listener %r failed", fn)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._done)


def _position(offset: Any, epoch: Any) -> Position | None:
    return Position(offset, epoch) if type(offset) is int and isinstance(epoch, str) else None


class connect:
    """Connect to a hub: ``async with connect(url) as client`` or ``await connect(url)``.

    ``url`` may be a list of URLs of the hub's nodes: when a connection cannot be
    made, the client tries the next one (and the first connect tries them all).

    Options: ``auth`` (JSON for the hub's ``on_connect``, or a function returning
    it, called for each connection), ``ack_timeout`` (10 s), ``reconnect`` (True),
    ``backoff`` (``(initial, maximum)`` seconds: 0.5, 10), ``open_timeout`` (10 s);
    other keyword arguments go to :func:`switchboard.connect` (``ssl``,
    ``headers``, ``origin``, ...).
    """

    def __init__(self, url: str | Sequence[str], **options: Any) -> None:
        self._client = HubClient(url, **options)

    def __await__(self) -> Generator[Any, None, HubClient]:
        return self._client.start().__await__()

    async def __aenter__(self) -> HubClient:
        return await self._client.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.close()

"""The hub: rooms, events with acks, presence and recovery over ``switchboard.v1``.

A :class:`Hub` is mounted on a :class:`~switchboard.Router` next to the
application's HTTP routes, on the same port::

    hub = Hub()

    @hub.on_connect
    async def identify(hello: Hello) -> Identity:
        user = users.by_token(hello.auth["token"])     # or a cookie: hello.request
        if user is None:
            raise Unauthorized("unknown token")
        return Identity(user.id, {"name": user.name})

    @hub.on("chat.send")
    async def send(session: Session, data: ChatIn) -> dict:
        await hub.to(data.room).emit("chat.message", {"from": session.user.id,
                                                      "text": data.text})
        return {"ok": True}                          # the ack

    router.mount("/rt", hub)     # the WebSocket at /rt, the JS client at /rt/client.js

Everything that crosses processes goes through the hub's broker
(:class:`~switchboard.realtime.MemoryBroker` by default); the hub itself only keeps
this process's sessions and rooms.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

from ..broadcast import broadcast
from ..protocol.errors import ConnectionClosed
from ..websocket import WebSocket
from . import wire
from .brokers.base import Broker, Position, PresenceChange
from .brokers.memory import MemoryBroker
from .errors import HubError, Unavailable
from .metrics import HubMetrics
from .payloads import accepts_anything, to_json_value, validator
from .ratelimit import Rate
from .rooms import LocalRoom, Members, RoomOptions, send_to
from .session import Hello, Identity, Session

if TYPE_CHECKING:
    from ..server.asgi import ASGIApp
    from ..server.routing import Router

__all__ = ["Hub", "Emitter", "PresenceEntry"]

logger = logging.getLogger("switchboard.realtime")

WEB = Path(__file__).parent / "web"

_F = TypeVar("_F", bound=Callable[..., Any])
ConnectHook = Callable[[Hello], "Awaitable[Identity | None] | Identity | None"]
DisconnectHook = Callable[[Session, str], Any]
JoinHook = Callable[[Session, str], "Awaitable[bool] | bool"]


@dataclass(frozen=True, slots=True)
class PresenceEntry:
    """One member of a room: the user's public ``info`` and how many connections
    they have in the room, across all nodes."""

    info: dict[str, Any]
    connections: int


@dataclass(slots=True)
class _Handler:
    fn: Callable[..., Any]
    takes_data: bool
    check: Callable[[Any], Any] | None  # None: any JSON value will do
    is_async: bool  # an ``async def``: its result is awaited without asking


class Emitter:
    """Where :meth:`Hub.to` and friends point: :meth:`emit` sends there."""

    __slots__ = ("_hub", "_channels")

    def __init__(self, hub: Hub, channels: list[str]) -> None:
        self._hub = hub
        self._channels = channels

    async def emit(self, event: str, data: Any = None, *, skip: Session | None = None) -> None:
        """Emit ``event`` with ``data`` (any JSON value) to every member, except
        ``skip`` (the sender, say). Serialized and framed once per room.

        A room with history numbers the publication (its offset) and keeps it for
        recovery. Raises :class:`~switchboard.realtime.Unavailable` when the broker
        cannot take it (Redis down), ``TypeError`` for data that is not JSON.
        """
        await self._hub._publish(self._channels, event, data, skip)


class Hub:
    """Rooms, events with acks, presence and recovery, for clients speaking
    ``switchboard.v1`` (the browser client served at ``<mount>/client.js``, or
    :func:`switchboard.realtime.connect`).

    Options, all keyword-only with safe defaults:

    * ``broker``: a :class:`~switchboard.realtime.Broker` (default: in-process), or
      a Redis URL for a :class:`~switchboard.realtime.RedisBroker`.
    * ``rooms``: :class:`RoomOptions` for every room, or a function of the room's
      name returning them (history size and age, presence, presence grace).
    * Limits: ``max_payload`` (64 KiB per message), ``max_depth`` (32 levels of
      JSON nesting), ``max_rooms`` (100 per session), ``max_pending`` (64 events
      waiting for their handler per session; beyond, ``rate_limited``).
    * ``rate``: a :class:`Rate` for each session's events (50/s, bursts of 100;
      ``None``: no limit); per event with ``on(event, rate=...)``. A session
      refused ``rate_limit_close_after`` times in a row (default: the burst) is
      closed with 1008.
    * Timeouts: ``hello_timeout`` (10 s); ``heartbeat``: a ping to everyone every
      10 s, and a session silent for ``heartbeat + heartbeat_timeout`` (20 s) is
      closed at the next ping (so 20 to 30 s after its last message, and
      ``on_disconnect`` after the closing handshake's ``close_timeout``);
      ``call_timeout`` (10 s for :meth:`Session.call`).
    * ``resume_window`` (120 s): how long a closed session can be resumed with its
      rooms; ``dedup_window`` (120 s) and ``dedup_size`` (1,000 keys per user):
      idempotency keys remembered; ``presence_interval`` (50 ms): presence diffs
      are batched this long.
    * ``name``: the ``hub`` label of its metrics.
    """

    def __init__(
        self,
        *,
        broker: Broker | str | None = None,
        rooms: RoomOptions | Callable[[str], RoomOptions] = RoomOptions(),
        max_payload: int = 64 * 1024,
        max_depth: int = 32,
        max_rooms: int = 100,
        max_pending: int = 64,
        rate: Rate | None = Rate(50, 100),
        rate_limit_close_after: int | None = None,
        hello_timeout: float = 10.0,
        heartbeat: float = 10.0,
        heartbeat_timeout: float = 10.0,
        call_timeout: float = 10.0,
        resume_window: float = 120.0,
        dedup_window: float = 120.0,
        dedup_size: int = 1000,
        presence_interval: float = 0.05,
        name: str = "hub",
    ) -> None:
        if isinstance(broker, str):  # a URL: redis://host:port/db
            from .brokers.redis import RedisBroker

            broker = RedisBroker(broker)
        self.broker: Broker = broker if broker is not None else MemoryBroker()
        self._room_options: Callable[[str], RoomOptions] = (
            (lambda _name: rooms) if isinstance(rooms, RoomOptions) else rooms
        )
        self.max_payload = max_payload
        self.max_depth = max_depth
        self.max_rooms = max_rooms
        self.max_pending = max_pending
        self.rate = rate
        self.rate_limit_close_after = (
            rate_limit_close_after
            if rate_limit_close_after is not None
            else (rate.burst if rate is not None else 0)
        )
        self.hello_timeout = hello_timeout
        self.heartbeat = heartbeat
        self.heartbeat_timeout = heartbeat_timeout
        self.call_timeout = call_timeout
        self.resume_window = resume_window
        self.dedup_window = dedup_window
        self.dedup_size = dedup_size
        self.presence_interval = presence_interval
        self.name = name
        self.metrics = HubMetrics()
        self._handlers: dict[str, _Handler] = {}
        self._event_rates: dict[str, Rate] = {}
        self._on_connect: ConnectHook | None = None
        self._on_disconnect: DisconnectHook | None = None
        self._authorize_join: JoinHook | None = None
        self._sessions: dict[str, Session] = {}
        self._asgi: ASGIApp | None = None  # made by the first ASGI call
        self._users: dict[str, list[Session]] = {}  # a list: most users have one
        self._all = Members()
        self._local: dict[str, LocalRoom] = {}
        self._local_counts: dict[tuple[str, str], int] = {}  # (room, user) -> connections here
        self._grace: dict[tuple[str, str], asyncio.TimerHandle] = {}
        # Presence reads about to begin, shared by the joins waiting for them.
        self._presence_reads: dict[str, asyncio.Future[str]] = {}
        self._diffs: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._diff_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._ticker: asyncio.TimerHandle | None = None
        self._started: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set by start()

    # -- registration -------------------------------------------------------------

    def on(self, event: str, *, rate: Rate | None = None) -> Callable[[_F], _F]:
        """Decorator: ``handler(session, data)`` answers ``event``; its return value
        (any JSON value, a dataclass, a pydantic model) is the ack.

        The annotation of ``data`` is checked before the handler runs (see
        :mod:`switchboard.realtime.payloads`); a handler may also take the session
        alone. ``rate`` limits this event per session, on top of the hub's ``rate``.
        """
        wire.check_name(event, "event", wire.MAX_EVENT_NAME)
        if event in self._handlers:
            raise ValueError(f"event {event!r} already has a handler")

        def register(fn: _F) -> _F:
            params = list(inspect.signature(fn).parameters.values())
            if not 1 <= len(params) <= 2:
                raise TypeError(f"a handler takes (session) or (session, data), not {fn!r}")
            takes_data = len(params) == 2
            check = None
            if takes_data:
                annotation = _data_annotation(fn, params[1])
                check = None if accepts_anything(annotation) else validator(annotation)
            is_async = inspect.iscoroutinefunction(fn)
            self._handlers[event] = _Handler(fn, takes_data, check, is_async)
            if rate is not None:
                self._event_rates[event] = rate
            return fn

        return register

    def on_connect(self, fn: ConnectHook) -> ConnectHook:
        """Decorator: ``fn(hello) -> Identity | None`` decides who a client is.

        Return ``None`` for an anonymous client (its own user, with no info);
        raise :class:`~switchboard.realtime.Unauthorized` to refuse it (close 4401).
        """
        self._on_connect = fn
        return fn

    def on_disconnect(self, fn: DisconnectHook) -> DisconnectHook:
        """Decorator: ``fn(session, reason)`` runs when a session's connection closes."""
        self._on_disconnect = fn
        return fn

    def authorize_join(self, fn: JoinHook) -> JoinHook:
        """Decorator: ``fn(session, room) -> bool`` lets clients join and leave
        rooms themselves. Without it, only the server moves sessions."""
        self._authorize_join = fn
        return fn

    # -- emitting -----------------------------------------------------------------

    def to(self, *rooms: str | Iterable[str]) -> Emitter:
        """The members of these rooms: ``await hub.to("a", "b").emit(...)``.

        A connection in two of the rooms gets the event once per room, each time
        with that room's offset, so recovery stays exact per room.
        """
        names: list[str] = []
        for room in rooms:
            names.extend([room] if isinstance(room, str) else room)
        return Emitter(
            self, [f"room:{wire.check_name(n, 'room', wire.MAX_ROOM_NAME)}" for n in names]
        )

    def to_user(self, user: str) -> Emitter:
        """Every connection of one user, on every node."""
        return Emitter(self, [f"user:{user}"])

    def to_session(self, session_id: str) -> Emitter:
        """One session, on whichever node it is."""
        return Emitter(self, [f"session:{session_id}"])

    async def emit(self, event: str, data: Any = None, *, skip: Session | None = None) -> None:
        """Emit ``event`` to every session on every node."""
        await self._publish(["all"], event, data, skip)

    # -- queries ------------------------------------------------------------------

    @property
    def sessions(self) -> list[Session]:
        """The sessions connected to this node."""
        return list(self._sessions.values())

    def session(self, session_id: str) -> Session | None:
        """This node's session with that id, if connected."""
        return self._sessions.get(session_id)

    def members(self, room: str) -> list[Session]:
        """This node's sessions in ``room``."""
        local = self._local.get(room)
        return [] if local is None else list(local.sessions.values())

    def rooms(self) -> list[str]:
        """The rooms with members on this node."""
        return list(self._local)

    async def presence(self, room: str) -> dict[str, PresenceEntry]:
        """Who is in ``room`` across all nodes: ``{user id: PresenceEntry}``."""
        members = await self._broker_call(self.broker.presence(room))
        return {user: PresenceEntry(info, n) for user, (info, n) in members.items()}

    async def position(self, room: str) -> Position | None:
        """The room's stream position (``None`` for a room without history)."""
        policy = self._room_options(room).history
        if policy is None:
            return None
        return (await self._broker_call(self.broker.recover(room, None, policy))).position

    def health(self) -> dict[str, Any]:
        """The broker's status, for ``/healthz``."""
        return self.broker.status()

    # -- serving ------------------------------------------------------------------

    def mount(self, router: Router, prefix: str) -> None:
        """Add the hub to ``router`` at ``prefix`` (see :meth:`Router.mount`): the
        WebSocket endpoint itself, and the browser client at ``<prefix>/client.js``
        with its types at ``<prefix>/client.d.ts``."""
        router.websocket(prefix or "/", subprotocols=[wire.SUBPROTOCOL])(self.serve)
        router.static(prefix, WEB, max_age=0, index=None)
        router.add_metrics(self.render_metrics)
        router.add_health(self.health)
        router.add_startup(self.start)
        router.add_shutdown(self.close)

    def asgi(self, **options: Any) -> ASGIApp:
        """The hub as an ASGI 3 application, for uvicorn or a FastAPI/Starlette mount::

            app = hub.asgi()                 # uvicorn module:app
            api.mount("/rt", hub.asgi())     # clients connect to ws://host/rt/

        Its WebSocket is at the mount's root, its browser client at ``client.js``.
        Lifespan events start and close it; a mounted app gets none from Starlette,
        so the first connection starts it (call :meth:`close` from the app's own
        lifespan). ``options``: see :class:`~switchboard.server.asgi.ASGIApp`.
        """
        from ..server.routing import Router

        router = Router()
        self.mount(router, "")
        return router.asgi(**options)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The hub is an ASGI app itself (``uvicorn module:hub``): ``hub.asgi()``
        with the default options."""
        if self._asgi is None:
            self._asgi = self.asgi()
        await self._asgi(scope, receive, send)

    async def start(self) -> None:
        """Start the broker and the heartbeat; the first connection does it if needed."""
        if self._started is None:
            self._loop = asyncio.get_running_loop()
            self._started = self._loop.create_future()
            try:
                await self.broker.start(self._deliver, self._resync)
            except BaseException as exc:
                self._started.set_exception(exc)
                self._started = None
                raise
            with contextlib.suppress(Exception):  # not connected yet: it subscribes later
                await self.broker.subscribe("all")
            self._started.set_result(None)
            self._ticker = self._loop.call_later(self.heartbeat, self._tick)
        await asyncio.shield(self._started)

    async def close(self) -> None:
        """Stop the heartbeat and the broker (the server closes the connections)."""
        for handle in (self._ticker, self._diff_timer, *self._grace.values()):
            if handle is not None:
                handle.cancel()
        if self._tasks:  # one step first: a task cancelled before it starts leaves the
            await asyncio.sleep(0)  # broker call it was given never awaited (a warning)
        for task in list(self._tasks):
            task.cancel()
        if self._started is not None:
            await self.broker.close()
            self._started = None

    async def serve(self, ws: WebSocket) -> None:
        """The WebSocket handler: one session, from hello to close."""
        await self.start()
        session = await self._open(ws)
        if session is None:
            return
        try:
            # Messages go straight from the protocol callback to the session: no task,
            # no future, no queue per message.
            ws.ping_interval = None  # the hub's heartbeat pings (one frame for everyone)
            ws.set_message_handler(session._message_received)
            ws.on_close(session._wake)
            await session._work()
            await ws.wait_closed()
        finally:
            ws.set_message_handler(None)
            await self._close_session(session, _why_closed(ws))

    def render_metrics(self) -> str:
        """The hub's metrics in the Prometheus text format (added to ``/metrics``)."""
        gauges = {
            "sessions": len(self._sessions),
            "rooms": len(self._local),
            "members": sum(len(room.sessions) for room in self._local.values()),
        }
        return self.metrics.render(self.name, gauges, self.broker.status())

    # -- opening and closing sessions ---------------------------------------------

    async def _open(self, ws: WebSocket) -> Session | None:
        """Read the hello, identify the client, welcome it; None when refused."""
        try:
            first = await asyncio.wait_for(ws.recv(), self.hello_timeout)
        except asyncio.TimeoutError:
            await ws.close(wire.CLOSE_TIMEOUT, f"no hello within {self.hello_timeout:g} s")
            return None
        try:
            if not isinstance(first, str):
                raise wire.MessageError("the first message must be a text frame")
            hello = wire.decode(first, max_payload=self.max_payload, max_depth=self.max_depth)
            if hello["t"] != "hello":
                raise wire.MessageError(f"the first message must be a hello, not {hello['t']!r}")
            if hello.get("v") != wire.VERSION:
                raise wire.MessageError(f"unsupported version {hello.get('v')!r}: this is v1")
        except wire.MessageError as exc:
            await ws.close(wire.CLOSE_PROTOCOL_ERROR, _reason(f"protocol error: {exc}"))
            return None
        assert ws.request is not None
        try:
            result = await self._identify(Hello(ws.request, hello.get("auth")))
        except HubError as exc:  # Unauthorized, Rejected: the application's words
            self.metrics.refused += 1
            await ws.close(wire.CLOSE_UNAUTHORIZED, _reason(f"unauthorized: {exc.message}"))
            return None
        except Exception:
            logger.exception("on_connect failed for %s", ws.remote_address)
            await ws.close(1011, "internal error")
            return None
        if ws.state.name != "OPEN":
            return None
        session, rooms, resumed = await self._session_for(
            lambda sid, token, user: Session(self, ws, sid, token, user),
            result,
            hello.get("session"),
        )
        for name in result.rooms if result is not None else ():
            if name not in rooms:
                rooms.append(name)
        del rooms[self.max_rooms :]
        session._send_frame(
            wire.dumps(
                {
                    "t": "welcome",
                    "v": wire.VERSION,
                    "session": {"id": session.id, "token": session.token},
                    "resumed": resumed,
                    "user": {"id": session.user.id, "info": session.user.info},
                    "rooms": rooms,
                    "heartbeat": {"interval": self.heartbeat, "timeout": self.heartbeat_timeout},
                    "limits": {"max_payload": self.max_payload},
                }
            )
        )
        self.metrics.sessions_opened += 1
        positions = _positions(hello.get("rooms"))
        for name in rooms:
            try:
                await self._join(session, name, positions.get(name))
            except (HubError, ValueError) as exc:
                logger.warning("could not put %s in room %r: %s", session, name, exc)
                # The welcome listed it: say it is not joined after all.
                session._send_frame(wire.dumps({"t": "left", "room": name}))
        return session

    async def _identify(self, hello: Hello) -> Identity | None:
        """``on_connect``'s verdict on a client (raising what it raises)."""
        result = self._on_connect(hello) if self._on_connect else None
        if inspect.isawaitable(result):
            result = await result
        if result is not None and not isinstance(result, Identity):
            raise TypeError(f"on_connect must return an Identity or None, not {result!r}")
        return result

    async def _session_for(
        self,
        make: Callable[[str, str, Identity], Session],
        identity: Identity | None,
        resume: Any,
    ) -> tuple[Session, list[str], bool]:
        """A new session (``make(id, token, user)``: of the client's wire), or the one
        the client asks to resume, with its rooms."""
        rooms: list[str] | None = None
        sid = token = None
        if isinstance(resume, dict):
            old_id, old_token = resume.get("id"), resume.get("token")
            if isinstance(old_id, str) and isinstance(old_token, str):
                live = self._sessions.get(old_id)
                if live is not None and hmac.compare_digest(live.token, old_token):
                    # The old connection is not known to be dead yet: this one replaces it.
                    await self._detach(live)
                    self._spawn(live.close(1000, "replaced by a new connection"))
                user = identity.id if identity is not None else old_id
                with contextlib.suppress(Unavailable):  # then it starts a new session
                    rooms = await self._broker_call(
                        self.broker.resume_session(old_id, old_token, user)
                    )
                if rooms is not None:
                    sid, token = old_id, old_token
                    self.metrics.resumed += 1
        if sid is None or token is None:
            sid, token = f"s-{secrets.token_urlsafe(12)}", secrets.token_urlsafe(18)
        session = make(sid, token, identity or Identity(sid))
        self._sessions[sid] = session
        mine = self._users.setdefault(session.user.id, [])
        mine.append(session)
        self._all.add(session)
        # Without the broker the session still works here; the broker subscribes
        # these channels when it is back.
        with contextlib.suppress(Unavailable):
            await self._broker_call(self.broker.subscribe(f"session:{sid}"))
            if len(mine) == 1:
                await self._broker_call(self.broker.subscribe(f"user:{session.user.id}"))
        return session, list(rooms or ()), rooms is not None

    async def _detach(self, session: Session) -> bool:
        """Forget a closed (or replaced) session and leave its rooms; park what
        resuming it needs with the broker. False when it was detached already."""
        if self._sessions.get(session.id) is not session:
            return False
        del self._sessions[session.id]
        mine = self._users.get(session.user.id)
        if mine is not None:
            if session in mine:
                mine.remove(session)
            if not mine:
                del self._users[session.user.id]
                self._spawn(self._broker_call(self.broker.unsubscribe(f"user:{session.user.id}")))
        self._spawn(self._broker_call(self.broker.unsubscribe(f"session:{session.id}")))
        self._all.discard(session)
        session._closed()
        rooms = list(session.rooms)
        for name in rooms:
            self._spawn(self._leave(session, name, notify=False, grace=True))
        with contextlib.suppress(Unavailable):  # then it cannot be resumed: resumed: false
            await self._broker_call(
                self.broker.park_session(
                    session.id, session.token, session.user.id, rooms, self.resume_window
                )
            )
        return True

    async def _close_session(self, session: Session, reason: str) -> None:
        if not await self._detach(session):
            return
        # A handler still running finishes (its work is done once, its outcome kept
        # for a retry's idempotency key); its ack and what was queued behind it are
        # dropped, and the client retries those.
        if self._on_disconnect is not None:
            try:
                result = self._on_disconnect(session, reason)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("on_disconnect failed for %s", session)

    # -- reading ------------------------------------------------------------------

    def _bad_message(
        self, session: Session, message: dict[str, Any] | None, exc: wire.MessageError, now: float
    ) -> None:
        """Answer a frame that could not be carried out, and count it against the
        session's rate limit: garbage floods are closed like event floods."""
        self.metrics.error(exc.code)
        if session._refused("", None, now):  # garbage counts against the rate limit
            return
        request_id = message.get("id") if message is not None else None
        error = {"code": exc.code, "message": str(exc)}
        if exc.field is not None:  # an invalid_payload error names its field
            error["field"] = exc.field
        if type(request_id) is int and 0 <= request_id < 2**53:
            session._send_frame(wire.error_ack_frame(request_id, error))
        else:
            session._send_frame(wire.dumps({"t": "error", **error}))

    async def _run_handler(
        self,
        session: Session,
        event: str,
        message: dict[str, Any],
        request_id: int | None,
        arrived: float,
    ) -> None:
        """Run an emit's handler and send its ack (the worker calls this in order).

        With an idempotency key, the broker runs it at most once per user and key
        within ``dedup_window``: a retry gets the first run's outcome.
        """
        handler = self._handlers.get(event)
        key = message.get("key")
        try:
            if handler is None:
                raise HubError(f"no handler for event {event!r}", code="unknown_event")
            if key is None:
                outcome, _ = await self._apply(session, event, handler, message)
            elif not isinstance(key, str) or not 0 < len(key) <= wire.MAX_KEY:
                raise HubError(
                    f'"key" must be a string of 1 to {wire.MAX_KEY} characters',
                    code="bad_message",
                )
            else:
                outcome = await self._apply_once(session, event, handler, message, key)
        except HubError as exc:
            self.metrics.error(exc.code)
            outcome = ("error", exc.to_wire())
        if request_id is None:
            return
        kind, value = outcome
        if kind == "data":
            frame = wire.ack_frame(request_id, value)
        else:
            frame = wire.error_ack_frame(request_id, value)
        if session._send_frame(frame):
            self.metrics.ack_latency(self._loop.time() - arrived)

    async def _apply_once(
        self, session: Session, event: str, handler: _Handler, message: dict[str, Any], key: str
    ) -> tuple[str, Any]:
        """:meth:`_apply` at most once per user and idempotency key (its own method: a
        closure in :meth:`_run_handler` would cost every request its cells)."""
        return await self._broker_call(
            self.broker.idempotent(
                session.user.id,
                key,
                self.dedup_window,
                self.dedup_size,
                lambda: self._apply(session, event, handler, message),
            )
        )

    async def _apply(
        self, session: Session, event: str, handler: _Handler, message: dict[str, Any]
    ) -> tuple[tuple[str, Any], bool]:
        """Check the payload and run the handler: its outcome, and whether a retry with
        the same key should get it too (not for an internal error: it may succeed)."""
        try:
            if handler.takes_data:
                data = message.get("data")
                if handler.check is not None:
                    data = handler.check(data)
                result = handler.fn(session, data)
            else:
                result = handler.fn(session)
            if handler.is_async or inspect.isawaitable(result):
                result = await result
            return ("data", wire.dumps(to_json_value(result))), True
        except HubError as exc:
            self.metrics.error(exc.code)
            return ("error", exc.to_wire()), True
        except Exception:
            logger.exception("handler for %r failed (%s)", event, session)
            self.metrics.error("internal")
            return ("error", {"code": "internal", "message": "internal error"}), False

    async def _client_room_request(
        self, session: Session, kind: str, message: dict[str, Any], request_id: int | None
    ) -> None:
        """A client's join or leave: allowed by ``authorize_join``, answered by an ack."""
        try:
            name = wire.check_name(message.get("room"), "room", wire.MAX_ROOM_NAME)
            allowed = False
            if self._authorize_join is not None:
                verdict = self._authorize_join(session, name)
                allowed = bool(await verdict if inspect.isawaitable(verdict) else verdict)
            if not allowed:
                raise HubError(f"{kind} {name!r} is not allowed", code="not_allowed")
            if kind == "join":
                since = _position(message.get("offset"), message.get("epoch"))
                info: Any = await self._join(session, name, since)
            else:
                await self._leave(session, name)
                info = {"room": name}
            outcome: tuple[str, Any] = ("data", wire.dumps(info))
        except wire.MessageError as exc:
            outcome = ("error", {"code": exc.code, "message": str(exc)})
        except HubError as exc:
            outcome = ("error", exc.to_wire())
        except Exception:
            logger.exception("%s %s failed", kind, session)
            outcome = ("error", {"code": "internal", "message": "internal error"})
        if outcome[0] == "error":
            self.metrics.error(outcome[1]["code"])
        if request_id is not None:
            session._send_frame(_ack(request_id, *outcome))

    # -- rooms --------------------------------------------------------------------

    async def _join(self, session: Session, name: str, since: Position | None) -> dict[str, Any]:
        """Put a session in a room: ``joined``, the missed publications, then live ones."""
        wire.check_name(name, "room", wire.MAX_ROOM_NAME)
        if session.closed:
            raise HubError("the session is closed", code="disconnected")
        if name in session.rooms:  # nothing to do: say where the room is
            policy = self._room_options(name).history
            if policy is None:
                return {"room": name, "recovered": None}
            here = await self._broker_call(self.broker.recover(name, None, policy))
            return {"room": name, **here.position.to_wire(), "recovered": None}
        if len(session.rooms) >= self.max_rooms:
            raise HubError(f"already in {self.max_rooms} rooms", code="too_many_rooms")
        if name not in self._local:  # subscribed before history is read: nothing slips by
            try:
                await self._broker_call(self.broker.subscribe(f"room:{name}"))
            except Unavailable:
                if name not in self._local:  # do not stay subscribed for nobody
                    with contextlib.suppress(Unavailable):
                        await self._broker_call(self.broker.unsubscribe(f"room:{name}"))
                raise
        room = self._local.get(name)  # (another join may have made it meanwhile)
        if room is None:
            room = self._local[name] = LocalRoom(name, self._room_options(name))
        session.rooms.add(name)
        room.sessions[session.id] = session
        policy = room.options.history
        info: dict[str, Any] = {"room": name, "recovered": None}
        if policy is not None:
            room.recovering[session.id] = []
            try:
                recovery = await self._broker_call(self.broker.recover(name, since, policy))
            except BaseException:
                await self._leave(session, name, notify=False)  # as if it never joined
                raise
            finally:
                buffered = room.recovering.pop(session.id, [])
            if session.closed or name not in session.rooms:
                return info
            info = {"room": name, **recovery.position.to_wire(), "recovered": recovery.recovered}
            session._send_frame(wire.dumps({"t": "joined", **info}))
            last = since.offset if recovery.recovered and since else recovery.position.offset
            for offset, frame, skipped in recovery.frames:
                if skipped != session.id:  # the sender had its own message already
                    session._send_frame(frame)
                last = offset
            for offset, frame in buffered:  # published while we were reading history
                if offset > last:
                    session._send_frame(frame)
                    last = offset
            if recovery.recovered is not None:
                outcome = "recovered" if recovery.recovered else "not_recovered"
                self.metrics.recoveries[outcome] += 1
        else:
            session._send_frame(wire.dumps({"t": "joined", **info}))
        room.group.add(session)
        if room.options.presence:
            await self._presence_add(name, session)
            session._send_frame(await self._presence_state(name))
        return info

    async def _presence_state(self, room: str) -> str:
        """The room's presence state frame, read once for every join waiting for it.

        A crowd joining one room would otherwise read the whole member list once per
        joiner (O(n²) with Redis). A join shares only a read that has not begun yet,
        that is one that begins after the join entered the room's group: no diff can
        fall between that read and the diffs the join receives."""
        shared = self._presence_reads.get(room)
        if shared is None:
            read = asyncio.ensure_future(self._read_presence(room))
            shared = self._presence_reads[room] = read
        return await asyncio.shield(shared)

    async def _read_presence(self, room: str) -> str:
        await asyncio.sleep(0)  # the joins of this loop iteration share the read
        self._presence_reads.pop(room, None)  # joins from now on need a read of their own
        return await self._presence_frame(room)

    async def _presence_frame(self, room: str) -> str:
        """A ``presence`` message with the room's whole member list."""
        members = await self._broker_call(self.broker.presence(room))
        state = {user: {"info": entry[0]} for user, entry in members.items()}
        return wire.dumps({"t": "presence", "room": room, "state": state})

    async def _leave(
        self, session: Session, name: str, *, notify: bool = True, grace: bool = False
    ) -> None:
        if name not in session.rooms:
            return
        session.rooms.discard(name)
        room = self._local.get(name)
        if room is None:
            return
        room.sessions.pop(session.id, None)
        room.recovering.pop(session.id, None)
        room.group.discard(session)
        if not room.sessions:
            del self._local[name]
            await self._broker_call(self.broker.unsubscribe(f"room:{name}"))
        if notify and not session.closed:
            session._send_frame(wire.dumps({"t": "left", "room": name}))
        if room.options.presence:
            await self._presence_remove(name, session, room.options.presence_grace if grace else 0)

    def _deliver(self, channel: str, frame: str, skip: str | None, offset: int) -> None:
        """The broker hands a publication to this node's members of ``channel``."""
        kind, _, name = channel.partition(":")
        if kind == "room":
            room = self._local.get(name)
            if room is None:
                return
            sent = room.group.send(frame, None if skip is None else room.sessions.get(skip))
            if offset and room.recovering:
                for buffered in room.recovering.values():
                    buffered.append((offset, frame))
        elif kind == "all":
            sent = self._all.send(frame, None if skip is None else self._sessions.get(skip))
        elif kind == "user":
            sent = send_to([s for s in self._users.get(name, ()) if s.id != skip], frame)
        elif kind == "session":
            target = self._sessions.get(name)
            sent = 0 if target is None else send_to((target,), frame)
        else:
            logger.warning("publication on unknown channel %r dropped", channel)
            return
        self.metrics.deliveries += sent

    async def _publish(
        self, channels: list[str], event: str, data: Any, skip: Session | None
    ) -> None:
        wire.check_name(event, "event", wire.MAX_EVENT_NAME)
        try:
            data_json = wire.dumps(data)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"event data is not JSON: {exc}") from None
        await self.start()
        skip_id = None if skip is None else skip.id
        for channel in channels:
            kind, _, name = channel.partition(":")
            policy = self._room_options(name).history if kind == "room" else None
            if policy is not None:
                await self._broker_call(
                    self.broker.publish_event(name, event, data_json, policy, skip=skip_id)
                )
            else:
                frame = wire.event_frame(event, data_json, name if kind == "room" else None)
                await self._broker_call(self.broker.publish(channel, frame, skip=skip_id))
            self.metrics.event_out(event)

    async def _broker_call(self, call: Awaitable[_T]) -> _T:
        """Await a broker operation; its failure becomes :class:`Unavailable`."""
        try:
            return await call
        except HubError:
            raise
        except Exception as exc:
            logger.warning("broker %s failed: %s", type(self.broker).__name__, exc)
            raise Unavailable(f"the broker is unavailable: {exc}") from exc

    # -- presence -----------------------------------------------------------------

    async def _resync(self) -> None:
        """After the broker reconnected: register this node's members' presence again
        (the store may have restarted empty) and send each local member of a presence
        room the room's state as it is now (diffs may have been lost meanwhile)."""
        try:
            for (name, user), count in list(self._local_counts.items()):
                sessions = self._users.get(user)
                info = sessions[0].user.info if sessions else {}
                await self._broker_call(self.broker.presence_set(name, user, info, count))
            for name, room in list(self._local.items()):
                if room.options.presence:
                    frame = await self._presence_frame(name)
                    self.metrics.deliveries += room.group.send(frame)
        except Unavailable:
            pass  # lost again: the next reconnection resyncs

    async def _presence_add(self, room: str, session: Session) -> None:
        user = session.user
        key = (room, user.id)
        count = self._local_counts[key] = self._local_counts.get(key, 0) + 1
        timer = self._grace.pop(key, None)
        if timer is not None:
            timer.cancel()
        change = await self._broker_call(self.broker.presence_set(room, user.id, user.info, count))
        if change == PresenceChange.APPEARED:
            self._queue_diff(room, user.id, {"info": user.info}, joined=True)

    async def _presence_remove(self, room: str, session: Session, grace: float) -> None:
        user = session.user
        key = (room, user.id)
        count = self._local_counts.get(key, 0) - 1
        if count > 0:
            self._local_counts[key] = count
            await self._broker_call(self.broker.presence_set(room, user.id, user.info, count))
            return
        self._local_counts.pop(key, None)
        if grace > 0:
            self._grace[key] = self._loop.call_later(grace, self._grace_over, room, user)
        else:
            await self._presence_gone(room, user)

    def _grace_over(self, room: str, user: Identity) -> None:
        self._grace.pop((room, user.id), None)
        if (room, user.id) not in self._local_counts:
            self._spawn(self._presence_gone(room, user))

    async def _presence_gone(self, room: str, user: Identity) -> None:
        change = await self._broker_call(self.broker.presence_set(room, user.id, user.info, 0))
        if change == PresenceChange.DISAPPEARED:
            self._queue_diff(room, user.id, {"info": user.info}, joined=False)

    def _queue_diff(self, room: str, user: str, entry: dict[str, Any], *, joined: bool) -> None:
        joins, leaves = self._diffs.setdefault(room, ({}, {}))
        if joined:
            leaves.pop(user, None)
            joins[user] = entry
        elif joins.pop(user, None) is None:
            leaves[user] = entry
        if self._diff_timer is None:
            self._diff_timer = self._loop.call_later(self.presence_interval, self._flush_diffs)

    def _flush_diffs(self) -> None:
        self._diff_timer = None
        diffs, self._diffs = self._diffs, {}
        for room, (joins, leaves) in diffs.items():
            if joins or leaves:
                frame = wire.dumps(
                    {"t": "presence", "room": room, "joins": joins, "leaves": leaves}
                )
                self._spawn(self._broker_call(self.broker.publish(f"room:{room}", frame)))

    # -- housekeeping -------------------------------------------------------------

    def _tick(self) -> None:
        """Every ``heartbeat`` seconds: ping everyone (one frame, one broadcast),
        close the silent, forget what expired."""
        now = self._loop.time()
        self._ticker = self._loop.call_later(self.heartbeat, self._tick)
        broadcast(self._all.group, wire.PING)  # other wires have their own heartbeat
        deadline = now - self.heartbeat - self.heartbeat_timeout
        for session in list(self._sessions.values()):
            if session.last_seen < deadline:
                logger.info("heartbeat timeout: closing %s", session)
                self._spawn(session.close(wire.CLOSE_TIMEOUT, "heartbeat timeout"))

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, (ConnectionClosed, Unavailable)):
                logger.error("background task failed", exc_info=exc)


_T = TypeVar("_T")


def _data_annotation(fn: Callable[..., Any], param: inspect.Parameter) -> Any:
    """The type of a handler's data parameter, resolved alone (the session's
    annotation may name something that is not importable where it is resolved)."""
    annotation = param.annotation
    if not isinstance(annotation, str):
        return Any if annotation is inspect.Parameter.empty else annotation
    holder = type("_Annotations", (), {"__annotations__": {param.name: annotation}})
    namespace = getattr(inspect.unwrap(fn), "__globals__", {})
    try:
        return get_type_hints(holder, namespace)[param.name]
    except Exception as exc:
        raise TypeError(
            f"cannot resolve {param.name}: {annotation} of handler "
            f"{getattr(fn, '__qualname__', fn)!r}: {exc}"
        ) from None


def _why_closed(ws: WebSocket) -> str:
    """``on_disconnect``'s reason: who closed, with which code and reason."""
    closed = ws.protocol.closed_exception()
    if ws.close_cause is not None:  # Switchboard's own decision: keepalive, slow consumer
        return f"{ws.close_cause} ({closed.code})"
    if closed.rcvd is None and closed.sent is None:
        return "connection lost (1006)"
    by_client = closed.rcvd is not None and (closed.sent is None or closed.rcvd_then_sent)
    close = closed.rcvd if by_client else closed.sent
    assert close is not None
    who = "client" if by_client else "server"
    return f"closed by the {who}: {close.code}" + (f" {close.reason}" if close.reason else "")


def _reason(text: str) -> str:
    """A close reason: at most 123 bytes of UTF-8."""
    return text.encode()[:123].decode(errors="ignore")


def _ack(request_id: int, kind: str, value: Any) -> str:
    return (
        wire.ack_frame(request_id, value)
        if kind == "data"
        else wire.error_ack_frame(request_id, value)
    )


def _position(offset: Any, epoch: Any) -> Position | None:
    if type(offset) is int and offset >= 0 and isinstance(epoch, str):
        return Position(offset, epoch)
    return None


def _positions(rooms: Any) -> dict[str, Position]:
    """The positions of a hello's ``rooms``; malformed entries count as none."""
    if not isinstance(rooms, dict):
        return {}
    positions = {}
    for name, where in rooms.items():
        if isinstance(where, dict):
            position = _position(where.get("offset"), where.get("epoch"))
            if position is not None:
                positions[name] = position
    return positions

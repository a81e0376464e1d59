"""A session: one client connected to the hub, as the server sees it.

Handlers get the :class:`Session` that sent the event. It says who the client is
(``user``), where it is (``rooms``), and lets the server talk to it alone
(``emit``, ``call``), move it (``join``, ``leave``) or close it. A session that
reconnects within the hub's ``resume_window`` keeps its id and its rooms.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio.tasks import _enter_task, _leave_task  # see Session._enqueue
from collections import deque
from collections.abc import Coroutine, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..protocol.connection import State
from ..protocol.http11 import Request
from ..websocket import Data, WebSocket
from . import wire
from .errors import AckTimeout, Disconnected, HubError, RateLimited
from .ratelimit import TokenBucket

if TYPE_CHECKING:
    from .hub import Hub


def _step_python(coroutine: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """``coroutine.send(None)``: (True, its return value) or (False, what it yielded).
    The C extension's ``step`` does the same without raising StopIteration."""
    try:
        return False, coroutine.send(None)
    except StopIteration as done:
        return True, done.value


try:
    from .._speedups import step
except ImportError:  # pragma: no cover - exercised by tests/realtime/test_events.py
    step = _step_python

__all__ = ["Session", "Identity", "Hello"]

logger = logging.getLogger("switchboard.realtime")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a client is, as ``on_connect`` decides: a user ``id``, public ``info``
    (shown in presence: a display name, say) and ``rooms`` to join at once.

    A user with several connections (tabs, devices) is one member in presence.
    """

    id: str
    info: dict[str, Any] = field(default_factory=dict)
    rooms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hello:
    """What ``on_connect`` gets: the HTTP handshake ``request`` (headers, cookies,
    query) and the client's ``auth`` payload (any JSON, or ``None``)."""

    request: Request
    auth: Any


class Session:
    """One connected client. Do not create it: the hub passes it to handlers."""

    # False: its connection is in the rooms' Groups, it gets native frames as they
    # are. True (another wire, Socket.IO): each frame goes through _send_frame.
    _relayed: ClassVar[bool] = False

    __slots__ = (
        "id",
        "token",
        "user",
        "ws",
        "rooms",
        "data",
        "last_seen",
        "_hub",
        "_calls",
        "_next_call",
        "_queue",
        "_wakeup",
        "_worker",
        "_suspended",
        "_bucket",
        "_event_buckets",
        "_refusals",
    )

    def __init__(self, hub: Hub, ws: WebSocket, sid: str, token: str, user: Identity) -> None:
        self.id = sid
        self.token = token
        #: Who this is (from ``on_connect``; an anonymous session is its own user).
        self.user = user
        #: The underlying WebSocket.
        self.ws = ws
        #: The rooms the session is in.
        self.rooms: set[str] = set()
        #: Free for the application: anything it wants to keep with the session.
        self.data: dict[str, Any] = {}
        self.last_seen = hub._loop.time()
        self._hub = hub
        self._calls: dict[int, asyncio.Future[Any]] | None = None  # on first call()
        self._next_call = 0
        # (event, message, request id, arrival time); event None: a join or leave
        self._queue: deque[tuple[str | None, dict[str, Any], int | None, float]] | None = None
        self._wakeup: asyncio.Future[None] | None = None  # set when _work should look
        self._worker: asyncio.Task[Any] | None = None  # the task running _work
        self._suspended: _Resume | None = None  # a request started eagerly, now waiting
        self._bucket = None if hub.rate is None else TokenBucket(hub.rate, self.last_seen)
        self._event_buckets: dict[str, TokenBucket] | None = None
        self._refusals = 0  # in a row

    def __repr__(self) -> str:
        return f"<Session {self.id} user={self.user.id!r} rooms={len(self.rooms)}>"

    @property
    def request(self) -> Request:
        """The HTTP request that opened the WebSocket."""
        assert self.ws.request is not None
        return self.ws.request

    @property
    def closed(self) -> bool:
        """Whether the connection is closed."""
        return self.ws.state is State.CLOSED

    # -- the application's API ----------------------------------------------------

    async def emit(self, event: str, data: Any = None) -> None:
        """Send ``event`` to this connection alone (no ack; see :meth:`call`)."""
        wire.check_name(event, "event", wire.MAX_EVENT_NAME)
        self._send_frame(wire.event_frame(event, wire.dumps(data)))

    async def call(self, event: str, data: Any = None, *, timeout: float | None = None) -> Any:
        """Ask the client: send ``event`` and return its handler's reply.

        Raises :class:`~switchboard.realtime.AckTimeout` after ``timeout`` seconds
        (the hub's ``call_timeout`` by default),
        :class:`~switchboard.realtime.Disconnected` if the connection closes first,
        or the client's error (:class:`~switchboard.realtime.HubError`, e.g.
        ``unknown_event``, ``rejected``).
        """
        wire.check_name(event, "event", wire.MAX_EVENT_NAME)
        if self.closed:
            raise Disconnected("the session is closed")
        self._next_call += 1
        call_id = self._next_call
        future: asyncio.Future[Any] = self._hub._loop.create_future()
        if self._calls is None:
            self._calls = {}
        self._calls[call_id] = future
        frame = wire.dumps({"t": "call", "id": call_id, "event": event, "data": data})
        self._send_frame(frame)
        limit = self._hub.call_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(future, limit)
        except asyncio.TimeoutError:
            raise AckTimeout(f"no reply to {event!r} within {limit} s") from None
        finally:
            if self._calls is not None:  # None once the connection closed
                self._calls.pop(call_id, None)

    async def join(self, room: str) -> None:
        """Put the session in ``room`` (the client is told with a ``joined`` message)."""
        await self._hub._join(self, room, None)

    async def leave(self, room: str) -> None:
        """Take the session out of ``room``."""
        await self._hub._leave(self, room)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection. Codes 4400-4499 tell the client not to reconnect
        (4403 "kicked", say); others let it come back."""
        await self.ws.close(code, reason)

    # -- what the hub calls -------------------------------------------------------

    def _send_frame(self, frame: str) -> bool:
        """Send a frame to this client without waiting (slow readers are closed by
        the write budget, as for room emits); False if it is closed or closing."""
        return self.ws.send_nowait(frame)

    @classmethod
    def _send_many(cls, sessions: list[Session], frame: str) -> int:
        """Send a publication's frame to sessions of this class (relayed ones: a
        wire may batch them); how many it reached."""
        return sum(session._send_frame(frame) for session in sessions)

    def _message_received(self, item: Data) -> None:
        """A frame from the client, straight from the read callback (never waits)."""
        hub = self._hub
        now = hub._loop.time()
        self.last_seen = now
        message: dict[str, Any] | None = None
        try:
            if type(item) is not str:
                raise wire.MessageError("binary frames are not part of switchboard.v1")
            message = wire.decode(item, max_payload=hub.max_payload, max_depth=hub.max_depth)
            kind = message["t"]
            if kind == "emit":
                self._receive_emit(message, now)
            elif kind == "ack":
                self._receive_ack(message)
            elif kind == "pong":
                pass
            elif kind == "join" or kind == "leave":
                request_id = wire.request_id(message)
                # The session's rate only: an app event named "join" has its own rate.
                if not self._refused("", request_id, now):
                    self._enqueue(None, message, request_id, now)  # None: a room request
            else:
                raise wire.MessageError(f"unexpected message type {kind!r}")
        except wire.MessageError as exc:
            hub._bad_message(self, message or exc.request, exc, now)

    def _receive_emit(self, message: dict[str, Any], now: float) -> None:
        hub = self._hub
        event = message.get("event")
        if type(event) is str and event in hub._handlers:
            counts = hub.metrics.events_in  # by name: only the app's names, a bounded set
            counts[event] = counts.get(event, 0) + 1
        else:  # a bad name is an error; an unknown one gets its error ack in turn
            event = wire.check_name(event, "event", wire.MAX_EVENT_NAME)
        request_id = message.get("id")
        if request_id is not None and (type(request_id) is not int or not 0 <= request_id < 2**53):
            request_id = wire.request_id(message)  # raises, naming what is wrong with it
        if self._bucket is None and not self._queue and event not in hub._event_rates:
            self._refusals = 0  # no limit to apply: what _refused would find, in short
        elif self._refused(event, request_id, now):
            return
        self._enqueue(event, message, request_id, now)

    def _refused(self, event: str, request_id: int | None, now: float) -> bool:
        """Apply the rate limits and ``max_pending``, and answer a refusal. A client
        refused more than ``rate_limit_close_after`` times in a row is closed (1008)."""
        hub = self._hub
        wait = 0.0 if self._bucket is None else self._bucket.take(now)
        if not wait and event in hub._event_rates:
            wait = self._event_bucket(event, now).take(now)
        if not wait and self._queue and len(self._queue) >= hub.max_pending:
            wait = 0.1
        if not wait:
            self._refusals = 0
            return False
        hub.metrics.rate_limited += 1
        self._refusals += 1
        if self._refusals > hub.rate_limit_close_after:
            if self._refusals == hub.rate_limit_close_after + 1:  # say it once
                logger.warning("rate limit exceeded by %s: closing", self)
                hub._spawn(self.close(wire.CLOSE_RATE_LIMIT, "rate limit exceeded"))
        elif request_id is not None:
            self._send_error(request_id, RateLimited(retry_after=wait))
        return True

    def _event_bucket(self, event: str, now: float) -> TokenBucket:
        """The session's token bucket for an event with a rate of its own."""
        buckets = self._event_buckets
        if buckets is None:
            buckets = self._event_buckets = {}
        bucket = buckets.get(event)
        if bucket is None:
            bucket = buckets[event] = TokenBucket(self._hub._event_rates[event], now)
        return bucket

    def _enqueue(
        self, event: str | None, message: dict[str, Any], request_id: int | None, now: float
    ) -> None:
        """Run a request, or queue it for :meth:`_work`: requests run one at a time, in
        the order they came (a chat's messages stay in order even when a handler
        awaits). Acks and pongs do not queue: they are handled as they arrive, so a
        handler may await :meth:`call` without blocking its own reply.

        When the worker is idle, the request runs right here, in the read callback,
        as the worker task would (it is the current task meanwhile:
        ``asyncio.timeout()`` and ``current_task()`` work), and goes to the worker
        only if it has to wait. Most handlers never wait: their ack goes out with no
        task switch, no future and no wake-up. This is what Python 3.12's eager tasks
        do, without a task per request."""
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done() and not self._queue:
            loop = self._hub._loop
            worker = self._worker
            assert worker is not None
            try:
                _enter_task(loop, worker)
            except RuntimeError:  # a task is running: no read callback, the worker runs it
                pass
            else:
                request = self._request(event, message, request_id, now)
                try:
                    done, waiting_on = step(request)
                finally:
                    _leave_task(loop, worker)
                if not done:
                    self._suspended = _Resume(request, waiting_on)
                    self._wake()
                return
        if self._queue is None:
            self._queue = deque()
        self._queue.append((event, message, request_id, now))
        self._wake()

    def _request(
        self, event: str | None, message: dict[str, Any], request_id: int | None, arrived: float
    ) -> Coroutine[Any, Any, None]:
        hub = self._hub
        if event is None:
            return hub._client_room_request(self, message["t"], message, request_id)
        return hub._run_handler(self, event, message, request_id, arrived)

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _work(self) -> None:
        """Run the session's requests until its connection closes. This runs in the
        connection's own task: no task per request. A request still running when
        the connection closes finishes; what was queued behind it is dropped (the
        client retries it)."""
        loop = self._hub._loop
        self._worker = asyncio.current_task()
        while True:
            if self._suspended is not None:  # started by _enqueue: let it finish
                resume, self._suspended = self._suspended, None
                await resume
            while self._queue and not self.closed:
                event, message, request_id, arrived = self._queue.popleft()
                await self._request(event, message, request_id, arrived)
            if self.closed:
                return
            self._wakeup = loop.create_future()
            try:
                await self._wakeup
            finally:
                self._wakeup = None

    def _receive_ack(self, message: dict[str, Any]) -> None:
        call_id = wire.request_id(message)
        calls = self._calls
        future = None if call_id is None or calls is None else calls.get(call_id)
        if future is None or future.done():
            return  # a late or unknown reply: the caller gave up already
        if "error" in message:
            future.set_exception(HubError.from_wire(message["error"]))
        else:
            future.set_result(message.get("data"))

    def _send_error(self, request_id: int, error: HubError) -> None:
        self._hub.metrics.error(error.code)
        self._send_frame(wire.error_ack_frame(request_id, error.to_wire()))

    def _closed(self) -> None:
        """The connection is gone: fail pending calls."""
        for future in (self._calls or {}).values():
            if not future.done():
                future.set_exception(Disconnected("the connection closed"))
        self._calls = None


class _Resume:
    """The rest of a request that :meth:`Session._enqueue` began and that had to wait:
    awaited by the worker task, it hands the task what the request waits on and
    passes every wake-up (and cancellation) back in, as ``await request`` would
    had the task started it."""

    __slots__ = ("_request", "_waiting_on")

    def __init__(self, request: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self._request = request
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, None]:
        request, waiting_on = self._request, self._waiting_on
        while True:
            try:
                sent = yield waiting_on
            except BaseException as exc:  # passed on, as `yield from` does
                try:
                    waiting_on = request.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waiting_on = request.send(sent)
                except StopIteration:
                    return

"""The hub's Socket.IO endpoint: Socket.IO v5 clients as hub sessions.

:class:`SocketIO` mounts next to the hub and turns each Socket.IO connection into a
:class:`SocketIOSession`, a :class:`~switchboard.realtime.Session` like any other:
the same ``@hub.on`` handlers answer it (their return value is the ack), it joins
the same rooms, and ``session.call()`` asks its client (a Socket.IO ack). Each
namespace is served by a hub of its own (``/`` by the first), and a client's
namespaces share its Engine.IO session: each is a session of its namespace's hub.
A CONNECT to a namespace that has no hub gets ``Invalid namespace``.

How the two wires meet: the hub builds every frame in its own format once, and a
Socket.IO session's ``_send_frame`` hands it to the :class:`Encoder` of its server,
which builds the Socket.IO packet from it once per publication (it remembers the
last frame it translated: a room emit reaches its members one after the other).
There is one encoder per namespace: its packets name the namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...broadcast import broadcast
from ...protocol.http11 import Request
from ...websocket import Data, WebSocket
from .. import wire
from ..brokers.base import Position
from ..errors import HubError
from ..session import Hello, Identity, Session
from . import protocol
from .engineio import EngineServer, EngineSocket

if TYPE_CHECKING:
    from ...server.routing import Router
    from ..hub import Hub

__all__ = ["SocketIO", "SocketIOSession"]

logger = logging.getLogger("switchboard.realtime.socketio")

_DATA = ',"data":'
_ACK_ID = '{"t":"ack","id":'
_BINARY = '"$binary"'  # in a frame's text: it may hold tagged bytes


class Encoder:
    """Native frames as Socket.IO packets (text, without the Engine.IO ``4``); None
    for what has no Socket.IO form (pings: Engine.IO has its own; ``joined``,
    ``left`` and ``presence``: the server asks the hub). After :meth:`packet`,
    ``room`` and ``where`` say which room's history the event was numbered in
    (``None`` for other packets), and ``attachments`` holds the binary attachments
    that follow the packet (the hub's tagged ``{"$binary": ...}`` objects, which
    make it a BINARY_EVENT or BINARY_ACK). The packets are for ``namespace``."""

    __slots__ = ("_last", "_packet", "_message", "_ns", "namespace", "room", "where", "attachments")

    def __init__(self, namespace: str = "/") -> None:
        self.namespace = namespace
        self._ns = "" if namespace == "/" else namespace + ","  # as packets write it
        self._last: str | None = None
        self._packet: str | None = None
        self._message: str | None = None
        self.room: str | None = None
        self.where: tuple[int, str] | None = None
        self.attachments: tuple[bytes, ...] = ()

    def message(self, frame: str) -> str | None:
        """:meth:`packet` as an Engine.IO message (``4`` in front), built once."""
        packet = self.packet(frame)
        if packet is None:
            return None
        if self._message is None:
            self._message = "4" + packet
        return self._message

    def packet(self, frame: str) -> str | None:
        """The Socket.IO packet for a native frame (None: it has no Socket.IO form)."""
        if frame is self._last:  # the same publication, for the next member
            return self._packet
        self.room = self.where = self._message = None
        self.attachments = ()
        packet = self._translate(frame)
        self._last, self._packet = frame, packet
        return packet

    def _translate(self, frame: str) -> str | None:
        if frame.startswith('{"t":"event",'):
            at = frame.find(_DATA)
            head = json.loads(frame[:at] + "}")
            if "epoch" in head:
                self.room, self.where = head["room"], (head["offset"], head["epoch"])
            data = frame[at + len(_DATA) : -1]
            if _BINARY in data:
                return self._binary(protocol.EVENT, None, [head["event"], json.loads(data)])
            event = protocol.dumps(head["event"])
            ns = self._ns
            return f"2{ns}[{event}]" if data == "null" else f"2{ns}[{event},{data}]"
        # "$" first: one memchr, the cheapest test for an ack without bytes.
        if "$" in frame and _BINARY in frame and frame.startswith(('{"t":"ack",', '{"t":"call",')):
            message = json.loads(frame)
            if "data" in message:
                if message["t"] == "ack":
                    return self._binary(protocol.ACK, message["id"], [message["data"]])
                args = [message["event"], message["data"]]
                return self._binary(protocol.EVENT, message["id"], args)
        return _translate(frame, self._ns)

    def _binary(self, kind: int, ack_id: int | None, args: list[Any]) -> str:
        """A packet whose arguments hold tagged objects: they become attachments."""
        with contextlib.suppress(wire.MessageError):  # else an app's own object: JSON
            args = wire.untag(args)
        text, *parts = protocol.encode(protocol.Packet(kind, args, self.namespace, ack_id))
        assert isinstance(text, str)
        self.attachments = tuple(part for part in parts if isinstance(part, bytes))
        return text


def _translate(frame: str, ns: str) -> str | None:
    at = frame.find(_DATA)
    if frame.startswith(_ACK_ID):
        if at >= 0:  # {"t":"ack","id":N,"data":...}
            return f"3{ns}{frame[len(_ACK_ID) : at]}[{frame[at + len(_DATA) : -1]}]"
        message = json.loads(frame)
        return f"3{ns}{message['id']}[{protocol.dumps({'error': message['error']})}]"
    if frame.startswith('{"t":"call",'):
        message = json.loads(frame)
        args = (
            [message["event"]] if message["data"] is None else [message["event"], message["data"]]
        )
        return f"2{ns}{message['id']}{protocol.dumps(args)}"
    return None


class SocketIOSession(Session):
    """A hub session whose client speaks Socket.IO (``socket.id`` in the client is
    the session's ``id``); ``engine`` is its Engine.IO session, ``namespace`` the
    Socket.IO namespace it is connected to."""

    __slots__ = ("engine", "namespace", "_link", "_ended", "_encoder", "_positions", "_held")

    _relayed = True

    def __init__(
        self,
        hub: Hub,
        link: _Connection,
        namespace: str,
        encoder: Encoder,
        sid: str,
        token: str,
        user: Identity,
    ) -> None:
        # No WebSocket of its own to put in rooms' Groups (it may be polling):
        # frames reach it through _send_frame.
        super().__init__(hub, None, sid, token, user)  # type: ignore[arg-type]
        self.engine = link.engine
        self.namespace = namespace
        self._link = link
        self._ended = False  # disconnected from its namespace (the engine may go on)
        self._encoder = encoder
        # With recovery: the last position sent in each history room, appended to
        # every event as its offset (the client sends the last one back).
        self._positions: dict[str, tuple[int, str]] | None = None
        self._held: list[Data] | None = None  # packets kept until CONNECT is answered

    @property
    def request(self) -> Request:
        """The HTTP request that opened the Engine.IO session."""
        return self.engine.request

    @property
    def closed(self) -> bool:
        """Whether the session left its namespace or the Engine.IO session closed."""
        return self._ended or self.engine.closed

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the session. 1000 and 4400-4499 send a Socket.IO DISCONNECT for its
        namespace (the client does not reconnect: ``io server disconnect``; the
        Engine.IO session ends with the last namespace); other codes close the
        transport, the client's other namespaces with it, and the client
        reconnects."""
        why = "server disconnect" if code == 1000 else reason or str(code)
        if code == 1000 or 4400 <= code < 4500:
            if not self._ended:  # (once ended, its namespace may hold a newer session)
                self._link.disconnect(self.namespace, why, tell=True)
        else:
            self.engine.close(why)

    @classmethod
    def _send_many(cls, sessions: list[Session], frame: str) -> int:
        """A publication to many: the members on a WebSocket whose events carry no
        offset of their own get one frame, built once and written by
        :func:`~switchboard.broadcast` (one C loop); the others one by one."""
        direct: dict[Encoder, list[WebSocket]] = {}
        sent = 0
        for session in sessions:
            assert isinstance(session, SocketIOSession)
            ws = session.engine.ws
            if ws is not None and session._positions is None and session._held is None:
                direct.setdefault(session._encoder, []).append(ws)
            else:
                sent += session._send_frame(frame)
        for encoder, connections in direct.items():
            message = encoder.message(frame)
            if message is not None:  # (None: nothing to send, a presence diff say)
                sent += broadcast(connections, message)
                for part in encoder.attachments:  # each framed once too
                    broadcast(connections, part)
        return sent

    def _send_frame(self, frame: str) -> bool:
        encoder = self._encoder
        packet = encoder.packet(frame)
        if packet is None:
            return True
        positions = self._positions
        if positions is not None and encoder.room is not None and encoder.where is not None:
            # Socket.IO's offset: the last string argument. Ours is where this
            # session is in each of its rooms, so one offset recovers them all.
            positions[encoder.room] = encoder.where
            packet = f"{packet[:-1]},{protocol.dumps(protocol.dumps(positions))}]"
        attachments = encoder.attachments
        if self._held is not None:
            self._held.append(packet)
            self._held.extend(attachments)
            return True
        if self._ended or not self.engine.send(packet):
            return False
        for part in attachments:
            self.engine.send(part)
        return True


class SocketIO:
    """Socket.IO v5 (over Engine.IO v4) for a hub, on its own path::

        router.mount("/rt", hub)
        router.mount("/socket.io", SocketIO(hub))   # socket.io-client's default path

    ``hub`` serves the namespace ``/``; ``namespaces`` maps others to their own
    hubs (``{"/admin": admin_hub}``), each with its handlers, rooms and
    ``on_connect``. A client's namespaces share one Engine.IO session.

    Options: ``ping_interval`` and ``ping_timeout`` (the ``/`` hub's ``heartbeat``
    and ``heartbeat_timeout`` by default), ``max_http_buffer_size`` (1 MB, the largest
    Engine.IO message or polling body), ``cors_origins`` (``"*"`` or the origins
    allowed to poll from other sites; ``None``: same-origin only), ``recovery``
    (Socket.IO's connection state recovery: a client that reconnects within the
    hub's ``resume_window`` gets its session, its rooms and what it missed in
    them, and ``socket.recovered`` is true; off by default, as in Socket.IO,
    because every event then carries its offset). Events are held to the hub's
    limits (``max_payload``, ``max_depth``, rates).
    """

    def __init__(
        self,
        hub: Hub,
        *,
        namespaces: Mapping[str, Hub] | None = None,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        max_http_buffer_size: int = 1_000_000,
        cors_origins: str | Sequence[str] | None = None,
        recovery: bool = False,
    ) -> None:
        self.hub = hub
        #: Each namespace's hub and encoder, ``/`` first.
        self.namespaces: dict[str, tuple[Hub, Encoder]] = {"/": (hub, Encoder())}
        for name, other in (namespaces or {}).items():
            if not name.startswith("/") or "," in name or name == "/":
                raise ValueError(
                    f"a namespace starts with '/' and has no ',' ('/' is the hub's): {name!r}"
                )
            self.namespaces[name] = (other, Encoder(name))
        self.recovery = recovery
        self.engine = EngineServer(
            self._opened,
            ping_interval=hub.heartbeat if ping_interval is None else ping_interval,
            ping_timeout=hub.heartbeat_timeout if ping_timeout is None else ping_timeout,
            max_http_buffer_size=max_http_buffer_size,
            cors_origins=cors_origins,
        )
        self._tasks: set[asyncio.Future[Any]] = set()  # connects, sessions' workers

    def _spawn(self, hub: Hub, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)

        def done(task: asyncio.Future[Any]) -> None:
            self._tasks.discard(task)
            hub._task_done(task)  # logs what failed unexpectedly

        task.add_done_callback(done)

    def end_sessions(self) -> None:
        """End every Engine.IO session: a poll in flight gets the close packet at
        once (the client reconnects, to another node say). The server runs this as
        it starts closing, so that no long poll holds its shutdown."""
        for engine in list(self.engine.sockets.values()):
            engine.close("server shutting down", 1001)

    async def close(self) -> None:
        """End every Engine.IO session and wait for their sessions to close (a
        shutdown hook: polling sessions outlive the server's connections)."""
        self.end_sessions()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    def mount(self, router: Router, prefix: str) -> None:
        """Serve Engine.IO at ``<prefix>/`` (polling and WebSocket, same path)."""
        path = prefix + "/"
        router.route(path, ["GET", "POST", "OPTIONS"])(self.engine.http)
        router.websocket(path)(self.engine.websocket)
        router.add_closing(self.end_sessions)
        router.add_shutdown(self.close)

    def _opened(self, engine: EngineSocket) -> None:
        _Connection(self, engine)


class _Connection:
    """One Engine.IO session's Socket.IO side: a :class:`_Socket` per namespace the
    client connected to (or is connecting to)."""

    def __init__(self, server: SocketIO, engine: EngineSocket) -> None:
        self.server = server
        self.engine = engine
        self.sockets: dict[str, _Socket] = {}
        self.binary: protocol.Reassembler | None = None
        engine.on_message = self.on_message
        engine.on_close = self.on_close
        engine.on_activity = self.on_activity
        hello_timeout = server.hub.hello_timeout
        self._hello_timer = asyncio.get_running_loop().call_later(hello_timeout, self._no_connect)

    def _no_connect(self) -> None:
        if not any(socket.session is not None for socket in self.sockets.values()):
            self.engine.close("no CONNECT in time")

    def on_activity(self) -> None:
        for socket in self.sockets.values():
            if socket.session is not None:
                socket.session.last_seen = socket.hub._loop.time()

    def on_close(self, reason: str) -> None:
        self._hello_timer.cancel()
        for socket in self.sockets.values():
            socket.end(reason)

    def disconnect(self, namespace: str, reason: str, *, tell: bool) -> None:
        """End the session on ``namespace`` (``tell``: with a DISCONNECT for the
        client); the Engine.IO session ends with its last namespace."""
        socket = self.sockets.pop(namespace, None)
        if socket is None:
            return
        if tell:
            self.send(protocol.Packet(protocol.DISCONNECT, namespace=namespace))
        socket.end(reason)
        if not self.sockets:
            self.engine.close(reason)

    def on_message(self, data: Data) -> None:
        try:
            if isinstance(data, str):
                if self.binary is not None:
                    raise protocol.PacketError("a text packet while attachments were due")
                packet = protocol.decode(data, max_depth=self.server.hub.max_depth)
                found = self.server.namespaces.get(packet.namespace)
                if found is not None and len(data) > found[0].max_payload:
                    self.too_large(packet, found[0], len(data))
                    return
                if packet.attachments:
                    self.binary = protocol.Reassembler(packet)
                    return
            else:
                if self.binary is None:
                    raise protocol.PacketError("an attachment without a binary packet")
                done = self.binary.add(bytes(data))
                if done is None:
                    return
                packet, self.binary = done, None
            self.on_packet(packet)
        except protocol.PacketError as exc:
            logger.info("socket.io %s: %s", self.engine.sid, exc)
            self.engine.close("parse error")

    def too_large(self, packet: protocol.Packet, hub: Hub, size: int) -> None:
        """Refuse a packet over its hub's ``max_payload`` as the hub would (an error
        ack, counted against the rate limit); the transport's own limit is
        ``max_http_buffer_size``."""
        socket = self.sockets.get(packet.namespace)
        session = None if socket is None else socket.session
        error = wire.MessageError(
            f"message too large: {size} bytes; the limit is {hub.max_payload}", "too_large"
        )
        if session is None:  # a CONNECT with a huge auth, say: refused as a hello would be
            error_data = {"message": str(error)}
            self.send(protocol.Packet(protocol.CONNECT_ERROR, error_data, packet.namespace))
            return
        message = {} if packet.id is None or packet.type != protocol.EVENT else {"id": packet.id}
        hub._bad_message(session, message, error, hub._loop.time())

    def on_packet(self, packet: protocol.Packet) -> None:
        namespace = packet.namespace
        socket = self.sockets.get(namespace)
        if packet.type == protocol.CONNECT:
            if socket is not None:
                return  # connected, or connecting, already
            found = self.server.namespaces.get(namespace)
            if found is None:
                error = {"message": "Invalid namespace"}
                self.send(protocol.Packet(protocol.CONNECT_ERROR, error, namespace))
                return
            socket = self.sockets[namespace] = _Socket(self, namespace, *found)
        if socket is None:
            return  # socket.io ignores packets for a namespace not connected
        socket.on_packet(packet)

    def send(self, packet: protocol.Packet) -> None:
        for part in protocol.encode(packet):
            self.engine.send(part)


class _Socket:
    """One namespace of a connection: the CONNECT, then a session of its hub."""

    def __init__(self, link: _Connection, namespace: str, hub: Hub, encoder: Encoder) -> None:
        self.link = link
        self.namespace = namespace
        self.hub = hub
        self.encoder = encoder
        self.session: SocketIOSession | None = None
        self.reason = "closed"  # why the session ended, once it did

    def end(self, reason: str) -> None:
        self.reason = reason
        session = self.session
        if session is not None:
            session._ended = True
            session._wake()  # its worker sees it closed and returns

    def send(self, kind: int, data: Any) -> None:
        self.link.send(protocol.Packet(kind, data, self.namespace))

    def refuse(self, error: dict[str, Any]) -> None:
        """A CONNECT_ERROR: the namespace stays unconnected (the client may retry)."""
        if self.link.sockets.get(self.namespace) is self:
            del self.link.sockets[self.namespace]
        self.send(protocol.CONNECT_ERROR, error)

    def on_packet(self, packet: protocol.Packet) -> None:
        kind = packet.type
        if kind == protocol.CONNECT:
            self.link.server._spawn(self.hub, self.connect(packet.data))
            return
        session = self.session
        if session is None:
            return  # still connecting: socket.io-client sends nothing before the reply
        now = self.hub._loop.time()
        session.last_seen = now
        if kind in (protocol.EVENT, protocol.BINARY_EVENT):
            args = packet.data
            message = {"t": "emit", "event": args[0], "data": _data(args[1:])}
            if packet.id is not None:
                message["id"] = packet.id
            try:
                session._receive_emit(message, now)
            except wire.MessageError as exc:
                self.hub._bad_message(session, message, exc, now)
        elif kind in (protocol.ACK, protocol.BINARY_ACK):
            session._receive_ack({"t": "ack", "id": packet.id, "data": _data(packet.data)})
        elif kind == protocol.DISCONNECT:
            self.link.disconnect(self.namespace, "client namespace disconnect", tell=False)

    async def connect(self, auth: Any) -> None:
        """CONNECT: ``on_connect`` decides, as for a native hello; with recovery, a
        ``pid`` and ``offset`` in the auth resume the session and replay what it
        missed in each room."""
        hub, link = self.hub, self.link
        engine, server = link.engine, link.server
        await hub.start()
        resume: dict[str, str] | None = None
        positions: dict[str, Position] = {}
        if server.recovery and isinstance(auth, dict):
            resume, positions = _recovery(auth.get("pid"), auth.get("offset"))
            auth = {k: v for k, v in auth.items() if k != "pid" and k != "offset"}
        try:
            identity = await hub._identify(Hello(engine.request, auth))
        except HubError as exc:
            hub.metrics.refused += 1
            self.refuse({"message": f"unauthorized: {exc.message}", "data": exc.to_wire()})
            return
        except Exception:
            logger.exception("on_connect failed for %s", engine.request.client_address)
            self.refuse({"message": "internal error"})
            return
        if engine.closed or link.sockets.get(self.namespace) is not self:
            return
        namespace, encoder = self.namespace, self.encoder
        session, rooms, recovered = await hub._session_for(
            lambda sid, token, user: SocketIOSession(
                hub, link, namespace, encoder, sid, token, user
            ),
            identity,
            resume,
        )
        assert isinstance(session, SocketIOSession)
        self.session = session
        hub.metrics.sessions_opened += 1
        server._spawn(hub, self._serve(session))
        for name in identity.rooms if identity is not None else ():
            if name not in rooms:
                rooms.append(name)
        session._held = []  # what the joins send waits for the CONNECT reply
        if server.recovery:
            session._positions = {}
        for name in rooms[: hub.max_rooms]:
            since = positions.get(name)
            try:
                info = await hub._join(session, name, since)
            except (HubError, ValueError) as exc:
                logger.warning("could not put %s in room %r: %s", session, name, exc)
                recovered = False
                continue
            if info["recovered"] is False or ("epoch" in info and since is None):
                recovered = False  # missed publications are gone, or unknown
        reply: dict[str, Any] = {"sid": session.id}
        if server.recovery:
            # The same pid tells the client it recovered; a new one that it did not.
            reply["pid"] = (
                resume["pid"]
                if recovered and resume is not None
                else f"{session.id}.{session.token}.{secrets.token_urlsafe(6)}"
            )
        self.send(protocol.CONNECT, reply)
        held, session._held = session._held, None
        for packet in held:
            engine.send(packet)

    async def _serve(self, session: SocketIOSession) -> None:
        try:
            await session._work()
        finally:
            await self.hub._close_session(session, f"socket.io: {self.reason}")


def _recovery(pid: Any, offset: Any) -> tuple[dict[str, str] | None, dict[str, Position]]:
    """What a reconnecting client's ``pid`` and ``offset`` ask to resume: the
    session, and the position in each room (malformed parts count as none)."""
    resume = None
    if isinstance(pid, str) and pid.count(".") == 2:
        sid, token, _ = pid.split(".")
        resume = {"id": sid, "token": token, "pid": pid}
    positions: dict[str, Position] = {}
    if isinstance(offset, str) and len(offset) < 64 * 1024:
        try:
            where = json.loads(offset)
        except ValueError:
            where = None
        if isinstance(where, dict):
            for room, value in where.items():
                if (
                    isinstance(value, list)
                    and len(value) == 2
                    and type(value[0]) is int
                    and isinstance(value[1], str)
                ):
                    positions[room] = Position(value[0], value[1])
    return resume, positions


def _data(args: list[Any]) -> Any:
    """Event arguments as the hub's ``data``: none, one, or a list of several."""
    if not args:
        return None
    return args[0] if len(args) == 1 else list(args)

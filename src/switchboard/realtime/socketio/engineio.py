"""Engine.IO v4, the transport under Socket.IO: HTTP long-polling, then WebSocket.

A client opens a session with ``GET <path>?EIO=4&transport=polling`` (or straight
over a WebSocket, ``transport=websocket``) and gets the open packet
``0{"sid","upgrades","pingInterval","pingTimeout","maxPayload"}``. Over polling,
a GET waits for the packets the server has for the client, a POST carries the
client's; several packets in one body are separated by ``\\x1e``, and a binary
message is ``b`` + base64. To upgrade, the client opens a WebSocket with the
session's ``sid``, probes it (``2probe`` / ``3probe``), the server ends the poll
in flight with a noop (``6``) and the client sends ``5``: from then on, packets go
over the WebSocket, one per frame, binary messages as binary frames.

The server pings every ``ping_interval`` (``2``); a client that does not answer
(``3``) within ``ping_timeout`` is closed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from ...protocol.errors import ConnectionClosed
from ...protocol.http11 import Headers, Request, Response
from ...websocket import Data, WebSocket

__all__ = ["EngineServer", "EngineSocket"]

logger = logging.getLogger("switchboard.realtime.socketio")

OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = "0123456"
SEPARATOR = "\x1e"
_TEXT = "text/plain; charset=UTF-8"


class EngineSocket:
    """One Engine.IO session, over polling or (once upgraded) a WebSocket.

    ``on_message(data)`` gets each message (str, or bytes for a binary one),
    ``on_activity()`` runs for every packet the client sends, and
    ``on_close(reason)`` runs once when the session ends.
    """

    def __init__(self, server: EngineServer, request: Request) -> None:
        self.sid = secrets.token_urlsafe(15)
        self.request = request
        self.server = server
        self.ws: WebSocket | None = None  # once upgraded (or opened over a WebSocket)
        self.closed = False
        self.on_message: Callable[[Data], None] = _ignore
        self.on_close: Callable[[str], None] = _ignore
        self.on_activity: Callable[[], None] = _ignore  # any packet from the client
        self._buffer: list[str | bytes] = []  # packets waiting for a poll
        self._buffered = 0  # their size
        self._poll: asyncio.Future[None] | None = None  # a GET waiting for packets
        self._polling = False  # a GET is in flight
        self._upgrading = False
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._ping = loop.call_later(server.ping_interval, self._send_ping)
        self._pong_deadline: asyncio.TimerHandle | None = None

    @property
    def transport(self) -> str:
        return "polling" if self.ws is None else "websocket"

    def send(self, data: Data) -> bool:
        """Send one message (text, or bytes for binary) without waiting; False when
        the session is closed (a client that does not read is closed past the
        server's ``max_buffer``)."""
        if self.closed:
            return False
        if self.ws is not None:
            return self.ws.send_nowait(MESSAGE + data if isinstance(data, str) else data)
        self._queue(MESSAGE + data if isinstance(data, str) else bytes(data))
        return not self.closed

    def close(self, reason: str = "server disconnect", code: int = 1000) -> None:
        """End the session: the client's poll gets a close packet, a WebSocket is
        closed with ``code``."""
        if self.closed:
            return
        self.closed = True
        self._ping.cancel()
        if self._pong_deadline is not None:
            self._pong_deadline.cancel()
        self.server.sockets.pop(self.sid, None)
        self._buffer.append(CLOSE)
        self._wake_poll()
        if self.ws is not None:
            closing = self.server._closing  # a reference, until it is done
            task = self._loop.create_task(self.ws.close(code))
            closing.add(task)
            task.add_done_callback(closing.discard)
        try:
            self.on_close(reason)
        except Exception:
            logger.exception("engine.io on_close failed")

    # -- packets ------------------------------------------------------------------

    def _queue(self, packet: str | bytes) -> None:
        self._buffer.append(packet)
        self._buffered += len(packet)
        if self._buffered > self.server.max_buffer:
            logger.info("engine.io %s: slow consumer (%d bytes waiting)", self.sid, self._buffered)
            self.close("slow consumer")
            return
        self._wake_poll()

    def _control(self, packet: str) -> None:
        """Send a control packet (ping, noop, close) over the current transport."""
        if self.ws is not None:
            self.ws.send_nowait(packet)
        else:
            self._buffer.append(packet)
            self._wake_poll()

    def _packet(self, packet: Data) -> None:
        """Handle one packet from the client, from either transport."""
        if isinstance(packet, (bytes, bytearray, memoryview)):  # a binary message (WebSocket)
            self.on_message(bytes(packet))
            return
        kind, body = packet[:1], packet[1:]
        if kind == MESSAGE:
            self.on_message(body)
        elif kind == PONG:
            if self._pong_deadline is not None:
                self._pong_deadline.cancel()
                self._pong_deadline = None
        elif kind == CLOSE:
            self.close("client disconnect")
        elif kind == NOOP:
            pass
        else:
            raise ValueError(f"unexpected engine.io packet type {kind!r}")

    def _send_ping(self) -> None:
        self._control(PING)
        self._pong_deadline = self._loop.call_later(self.server.ping_timeout, self._timed_out)
        self._ping = self._loop.call_later(self.server.ping_interval, self._send_ping)

    def _timed_out(self) -> None:
        logger.info("engine.io %s: ping timeout", self.sid)
        self.close("ping timeout")

    # -- polling ------------------------------------------------------------------

    def _wake_poll(self) -> None:
        if self._poll is not None and not self._poll.done():
            self._poll.set_result(None)

    async def _get(self) -> str:
        """A poll: the packets waiting, as soon as there are some."""
        if self._polling:
            self.close("transport error")
            raise _Refused(400, "overlapping polls")
        self._polling = True
        try:
            if not self._buffer:
                self._poll = self._loop.create_future()
                await self._poll
            packets, self._buffer, self._buffered = self._buffer, [], 0
        finally:
            self._polling = False
            self._poll = None
        return SEPARATOR.join(
            p if isinstance(p, str) else "b" + base64.b64encode(p).decode() for p in packets
        )

    def _post(self, body: bytes) -> None:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise _Refused(400, "the body is not UTF-8") from None
        for packet in text.split(SEPARATOR):
            if packet.startswith("b"):
                try:
                    data = base64.b64decode(packet[1:], validate=True)
                except ValueError:
                    raise _Refused(400, "bad base64 in a binary packet") from None
                self.on_message(data)
            elif packet:
                self._packet(packet)


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EngineServer:
    """Engine.IO sessions on one path: :meth:`http` answers the polling requests and
    :meth:`websocket` the WebSocket connections; ``on_open(socket)`` sees each new
    session before its first message.

    Options: ``ping_interval`` and ``ping_timeout`` (seconds),
    ``max_http_buffer_size`` (the largest message or poll body, in bytes: 1 MB as in
    Socket.IO), ``max_buffer`` (what may wait for a slow poller before it is closed:
    1 MiB), ``cors_origins`` (``"*"`` or a list of origins allowed to poll from
    another site; ``None``: no CORS headers, as socket.io's default).
    """

    def __init__(
        self,
        on_open: Callable[[EngineSocket], None],
        *,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_http_buffer_size: int = 1_000_000,
        max_buffer: int = 1 << 20,
        cors_origins: str | Sequence[str] | None = None,
    ) -> None:
        self.on_open = on_open
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_http_buffer_size = max_http_buffer_size
        self.max_buffer = max_buffer
        self.cors_origins = cors_origins
        self.sockets: dict[str, EngineSocket] = {}
        self._closing: set[asyncio.Task[None]] = set()  # WebSockets being closed

    def _handshake(self) -> str:
        return json.dumps(
            {
                "upgrades": ["websocket"],
                "pingInterval": round(self.ping_interval * 1000),
                "pingTimeout": round(self.ping_timeout * 1000),
                "maxPayload": self.max_http_buffer_size,
            },
            separators=(",", ":"),
        )

    def _open(self, request: Request) -> EngineSocket:
        socket = EngineSocket(self, request)
        self.sockets[socket.sid] = socket
        self.on_open(socket)
        return socket

    def _open_packet(self, socket: EngineSocket, upgrades: bool) -> str:
        handshake = json.loads(self._handshake())
        handshake["sid"] = socket.sid
        if not upgrades:
            handshake["upgrades"] = []
        return OPEN + json.dumps(handshake, separators=(",", ":"))

    # -- HTTP long-polling --------------------------------------------------------

    async def http(self, request: Request) -> Response:
        """Answer a polling request (GET, POST, or a CORS preflight)."""
        cors = self._cors(request)
        if request.method == "OPTIONS":
            return Response(204, headers=Headers(cors))
        try:
            query = _query(request)
            if query.get("transport") != "polling":
                raise _Refused(400, "Transport unknown")
            sid = query.get("sid")
            if sid is None:
                if request.method != "GET":
                    raise _Refused(400, "Bad handshake method")
                body = self._open_packet(self._open(request), upgrades=True)
            else:
                socket = self.sockets.get(sid)
                if socket is None:
                    raise _Refused(400, "Session ID unknown")
                if socket.ws is not None:
                    raise _Refused(400, "the session was upgraded to a WebSocket")
                if request.method == "GET":
                    body = await socket._get()
                elif request.method == "POST":
                    if len(request.body) > self.max_http_buffer_size:
                        socket.close("transport error")
                        raise _Refused(413, "payload too large")
                    socket.on_activity()
                    try:
                        socket._post(request.body)
                    except ValueError as exc:
                        socket.close("parse error")
                        raise _Refused(400, str(exc)) from None
                    body = "ok"
                else:
                    raise _Refused(400, "Bad request method")
        except _Refused as exc:
            headers = Headers(cors)
            headers["Content-Type"] = "application/json"
            message = json.dumps({"code": 3, "message": exc.message})
            return Response(exc.status, headers=headers, body=message.encode())
        headers = Headers(cors)
        headers["Content-Type"] = _TEXT
        headers["Cache-Control"] = "no-store"
        return Response(200, headers=headers, body=body.encode())

    def _cors(self, request: Request) -> list[tuple[str, str]]:
        origin = request.headers.get("Origin")
        allowed = self.cors_origins
        if origin is None or allowed is None or (allowed != "*" and origin not in allowed):
            return []
        headers = [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Vary", "Origin"),
        ]
        if request.method == "OPTIONS":
            headers += [
                ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
                (
                    "Access-Control-Allow-Headers",
                    request.headers.get("Access-Control-Request-Headers") or "content-type",
                ),
            ]
        return headers

    # -- WebSocket ----------------------------------------------------------------

    async def websocket(self, ws: WebSocket) -> None:
        """Serve an Engine.IO WebSocket: a new session, or the upgrade of a polling one."""
        assert ws.request is not None
        ws.ping_interval = None  # Engine.IO pings itself
        query = _query(ws.request)
        sid = query.get("sid")
        if query.get("transport") != "websocket":
            await ws.close(1008, "Transport unknown")
            return
        if sid is None:
            socket = self._open(ws.request)
            socket.ws = ws
            ws.send_nowait(self._open_packet(socket, upgrades=False))
        else:
            found = self.sockets.get(sid)
            if found is None or found.ws is not None or found._upgrading:
                await ws.close(1008, "Session ID unknown")
                return
            socket = found
            if not await self._upgrade(socket, ws):
                return
        await self._read(socket, ws)

    async def _upgrade(self, socket: EngineSocket, ws: WebSocket) -> bool:
        """The probe and the switch: True once the session is on ``ws``."""
        socket._upgrading = True
        try:
            probe = await asyncio.wait_for(ws.recv(), self.ping_timeout)
            if probe != PING + "probe":
                await ws.close(1008, "expected 2probe")
                return False
            ws.send_nowait(PONG + "probe")
            socket._control(NOOP)  # ends the poll in flight: the client pauses polling
            upgrade = await asyncio.wait_for(ws.recv(), self.ping_timeout)
        except asyncio.TimeoutError:
            await ws.close(1008, "upgrade timeout")
            return False
        except ConnectionClosed:
            return False
        finally:
            socket._upgrading = False
        if upgrade != UPGRADE or socket.closed:
            await ws.close(1008, "expected 5 (upgrade)")
            return False
        # The poll may hold packets: they go over the WebSocket, in order.
        waiting = [p for p in socket._buffer if p != NOOP]
        socket._buffer, socket._buffered = [], 0
        socket.ws = ws
        socket._wake_poll()
        for packet in waiting:
            ws.send_nowait(packet)
        return True

    async def _read(self, socket: EngineSocket, ws: WebSocket) -> None:
        """Hand the session each message as it arrives (in the protocol's callback:
        no task switch per message), until the connection closes."""
        limit = self.max_http_buffer_size

        def receive(message: Data) -> None:
            if socket.closed:
                return
            if len(message) > limit:
                socket.close("transport error", 1009)
                return
            socket.on_activity()
            try:
                socket._packet(message)
            except ValueError as exc:
                logger.info("engine.io %s: %s", socket.sid, exc)
                socket.close("parse error", 1008)

        ws.set_message_handler(receive)
        try:
            await ws.wait_closed()
        finally:
            ws.set_message_handler(None)
            socket.close("transport close")


def _query(request: Request) -> dict[str, str]:
    return {name: values[0] for name, values in request.query_params.items()}


def _ignore(*_args: Any) -> None:
    pass

"""A :class:`~switchboard.Router` as an ASGI 3 application (``router.asgi()``).

So the router, and a hub mounted on it, runs under uvicorn (``uvicorn app:app``) or
inside FastAPI and Starlette (``app.mount("/rt", hub.asgi())``). HTTP routes get a
:class:`Request` built from the scope; lifespan events run the router's startup
and shutdown hooks.

A WebSocket handler gets a real :class:`~switchboard.WebSocket`, unchanged, so code
written for ``serve()`` (the hub included) runs as it is. Its transport is
:class:`ASGITransport`: the frames the WebSocket writes are decoded back into ASGI
``websocket.send`` messages, and what ``receive()`` brings is framed (and masked,
as a client would) into ``data_received()``. The ASGI server owns the socket, so
what is lost is what needs the socket: ``broadcast()`` cannot write a frame once
to many sockets (each member gets its own ``websocket.send``), there is no
permessage-deflate of Switchboard's own (the ASGI server's applies), and the
WebSocket's keepalive pings are answered here, not by the client (the ASGI
server's own pings, e.g. uvicorn's ``--ws-ping-interval``, and the hub's
app-level heartbeat still detect dead peers).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..protocol import handshake
from ..protocol.connection import Connection, Role, State
from ..protocol.errors import ConnectionClosed, InvalidHandshake
from ..protocol.events import Close, Fragment, Message
from ..protocol.http11 import Headers, Request, Response
from ..protocol.limits import Limits
from ..websocket import WebSocket
from .asgi_host import Receive, Send
from .responses import error_response
from .routing import Router
from .server import check_origin

__all__ = ["ASGIApp", "ASGITransport"]

logger = logging.getLogger("switchboard.asgi")

Scope = MutableMapping[str, Any]

# The frames a WebSocket writes are its own, trusted: no limits on decoding them.
_UNLIMITED = Limits(max_message_size=None, max_frame_size=None, max_fragments=None)


def route_path(scope: Scope) -> str:
    """The scope's raw (percent-encoded) path below its ``root_path``: what a router
    mounted there matches. ``"/"`` for the mount point itself."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else str(scope["path"])
    root = str(scope.get("root_path") or "")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :]
    return path or "/"


def scope_request(scope: Scope, path: str, body: bytes = b"") -> Request:
    """The :class:`Request` that ``scope`` describes, at ``path``."""
    query = scope.get("query_string") or b""
    target = path + ("?" + query.decode("latin-1") if query else "")
    headers = Headers(
        [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
    )
    client = scope.get("client")
    return Request(
        str(scope.get("method", "GET")),
        target,
        headers,
        body,
        "HTTP/" + str(scope.get("http_version", "1.1")),
        client_address=None if client is None else str(client[0]),
    )


class ASGIApp:
    """A :class:`Router` as an ASGI 3 application; :meth:`Router.asgi` makes one.

    ``subprotocols`` (for WebSocket routes without their own), ``origins`` (as in
    :func:`~switchboard.serve`: ``None`` admits browsers from the same host only),
    ``limits`` and the :class:`~switchboard.WebSocket` options (``ping_interval``,
    ``max_queue``, ``write_limit``, ``write_budget``...) mean what they mean for
    ``serve()``. ``/healthz`` and ``/metrics`` are not served: they are the
    Switchboard server's own.
    """

    def __init__(
        self,
        router: Router,
        *,
        subprotocols: tuple[str, ...] = (),
        origins: list[str | None] | None = None,
        limits: Limits = Limits(),
        **websocket_options: Any,
    ) -> None:
        self.router = router
        self.subprotocols = subprotocols
        self.origins = origins
        self.limits = limits
        self.websocket_options = websocket_options

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            raise ValueError(f"unsupported ASGI scope type {kind!r}")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for hook in self.router.startup_hooks:
                        await hook()
                except Exception as exc:
                    logger.exception("startup hook failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in self.router.shutdown_hooks:
                    try:
                        await hook()
                    except Exception:
                        logger.exception("shutdown hook %r failed", hook)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.limits.max_body_size:
                response = error_response(413, "request body too large")
                break
            if not message.get("more_body", False):
                request = scope_request(scope, route_path(scope), bytes(body))
                result = self.router.dispatch(request)
                response = result if isinstance(result, Response) else await result
                break
        head = scope.get("method") == "HEAD"
        if head and "Content-Length" not in response.headers:
            response.headers["Content-Length"] = str(len(response.body))
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (name.lower().encode("latin-1"), value.encode("latin-1"))
                    for name, value in response.headers.items()
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if head else response.body})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        request = scope_request(scope, route_path(scope))
        try:
            route = self.router.websocket_route(request)
            check_origin(self.origins, request)
            offered = handshake.parse_subprotocols(request)
            chosen = handshake.select_subprotocol(offered, route.subprotocols or self.subprotocols)
            if route.subprotocols is not None and chosen is None:
                raise InvalidHandshake(f"this endpoint speaks {', '.join(route.subprotocols)}")
        except InvalidHandshake as exc:
            # Refused before accepting: the ASGI server answers 403.
            logger.info("handshake refused: %s: %s", request.target, exc.reason)
            await send({"type": "websocket.close", "code": 1008, "reason": exc.reason[:120]})
            return
        await send({"type": "websocket.accept", "subprotocol": chosen})
        ws = WebSocket(
            Connection(Role.SERVER, limits=self.limits),
            request=request,
            subprotocol=chosen,
            **self.websocket_options,
        )
        transport = ASGITransport(ws, scope, send)
        ws.connection_made(transport)
        reader = asyncio.ensure_future(transport.read(receive))
        try:
            await _run_handler(ws, route.handler)
        finally:
            reader.cancel()
            await asyncio.wait([transport.sent])  # cancelled by an abort: not our error


async def _run_handler(ws: WebSocket, handler: Callable[[WebSocket], Awaitable[None]]) -> None:
    """Run a WebSocket handler as the server does: 1000 when it returns, 1011 when
    it raises."""
    try:
        await handler(ws)
    except ConnectionClosed:
        pass
    except Exception:
        logger.exception("handler failed for %s", ws.request and ws.request.target)
        await ws.close(1011, "internal error")
    else:
        await ws.close()
    finally:
        await ws.wait_closed()


class ASGITransport(asyncio.Transport):
    """The transport of a :class:`~switchboard.WebSocket` served over ASGI.

    Frames the WebSocket writes are decoded (by a client-side protocol) into ASGI
    messages, sent in order by one task; messages from ``receive()`` are framed by
    that client side into the WebSocket's ``data_received()``. The WebSocket's
    pings are answered here; its close frame becomes ``websocket.close`` with the
    same code and reason, and the peer's ``websocket.disconnect`` a close frame.
    """

    def __init__(self, ws: WebSocket, scope: Scope, send: Send) -> None:
        super().__init__()
        self._ws = ws
        self._send = send
        self._peer = Connection(Role.CLIENT, limits=_UNLIMITED)
        self._extra = {"peername": scope.get("client"), "sockname": scope.get("server")}
        self._loop = asyncio.get_running_loop()
        self._queue: deque[dict[str, Any]] = deque()
        self._queued = 0  # size of the queued messages (characters of text, bytes of binary)
        self._high, self._low = 64 * 1024, 16 * 1024
        self._paused = False  # the WebSocket was told to stop writing
        self._wake = asyncio.Event()
        self._reading = asyncio.Event()
        self._reading.set()
        self._closing = False
        self._gone = False  # the ASGI connection is over: nothing more to send
        self._parts: list[str | bytes] = []
        #: Done when everything queued went out and the WebSocket saw the end.
        self.sent: asyncio.Task[None] = asyncio.ensure_future(self._writer())

    # -- what the WebSocket writes ----------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        peer = self._peer
        peer.receive_data(data)
        for event in peer.events_received():
            if isinstance(event, Message):
                self._queue_message(event.data)
            elif isinstance(event, Fragment):
                self._parts.append(event.data)
                if event.fin:
                    parts, self._parts = self._parts, []
                    self._queue_message(type(parts[0])().join(parts))  # type: ignore[arg-type]
            elif isinstance(event, Close):
                self._queue.append(
                    {"type": "websocket.close", "code": event.code, "reason": event.reason}
                )
                self._wake.set()
            # A Ping's pong is in peer.data_to_send(), fed back below; we never ping.
        self._answer()

    def _queue_message(self, data: str | bytes) -> None:
        if isinstance(data, str):
            self._queue.append({"type": "websocket.send", "text": data})
        else:
            self._queue.append({"type": "websocket.send", "bytes": data})
        self._queued += len(data)
        self._wake.set()
        if self._queued > self._high and not self._paused:
            self._paused = True
            self._ws.pause_writing()

    def _answer(self) -> None:
        """Give the WebSocket what the client side answered (pongs, the close echo),
        on the next loop iteration: it is inside a write now."""
        reply = b"".join(self._peer.data_to_send())
        if reply:
            self._loop.call_soon(self._feed, reply)

    def _feed(self, data: bytes) -> None:
        if self._ws.state is not State.CLOSED:
            self._ws.data_received(data)

    async def _writer(self) -> None:
        queue = self._queue
        try:
            while True:
                while queue:
                    message = queue.popleft()
                    if message["type"] == "websocket.send":
                        self._queued -= len(message.get("text") or message.get("bytes") or b"")
                        if self._paused and self._queued <= self._low:
                            self._paused = False
                            self._ws.resume_writing()
                    if not self._gone:
                        await self._send(message)
                    if message["type"] == "websocket.close":
                        self._gone = True
                if self._closing:
                    break
                self._wake.clear()
                await self._wake.wait()
        except OSError:  # the ASGI server's connection is gone
            self._gone = True
        finally:
            if self._ws.state is not State.CLOSED:
                self._ws.connection_lost(None)

    # -- what the client sends --------------------------------------------------

    async def read(self, receive: Receive) -> None:
        """Feed the WebSocket from ``receive()`` until the client disconnects."""
        peer = self._peer
        while True:
            await self._reading.wait()
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                if peer.close_sent is not None:
                    continue  # the WebSocket closed: what comes after is dropped
                text = message.get("text")
                if text is not None:
                    peer.send_text(text)
                else:
                    peer.send_binary(message.get("bytes") or b"")
            elif kind == "websocket.disconnect":
                self._gone = True
                code = int(message.get("code", 1005))
                if code in (1005, 1006) or peer.close_sent is not None:
                    self.close()  # nothing to say: the WebSocket sees 1006
                    return
                peer.send_close(code, str(message.get("reason") or ""))
            else:
                continue
            data = b"".join(peer.data_to_send())
            if data:
                # From a loop callback, as a socket's data comes: no task is running,
                # so the hub can run a request as its session's worker at once.
                self._loop.call_soon(self._feed, data)
            if kind == "websocket.disconnect":
                self._loop.call_soon(self.close)  # after the close frame is fed
                return

    # -- asyncio.Transport --------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True
        self._wake.set()

    def abort(self) -> None:
        # The writer may be stuck in the ASGI server's send(), behind a client that
        # reads nothing: stop it where it is. The ASGI server closes the connection
        # when the app returns.
        self._closing = self._gone = True
        self._queue.clear()
        self._queued = 0
        self.sent.cancel()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = 64 * 1024 if high is None else high
        self._low = self._high // 4 if low is None else low

    def get_write_buffer_size(self) -> int:
        return self._queued

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    def is_reading(self) -> bool:
        return self._reading.is_set()

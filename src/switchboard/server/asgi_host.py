"""An ASGI application inside Switchboard: ``serve(router, asgi=app)``.

Every HTTP request and WebSocket upgrade the router does not route goes to the
ASGI app (FastAPI, Starlette, Django...), on the same port as the router's routes,
WebSockets and hub, which stay native. The app's lifespan runs around the server:
startup before it accepts connections (a failed startup stops ``serve()``),
shutdown after its connections closed.

An upgrade becomes a native :class:`~switchboard.websocket.WebSocket` once the app
sends ``websocket.accept``; its ``websocket.*`` messages are that WebSocket's
messages. A request body streams to the app as it arrives, reading paused until
the app asks for more, within ``limits.max_body_size``; the response streams out
as the app sends it, with ``Content-Length`` or chunked, and HTTP/1.1 keep-alive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..protocol import handshake
from ..protocol.errors import ConnectionClosed, HandshakeRejected, InvalidHandshake, InvalidHTTP
from ..protocol.http11 import (
    BodyReader,
    Headers,
    Request,
    Response,
    serialize_response,
)
from .responses import error_response, http_date

if TYPE_CHECKING:
    from ..websocket import WebSocket
    from .http import HTTPConnection

__all__ = ["ASGIHost", "ASGIApplication", "LifespanFailed"]

logger = logging.getLogger("switchboard.asgi")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApplication = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]
"""An ASGI 3 application: ``await app(scope, receive, send)``."""

_ASGI = {"version": "3.0", "spec_version": "2.3"}


class LifespanFailed(RuntimeError):
    """The ASGI app's lifespan startup failed (``lifespan.startup.failed``)."""


class ASGIHost:
    """Runs ``app`` for the server: its lifespan, and the requests given to it.

    ``root_path``: the prefix a proxy in front strips (as uvicorn's
    ``--root-path``): it goes into every scope's ``root_path`` and before its
    ``path``.
    """

    def __init__(self, app: ASGIApplication, *, root_path: str = "") -> None:
        if not callable(app):
            raise TypeError(f"asgi must be an ASGI application, not {app!r}")
        if root_path and (not root_path.startswith("/") or root_path.endswith("/")):
            raise ValueError(f"root_path must start with '/' and not end with one: {root_path!r}")
        self.app = app
        self.root_path = root_path
        #: The lifespan state, copied into every request's scope.
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._replies: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan: asyncio.Task[None] | None = None

    # -- lifespan -------------------------------------------------------------------

    async def startup(self) -> None:
        """Run the app's lifespan startup. Raises :class:`LifespanFailed` when the app
        reports it failed; an app without lifespan support is served without."""
        self._lifespan = asyncio.ensure_future(self._run_lifespan())
        await self._inbox.put({"type": "lifespan.startup"})
        reply = await self._replies.get()
        if reply["type"] == "lifespan.startup.failed":
            raise LifespanFailed(f"ASGI lifespan startup failed: {reply.get('message', '')}")
        if reply["type"] != "lifespan.startup.complete":
            logger.info("the ASGI app does not support lifespan: served without it")
            self._lifespan = None

    async def shutdown(self) -> None:
        """Run the app's lifespan shutdown (a failure is logged)."""
        task, self._lifespan = self._lifespan, None
        if task is None:
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        reply = await self._replies.get()
        if reply["type"] != "lifespan.shutdown.complete":
            logger.error("ASGI lifespan shutdown failed: %s", reply.get("message", reply["type"]))
        await asyncio.wait([task], timeout=10)

    async def _run_lifespan(self) -> None:
        scope = {"type": "lifespan", "asgi": _ASGI, "state": self.state}
        try:
            await self.app(scope, self._inbox.get, self._replies.put)
        except Exception as exc:  # no lifespan support, or startup raised without saying
            self._replies.put_nowait({"type": "lifespan.error", "message": repr(exc)})
        else:
            self._replies.put_nowait({"type": "lifespan.ended"})

    # -- HTTP -------------------------------------------------------------------------

    def _scope(self, kind: str, request: Request, conn: HTTPConnection) -> dict[str, Any]:
        """The scope of ``request`` (``kind``: "http" or "websocket")."""
        transport = conn.transport
        assert transport is not None
        peer = transport.get_extra_info("peername")
        port = peer[1] if isinstance(peer, tuple) else 0
        sock = transport.get_extra_info("sockname")
        secure = transport.get_extra_info("sslcontext") is not None
        path = request.path
        return {
            "type": kind,
            "asgi": _ASGI,
            "http_version": request.version[5:],
            "scheme": ("wss" if secure else "ws")
            if kind == "websocket"
            else ("https" if secure else "http"),
            "path": self.root_path + unquote(path),
            "raw_path": (self.root_path + path).encode("latin-1"),
            "query_string": request.query.encode("latin-1"),
            "root_path": self.root_path,
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in request.headers.items()
            ],
            "client": None if request.client_address is None else (request.client_address, port),
            "server": tuple(sock[:2]) if isinstance(sock, tuple) else None,
            "state": dict(self.state),
        }

    async def http(self, request: Request, conn: HTTPConnection) -> None:
        """Answer ``request`` on ``conn`` with the app's response."""
        scope = self._scope("http", request, conn)
        scope["method"] = request.method
        exchange = _Exchange(request, conn)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception:
            if exchange.failed:  # its request body was refused, and it saw http.disconnect
                logger.info("ASGI app stopped: %s %s", request.method, request.target)
            else:
                logger.exception("ASGI app failed: %s %s", request.method, request.target)
            exchange.fail()
            return
        if not exchange.started:
            logger.error("ASGI app sent no response: %s %s", request.method, request.target)
            exchange.fail()
        elif not exchange.done:
            exchange.finish(b"")

    # -- WebSocket --------------------------------------------------------------------

    def websocket(self, request: Request, key: str, conn: HTTPConnection) -> Awaitable[None]:
        """Give the upgrade ``request`` (its handshake checked, ``key`` its key) to the
        app; the result is done once the app accepted or refused it, or the client left."""
        scope = self._scope("websocket", request, conn)
        scope["subprotocols"] = handshake.parse_subprotocols(request)
        session = _WebSocketSession(request, key, conn)
        session.task = asyncio.ensure_future(session.run(self.app, scope))
        conn.server.track(session.task)
        return session.handshake()


class _WebSocketSession:
    """One WebSocket between a client and the app: the handshake, then the messages
    of a native :class:`~switchboard.websocket.WebSocket`."""

    def __init__(self, request: Request, key: str, conn: HTTPConnection) -> None:
        self.request = request
        self.key = key
        self.conn = conn
        self.task: asyncio.Future[None] | None = None  # the app's run
        self.ws: WebSocket | None = None  # once accepted
        self.connected = False  # websocket.connect was received
        self.decided = asyncio.get_running_loop().create_future()  # accepted or refused

    async def run(self, app: ASGIApplication, scope: dict[str, Any]) -> None:
        target = self.request.target
        try:
            await app(scope, self.receive, self.send)
        except Exception:
            if self.ws is not None:
                raise  # the server's handler (_handler) logs it and closes with 1011
            if self._client_gone():
                logger.info("WebSocket client left before the ASGI app accepted: %s", target)
            else:
                logger.exception("ASGI app failed before accepting the WebSocket: %s", target)
                self._refuse(InvalidHandshake("internal server error", 500))
        else:
            if self.ws is None and not self.decided.done() and not self._client_gone():
                logger.error("ASGI app returned without accepting the WebSocket: %s", target)
                self._refuse(InvalidHandshake("internal server error", 500))
        finally:
            if not self.decided.done():
                self.decided.set_result(None)

    async def handshake(self) -> None:
        """Wait until the app accepted or refused, or the client left."""
        await asyncio.wait([self.decided, self.conn.done], return_when=asyncio.FIRST_COMPLETED)

    async def _handler(self, ws: WebSocket) -> None:
        """The accepted WebSocket's handler for the server: the app's run."""
        assert self.task is not None
        await self.task

    def _client_gone(self) -> bool:
        transport = self.conn.transport
        return self.ws is None and (transport is None or transport.is_closing())

    def _refuse(self, exc: InvalidHandshake) -> None:
        if not self.decided.done():
            self.decided.set_result(None)
            self.conn.refuse(self.request, exc)

    async def receive(self) -> Message:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        if self.ws is None:  # nothing comes before the app accepts
            await self.handshake()
        if self.ws is None:
            return {"type": "websocket.disconnect", "code": 1006, "reason": ""}
        try:
            data = await self.ws.recv()
        except ConnectionClosed as exc:
            return {"type": "websocket.disconnect", "code": exc.code, "reason": exc.reason}
        if isinstance(data, str):
            return {"type": "websocket.receive", "text": data}
        return {"type": "websocket.receive", "bytes": data}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        ws = self.ws
        if ws is None:
            if self.decided.done() or self._client_gone():
                raise OSError("the WebSocket is closed")
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":  # a refusal, as uvicorn answers it
                self._refuse(HandshakeRejected("the ASGI app closed the WebSocket", 403))
            else:
                raise RuntimeError(f"ASGI message {kind!r} before websocket.accept")
        elif kind == "websocket.send":
            text, data = message.get("text"), message.get("bytes")
            payload = text if text is not None else data
            if not isinstance(payload, (str, bytes)):
                raise RuntimeError("websocket.send needs 'text' (str) or 'bytes' (bytes)")
            try:
                await ws.send(payload)
            except ConnectionClosed as exc:
                raise OSError(f"the WebSocket is closed: {exc}") from None
        elif kind == "websocket.close":
            await ws.close(int(message.get("code") or 1000), message.get("reason") or "")
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on an accepted WebSocket")

    def _accept(self, message: Message) -> None:
        conn, request = self.conn, self.request
        server = conn.server
        if server.closing:
            self._refuse(HandshakeRejected("server shutting down", 503))
            raise OSError("the server is shutting down")
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and subprotocol not in handshake.parse_subprotocols(request):
            raise RuntimeError(f"websocket.accept: the client did not offer {subprotocol!r}")
        headers = [
            (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
            for name, value in message.get("headers", ())
        ]
        deflate, extensions = conn.negotiate_deflate(request)
        try:
            self.ws = conn.switch(
                request,
                self.key,
                self._handler,
                subprotocol,
                deflate,
                extensions,
                [*server.headers, *headers],
            )
        except ValueError as exc:  # the app's invalid header
            raise RuntimeError(f"invalid websocket.accept from the ASGI app: {exc}") from None
        self.decided.set_result(None)


class _Exchange:
    """One request and its response between an HTTP connection and the app."""

    def __init__(self, request: Request, conn: HTTPConnection) -> None:
        self.request = request
        self.conn = conn
        self.reader: BodyReader | None = None  # a body to stream to the app
        length = _body_length(request)
        if not request.body and length != 0:  # the parser left the body to stream
            self.reader = BodyReader(conn.server.limits, length)
            self.reader.feed(conn.parser.take_remaining())
            conn.body_sink = self._received
        self._arrived: asyncio.Future[None] | None = None  # set when body bytes arrive
        self.failed = False  # refused or dropped: the app's sends go nowhere
        self.started = False  # http.response.start received
        self.done = False  # the response is complete
        self.status = 0
        self.headers = Headers()
        self.chunked = False
        self.close = conn.must_close(request)
        self.size = 0
        self._head_sent = False
        self._body_given = False  # receive() gave the whole request body
        self._held = bytearray()  # HTTP/1.0 without Content-Length: sent whole at the end
        self._over = asyncio.get_running_loop().create_future()  # response done or client gone

    async def receive(self) -> Message:
        if not self._body_given:
            reader = self.reader
            if reader is None:
                self._body_given = True
                return {"type": "http.request", "body": self.request.body, "more_body": False}
            while not self.failed:
                try:
                    piece = reader.take()
                except InvalidHTTP as exc:
                    logger.info("request body refused: %s: %s", self.request.target, exc.reason)
                    self.fail(exc.status, exc.reason)
                    break
                if reader.complete:
                    self._body_given = True
                    self._body_read()
                    return {"type": "http.request", "body": piece, "more_body": False}
                if piece:
                    return {"type": "http.request", "body": piece, "more_body": True}
                if not await self._more():
                    break
            self._body_given = True
            return {"type": "http.disconnect"}
        # Nothing more comes: wait for the end of the response or of the connection.
        await asyncio.wait([self._over, self.conn.done], return_when=asyncio.FIRST_COMPLETED)
        return {"type": "http.disconnect"}

    async def _more(self) -> bool:
        """Read from the client until body bytes arrive: False if it left or was too
        slow (``open_timeout`` between pieces), or the response is over."""
        conn = self.conn
        transport = conn.transport
        if transport is None or transport.is_closing():
            return False
        self._arrived = arrived = asyncio.get_running_loop().create_future()
        transport.resume_reading()  # reading is paused while the app does not ask
        timeout = conn.server.open_timeout
        await asyncio.wait(
            [arrived, conn.done, self._over], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if arrived.done():
            return True
        if not conn.done.done() and not self._over.done():
            logger.info("request body timeout: closing %s", transport.get_extra_info("peername"))
            self.fail(408, "")
        return False

    def _received(self, data: bytes) -> None:
        """Body bytes from the connection: reading pauses until the app asks again."""
        assert self.reader is not None and self.conn.transport is not None
        self.reader.feed(data)
        self.conn.transport.pause_reading()
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    def _body_read(self) -> None:
        """The whole body is read: what came after it is the next request's."""
        assert self.reader is not None
        self.conn.body_sink = None
        leftover = self.reader.take_remaining()
        if leftover:
            self.conn.parser.feed(leftover)

    async def send(self, message: Message) -> None:
        kind = message["type"]
        transport = self.conn.transport
        if self.failed or transport is None or transport.is_closing():
            self._end()
            raise OSError(
                "the request failed" if self.failed else "the client closed the connection"
            )
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            self.status = int(message["status"])
            for name, value in message.get("headers", ()):
                self.headers.add(bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
        elif kind == "http.response.body":
            if not self.started or self.done:
                when = "after the end" if self.done else "before http.response.start"
                raise RuntimeError(f"http.response.body {when}")
            body = bytes(message.get("body", b""))
            if message.get("more_body", False):
                self._write(body, last=False)
                await self.conn.drain()
            else:
                self.finish(body)
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    def _write(self, body: bytes, *, last: bool) -> None:
        transport = self.conn.transport
        assert transport is not None
        headers = self.headers
        out = b""  # one write per message: a write is a send() system call
        if not self._head_sent:
            if "Content-Length" not in headers:
                if last:
                    body = bytes(self._held) + body
                    headers["Content-Length"] = str(len(body))
                elif self.request.version == "HTTP/1.1":
                    self.chunked = True
                    headers["Transfer-Encoding"] = "chunked"
                else:  # HTTP/1.0 has no chunks: hold the body to send it with its length
                    self._held += body
                    return
            self._head_sent = True
            out = self._head()
        if self.request.method != "HEAD":
            self.size += len(body)
            if not self.chunked:
                out += body
            else:
                if body:
                    out += b"%x\r\n%s\r\n" % (len(body), body)
                if last:
                    out += b"0\r\n\r\n"
        if out:
            transport.write(out)

    def _head(self) -> bytes:
        headers = self.headers
        if self.reader is not None and not self.reader.complete:
            self.close = True  # the rest of the body is unread: no next request
        if self.close:
            headers["Connection"] = "close"
        elif self.request.version == "HTTP/1.0":
            headers["Connection"] = "keep-alive"
        if "Date" not in headers:
            headers.add("Date", http_date())
        try:
            return serialize_response(Response(self.status, headers=headers))
        except ValueError as exc:  # the app's invalid status or header
            raise RuntimeError(f"invalid response from the ASGI app: {exc}") from None

    def finish(self, body: bytes) -> None:
        """The last of the body: write it and end the response."""
        self._write(body, last=True)
        self.done = True
        self._end()
        self.conn.finished(self.request, self.status, self.size, self.close)

    def fail(self, status: int = 500, reason: str = "") -> None:
        """The app failed (or the request body did, with ``status``): that error
        response if nothing went out yet, else drop the connection (the client sees a
        truncated response, never a traceback)."""
        self._end()
        transport = self.conn.transport
        if self.failed or self.done or transport is None or transport.is_closing():
            return  # the response went out whole (Starlette sends its 500, then raises)
        self.failed = True
        if self._head_sent:
            self.conn.finished(self.request, self.status, self.size, True)
            transport.abort()
            return
        response = error_response(status, reason, [("Connection", "close")])
        response.headers.add("Date", http_date())
        transport.write(serialize_response(response))
        self.conn.finished(self.request, status, len(response.body), True)

    def _end(self) -> None:
        if not self._over.done():
            self._over.set_result(None)
        if self.reader is not None and not self.reader.complete:
            self.conn.body_sink = None  # the connection closes after this response


def _body_length(request: Request) -> int | None:
    """The body length in a parsed request's headers (they agree), None if chunked."""
    if "Transfer-Encoding" in request.headers:
        return None
    return int(request.headers.get("Content-Length", "0").split(",")[0])

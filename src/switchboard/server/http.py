"""One HTTP/1.1 connection on the server, until it upgrades to WebSocket.

Every TCP connection starts here: requests are parsed once each (keep-alive,
pipelining answered in order), plain requests go to the server's routes, WebSocket
upgrade requests get the opening handshake, and on success the transport is handed
to a :class:`~switchboard.websocket.WebSocket` for the rest of its life. This is the
"upgrade strategy": HTTP and WebSocket share one port.

``open_timeout`` bounds how long the connection may wait for each complete request
(an idle keep-alive connection included) and for the whole WebSocket handshake;
a plain request's handler runs without that bound.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from ..protocol import handshake
from ..protocol.connection import Connection, Role
from ..protocol.deflate import PerMessageDeflate, server_negotiate
from ..protocol.errors import HandshakeRejected, InvalidHandshake, InvalidHTTP
from ..protocol.http11 import Request, RequestParser, Response, serialize_response
from ..websocket import WebSocket
from .responses import error_response, http_date

if TYPE_CHECKING:
    from .routing import WebSocketHandler, WebSocketRoute
    from .server import Server

__all__ = ["HTTPConnection"]

logger = logging.getLogger("switchboard.server")
access_log = logging.getLogger("switchboard.http")

# After a response that closes the connection, the client may still be sending: the
# rest of a request refused as too large, or more pipelined requests. Closing with
# unread input makes the kernel reset the connection, and the client may never read
# the response. So we half-close, then read and discard, for at most this long after
# the response went out and at most this many bytes, until the client closes.
LINGER_TIME = 1.0
LINGER_SIZE = 1024 * 1024


class HTTPConnection(asyncio.Protocol):
    """The protocol of a server connection before (or instead of) the upgrade."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.parser = RequestParser(server.limits)
        self.transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        #: Done when the connection closed or became a WebSocket.
        self.done: asyncio.Future[None] = self._loop.create_future()
        self._busy = False  # a request is being handled asynchronously
        self._closing = False  # shutdown: close after the response in progress
        self._task: asyncio.Future[None] | None = None  # finishing an async answer
        self._hooking = False  # that task awaits a handshake hook
        self._over_capacity = False  # beyond max_connections: answer 503
        self._timer: asyncio.TimerHandle | None = None
        self._started = 0.0  # when the current request arrived, for the access log
        self._discard: int | None = None  # closing: how many more bytes to read and drop
        self._writable: asyncio.Future[None] | None = None  # set while writing is paused
        #: Takes the bytes received while an ASGI app reads a request body.
        self.body_sink: Callable[[bytes], None] | None = None
        if server.asgi is not None:  # the app's request bodies stream, as they arrive
            self.parser.stream_body = self._for_asgi

    # -- asyncio.Protocol callbacks ---------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._over_capacity = not self.server.accept(self)
        if self.server.closing:  # accepted just before the listening socket closed
            self.transport.close()
            return
        self._start_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self.resume_writing()  # a response streaming out stops at its next write
        if self._hooking and self._task is not None:
            # Nobody is left to upgrade. (A plain handler, though, runs to the end:
            # stopping it halfway could leave its work half done.)
            self._hooking = False
            self.server.metrics.handshakes["failed"] += 1
            self._task.cancel()
        self._release()

    def data_received(self, data: bytes) -> None:
        if self._discard is not None:
            self._discard -= len(data)
            if self._discard < 0 and self.transport is not None:
                self.transport.abort()  # it sent too much after being told we close
            return
        if self.body_sink is not None:
            self.body_sink(data)
            return
        self.parser.feed(data)
        if not self._busy:
            self._process()

    def pause_writing(self) -> None:
        self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    def eof_received(self) -> bool | None:
        # Reading is paused while a request is handled, so this comes after its
        # response, or in the middle of a body an ASGI app reads: nothing is left to
        # answer.
        return None

    # -- what the server asks ---------------------------------------------------

    def shutdown(self) -> None:
        """Close now if idle, else once the response in progress is sent."""
        if self._busy:
            self._closing = True
        elif self.transport is not None:
            self.transport.close()

    async def drain(self) -> None:
        """Wait until the transport's buffer is below its limit (a streamed response)."""
        if self._writable is not None:
            await self._writable

    def must_close(self, request: Request | None) -> bool:
        """Whether the connection closes after the response to ``request``."""
        return (
            request is None  # unparsable: the stream cannot be resynchronized
            or not request.keep_alive
            or self._closing
            or self.server.closing
            or self._over_capacity
        )

    def finished(self, request: Request | None, status: int, size: int, close: bool) -> None:
        """A response went out: log it, then close or wait for the next request."""
        self._record(request, status, size)
        if close:
            self._linger()
        else:
            self._start_timer()

    # -- internals --------------------------------------------------------------

    def _release(self) -> None:
        self.server.forget(self)
        if not self.done.done():
            self.done.set_result(None)

    def _start_timer(self) -> None:
        if self.server.open_timeout is not None and self._timer is None:
            self._timer = self._loop.call_later(self.server.open_timeout, self._timeout)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timeout(self) -> None:
        self._timer = None
        if self.transport is not None and not self.transport.is_closing():
            logger.info("request timeout: closing %s", self._peer())
            self.transport.abort()

    def _peer(self) -> object:
        return None if self.transport is None else self.transport.get_extra_info("peername")

    def _process(self) -> None:
        """Handle buffered requests in order, until one needs to wait or upgrades."""
        transport = self.transport
        while (
            transport is not None
            and not transport.is_closing()
            and not self.done.done()
            and self._discard is None
        ):
            try:
                request = self.parser.next_request()
            except InvalidHTTP as exc:
                self._started = self._loop.time()
                self._send(None, error_response(exc.status, exc.reason))
                return
            if request is None:
                return
            self._started = self._loop.time()
            request.client_address = self.server.client_address(request, self._peer())
            pending = self._handle(request)
            if pending is not None:
                self._busy = True
                transport.pause_reading()
                self._task = asyncio.ensure_future(self._finish(pending))
                self.server.track(self._task)
                return

    async def _finish(self, pending: Awaitable[None]) -> None:
        try:
            await pending
        finally:
            self._busy = False
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()  # also when a WebSocket owns it now
            if not self.done.done():
                self._process()

    def _for_asgi(self, request: Request) -> bool:
        """Whether ``request`` goes to the ASGI app (the routes match it first)."""
        return not handshake.is_websocket_request(request) and not self.server.routes(request)

    def _handle(self, request: Request) -> Awaitable[None] | None:
        """Answer one request; return an awaitable when that must wait for a handler."""
        server = self.server
        websocket = handshake.is_websocket_request(request)
        if self._over_capacity or server.closing:
            why = "shutting down" if server.closing else "at capacity"
            if websocket:
                self._refuse(request, HandshakeRejected(f"server {why}", 503))
            else:
                self._send(request, error_response(503, f"server {why}"))
            return None
        if websocket:
            return self._handshake(request)
        self._stop_timer()
        if server.asgi is not None and not server.routes(request):
            return server.asgi.http(request, self)
        response = server.respond(request)
        if inspect.isawaitable(response):
            return self._send_later(request, response)
        self._send(request, response)
        return None

    async def _send_later(self, request: Request, pending: Awaitable[Response]) -> None:
        response = await pending
        if self.transport is not None and not self.transport.is_closing():
            self._send(request, response)

    def _send(self, request: Request | None, response: Response, *, close: bool = False) -> None:
        """Write a response; close after it when the request, an error or shutdown asks."""
        transport = self.transport
        assert transport is not None
        close = close or self.must_close(request)
        headers = response.headers
        if close:
            option = headers.get("Connection")
            if option is None:
                headers["Connection"] = "close"
            elif "close" not in option.lower():
                headers["Connection"] = f"{option}, close"
        elif request is not None and request.version == "HTTP/1.0":
            headers["Connection"] = "keep-alive"
        if "Date" not in headers:
            headers.add("Date", http_date())
        if request is not None and request.method == "HEAD" and response.body:
            if "Content-Length" not in headers:
                headers["Content-Length"] = str(len(response.body))
            response.body = b""
        try:
            data = serialize_response(response)
        except ValueError:  # a handler's invalid status or header
            logger.exception("invalid response to %s", _request_line(request))
            response = error_response(500, "", [("Connection", "close")])
            data = serialize_response(response)
            close = True
        transport.write(data)
        self.finished(request, response.status, len(response.body), close)

    def _linger(self) -> None:
        """Close after the response without resetting the connection.

        Half-close, so the client reads the response then EOF, and read and discard
        what it still sends until it closes too; at most LINGER_SIZE bytes and
        LINGER_TIME seconds after the response is out (TLS cannot half-close: there
        the client stops at Content-Length).
        """
        transport = self.transport
        assert transport is not None
        self._stop_timer()
        self._discard = LINGER_SIZE
        if transport.can_write_eof():
            transport.write_eof()  # after what is buffered
        transport.resume_reading()  # a no-op unless an async answer paused it
        self._timer = self._loop.call_later(LINGER_TIME, self._linger_over)

    def _linger_over(self) -> None:
        transport = self.transport
        self._timer = None
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size():  # a large response still going out
            self._timer = self._loop.call_later(LINGER_TIME, self._linger_over)
        else:
            transport.close()  # unread input, if any, now resets the connection

    def _record(self, request: Request | None, status: int, size: int) -> None:
        self.server.metrics.http_response(status)
        if not access_log.isEnabledFor(logging.INFO):  # skip the formatting per request
            return
        peer = self._peer()
        client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else peer
        if request is not None and isinstance(peer, tuple) and request.client_address != peer[0]:
            client = request.client_address  # forwarded by a trusted proxy
        access_log.info(
            '%s "%s" %d %d %.1fms',
            client,
            _request_line(request),
            status,
            size,
            (self._loop.time() - self._started) * 1000,
        )

    # -- the WebSocket handshake ------------------------------------------------

    def _handshake(self, request: Request) -> Awaitable[None] | None:
        server = self.server
        try:
            if server.asgi is not None and not server.routes(request):
                # Switchboard's routes come first; an upgrade none matches is the app's.
                return server.asgi.websocket(request, handshake.check_request(request), self)
            route = server.router.websocket_route(request)
            key = handshake.check_request(request)
            server.check_origin(request)
            hook = server.process_request
            result = None if hook is None else hook(request)
        except InvalidHandshake as exc:
            self._refuse(request, exc)
            return None
        except Exception:
            self._hook_failed(request)
            return None
        if inspect.isawaitable(result):
            self._hooking = True
            return self._handshake_after(result, request, key, route)
        self._answer(result, request, key, route)
        return None

    async def _handshake_after(
        self,
        pending: Awaitable[Response | None],
        request: Request,
        key: str,
        route: WebSocketRoute,
    ) -> None:
        try:
            result = await pending
        except InvalidHandshake as exc:
            result = None
            refusal: InvalidHandshake | None = exc
        except Exception:
            self._hooking = False
            self._hook_failed(request)
            return
        else:
            refusal = None
        self._hooking = False
        if self.transport is None or self.transport.is_closing():
            self.server.metrics.handshakes["failed"] += 1  # the client left, or timed out
        elif refusal is not None:
            self._refuse(request, refusal)
        else:
            self._answer(result, request, key, route)

    def _answer(
        self, result: Response | None, request: Request, key: str, route: WebSocketRoute
    ) -> None:
        """Act on what ``process_request`` returned: a response refuses, None accepts."""
        if result is None:
            self._upgrade(request, key, route)
        else:
            self.server.metrics.handshakes["rejected"] += 1
            self._send(request, result, close=True)

    def _hook_failed(self, request: Request) -> None:
        logger.exception("handshake hook failed for %s", _request_line(request))
        self._refuse(request, InvalidHandshake("internal server error", 500))

    def _refuse(self, request: Request, exc: InvalidHandshake) -> None:
        outcome = "rejected" if isinstance(exc, HandshakeRejected) else "failed"
        self.server.metrics.handshakes[outcome] += 1
        logger.info(
            "handshake %s: %s from %s: %d %s",
            outcome,
            _request_line(request),
            self._peer(),
            exc.status,
            exc.reason,
        )
        self._send(request, handshake.reject(exc.status, exc.body, exc.headers), close=True)

    def _upgrade(self, request: Request, key: str, route: WebSocketRoute) -> None:
        server = self.server
        if server.closing:  # an async hook finished after shutdown began
            self._refuse(request, HandshakeRejected("server shutting down", 503))
            return
        try:
            subprotocol = server.choose_subprotocol(request, route)
            deflate, extensions = self.negotiate_deflate(request)
        except InvalidHandshake as exc:
            self._refuse(request, exc)
            return
        except Exception:  # select_subprotocol failed
            self._hook_failed(request)
            return
        self.switch(request, key, route.handler, subprotocol, deflate, extensions, server.headers)

    def negotiate_deflate(self, request: Request) -> tuple[PerMessageDeflate | None, str | None]:
        """The permessage-deflate codec and response header for ``request``'s offers,
        or ``(None, None)``."""
        if self.server.compression is not None:
            offers = handshake.parse_extensions(request.headers.get_all("Sec-WebSocket-Extensions"))
            accepted = server_negotiate(offers, self.server.compression)
            if accepted is not None:
                params, deflate = accepted
                return deflate, handshake.serialize_extensions([("permessage-deflate", params)])
        return None, None

    def refuse(self, request: Request, exc: InvalidHandshake) -> None:
        """Refuse the handshake of ``request`` with ``exc``'s status, then close."""
        self._refuse(request, exc)

    def switch(
        self,
        request: Request,
        key: str,
        handler: WebSocketHandler,
        subprotocol: str | None,
        deflate: PerMessageDeflate | None,
        extensions: str | None,
        headers: handshake.HeadersLike,
    ) -> WebSocket:
        """Send the 101 and hand the transport to a new WebSocket running ``handler``."""
        server = self.server
        transport = self.transport
        assert transport is not None
        response = handshake.build_response(
            key, subprotocol=subprotocol, extensions=extensions, extra_headers=headers
        )
        self._stop_timer()
        transport.write(serialize_response(response))
        server.metrics.handshakes["accepted"] += 1
        self._record(request, 101, 0)
        ws = WebSocket(
            Connection(Role.SERVER, deflate=deflate, limits=server.limits),
            request=request,
            response=response,
            subprotocol=subprotocol,
            **server.websocket_options,
        )
        # The WebSocket keeps the request for the application (ws.request); its
        # headers are rarely read again: drop their index, half their memory.
        request.headers.compact()
        leftover = self.parser.take_remaining()
        self._release()
        transport.set_protocol(ws)
        ws.connection_made(transport)
        if leftover:
            ws.data_received(leftover)
        server.start_handler(ws, handler, transport)
        return ws


def _request_line(request: Request | None) -> str:
    return "-" if request is None else f"{request.method} {request.target} {request.version}"

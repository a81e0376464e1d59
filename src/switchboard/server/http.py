"""One HTTP/1.1 connection on the server, until it upgrades to WebSocket.

Every TCP connection starts here: requests are parsed (keep-alive, pipelining in
order), WebSocket upgrade requests get the opening handshake, and on success the
transport is handed to a :class:`~switchboard.websocket.WebSocket` for the rest of
its life. This is the "upgrade strategy": HTTP and WebSocket share one port.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import TYPE_CHECKING, cast

from ..protocol import handshake
from ..protocol.connection import Connection, Role
from ..protocol.deflate import server_negotiate
from ..protocol.errors import InvalidHandshake, InvalidHTTP
from ..protocol.http11 import Request, RequestParser, Response, serialize_response
from ..websocket import WebSocket

if TYPE_CHECKING:
    from .server import Server

__all__ = ["HTTPConnection"]

logger = logging.getLogger("switchboard.server")


class HTTPConnection(asyncio.Protocol):
    """The protocol of a server connection before (or instead of) the upgrade."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.parser = RequestParser(server.limits)
        self.transport: asyncio.Transport | None = None
        self._busy = False  # a request is being handled asynchronously
        self._timer: asyncio.TimerHandle | None = None
        self._pending: asyncio.Future[None] | None = None  # the request being handled

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if self.server.open_timeout is not None:
            # A client that never completes its request (slow headers) is dropped.
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.server.open_timeout, self._timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        if not self._busy:
            self._process()

    def eof_received(self) -> bool | None:
        return None

    def _timeout(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            logger.info("handshake timeout: closing %s", self._peer())
            self.transport.abort()

    def _peer(self) -> object:
        return None if self.transport is None else self.transport.get_extra_info("peername")

    def _process(self) -> None:
        """Handle buffered requests in order, until one needs to wait or upgrades."""
        transport = self.transport
        while transport is not None and not transport.is_closing():
            try:
                request = self.parser.next_request()
            except InvalidHTTP as exc:
                self._respond(handshake.reject(exc.status, exc.reason), close=True)
                return
            if request is None:
                return
            result = self._handle(request)
            if inspect.isawaitable(result):
                self._busy = True
                transport.pause_reading()
                self._pending = asyncio.ensure_future(self._finish(result))
                return
            if result is None:  # upgraded: the WebSocket owns the transport now
                return

    async def _finish(self, pending: object) -> None:
        try:
            await pending  # type: ignore[misc]
        finally:
            self._busy = False
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()  # also when a WebSocket owns it now
            if transport.get_protocol() is self:
                self._process()

    def _respond(self, response: Response, *, close: bool = False) -> None:
        assert self.transport is not None
        if close and "Connection" not in response.headers:
            response.headers["Connection"] = "close"
        self.transport.write(serialize_response(response))
        if close:
            self.transport.close()

    def _handle(self, request: Request) -> object:
        """Answer one request. Returns ``None`` after an upgrade, an awaitable when a
        hook must be awaited, and ``True`` when the connection stays in HTTP."""
        if not handshake.is_websocket_request(request):
            self._respond(self.server.http_response(request), close=not request.keep_alive)
            return True
        try:
            key = handshake.check_request(request)
            self.server.check_origin(request)
            hook = self.server.process_request
            result = None if hook is None else hook(request)
        except InvalidHandshake as exc:
            self._refuse(request, exc)
            return True
        if inspect.isawaitable(result):
            return self._upgrade_after(result, request, key)
        if result is not None:
            self._respond(result, close=True)
            return True
        self._upgrade(request, key)
        return None

    async def _upgrade_after(self, pending: object, request: Request, key: str) -> None:
        try:
            result = await pending  # type: ignore[misc]
        except InvalidHandshake as exc:
            self._refuse(request, exc)
            return
        if self.transport is None or self.transport.is_closing():
            return
        if result is not None:
            self._respond(result, close=True)
            return
        self._upgrade(request, key)

    def _refuse(self, request: Request, exc: InvalidHandshake) -> None:
        logger.info(
            "handshake refused: %s %s from %s: %d %s",
            request.method,
            request.target,
            self._peer(),
            exc.status,
            exc.reason,
        )
        self._respond(handshake.reject(exc.status, exc.body, exc.headers), close=True)

    def _upgrade(self, request: Request, key: str) -> None:
        server = self.server
        transport = self.transport
        assert transport is not None
        try:
            subprotocol = server.choose_subprotocol(request)
            deflate = extensions = None
            if server.compression is not None:
                offers = handshake.parse_extensions(
                    request.headers.get_all("Sec-WebSocket-Extensions")
                )
                accepted = server_negotiate(offers, server.compression)
                if accepted is not None:
                    params, deflate = accepted
                    extensions = handshake.serialize_extensions([("permessage-deflate", params)])
        except InvalidHandshake as exc:
            self._refuse(request, exc)
            return
        response = handshake.build_response(
            key, subprotocol=subprotocol, extensions=extensions, extra_headers=server.headers
        )
        if self._timer is not None:
            self._timer.cancel()
        transport.write(serialize_response(response))
        ws = WebSocket(
            Connection(Role.SERVER, deflate=deflate, limits=server.limits),
            request=request,
            response=response,
            subprotocol=subprotocol,
            **server.websocket_options,
        )
        leftover = self.parser.take_remaining()
        transport.set_protocol(ws)
        ws.connection_made(transport)
        if leftover:
            ws.data_received(leftover)
        server.start_handler(ws)

"""``connect()``: the asyncio WebSocket client."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from ..protocol import handshake
from ..protocol.connection import Connection, Role
from ..protocol.deflate import DeflateOptions, client_accept, client_offer
from ..protocol.errors import InvalidHandshake, InvalidHTTP
from ..protocol.http11 import Request, ResponseParser, serialize_request
from ..protocol.limits import Limits
from ..websocket import WebSocket
from .uri import parse_uri

__all__ = ["connect"]


class _ClientHandshake(asyncio.Protocol):
    """Sends the upgrade request, reads the response, then hands over to a WebSocket."""

    def __init__(self, client: connect, request: Request, key: str) -> None:
        self.client = client
        self.request = request
        self.key = key
        self.parser = ResponseParser(client.limits)
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[WebSocket] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(serialize_request(self.request))

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        self._advance()

    def eof_received(self) -> bool | None:
        self.parser.feed_eof()
        self._advance()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            reason = f": {exc}" if exc else ""
            self.done.set_exception(
                InvalidHandshake(f"connection closed during the opening handshake{reason}", 0)
            )

    def _advance(self) -> None:
        if self.done.done():
            return
        assert self.transport is not None
        try:
            response = self.parser.next_response()
            if response is None:
                return
            subprotocol = handshake.check_response(
                response, self.key, subprotocols=self.client.subprotocols
            )
            deflate = None
            if self.client.compression is not None:
                extensions = handshake.parse_extensions(
                    response.headers.get_all("Sec-WebSocket-Extensions")
                )
                deflate = client_accept(extensions, self.client.compression)
            elif "Sec-WebSocket-Extensions" in response.headers:
                raise InvalidHandshake("server accepted an extension that was not offered", 0)
        except (InvalidHandshake, InvalidHTTP) as exc:
            if isinstance(exc, InvalidHTTP):
                exc = InvalidHandshake(f"invalid HTTP response: {exc.reason}", 0)
            self.done.set_exception(exc)
            self.transport.close()
            return
        ws = WebSocket(
            Connection(Role.CLIENT, deflate=deflate, limits=self.client.limits),
            request=self.request,
            response=response,
            subprotocol=subprotocol,
            **self.client.websocket_options,
        )
        leftover = self.parser.take_remaining()
        self.transport.set_protocol(ws)
        ws.connection_made(self.transport)
        if leftover:
            ws.data_received(leftover)
        self.done.set_result(ws)


class connect:
    """Open a WebSocket connection; use ``await connect(uri)`` or ``async with``.

    Example::

        async with connect("ws://127.0.0.1:8765/") as ws:
            await ws.send("Hello")
            print(await ws.recv())

    Keyword-only options, grouped by concern:

    * WebSocket: ``subprotocols`` to offer; ``compression``: the permessage-deflate
      offer (:class:`~switchboard.DeflateOptions`, on by default) or ``None``.
    * HTTP: ``origin``; ``headers``: extra request headers; ``user_agent``.
    * TLS: ``ssl``: an :class:`ssl.SSLContext` (wss:// uses a default context that
      verifies certificates and hostnames); ``server_hostname`` to override SNI.
    * Timeouts: ``open_timeout`` (10 s: TCP, TLS and the handshake),
      ``ping_interval``, ``ping_timeout``, ``close_timeout``.
    * Limits: ``limits`` (see :class:`~switchboard.Limits`), ``max_queue``,
      ``write_limit``.

    Raises :class:`~switchboard.InvalidURI` for a bad URI, :class:`OSError` when the
    server cannot be reached, :class:`TimeoutError` after ``open_timeout``, and
    :class:`~switchboard.InvalidHandshake` (with the server's status and body) when
    the server refuses the upgrade.
    """

    def __init__(
        self,
        uri: str,
        *,
        subprotocols: Sequence[str] = (),
        compression: DeflateOptions | None = DeflateOptions(),
        origin: str | None = None,
        headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        user_agent: str | None = "switchboard",
        ssl: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
        open_timeout: float | None = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 10.0,
        limits: Limits = Limits(),
        max_queue: int = 16,
        write_limit: int = 64 * 1024,
    ) -> None:
        self.uri = parse_uri(uri)
        self.subprotocols = list(subprotocols)
        self.compression = compression
        self.origin = origin
        self.headers = list(headers.items() if isinstance(headers, Mapping) else headers)
        self.user_agent = user_agent
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.open_timeout = open_timeout
        self.limits = limits
        self.websocket_options: dict[str, Any] = dict(
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )
        self._ws: WebSocket | None = None

    def _request(self) -> tuple[Request, str]:
        headers = list(self.headers)
        uri = self.uri
        if uri.username is not None:
            import base64

            token = base64.b64encode(f"{uri.username}:{uri.password}".encode()).decode()
            headers.append(("Authorization", f"Basic {token}"))
        extensions = None
        if self.compression is not None:
            extensions = handshake.serialize_extensions([client_offer(self.compression)])
        return handshake.build_request(
            uri.host_header,
            uri.resource,
            origin=self.origin,
            subprotocols=self.subprotocols,
            extensions=extensions,
            extra_headers=headers,
            user_agent=self.user_agent,
        )

    async def _create(self) -> WebSocket:
        request, key = self._request()
        uri = self.uri
        ssl_context: ssl_module.SSLContext | None = None
        if uri.secure:
            ssl_context = self.ssl or ssl_module.create_default_context()
        elif self.ssl is not None:
            raise ValueError("ssl was given but the URI is ws://; use wss://")
        self._ws = await asyncio.wait_for(self._open(request, key, ssl_context), self.open_timeout)
        return self._ws

    async def _open(
        self, request: Request, key: str, ssl_context: ssl_module.SSLContext | None
    ) -> WebSocket:
        uri = self.uri
        _, protocol = await asyncio.get_running_loop().create_connection(
            lambda: _ClientHandshake(self, request, key),
            uri.host,
            uri.port,
            ssl=ssl_context,
            server_hostname=(self.server_hostname or uri.host) if ssl_context else None,
        )
        try:
            return await protocol.done
        except BaseException:
            if protocol.transport is not None:
                protocol.transport.abort()
            raise

    def __await__(self) -> Any:
        return self._create().__await__()

    async def __aenter__(self) -> WebSocket:
        return await self._create()

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._ws is not None
        await self._ws.close()

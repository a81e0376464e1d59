"""``serve()``: the asyncio WebSocket server."""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from ..protocol import handshake
from ..protocol.deflate import DeflateOptions
from ..protocol.errors import ConnectionClosed, HandshakeRejected
from ..protocol.http11 import Headers, Request, Response
from ..protocol.limits import Limits
from ..websocket import WebSocket
from .http import HTTPConnection

__all__ = ["serve", "Server", "Handler"]

logger = logging.getLogger("switchboard.server")

Handler = Callable[[WebSocket], Awaitable[None]]
"""A WebSocket handler: a coroutine function taking the connection."""

ProcessRequest = Callable[[Request], "Response | Awaitable[Response | None] | None"]


class Server:
    """A running server; :func:`serve` creates it.

    ``connections`` holds the open WebSocket connections. ``port`` is the port the
    first socket listens on (handy with ``port=0``).
    """

    def __init__(
        self,
        handler: Handler,
        *,
        process_request: ProcessRequest | None,
        origins: Sequence[str | None] | None,
        subprotocols: Sequence[str],
        select_subprotocol: Callable[[Request, Sequence[str]], str | None] | None,
        compression: DeflateOptions | None,
        limits: Limits,
        open_timeout: float | None,
        headers: Iterable[tuple[str, str]],
        websocket_options: dict[str, Any],
    ) -> None:
        self.handler = handler
        self.process_request = process_request
        self.origins = origins
        self.subprotocols = list(subprotocols)
        self.select_subprotocol = select_subprotocol
        self.compression = compression
        self.limits = limits
        self.open_timeout = open_timeout
        self.headers = list(headers)
        self.websocket_options = websocket_options
        self.connections: set[WebSocket] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._closed = asyncio.get_running_loop().create_future()

    # -- what the HTTP connection asks ------------------------------------------

    def http_response(self, request: Request) -> Response:
        """The answer to a plain HTTP request: this server only speaks WebSocket."""
        return handshake.reject(
            426,
            "This is a WebSocket server: connect with a WebSocket client.",
            [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")],
        )

    def check_origin(self, request: Request) -> None:
        """Refuse the handshake (403) when ``origins`` is set and the Origin is not in it."""
        if self.origins is None:
            return
        origin = request.headers.get("Origin")
        if origin not in self.origins:
            raise HandshakeRejected(f"origin not allowed: {origin}")

    def choose_subprotocol(self, request: Request) -> str | None:
        offered = handshake.parse_subprotocols(request)
        if self.select_subprotocol is not None:
            return self.select_subprotocol(request, offered)
        return handshake.select_subprotocol(offered, self.subprotocols)

    def start_handler(self, ws: WebSocket) -> None:
        task = asyncio.get_running_loop().create_task(self._run_handler(ws))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_handler(self, ws: WebSocket) -> None:
        self.connections.add(ws)
        request = ws.request
        path = request.target if request is not None else "?"
        logger.info("connection open: %s %s", ws.remote_address, path)
        start = asyncio.get_running_loop().time()
        try:
            await self.handler(ws)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("handler failed for %s %s", ws.remote_address, path)
            await ws.close(1011, "internal error")
        else:
            await ws.close()
        finally:
            await ws.wait_closed()
            self.connections.discard(ws)
            closed = ws.protocol.closed_exception()
            logger.info(
                "connection closed: %s %s code=%d reason=%r duration=%.3fs",
                ws.remote_address,
                path,
                closed.code,
                closed.reason,
                asyncio.get_running_loop().time() - start,
            )

    # -- lifecycle --------------------------------------------------------------

    async def _start(self, host: str | None, port: int, **kwargs: Any) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: HTTPConnection(self), host, port, **kwargs)

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The listening sockets."""
        return () if self._server is None else tuple(self._server.sockets)

    @property
    def port(self) -> int:
        """The port of the first listening socket."""
        return int(self.sockets[0].getsockname()[1])

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` is called (or the task is cancelled)."""
        await asyncio.shield(self._closed)

    def close(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Stop accepting connections and close every open one with ``code``.

        Returns at once; :meth:`wait_closed` waits until every connection is closed.
        """
        if self._server is not None:
            self._server.close()
        for ws in list(self.connections):
            task = asyncio.ensure_future(ws.close(code, reason))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until the server and all its connections and handlers are done."""
        if self._server is not None:
            await self._server.wait_closed()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class serve:
    """Start a WebSocket server; use it as ``await serve(...)`` or ``async with serve(...)``.

    ``handler`` is called with each new :class:`~switchboard.WebSocket`; the
    connection closes (1000) when it returns, and with 1011 if it raises.

    Example::

        async def echo(ws):
            async for message in ws:
                await ws.send(message)

        async with serve(echo, "127.0.0.1", 8765) as server:
            await server.serve_forever()

    Keyword-only options, grouped by concern:

    * WebSocket: ``subprotocols`` (server preference order) or ``select_subprotocol``
      ``(request, offered) -> str | None``; ``compression``: a
      :class:`~switchboard.DeflateOptions` (the default) or ``None`` to refuse it.
    * HTTP: ``process_request(request)`` may return a :class:`Response` (or raise
      :class:`~switchboard.HandshakeRejected`) to refuse the handshake, sync or async;
      ``origins``: allowed Origin values (``None`` in the list admits requests
      without one); ``headers``: extra response headers; ``ssl``: an
      :class:`ssl.SSLContext` for wss://.
    * Timeouts: ``open_timeout`` (10 s for the whole handshake), ``ping_interval``,
      ``ping_timeout``, ``close_timeout`` (see :class:`~switchboard.WebSocket`).
    * Limits: ``limits`` (see :class:`~switchboard.Limits`), ``max_queue``,
      ``write_limit``.
    """

    def __init__(
        self,
        handler: Handler,
        host: str | None = None,
        port: int = 0,
        *,
        subprotocols: Sequence[str] = (),
        select_subprotocol: Callable[[Request, Sequence[str]], str | None] | None = None,
        compression: DeflateOptions | None = DeflateOptions(),
        process_request: ProcessRequest | None = None,
        origins: Sequence[str | None] | None = None,
        headers: Iterable[tuple[str, str]] | Headers = (),
        ssl: ssl_module.SSLContext | None = None,
        open_timeout: float | None = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 10.0,
        limits: Limits = Limits(),
        max_queue: int = 16,
        write_limit: int = 64 * 1024,
        backlog: int = 1024,
        reuse_port: bool | None = None,
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._options: dict[str, Any] = dict(
            process_request=process_request,
            origins=origins,
            subprotocols=subprotocols,
            select_subprotocol=select_subprotocol,
            compression=compression,
            limits=limits,
            open_timeout=open_timeout,
            headers=headers.items() if isinstance(headers, Headers) else headers,
            websocket_options=dict(
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                close_timeout=close_timeout,
                max_queue=max_queue,
                write_limit=write_limit,
            ),
        )
        self._create_kwargs: dict[str, Any] = dict(ssl=ssl, backlog=backlog, reuse_port=reuse_port)
        self._server: Server | None = None

    async def _create(self) -> Server:
        server = Server(self._handler, **self._options)
        await server._start(self._host, self._port, **self._create_kwargs)
        self._server = server
        return server

    def __await__(self) -> Any:
        return self._create().__await__()

    async def __aenter__(self) -> Server:
        return await self._create()

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

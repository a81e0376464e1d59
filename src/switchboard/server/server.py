"""``serve()`` and ``run()``: the asyncio server, its limits and its graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from ..protocol import handshake
from ..protocol.connection import State
from ..protocol.deflate import DeflateOptions
from ..protocol.errors import ConnectionClosed, HandshakeRejected, effective_close
from ..protocol.http11 import Headers, Request, Response
from ..protocol.limits import Limits
from ..websocket import WebSocket
from .asgi_host import ASGIApplication, ASGIHost
from .forwarded import IPAddress, IPNetwork, TrustedProxies
from .http import HTTPConnection
from .memory import MemoryTrimmer
from .metrics import CONTENT_TYPE, Metrics
from .responses import json_response
from .routing import Router, WebSocketHandler, WebSocketRoute

__all__ = ["serve", "run", "tls_context", "Server"]

logger = logging.getLogger("switchboard.server")

ProcessRequest = Callable[[Request], "Response | Awaitable[Response | None] | None"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _same_origin(origin: str, host: str) -> bool:
    """Whether ``origin`` names the host and port the client connected to (``host``).

    A Host without a port matches the Origin scheme's default port, so a browser on
    https://example.com passes behind a proxy that terminates TLS.
    """
    try:
        theirs, ours = urlsplit(origin), urlsplit(f"//{host}")
        default = _DEFAULT_PORTS.get(theirs.scheme)
        if default is None or not theirs.hostname:  # "null", file://, ...
            return False
        return theirs.hostname == ours.hostname and (theirs.port or default) == (
            ours.port or default
        )
    except ValueError:  # an invalid port
        return False


def _shown(value: str) -> str:
    """A client's header value as a refusal quotes it: as is when short, printable
    ASCII, else cut and escaped. The reason is a response body and a log line."""
    if len(value) <= 60 and value.isascii() and value.isprintable():
        return value
    return handshake._show(value)


def check_origin(origins: Sequence[str | None] | None, request: Request) -> None:
    """Refuse the handshake (403) from an origin that is not allowed.

    With ``origins=None`` a request carrying an Origin must come from the same
    host and port (its Host header); requests without one (non-browser clients)
    pass. Otherwise the Origin must be listed (``"*"``: any; ``None``: absent).
    """
    origin = request.headers.get("Origin")
    if origins is None:
        host = request.headers.get("Host", "")
        if origin is not None and not _same_origin(origin, host):
            raise HandshakeRejected(
                f"cross-origin WebSocket refused: Origin {_shown(origin)} is not "
                f"{_shown(host)}; allow it with serve(origins=[...])"
            )
    elif "*" not in origins and origin not in origins:
        raise HandshakeRejected(f"origin not allowed: {_shown(str(origin))}")


class Server:
    """A running server; :func:`serve` creates it.

    ``connections`` holds the open WebSocket connections, ``metrics`` the counters
    behind ``/metrics``. ``port`` is the port the first socket listens on (handy
    with ``port=0``).
    """

    def __init__(
        self,
        app: Router | WebSocketHandler,
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
        max_connections: int | None,
        shutdown_timeout: float | None,
        health_path: str | None,
        metrics_path: str | None,
        trusted_proxies: TrustedProxies,
        asgi: ASGIHost | None,
    ) -> None:
        if isinstance(app, Router):
            self.router = app
        else:  # a plain handler: every path is a WebSocket endpoint
            self.router = Router()
            self.router.websocket("/{path:path}")(app)
        self.process_request = process_request
        self.origins = origins
        self.subprotocols = list(subprotocols)
        self.select_subprotocol = select_subprotocol
        self.compression = compression
        self.limits = limits
        self.open_timeout = open_timeout
        self.headers = list(headers)
        self.websocket_options = websocket_options
        self.max_connections = max_connections
        self.shutdown_timeout = shutdown_timeout
        self.trusted_proxies = trusted_proxies
        #: The ASGI app answering the HTTP requests no route matches, if any.
        self.asgi = asgi
        self.metrics = Metrics()
        #: Gives freed memory back to the system after many connections closed.
        self.memory = MemoryTrimmer()
        self.connections: set[WebSocket] = set()
        self.closing = False
        # Health and metrics get a router of their own: the app's stays as given.
        self._builtin = Router()
        self._builtin_paths: set[str] = set()
        for path, endpoint in ((health_path, self._health), (metrics_path, self._metrics)):
            if path is not None:
                self._builtin.get(path)(endpoint)
                self._builtin_paths.add(path)
        self._transports: dict[WebSocket, asyncio.Transport] = {}  # to abort at the deadline
        self._http: set[HTTPConnection] = set()
        self._tasks: set[asyncio.Future[None]] = set()
        self._server: asyncio.Server | None = None
        self._loop = asyncio.get_running_loop()
        self._closed = self._loop.create_future()
        self._finished: asyncio.Future[None] | None = None  # wait_closed's one run
        self._deadline: float | None = None
        self._aborted = False
        self._port = 0

    # -- what the HTTP connections ask ------------------------------------------

    def accept(self, conn: HTTPConnection) -> bool:
        """Count a new TCP connection; False when it exceeds ``max_connections``."""
        limit = self.max_connections
        full = limit is not None and len(self._http) + len(self.connections) >= limit
        self._http.add(conn)
        return not full

    def forget(self, conn: HTTPConnection) -> None:
        """A connection closed or became a WebSocket."""
        self._http.discard(conn)

    def track(self, task: asyncio.Future[None]) -> None:
        """Keep ``task`` until done; shutdown waits for it, then cancels it."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def routes(self, request: Request) -> bool:
        """Whether the server's own routes (health, metrics, the router's) match."""
        return request.path in self._builtin_paths or self.router.routes(request.path)

    def respond(self, request: Request) -> Response | Awaitable[Response]:
        """The answer to a plain HTTP request: health, metrics, else the router's."""
        router = self._builtin if request.path in self._builtin_paths else self.router
        return router.dispatch(request)

    def client_address(self, request: Request, peer: object) -> str | None:
        """The client's IP address: the TCP ``peer``'s (its peername), or the one a
        trusted proxy forwarded in ``request``'s headers."""
        host = peer[0] if isinstance(peer, tuple) else None
        return self.trusted_proxies.client_address(host, request.headers)

    def _health(self, request: Request) -> Response:
        checks = [check() for check in self.router.health_checks]
        status = "ok" if all(check.get("ok", True) for check in checks) else "degraded"
        body: dict[str, Any] = {"status": status, "connections": len(self.connections)}
        if checks:
            body["components"] = checks
        return json_response(body, headers=[("Cache-Control", "no-store")])

    def _metrics(self, request: Request) -> Response:
        text = self.metrics.render(self.connections, len(self._http))
        text += "".join(source() for source in self.router.metrics_sources)
        return Response(200, headers=Headers({"Content-Type": CONTENT_TYPE}), body=text.encode())

    def check_origin(self, request: Request) -> None:
        """Refuse the handshake (403) from an origin that is not allowed (see
        :func:`check_origin`)."""
        check_origin(self.origins, request)

    def choose_subprotocol(self, request: Request, route: WebSocketRoute) -> str | None:
        offered = handshake.parse_subprotocols(request)
        required = route.subprotocols
        if required is not None:  # the route speaks only these
            chosen = handshake.select_subprotocol(offered, required)
            if chosen is None:
                raise HandshakeRejected(
                    f"this endpoint speaks {', '.join(required)}: "
                    "offer it in Sec-WebSocket-Protocol",
                    400,
                )
            return chosen
        if self.select_subprotocol is not None:
            return self.select_subprotocol(request, offered)
        return handshake.select_subprotocol(offered, self.subprotocols)

    def start_handler(
        self, ws: WebSocket, handler: WebSocketHandler, transport: asyncio.Transport
    ) -> None:
        self.connections.add(ws)
        self._transports[ws] = transport
        self.track(self._loop.create_task(self._run_handler(ws, handler)))

    async def _run_handler(self, ws: WebSocket, handler: WebSocketHandler) -> None:
        request = ws.request
        path = request.target if request is not None else "?"
        # Per connection, so the log lines' arguments (the peer's address, from the
        # transport) are computed only when INFO is on.
        if logger.isEnabledFor(logging.INFO):
            logger.info("connection open: %s %s", ws.remote_address, path)
        start = self._loop.time()
        try:
            await handler(ws)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("handler failed for %s %s", ws.remote_address, path)
            await ws.close(1011, "internal error")
        else:
            await ws.close()
        finally:
            if ws.state is not State.CLOSED:  # else close() above has waited for it
                await ws.wait_closed()
            self.connections.discard(ws)
            self._transports.pop(ws, None)
            conn = ws.protocol
            closed = effective_close(conn.close_rcvd, conn.close_sent)
            self.metrics.connection_closed(ws, closed.code)
            self.memory.connection_closed(ws)
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "connection closed: %s %s code=%d reason=%r duration=%.3fs",
                    ws.remote_address,
                    path,
                    closed.code,
                    closed.reason,
                    self._loop.time() - start,
                )

    # -- lifecycle --------------------------------------------------------------

    async def _start(self, host: str | None, port: int, **kwargs: Any) -> None:
        if self.asgi is not None:  # before listening, as ASGI servers do: no request early
            await self.asgi.startup()
        try:
            self._server = await self._loop.create_server(
                lambda: HTTPConnection(self), host, port, **kwargs
            )
            self._port = int(self._server.sockets[0].getsockname()[1])
            try:
                for hook in self.router.startup_hooks:
                    await hook()
            except BaseException:
                self._server.close()  # a component could not start: neither does the server
                raise
        except BaseException:
            if self.asgi is not None:
                await self.asgi.shutdown()
            raise

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The listening sockets."""
        return () if self._server is None else tuple(self._server.sockets)

    @property
    def port(self) -> int:
        """The port of the first listening socket (also after :meth:`close`)."""
        return self._port

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` is called (or the task is cancelled)."""
        await asyncio.shield(self._closed)

    def close(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Start a graceful shutdown; returns at once (:meth:`wait_closed` waits).

        Stops accepting connections, closes idle HTTP keep-alive connections (busy
        ones after their response) and every WebSocket with ``code`` (1001 "going
        away"; 1012 "service restart" tells clients to come back), after running the
        router's closing hooks (:meth:`Router.add_closing`). Whatever is still
        open ``shutdown_timeout`` seconds later is aborted. Calling it again does
        nothing.
        """
        if self.closing:
            return
        self.closing = True
        if self.shutdown_timeout is not None:
            self._deadline = self._loop.time() + self.shutdown_timeout
        if self._server is not None:
            self._server.close()
        for hook in self.router.closing_hooks:
            try:
                hook()
            except Exception:
                logger.exception("closing hook %r failed", hook)
        for conn in list(self._http):
            conn.shutdown()
        for ws in list(self.connections):
            self.track(asyncio.ensure_future(ws.close(code, reason)))
        self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until :meth:`close` was called and every connection and handler is done,
        aborting what is left at the shutdown deadline. The shutdown hooks run once,
        however many times and places this is awaited."""
        if self._finished is None:
            self._finished = asyncio.ensure_future(self._finish())
        await asyncio.shield(self._finished)

    async def _finish(self) -> None:
        await asyncio.shield(self._closed)
        while pending := self._pending():
            timeout = None if self._deadline is None else self._deadline - self._loop.time()
            if timeout is not None and timeout <= 0:
                self.abort()
                timeout = None  # aborted connections and cancelled tasks end promptly
            await asyncio.wait(pending, timeout=timeout)
        if self._server is not None:
            await self._server.wait_closed()
        for hook in self.router.shutdown_hooks:
            try:
                await hook()
            except Exception:
                logger.exception("shutdown hook %r failed", hook)
        if self.asgi is not None:
            await self.asgi.shutdown()

    def _pending(self) -> set[asyncio.Future[None]]:
        return self._tasks | {conn.done for conn in self._http}

    def abort(self) -> None:
        """Drop every connection at once and cancel every handler still running.

        :meth:`wait_closed` does this at the shutdown deadline.
        """
        self.close()
        if self._aborted:
            return
        self._aborted = True
        self._deadline = self._loop.time()
        pending = len(self._transports) + len(self._http)
        logger.warning("shutdown: aborting %d connections and %d tasks", pending, len(self._tasks))
        for transport in [*self._transports.values(), *(c.transport for c in self._http)]:
            if transport is not None:
                transport.abort()
        for task in self._tasks:
            task.cancel()


class serve:
    """Start a server; use it as ``await serve(...)`` or ``async with serve(...)``.

    ``app`` is a :class:`~switchboard.Router` (HTTP routes, WebSocket routes,
    static files), or a WebSocket handler that serves every path. A handler is
    called with each new :class:`~switchboard.WebSocket`; the connection closes
    (1000) when it returns, and with 1011 if it raises.

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
      ``origins``: allowed Origin values (default ``None``: same origin as the Host
      header, or no Origin at all; ``"*"`` admits any; ``None`` in the list admits
      requests without one); ``headers``: extra handshake response headers;
      ``ssl``: an :class:`ssl.SSLContext` for wss:// and https:// (see
      :func:`tls_context`); ``health_path`` (``"/healthz"``) and ``metrics_path``
      (``"/metrics"``), ``None`` to disable.
    * ASGI: ``asgi``, an ASGI 3 app (FastAPI, Starlette...) answering every plain
      HTTP request that no route matches, its lifespan run around the server;
      ``root_path`` for its scopes (see :mod:`switchboard.server.asgi_host`).
    * Behind a reverse proxy: ``trusted_proxies``, the proxies' IP addresses and
      networks (``["127.0.0.1", "10.0.0.0/8"]``; default none). From those,
      ``X-Forwarded-For`` and ``Forwarded`` are believed, read right to left, and
      give ``request.client_address`` and the access log's address.
    * Timeouts: ``open_timeout`` (10 s: for each request to arrive, WebSocket
      handshake included, and for an idle keep-alive connection),
      ``shutdown_timeout`` (10 s), ``ping_interval``, ``ping_timeout``,
      ``close_timeout`` (see :class:`~switchboard.WebSocket`).
    * Limits: ``max_connections`` (10,000 TCP connections, HTTP and WebSocket;
      beyond it 503), ``limits`` (see :class:`~switchboard.Limits`), ``max_queue``,
      ``write_limit``, ``write_budget`` (see :class:`~switchboard.WebSocket`).
    """

    def __init__(
        self,
        app: Router | WebSocketHandler,
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
        health_path: str | None = "/healthz",
        metrics_path: str | None = "/metrics",
        open_timeout: float | None = 10.0,
        shutdown_timeout: float | None = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 10.0,
        max_connections: int | None = 10_000,
        limits: Limits = Limits(),
        max_queue: int = 16,
        write_limit: int = 64 * 1024,
        write_budget: int = 1024 * 1024,
        backlog: int = 1024,
        reuse_port: bool | None = None,
        trusted_proxies: Iterable[str | IPAddress | IPNetwork] = (),
        asgi: ASGIApplication | None = None,
        root_path: str = "",
    ) -> None:
        self._app = app
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
                write_budget=write_budget,
            ),
            max_connections=max_connections,
            shutdown_timeout=shutdown_timeout,
            health_path=health_path,
            metrics_path=metrics_path,
            trusted_proxies=TrustedProxies(trusted_proxies),  # ValueError now, not at start
            asgi=None if asgi is None else ASGIHost(asgi, root_path=root_path),
        )
        self._create_kwargs: dict[str, Any] = dict(ssl=ssl, backlog=backlog, reuse_port=reuse_port)
        self._server: Server | None = None

    async def _create(self) -> Server:
        server = Server(self._app, **self._options)
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


def run(
    app: Router | WebSocketHandler,
    host: str | None = "127.0.0.1",
    port: int = 8000,
    *,
    uvloop: bool = False,
    **options: Any,
) -> None:
    """Run a server until SIGTERM or SIGINT, shut it down gracefully, and return.

    Example::

        switchboard.run(router, "0.0.0.0", 8000, shutdown_timeout=30)

    ``options`` are those of :func:`serve`. The first signal starts the graceful
    shutdown (:meth:`Server.close`: WebSockets get 1001, the rest is aborted after
    ``shutdown_timeout``); a second one aborts at once (:meth:`Server.abort`).
    ``uvloop=True`` runs on uvloop (``pip install switchboard-ws[uvloop]``). Logs
    "listening on ..." at INFO on ``switchboard.server``.
    """
    if uvloop:
        import uvloop as uvloop_module

        uvloop_module.run(_run(app, host, port, options))
    else:
        asyncio.run(_run(app, host, port, options))


async def _run(app: Router | WebSocketHandler, host: str | None, port: int, options: Any) -> None:
    server = await serve(app, host, port, **options)
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if not server.closing:
            logger.info("%s: shutting down", signal.Signals(signum).name)
            server.close()
        else:
            logger.warning("%s again: aborting now", signal.Signals(signum).name)
            server.abort()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        scheme = "http" if options.get("ssl") is None else "https"
        for sock in server.sockets:
            address, bound_port = sock.getsockname()[:2]
            address = f"[{address}]" if ":" in address else address
            logger.info("listening on %s://%s:%d", scheme, address, bound_port)
        await server.serve_forever()
        await server.wait_closed()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        server.close()


def tls_context(
    certfile: str, keyfile: str | None = None, *, password: str | None = None
) -> ssl_module.SSLContext:
    """A server TLS context from PEM files, for ``serve(ssl=...)``: wss:// and https://.

    Example::

        serve(router, "0.0.0.0", 443, ssl=tls_context("cert.pem", "key.pem"))

    ``certfile`` holds the certificate chain (and the key when ``keyfile`` is None).
    Python's secure defaults apply (TLS 1.2 or later); ALPN offers http/1.1.
    Raises FileNotFoundError, or ssl.SSLError naming the files that do not load.
    """
    context = ssl_module.create_default_context(ssl_module.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile, password)
    except ssl_module.SSLError as exc:
        raise ssl_module.SSLError(
            f"cannot load certificate {certfile!r} with key {keyfile or certfile!r}: {exc}"
        ) from exc
    context.set_alpn_protocols(["http/1.1"])
    return context

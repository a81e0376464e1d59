"""``connect()``: the asyncio WebSocket client, with proxies, redirects and reconnection."""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal, cast

from ..protocol import handshake
from ..protocol.connection import Connection, Role
from ..protocol.deflate import DeflateOptions
from ..protocol.errors import InvalidHandshake, InvalidHTTP
from ..protocol.handshake import HeadersLike
from ..protocol.http11 import Response, ResponseParser, serialize_request
from ..protocol.limits import Limits
from ..websocket import WebSocket
from .handshake import ClientOptions
from .proxy import ProxyURI, check_connect_response, connect_request
from .reconnect import Backoff, is_transient
from .uri import WebSocketURI, parse_uri

__all__ = ["connect"]

logger = logging.getLogger("switchboard.client")


class _Handshake(asyncio.Protocol):
    """Sends the upgrade request and reads the response; ``accept`` turns the response
    into a WebSocket (which takes the transport over) or a redirect target."""

    def __init__(
        self,
        request: bytes,
        limits: Limits,
        accept: Callable[[Response], WebSocket | WebSocketURI],
    ) -> None:
        self.request = request
        self.parser = ResponseParser(limits)
        self.accept = accept
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[WebSocket | WebSocketURI] = (
            asyncio.get_running_loop().create_future()
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

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
                ConnectionError(f"server closed the connection during the handshake{reason}")
            )

    def _advance(self) -> None:
        if self.done.done():
            return
        assert self.transport is not None
        try:
            response = self.parser.next_response()
            if response is None:
                return
            result = self.accept(response)
        except (InvalidHandshake, InvalidHTTP) as exc:
            if isinstance(exc, InvalidHTTP):
                exc = InvalidHandshake(f"invalid HTTP response: {exc.reason}", 0)
            self.done.set_exception(exc)
            self.transport.close()
            return
        if isinstance(result, WebSocket):
            # Synchronously, so that no byte nor EOF can slip in between.
            leftover = self.parser.take_remaining()
            self.transport.set_protocol(result)
            result.connection_made(self.transport)
            if leftover:
                result.data_received(leftover)
        else:
            self.transport.close()
        self.done.set_result(result)


class _Tunnel(asyncio.Protocol):
    """Asks an HTTP proxy to CONNECT to ``uri``; ``done`` once the tunnel is open."""

    def __init__(self, proxy: ProxyURI, uri: WebSocketURI, user_agent: str | None) -> None:
        self.proxy = proxy
        self.uri = uri
        self.request = serialize_request(connect_request(proxy, uri, user_agent))
        self.parser = ResponseParser(head=True)
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        assert self.transport is not None
        self.parser.feed(data)
        try:
            response = self.parser.next_response()
            if response is None:
                return
            check_connect_response(response, self.parser.take_remaining(), self.proxy, self.uri)
        except (InvalidHandshake, InvalidHTTP) as exc:
            if isinstance(exc, InvalidHTTP):
                exc = InvalidHandshake(f"invalid HTTP response from proxy: {exc.reason}", 0)
            self.done.set_exception(exc)
            self.transport.close()
            return
        self.transport.pause_reading()  # until the handshake's protocol takes over
        self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(
                ConnectionError(f"proxy {self.proxy} closed the connection before answering")
            )


class connect:
    """Open a WebSocket connection: ``await connect(uri)``, ``async with connect(uri)``,
    or ``async for`` to reconnect automatically.

    Example::

        async with connect("ws://127.0.0.1:8765/") as ws:
            await ws.send("Hello")
            print(await ws.recv())

    Reconnecting: ``async for`` yields a new connection each time the previous one
    closes (or the body of the loop moves on), waiting a random, growing delay
    between attempts; it retries on network errors, timeouts and HTTP 429/5xx
    answers, and raises on anything else (see :func:`.reconnect.is_transient`)::

        async for ws in connect("wss://example.com/feed"):
            try:
                async for message in ws:
                    handle(message)
            except ConnectionClosed:
                continue  # reconnect

    Keyword-only options, grouped by concern:

    * WebSocket: ``subprotocols`` to offer; ``compression``: the permessage-deflate
      offer (:class:`~switchboard.DeflateOptions`, on by default) or ``None``.
    * HTTP: ``origin``; ``headers``: extra request headers; ``user_agent``;
      ``max_redirects`` (10) 301/302/303/307/308 answers to follow. Credentials in
      the URI (``ws://user:pass@host/``) are sent as Basic authentication.
    * Proxy: ``proxy``: ``True`` (default) takes an HTTP CONNECT proxy from the
      environment (``https_proxy``/``http_proxy``/``all_proxy``, ``no_proxy``),
      a URL ``"http://user:pass@host:port"`` names one, ``None`` connects directly.
    * TLS: ``ssl``: an :class:`ssl.SSLContext` (wss:// uses a default context that
      verifies certificates and hostnames); ``server_hostname`` to override SNI.
    * Timeouts: ``open_timeout`` (10 s: proxy, TCP, TLS, redirects and handshake),
      ``ping_interval``, ``ping_timeout``, ``close_timeout``.
    * Limits: ``limits`` (see :class:`~switchboard.Limits`), ``max_queue``,
      ``write_limit``.
    * Escape hatch: ``connection_factory(role, *, deflate, limits)`` builds the
      sans-I/O :class:`~switchboard.protocol.Connection` (a subclass can observe
      every frame: the CLI's ``--trace`` does).
    * Reconnection (``async for`` only): ``backoff_min`` (0.5 s), ``backoff_max``
      (30 s), ``backoff_factor`` (1.6); see :class:`.reconnect.Backoff`.

    Raises :class:`~switchboard.InvalidURI` for a bad URI and
    :class:`~switchboard.InvalidProxy` for a bad proxy URL (at once),
    :class:`OSError` when the server or proxy cannot be reached,
    :class:`TimeoutError` after ``open_timeout``, :class:`~switchboard.ProxyError`
    when the proxy refuses the tunnel, :class:`~switchboard.RedirectError` for a
    redirect it will not follow, and :class:`~switchboard.InvalidHandshake` (with
    the server's status and body) when the server refuses the upgrade.
    """

    def __init__(
        self,
        uri: str,
        *,
        subprotocols: Sequence[str] = (),
        compression: DeflateOptions | None = DeflateOptions(),
        origin: str | None = None,
        headers: HeadersLike = (),
        user_agent: str | None = handshake.PRODUCT,
        max_redirects: int = 10,
        proxy: str | Literal[True] | None = True,
        ssl: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
        open_timeout: float | None = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 10.0,
        limits: Limits = Limits(),
        max_queue: int = 16,
        write_limit: int = 64 * 1024,
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        backoff_factor: float = 1.6,
        connection_factory: Callable[..., Connection] = Connection,
    ) -> None:
        self.uri = parse_uri(uri)
        self.connection_factory = connection_factory
        self.options = ClientOptions(
            self.uri,
            subprotocols=subprotocols,
            compression=compression,
            origin=origin,
            headers=headers,
            user_agent=user_agent,
            ssl=ssl,
            server_hostname=server_hostname,
            proxy=proxy,
            max_redirects=max_redirects,
            limits=limits,
        )
        self.open_timeout = open_timeout
        self.backoff = Backoff(backoff_min, backoff_max, backoff_factor)
        self.websocket_options: dict[str, Any] = dict(
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )
        self._ws: WebSocket | None = None

    async def _create(self) -> WebSocket:
        try:
            self._ws = await asyncio.wait_for(self._follow_redirects(), self.open_timeout)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            raise TimeoutError(
                f"could not open {self.uri.url} within open_timeout={self.open_timeout} s"
            ) from None
        return self._ws

    async def _follow_redirects(self) -> WebSocket:
        uri = self.uri
        hops = 0
        while True:  # ClientOptions.redirect raises after max_redirects
            result = await self._open(uri, hops)
            if isinstance(result, WebSocket):
                return result
            logger.debug("redirected from %s to %s", uri.url, result.url)
            uri, hops = result, hops + 1

    async def _open(self, uri: WebSocketURI, hops: int) -> WebSocket | WebSocketURI:
        """One attempt at ``uri``: a WebSocket, or where the server redirects to."""
        options = self.options
        loop = asyncio.get_running_loop()
        request, key = options.request(uri)

        def accept(response: Response) -> WebSocket | WebSocketURI:
            target = options.redirect(uri, response, hops)
            if target is not None:
                return target
            subprotocol, deflate = options.accept(response, key)
            return WebSocket(
                self.connection_factory(Role.CLIENT, deflate=deflate, limits=options.limits),
                request=request,
                response=response,
                subprotocol=subprotocol,
                **self.websocket_options,
            )

        protocol = _Handshake(serialize_request(request), options.limits, accept)
        ssl_context, server_hostname = options.tls(uri)
        proxy = options.proxy_for(uri)
        tunnel: asyncio.Transport | None = None
        try:
            if proxy is None:
                await loop.create_connection(
                    lambda: protocol,
                    uri.host,
                    uri.port,
                    ssl=ssl_context,
                    server_hostname=server_hostname,
                )
            else:
                tunnel = await self._tunnel(proxy, uri)
                if ssl_context is None:
                    tunnel.set_protocol(protocol)
                    protocol.connection_made(tunnel)
                    tunnel.resume_reading()
                else:
                    transport = await loop.start_tls(
                        tunnel, protocol, ssl_context, server_hostname=server_hostname
                    )
                    assert transport is not None  # None only when the loop is closing
                    protocol.connection_made(transport)
            return await protocol.done
        except BaseException:
            for transport in (protocol.transport, tunnel):
                if transport is not None:
                    transport.abort()
            raise

    async def _tunnel(self, proxy: ProxyURI, uri: WebSocketURI) -> asyncio.Transport:
        """A TCP connection to the proxy, tunnelled to ``uri``'s host and port."""
        transport, tunnel = await asyncio.get_running_loop().create_connection(
            lambda: _Tunnel(proxy, uri, self.options.user_agent), proxy.host, proxy.port
        )
        try:
            await tunnel.done
        except BaseException:
            transport.abort()
            raise
        return transport

    def __await__(self) -> Any:
        return self._create().__await__()

    async def __aenter__(self) -> WebSocket:
        return await self._create()

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._ws is not None
        await self._ws.close()

    async def __aiter__(self) -> AsyncIterator[WebSocket]:
        """Yield a connection, then a new one after each disconnect, forever.

        Breaking out of the loop closes the current connection (in the background:
        ``await ws.close()`` first to wait for it). An error that is not transient
        ends the loop by propagating.
        """
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                ws = await self._create()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                delay = self.backoff.delay(attempt)
                attempt += 1
                logger.info(
                    "cannot connect to %s: %s; retry %d in %.2f s",
                    self.uri.url,
                    _describe(exc),
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            opened = loop.time()
            try:
                yield ws
            finally:
                await ws.close()
            # A connection that lived long was healthy: start the delays over.
            if loop.time() - opened >= self.backoff.max_delay:
                attempt = 0
            delay = self.backoff.delay(attempt)
            attempt += 1
            logger.info(
                "connection to %s closed (%s); retry %d in %.2f s",
                self.uri.url,
                ws.protocol.closed_exception(),
                attempt,
                delay,
            )
            await asyncio.sleep(delay)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

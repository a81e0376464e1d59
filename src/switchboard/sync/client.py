"""``connect()`` for threaded code: blocking sockets, no event loop."""

from __future__ import annotations

import socket
import ssl as ssl_module
import time
from collections.abc import Sequence
from typing import Any, Literal

from ..client.handshake import ClientOptions
from ..client.proxy import check_connect_response, connect_request
from ..client.uri import WebSocketURI, parse_uri
from ..protocol import handshake
from ..protocol.connection import Connection, Role
from ..protocol.deflate import DeflateOptions
from ..protocol.errors import InvalidHandshake, InvalidHTTP
from ..protocol.handshake import HeadersLike
from ..protocol.http11 import Response, ResponseParser, serialize_request
from ..protocol.limits import Limits
from .websocket import WebSocket

__all__ = ["connect"]


def connect(
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
    ping_interval: float | None = None,
    ping_timeout: float | None = 20.0,
    close_timeout: float = 10.0,
    limits: Limits = Limits(),
    max_queue: int = 16,
) -> WebSocket:
    """Open a WebSocket connection from threaded code; use it as a context manager.

    Example::

        from switchboard.sync import connect

        with connect("ws://127.0.0.1:8765/") as ws:
            ws.send("Hello")
            print(ws.recv(timeout=5))
            for message in ws:  # until the server closes
                print(message)

    The options are those of :class:`switchboard.connect` (no reconnection, no
    ``write_limit``: :meth:`~WebSocket.send` blocks until the socket takes the
    bytes), except that ``ping_interval`` defaults to ``None``: the reader thread
    answers the server's pings at once, so the server's keepalive works without
    ours; set it to also detect a dead server (at the cost of a second thread).

    Raises the same errors as :class:`switchboard.connect`.
    """
    options = ClientOptions(
        parse_uri(uri),
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
    deadline = None if open_timeout is None else time.monotonic() + open_timeout
    websocket_options: dict[str, Any] = dict(
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        close_timeout=close_timeout,
        max_queue=max_queue,
    )
    target, hops = options.uri, 0
    try:
        while True:  # ClientOptions.redirect raises after max_redirects
            result = _open(options, target, hops, deadline, websocket_options)
            if isinstance(result, WebSocket):
                return result
            target, hops = result, hops + 1
    except TimeoutError as exc:
        if deadline is None or time.monotonic() < deadline:
            raise  # a timeout of the operating system's, not ours
        raise TimeoutError(
            f"could not open {options.uri.url} within open_timeout={open_timeout} s"
        ) from exc


def _open(
    options: ClientOptions,
    uri: WebSocketURI,
    hops: int,
    deadline: float | None,
    websocket_options: dict[str, Any],
) -> WebSocket | WebSocketURI:
    """One attempt at ``uri``: a WebSocket, or where the server redirects to."""
    request, key = options.request(uri)
    proxy = options.proxy_for(uri)
    address = (uri.host, uri.port) if proxy is None else (proxy.host, proxy.port)
    sock = socket.create_connection(address, _remaining(deadline))
    try:
        if proxy is not None:
            sock.sendall(serialize_request(connect_request(proxy, uri, options.user_agent)))
            parser = ResponseParser(head=True)
            response = _read_response(sock, parser, deadline, f"proxy {proxy}")
            check_connect_response(response, parser.take_remaining(), proxy, uri)
        ssl_context, server_hostname = options.tls(uri)
        if ssl_context is not None:
            sock.settimeout(_remaining(deadline))
            sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname)
        sock.settimeout(_remaining(deadline))
        sock.sendall(serialize_request(request))
        parser = ResponseParser(options.limits)
        response = _read_response(sock, parser, deadline, "server")
        target = options.redirect(uri, response, hops)
        if target is not None:
            sock.close()
            return target
        subprotocol, deflate = options.accept(response, key)
        sock.settimeout(None)
        ws = WebSocket(
            sock,
            Connection(Role.CLIENT, deflate=deflate, limits=options.limits),
            request=request,
            response=response,
            subprotocol=subprotocol,
            **websocket_options,
        )
    except BaseException:
        sock.close()
        raise
    ws._start(parser.take_remaining())
    return ws


def _remaining(deadline: float | None) -> float | None:
    """Seconds left before ``deadline``, for socket timeouts; raise once it passed."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:  # settimeout(0) would make the socket non-blocking
        raise TimeoutError("open_timeout expired")
    return left


def _read_response(
    sock: socket.socket, parser: ResponseParser, deadline: float | None, peer: str
) -> Response:
    """Receive until ``parser`` has a whole response."""
    try:
        while (response := parser.next_response()) is None:
            sock.settimeout(_remaining(deadline))
            data = sock.recv(65536)
            if data:
                parser.feed(data)
                continue
            parser.feed_eof()
            response = parser.next_response()  # a body that ends at EOF, or an error
            if response is None:
                raise ConnectionError(f"{peer} closed the connection during the handshake")
            return response
    except InvalidHTTP as exc:
        raise InvalidHandshake(f"invalid HTTP response from {peer}: {exc.reason}", 0) from None
    return response

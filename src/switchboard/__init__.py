"""Switchboard: real-time web applications over WebSockets.

The asyncio API in four names::

    import switchboard

    async def echo(ws: switchboard.WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    async with switchboard.serve(echo, "127.0.0.1", 8765) as server:
        async with switchboard.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("Hello")
            assert await ws.recv() == "Hello"

The sans-I/O protocol core is :mod:`switchboard.protocol`.
"""

from . import sync as sync  # switchboard.sync.connect() after `import switchboard`
from .broadcast import Group, broadcast
from .client import InvalidProxy, InvalidURI, ProxyError, RedirectError, connect
from .protocol import (
    Close,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    DeflateOptions,
    HandshakeRejected,
    Headers,
    InvalidHandshake,
    InvalidHTTP,
    Limits,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    Request,
    Response,
    SwitchboardError,
)
from .server import (
    HTTPError,
    Router,
    Server,
    html_response,
    json_response,
    run,
    serve,
    text_response,
    tls_context,
)
from .websocket import Data, WebSocket

__version__ = "0.1.0"

__all__ = [
    "serve",
    "broadcast",
    "Group",
    "run",
    "Server",
    "Router",
    "HTTPError",
    "json_response",
    "text_response",
    "html_response",
    "tls_context",
    "connect",
    "WebSocket",
    "Data",
    "DeflateOptions",
    "Limits",
    "Headers",
    "Request",
    "Response",
    "Close",
    "SwitchboardError",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidHandshake",
    "HandshakeRejected",
    "NegotiationError",
    "InvalidHTTP",
    "InvalidURI",
    "InvalidProxy",
    "ProxyError",
    "RedirectError",
    "PayloadTooBig",
    "ProtocolError",
]

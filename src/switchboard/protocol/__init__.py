"""The sans-I/O WebSocket core: RFC 6455 and RFC 7692, bytes in, events out.

No sockets, no asyncio, no clock: :class:`Connection` turns bytes into events and
calls into bytes; :mod:`.handshake` builds and checks the opening handshake on
:mod:`.http11` messages; :mod:`.deflate` negotiates and runs permessage-deflate.
See ``docs/sans-io.md`` for a guide.
"""

from .connection import Connection, Role, State
from .deflate import DeflateOptions, PerMessageDeflate
from .errors import (
    Close,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeRejected,
    InvalidHandshake,
    InvalidHTTP,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    SwitchboardError,
)
from .events import Event, Fragment, Message, Ping, Pong
from .frames import Opcode
from .http11 import Headers, Request, Response
from .limits import Limits

__all__ = [
    "Connection",
    "Role",
    "State",
    "DeflateOptions",
    "PerMessageDeflate",
    "Close",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "HandshakeRejected",
    "InvalidHandshake",
    "InvalidHTTP",
    "NegotiationError",
    "PayloadTooBig",
    "ProtocolError",
    "SwitchboardError",
    "Event",
    "Fragment",
    "Message",
    "Ping",
    "Pong",
    "Opcode",
    "Headers",
    "Request",
    "Response",
    "Limits",
]

"""Exceptions of the protocol core.

Every error that bad input can cause is one of these. Each carries what a peer
needs to know: a close code and reason on the wire (:class:`ProtocolError`) or an
HTTP status and body (:class:`InvalidHandshake`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "SwitchboardError",
    "ProtocolError",
    "PayloadTooBig",
    "InvalidHandshake",
    "HandshakeRejected",
    "NegotiationError",
    "InvalidHTTP",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "Close",
]


class SwitchboardError(Exception):
    """Base class of every exception raised by Switchboard."""


class ProtocolError(SwitchboardError):
    """The peer broke RFC 6455 or RFC 7692; the connection fails with ``code``.

    ``reason`` is the short text sent in the close frame (at most 123 bytes).
    """

    def __init__(self, reason: str, code: int = 1002) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class PayloadTooBig(ProtocolError):
    """A frame or message exceeds a configured size limit (close code 1009)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, 1009)


class InvalidHTTP(SwitchboardError):
    """An HTTP request or response could not be parsed, or exceeds a limit.

    ``status`` is what a server answers: 400 for malformed input, 431 for headers
    that are too large, 413 for a body that is too large.
    """

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class InvalidHandshake(SwitchboardError):
    """The opening handshake failed.

    On the server, ``status``, ``headers`` and ``body`` form the HTTP response
    that refuses the request. On the client, ``status`` is the status the server
    answered (0 when the response itself was malformed) and ``body`` its body.
    """

    def __init__(
        self,
        reason: str,
        status: int = 400,
        *,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.headers = headers or []
        self.body = reason.encode() + b"\n" if body is None else body


class HandshakeRejected(InvalidHandshake):
    """A server hook refused the handshake (403 unless the hook said otherwise)."""

    def __init__(self, reason: str = "Forbidden", status: int = 403, **kw: object) -> None:
        super().__init__(reason, status, **kw)  # type: ignore[arg-type]


class NegotiationError(InvalidHandshake):
    """Subprotocol or extension negotiation failed."""


@dataclass(frozen=True, slots=True)
class Close:
    """A close frame's content: ``code`` (1005 when the frame had none) and ``reason``."""

    code: int
    reason: str

    def __str__(self) -> str:
        explanation = CLOSE_CODE_EXPLANATIONS.get(self.code, "")
        if 3000 <= self.code < 4000:
            explanation = "registered application code"
        elif 4000 <= self.code < 5000:
            explanation = "private application code"
        text = f"{self.code}" + (f" ({explanation})" if explanation else "")
        return text + (f" {self.reason!r}" if self.reason else "")


#: Close codes in words, for logs, exceptions and the CLI.
CLOSE_CODE_EXPLANATIONS: dict[int, str] = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status code received",
    1006: "connection dropped without a closing handshake",
    1007: "invalid data (bad UTF-8 in a text message)",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension missing",
    1011: "internal server error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake failed",
}


#: What a connection that closed without a close frame either way counts as.
DROPPED = Close(1006, "")


def effective_close(rcvd: Close | None, sent: Close | None) -> Close:
    """The close code and reason a connection ended with, from the close frames it
    received and sent: the received one's, else the sent one's, else 1006."""
    return rcvd or sent or DROPPED


class ConnectionClosed(SwitchboardError):
    """The connection is closed; raised by any operation on it afterwards.

    ``rcvd`` is the close frame the peer sent and ``sent`` the one we sent (either
    is ``None`` when no such frame crossed the wire). ``rcvd_then_sent`` tells who
    started the closing handshake when both exist. ``code`` and ``reason`` are the
    effective values: the received frame's, else the sent one's, else 1006.
    """

    # The message is formatted when someone reads it (str(), a traceback, a log),
    # not here: most of these end a handler's loop unseen, one or more per
    # connection. ``args`` are the constructor's, so a copy or a pickle is equal.
    def __init__(
        self,
        rcvd: Close | None,
        sent: Close | None,
        rcvd_then_sent: bool | None = None,
    ) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent

    @property
    def code(self) -> int:
        return effective_close(self.rcvd, self.sent).code

    @property
    def reason(self) -> str:
        return effective_close(self.rcvd, self.sent).reason

    def __str__(self) -> str:
        if self.rcvd is None and self.sent is None:
            return "connection dropped without a closing handshake (1006)"
        if self.rcvd is None:
            return f"sent close {self.sent}; no close frame received"
        if self.sent is None:
            return f"received close {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"peer closed: received {self.rcvd}, then sent {self.sent}"
        return f"we closed: sent {self.sent}, then received {self.rcvd}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally: both sides exchanged 1000 or 1001 (or 1005)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed abnormally: an error code, or no closing handshake."""

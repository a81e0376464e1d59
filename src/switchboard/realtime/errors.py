"""The real-time layer's exceptions: each carries the wire error ``code`` it becomes.

A handler raises :class:`Rejected` (or :class:`InvalidPayload`) to answer an emit
with an error ack; ``on_connect`` raises :class:`Unauthorized` to refuse a client
(close 4401). Clients raise the same classes when an ack carries an error, so
``except Rejected`` reads the same on both sides. Any other exception in a handler
becomes the ``internal`` error, with its details in the server's log only.
"""

from __future__ import annotations

from typing import Any

from ..protocol.errors import SwitchboardError

__all__ = [
    "HubError",
    "Rejected",
    "InvalidPayload",
    "RateLimited",
    "Unauthorized",
    "AckTimeout",
    "Disconnected",
    "Unavailable",
]


class HubError(SwitchboardError):
    """An error with a wire ``code`` (see docs/realtime-protocol.md, "Errors")."""

    code = "internal"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.code.replace("_", " "))
        self.message = str(self)
        if code is not None:
            self.code = code

    def to_wire(self) -> dict[str, Any]:
        """The ``error`` object of an ack."""
        return {"code": self.code, "message": self.message}

    @staticmethod
    def from_wire(error: object) -> HubError:
        """The exception for an ``error`` object received in an ack."""
        if not isinstance(error, dict):
            return HubError(f"malformed error: {error!r}", code="bad_message")
        code = str(error.get("code", "internal"))
        message = str(error.get("message", ""))
        if code == "invalid_payload":
            return InvalidPayload(str(error.get("field", "")), message, prefixed=True)
        if code == "rate_limited":
            retry = error.get("retry_after")
            return RateLimited(
                message, retry_after=float(retry) if isinstance(retry, (int, float)) else 0.0
            )
        if code == "rejected":
            return Rejected(message, details=error.get("details"))
        cls = _BY_CODE.get(code)
        return cls(message) if cls is not None else HubError(message, code=code)


class Rejected(HubError):
    """The application refused the request; ``message`` (and ``details``) reach the
    client as they are. Example::

        @hub.on("vote")
        async def vote(session, data: Vote) -> None:
            if not voting_open:
                raise Rejected("voting is closed")
    """

    code = "rejected"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.details = details

    def to_wire(self) -> dict[str, Any]:
        wire = super().to_wire()
        if self.details is not None:
            wire["details"] = self.details
        return wire


class InvalidPayload(HubError):
    """The data does not fit the handler's declared type; ``field`` is the dotted
    path of the offending value (``""`` for the payload as a whole)."""

    code = "invalid_payload"

    def __init__(self, field: str, problem: str, *, prefixed: bool = False) -> None:
        super().__init__(problem if prefixed or not field else f"{field}: {problem}")
        self.field = field

    def to_wire(self) -> dict[str, Any]:
        return {**super().to_wire(), "field": self.field}


class RateLimited(HubError):
    """Too many events: try again in ``retry_after`` seconds."""

    code = "rate_limited"

    def __init__(self, message: str = "", *, retry_after: float = 0.0) -> None:
        super().__init__(message or f"too many events: retry in {retry_after:.2f} s")
        self.retry_after = retry_after

    def to_wire(self) -> dict[str, Any]:
        return {**super().to_wire(), "retry_after": round(self.retry_after, 3)}


class Unauthorized(HubError):
    """Raised by ``on_connect`` to refuse a client: it is closed with 4401 and
    ``"unauthorized: <message>"``, and does not reconnect. Clients raise it from
    ``connect()`` when they are refused."""

    code = "unauthorized"


class AckTimeout(HubError, TimeoutError):
    """No reply within the timeout (an emit's ack, or a server ``call``)."""

    code = "timeout"


class Disconnected(HubError):
    """The connection closed before the reply came."""

    code = "disconnected"


class Unavailable(HubError):
    """The broker cannot take the publication now (Redis is down, say)."""

    code = "unavailable"


_BY_CODE: dict[str, type[HubError]] = {
    cls.code: cls for cls in (Unauthorized, AckTimeout, Disconnected, Unavailable)
}

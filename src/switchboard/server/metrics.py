"""Server metrics in the Prometheus text exposition format, kept as plain integers.

Nothing here runs per frame: each WebSocket counts its own messages and bytes, the
server adds a connection's totals here when it closes, and a scrape adds the live
connections' current counts.
"""

from __future__ import annotations

from collections.abc import Collection

from ..websocket import WebSocket

__all__ = ["Metrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_CLOSE_CAUSES = {"slow consumer": "slow_consumer_closes", "keepalive timeout": "keepalive_timeouts"}


def _counts(ws: WebSocket) -> tuple[int, int, int, int]:
    """A connection's messages in and out, bytes in and out (wire bytes, frame headers
    and control frames included, handshake excluded)."""
    return ws.messages_in, ws.messages_out, ws.bytes_in, ws.bytes_out


class Metrics:
    """The server's counters; :meth:`render` writes them for ``/metrics``."""

    def __init__(self) -> None:
        self.handshakes = {"accepted": 0, "rejected": 0, "failed": 0}
        self.http_requests: dict[int, int] = {}
        self.close_codes: dict[int, int] = {}
        self.closed_totals = [0, 0, 0, 0]  # messages in, out, bytes in, out of closed ones
        self.slow_consumer_closes = 0
        self.keepalive_timeouts = 0

    def http_response(self, status: int) -> None:
        self.http_requests[status] = self.http_requests.get(status, 0) + 1

    def connection_closed(self, ws: WebSocket, code: int) -> None:
        self.close_codes[code] = self.close_codes.get(code, 0) + 1
        totals = self.closed_totals  # as _counts(ws) orders them, without a loop
        totals[0] += ws.messages_in
        totals[1] += ws.messages_out
        totals[2] += ws.bytes_in
        totals[3] += ws.bytes_out
        cause = _CLOSE_CAUSES.get(ws.close_cause or "")
        if cause is not None:
            setattr(self, cause, getattr(self, cause) + 1)

    def render(self, websockets: Collection[WebSocket], http_connections: int) -> str:
        """The exposition text, live ``websockets`` included."""
        totals = list(self.closed_totals)
        for ws in websockets:
            for i, count in enumerate(_counts(ws)):
                totals[i] += count
        lines: list[str] = []

        def metric(name: str, kind: str, help: str, samples: dict[str, int]) -> None:
            lines.append(f"# HELP switchboard_{name} {help}")
            lines.append(f"# TYPE switchboard_{name} {kind}")
            lines.extend(f"switchboard_{name}{labels} {value}" for labels, value in samples.items())

        metric("connections_open", "gauge", "Open WebSocket connections.", {"": len(websockets)})
        metric(
            "http_connections_open",
            "gauge",
            "Open TCP connections not (yet) upgraded to WebSocket.",
            {"": http_connections},
        )
        metric(
            "handshakes_total",
            "counter",
            "WebSocket opening handshakes by outcome: accepted (101), rejected by a "
            "check or hook, failed (invalid request).",
            {f'{{outcome="{k}"}}': v for k, v in self.handshakes.items()},
        )
        direction = ('{direction="in"}', '{direction="out"}')
        metric(
            "messages_total",
            "counter",
            "WebSocket messages received (in) and sent (out).",
            dict(zip(direction, totals[:2], strict=True)),
        )
        metric(
            "bytes_total",
            "counter",
            "WebSocket bytes received (in) and sent (out) on the wire, after the handshake.",
            dict(zip(direction, totals[2:], strict=True)),
        )
        metric(
            "close_codes_total",
            "counter",
            "Closed WebSocket connections by close code (1006: dropped without a close frame).",
            {f'{{code="{k}"}}': v for k, v in sorted(self.close_codes.items())},
        )
        metric(
            "slow_consumer_closes_total",
            "counter",
            "WebSocket connections closed because the client did not read fast enough.",
            {"": self.slow_consumer_closes},
        )
        metric(
            "keepalive_timeouts_total",
            "counter",
            "WebSocket connections closed because a keepalive ping got no pong in time.",
            {"": self.keepalive_timeouts},
        )
        metric(
            "http_requests_total",
            "counter",
            "HTTP responses sent, by status (handshake answers included).",
            {f'{{status="{k}"}}': v for k, v in sorted(self.http_requests.items())},
        )
        lines.append("")
        return "\n".join(lines)

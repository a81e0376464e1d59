"""The hub's counters, rendered for the server's ``/metrics`` (Prometheus text)."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

__all__ = ["HubMetrics"]

# Upper bounds (seconds) of the handler latency histogram's buckets.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_FIRST_BUCKET = _BUCKETS[0]


# Numbers a broker's status() may report, and what they mean.
_BROKER_GAUGES = {
    "reconnects": "Times the broker lost its connection and reconnected.",
    "publish_failures": "Publications and broker calls that failed.",
    "deaf_detections": "Times the subscription was found deaf (a probe did not come back).",
    "lag": "Round trip of the last probe through the broker, in seconds.",
    "last_message_age": "Seconds since the broker last delivered anything.",
    "channels": "Channels this node subscribes to.",
}


class HubMetrics:
    """Counted where things happen; nothing here runs per receiver."""

    def __init__(self) -> None:
        self.events_in: dict[str, int] = {}
        self.events_out: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.rate_limited = 0
        self.recoveries = {"recovered": 0, "not_recovered": 0}
        self.deliveries = 0
        self.sessions_opened = 0
        self.refused = 0
        self.resumed = 0
        self._latency = [0] * (len(_BUCKETS) + 1)
        self._latency_sum = 0.0

    def event_in(self, event: str) -> None:
        self.events_in[event] = self.events_in.get(event, 0) + 1

    def event_out(self, event: str, deliveries: int = 0) -> None:
        self.events_out[event] = self.events_out.get(event, 0) + 1
        self.deliveries += deliveries

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def ack_latency(self, seconds: float) -> None:
        # Most handlers answer within the first bucket: no bisect for them.
        self._latency[0 if seconds <= _FIRST_BUCKET else bisect_left(_BUCKETS, seconds)] += 1
        self._latency_sum += seconds

    def render(self, name: str, gauges: dict[str, int], broker: dict[str, Any]) -> str:
        lines: list[str] = []
        label = f'hub="{name}"'

        def metric(metric_name: str, kind: str, help: str, samples: dict[str, float]) -> None:
            full = f"switchboard_realtime_{metric_name}"
            lines.append(f"# HELP {full} {help}")
            lines.append(f"# TYPE {full} {kind}")
            for labels, value in samples.items():
                lines.append(f"{full}{{{label}{labels}}} {value}")

        def by(key: str, counts: dict[str, int]) -> dict[str, float]:
            return {f',{key}="{_escape(k)}"': v for k, v in sorted(counts.items())}

        metric("sessions", "gauge", "Sessions connected to this node.", {"": gauges["sessions"]})
        metric("rooms", "gauge", "Rooms with members on this node.", {"": gauges["rooms"]})
        metric("room_members", "gauge", "Room memberships on this node.", {"": gauges["members"]})
        metric("sessions_opened_total", "counter", "Sessions welcomed.", {"": self.sessions_opened})
        metric("sessions_resumed_total", "counter", "Sessions resumed.", {"": self.resumed})
        metric("sessions_refused_total", "counter", "Clients refused.", {"": self.refused})
        metric(
            "events_in_total", "counter", "Events received, by name.", by("event", self.events_in)
        )
        metric(
            "events_out_total", "counter", "Events emitted, by name.", by("event", self.events_out)
        )
        metric(
            "deliveries_total", "counter", "Frames delivered to sessions.", {"": self.deliveries}
        )
        metric("errors_total", "counter", "Error acks sent, by code.", by("code", self.errors))
        metric(
            "rate_limited_total",
            "counter",
            "Events refused by rate limits.",
            {"": self.rate_limited},
        )
        metric("recoveries_total", "counter", "Recovery outcomes.", by("outcome", self.recoveries))
        metric(
            "history_size",
            "gauge",
            "Publications kept in history.",
            {"": broker.get("history_size", 0)},
        )
        metric("broker_up", "gauge", "1 when the broker works.", {"": int(bool(broker["ok"]))})
        for key, help in _BROKER_GAUGES.items():
            value = broker.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                kind = "counter" if key.endswith("s") and key != "lag" else "gauge"
                name = f"broker_{key}_total" if kind == "counter" else f"broker_{key}"
                metric(name, kind, help, {"": value})
        full = "switchboard_realtime_ack_seconds"
        lines.append(f"# HELP {full} Time from an event's arrival to its ack.")
        lines.append(f"# TYPE {full} histogram")
        total = 0
        for bound, count in zip((*_BUCKETS, float("inf")), self._latency, strict=True):
            total += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'{full}_bucket{{{label},le="{le}"}} {total}')
        lines.append(f"{full}_sum{{{label}}} {self._latency_sum:.6f}")
        lines.append(f"{full}_count{{{label}}} {total}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

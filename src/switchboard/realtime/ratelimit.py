"""Token buckets: how many events a connection may send, and how fast.

A :class:`Rate` of 20 per second with a burst of 40 lets a client send 40 events
at once, then 20 a second. Over it, an event gets a ``rate_limited`` error ack
(with ``retry_after``); a client that keeps sending after ``burst`` refusals in a
row is closed with 1008 "rate limit exceeded".
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Rate", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_second`` events on average, ``burst`` at once."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if not self.per_second > 0 or self.burst < 1:
            raise ValueError(f"a rate needs per_second > 0 and burst >= 1, got {self}")


class TokenBucket:
    """One bucket; :meth:`take` spends a token or says how long until one is there."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate.per_second
        self.burst = rate.burst
        self.tokens = float(rate.burst)
        self.stamp = now

    def take(self, now: float) -> float:
        """Spend a token and return 0.0, or return the seconds until one is available."""
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        return (1.0 - tokens) / self.rate

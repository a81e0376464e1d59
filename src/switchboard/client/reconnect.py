"""What reconnection needs: delays between attempts, and which errors are worth a retry."""

from __future__ import annotations

import random
import ssl
from dataclasses import dataclass

from ..protocol.errors import InvalidHandshake

__all__ = ["Backoff", "is_transient"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: attempt ``n`` (from 0) waits a random time
    between ``min_delay`` and ``cap(n) = min(max_delay, min_delay * factor ** (n + 1))``.

    >>> [round(Backoff(0.5, 30.0, 1.6).cap(n), 2) for n in range(4)]
    [0.8, 1.28, 2.05, 3.28]

    The randomness spreads the clients that lost one server at the same moment, so
    they do not all knock again at once; the floor keeps a client from spinning.
    """

    min_delay: float = 0.5
    max_delay: float = 30.0
    factor: float = 1.6

    def __post_init__(self) -> None:
        if not 0 < self.min_delay <= self.max_delay:
            raise ValueError(
                f"backoff delays need 0 < backoff_min <= backoff_max, "
                f"not {self.min_delay} and {self.max_delay}"
            )
        if self.factor < 1:
            raise ValueError(f"backoff_factor must be at least 1, not {self.factor}")

    def cap(self, attempt: int) -> float:
        """The longest wait before attempt ``attempt``."""
        try:
            return min(self.max_delay, self.min_delay * self.factor ** (attempt + 1))
        except OverflowError:  # factor ** n grew past what a float holds
            return self.max_delay

    def delay(self, attempt: int) -> float:
        """A random wait before attempt ``attempt``, from ``min_delay`` to ``cap(attempt)``."""
        return random.uniform(self.min_delay, self.cap(attempt))


def is_transient(exc: BaseException) -> bool:
    """Whether connecting again later may succeed after ``exc``.

    Yes for network errors and timeouts, and for HTTP 429 and 5xx answers (from
    the server or a proxy); no for everything else: a bad URI, a 4xx answer, a
    failed negotiation, a redirect that cannot be followed, a TLS error other than
    the peer hanging up (a certificate will not fix itself).
    """
    if isinstance(exc, InvalidHandshake):
        return exc.status == 429 or 500 <= exc.status < 600
    if isinstance(exc, ssl.SSLError):
        return isinstance(exc, ssl.SSLEOFError)
    return isinstance(exc, OSError)  # includes TimeoutError and ConnectionError

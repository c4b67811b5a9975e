"""Token buckets per key (a client, or an integration's user), in memory.

``check(key)`` raises :class:`~..envelope.ApiError` 429 ``rate_limited`` with a
``Retry-After`` header (whole seconds) when the key's bucket is empty.
"""

import math
import threading

from ..clock import Clock
from ..envelope import ApiError


class RateLimiter:
    """``rate`` tokens per second, at most ``burst`` saved up, per key."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for ``key``; raise 429 ``rate_limited`` when there is none."""
        now = self.clock()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                retry = max(1, math.ceil((1.0 - tokens) / self.rate))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"too many requests; retry after {retry} s",
                    headers={"Retry-After": str(retry)},
                )
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget full buckets rather than grow forever
                self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.burst - 1}

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

    def check(self, key: str, cost: int = 1) -> None:
        """Take ``cost`` tokens for ``key`` (a batch counts its items); raise 429
        ``rate_limited`` when there are not enough.

        A cost above the burst passes when the bucket is full and leaves it in debt: the
        next requests wait until the rate has paid for every item, so the long-run rate
        holds for batches too.
        """
        now = self.clock()
        need = float(min(cost, self.burst))
        with self._lock:
            tokens, stamp = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
            if tokens < need:
                self._buckets[key] = (tokens, now)
                retry = max(1, math.ceil((need - tokens) / self.rate))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"too many requests; retry after {retry} s",
                    headers={"Retry-After": str(retry)},
                )
            self._buckets[key] = (tokens - cost, now)
            if len(self._buckets) > 100_000:  # forget full buckets rather than grow forever
                self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.burst - 1}

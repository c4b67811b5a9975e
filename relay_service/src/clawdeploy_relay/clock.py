"""Time, injectable: services read ``clock()`` (seconds since the epoch, a float).

Tests pass a :class:`FakeClock` so the 30 s / 5 min timings run without sleeping.
"""

import time
from collections.abc import Callable

Clock = Callable[[], float]


def system_clock() -> float:
    """Return the wall-clock time in seconds (``time.time()``)."""
    return time.time()


class FakeClock:
    """A clock that only moves when told: ``clock.advance(31)``."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds

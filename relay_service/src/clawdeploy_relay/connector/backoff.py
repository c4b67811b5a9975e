"""Exponential backoff with jitter, capped.

Attempt ``n`` (1 for the first retry) waits a random time in ``[d/2, d]`` where
``d = min(cap, initial * 2 ** (n - 1))`` ("equal jitter": never less than half the step,
so a fleet of connectors spreads out without any of them hammering a gateway that is
restarting). Times are seconds.
"""

import random


def backoff_delay(attempt: int, initial_s: float, cap_s: float, rng: random.Random) -> float:
    """The wait before retry ``attempt`` (1, 2, ...), in seconds, at most ``cap_s``.

    :raises ValueError: ``attempt`` < 1.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    # 2 ** 60 is far past any cap; the exponent is bounded so the float stays finite.
    step = min(cap_s, initial_s * 2 ** min(attempt - 1, 60))
    return step / 2 + rng.uniform(0, step / 2)

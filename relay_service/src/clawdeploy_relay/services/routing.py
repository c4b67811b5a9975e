"""Least-busy assignment with a random tie-break, as in the seed, plus tiers.

Connected clients are preferred; when none is, registered and stale clients are used (a
stale client may just be slow); disconnected and revoked clients never get new work.
"""

import random
from typing import Any

TIERS = (("connected",), ("registered", "stale"))


def pick_client(
    loads: list[dict[str, Any]], rng: random.Random, exclude: str | None = None
) -> str | None:
    """Return the id of the least-busy eligible client, or None when there is none.

    ``loads`` rows carry ``id``, ``state`` and ``pending`` (un-acked inbound messages).
    """
    for tier in TIERS:
        candidates = [r for r in loads if r["state"] in tier and r["id"] != exclude]
        if candidates:
            fewest = min(r["pending"] for r in candidates)
            return rng.choice([r["id"] for r in candidates if r["pending"] == fewest])
    return None

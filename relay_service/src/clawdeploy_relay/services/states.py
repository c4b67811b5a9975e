"""The seed's state machines, computed from timestamps (so no timer can be missed).

Client: ``registered`` (never polled) → ``connected`` → ``stale`` (no poll for
``stale_after_s``) → ``disconnected`` (no poll for ``disconnected_after_s``); any poll makes
it ``connected`` again. A revoked client is ``revoked``.
Conversation: ``created`` (no message polled yet) → ``active`` → ``idle`` (no activity for
``idle_after_s``) → ``expired`` (no activity for the TTL; the sweeper then deletes it).
"""

from typing import Any

CLIENT_STATES = ("registered", "connected", "stale", "disconnected", "revoked")
CONVERSATION_STATES = ("created", "active", "idle", "expired")


def client_state(row: dict[str, Any], now: float, stale_s: float, disconnected_s: float) -> str:
    """Return the state of a client row (``last_seen_at``, ``revoked_at``) at ``now``."""
    if row.get("revoked_at") is not None:
        return "revoked"
    seen = row.get("last_seen_at")
    if seen is None:
        return "registered"
    silent = now - seen
    if silent >= disconnected_s:
        return "disconnected"
    if silent >= stale_s:
        return "stale"
    return "connected"


def conversation_state(row: dict[str, Any], now: float, idle_s: float, ttl_s: float) -> str:
    """Return the state of a conversation row (``status``, ``updated_at``) at ``now``."""
    silent = now - row["updated_at"]
    if silent >= ttl_s:
        return "expired"
    if row["status"] == "created":
        return "created"
    return "idle" if silent >= idle_s else "active"

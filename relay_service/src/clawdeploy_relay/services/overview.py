"""Read-only views for the admin and ``/health``: counts, clients, conversations.

Times are integer milliseconds since the epoch, as in the seed. Raises
:class:`~..envelope.ApiError` 404 ``conversation_not_found`` for an unknown id.
"""

from collections import Counter
from typing import Any

from .. import SERVICE_NAME, __version__
from ..envelope import ApiError
from .principals import ms
from .relay import RelayService
from .states import CLIENT_STATES, CONVERSATION_STATES


class Overview:
    """What the relay holds, computed at the relay's clock."""

    def __init__(self, relay: RelayService) -> None:
        self.relay = relay

    def health(self) -> dict[str, Any]:
        """The seed's ``{server, clients, conversations}`` counts plus counts per state.

        ``clients`` leaves revoked clients out; ``clientStates`` and
        ``conversationStates`` map every state name to its count.
        """
        relay, s = self.relay, self.relay.settings
        now = relay.clock()
        with relay.store.read() as conn:
            loads = relay.loads(conn, now)
            convs = relay.store.conversation_state_counts(
                conn, now, s.idle_after_s, s.conversation_ttl_s
            )
        clients = Counter(r["state"] for r in loads)
        return {
            "server": SERVICE_NAME,
            "version": __version__,
            "clients": len(loads) - clients["revoked"],
            "conversations": sum(convs.values()),
            "clientStates": {state: clients[state] for state in CLIENT_STATES},
            "conversationStates": {state: convs.get(state, 0) for state in CONVERSATION_STATES},
        }

    def clients(self) -> list[dict[str, Any]]:
        """Every client: ``{id, name, state, pending, createdAt, lastSeenAt, revokedAt}``."""
        with self.relay.store.read() as conn:
            loads = self.relay.loads(conn, self.relay.clock())
        return [
            {
                "id": r["id"],
                "name": r["name"],
                "state": r["state"],
                "pending": r["pending"],
                "createdAt": ms(r["created_at"]),
                "lastSeenAt": ms(r["last_seen_at"]),
                "revokedAt": ms(r["revoked_at"]),
            }
            for r in loads
        ]

    def conversations(self) -> list[dict[str, Any]]:
        """Every conversation without its history, with ``messageCount`` and ``pending``."""
        with self.relay.store.read() as conn:
            rows = self.relay.store.list_conversations(conn)
        return [
            {
                **self.relay.conversation_json(r, None),
                "messageCount": r["message_count"],
                "pending": r["pending"],
            }
            for r in rows
        ]

    def conversation(self, conv_id: str) -> dict[str, Any]:
        """Any conversation with its full history (the admin's view)."""
        with self.relay.store.read() as conn:
            conv = self.relay.store.conversation(conn, conv_id)
            history = self.relay.store.history(conn, conv_id) if conv else []
        if conv is None:
            raise ApiError(404, "conversation_not_found", "no such conversation")
        return self.relay.conversation_json(conv, history)

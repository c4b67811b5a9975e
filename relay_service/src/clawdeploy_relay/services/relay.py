"""Delivery: inbound, poll (claim with a lease), ack, send, outbox, failover, expiry.

Every method runs in one database transaction and returns plain dicts; none knows HTTP.
Methods that queue work return the client ids to wake (see :mod:`.notifier`); on
PostgreSQL they also publish them to the other relay nodes in the same transaction
(:meth:`~..store.Store.publish`, delivered at commit). The methods that write are
:func:`~..retry.retried`: a transaction another node made fail is run again.
Raises :class:`~..envelope.ApiError` 404 ``conversation_not_found`` and 409
``idempotency_conflict`` (the key was used for a different message).
"""

import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from ..clock import Clock
from ..envelope import ApiError
from ..retry import retried
from ..settings import Settings
from ..store import Store
from ..tokens import new_id
from .observer import DeliveryObserver, NullObserver
from .routing import pick_client
from .states import client_state, conversation_state

GONE = ("disconnected", "revoked")


@dataclass
class PollResult:
    """What a poll took: the messages, and first-delivery latencies in seconds."""

    messages: list[dict[str, Any]]
    latencies: list[float] = field(default_factory=list)
    redelivered: int = 0


def message_json(row: dict[str, Any], client_id: str | None = None) -> dict[str, Any]:
    """The seed's Message fields (``timestamp`` in ms) plus ``seq`` and ``deliveryCount``."""
    return {
        "id": row["id"],
        "conversationId": row["conversation_id"],
        "clientId": client_id if client_id is not None else row.get("client_id"),
        "from": row["sender"],
        "to": row["recipient"],
        "text": row["text"],
        "timestamp": int(row["created_at"] * 1000),
        "seq": row["seq"],
        "deliveryCount": row.get("delivery_count") or 0,
    }


class RelayService:
    """The relay's delivery logic over a :class:`~..store.Store`.

    ``observer`` hears of stored messages and deliveries once they are committed (the
    app's Prometheus metrics; by default nothing).
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Clock,
        rng: random.Random,
        observer: DeliveryObserver | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.rng = rng
        self.observer: DeliveryObserver = observer if observer is not None else NullObserver()

    # --- helpers ----------------------------------------------------------------------

    def loads(self, conn: Connection, now: float) -> list[dict[str, Any]]:
        """Every client with ``state`` and ``pending``."""
        s = self.settings
        rows = self.store.client_loads(conn)
        for row in rows:
            row["state"] = client_state(row, now, s.stale_after_s, s.disconnected_after_s)
        return rows

    def _rehome(self, conn: Connection, now: float) -> set[str]:
        """Move conversations with un-acked messages off gone clients; return clients to wake."""
        loads = self.loads(conn, now)
        gone = [r["id"] for r in loads if r["state"] in GONE]
        woken: set[str] = set()
        for conv_id in self.store.conversations_needing_home(conn, gone):
            if not self._still_homeless(conn, conv_id, now):
                continue
            target = pick_client(loads, self.rng)
            if target is None:
                break
            self.store.release_conversation(conn, conv_id)
            self.store.update_conversation(conn, conv_id, {"client_id": target})
            moved = sum(
                1
                for m in self.store.history(conn, conv_id)
                if m["state"] != "acked" and m["direction"] == "in"
            )
            for row in loads:
                if row["id"] == target:
                    row["pending"] += moved
            woken.add(target)
        return woken

    def _still_homeless(self, conn: Connection, conv_id: str, now: float) -> bool:
        """Lock a conversation to move it; whether its owner is still gone (fresh read).

        False when another transaction holds it (a claim, another node's move) or its
        client polled since the candidates were read: moving it then could take a message
        from a live client that was just handed it.
        """
        conv = self.store.lock_conversation(conn, conv_id)
        if conv is None:
            return False
        if conv["client_id"] is None:
            return True
        owner = self.store.principal(conn, "client", conv["client_id"])
        if owner is None:
            return True
        s = self.settings
        return client_state(owner, now, s.stale_after_s, s.disconnected_after_s) in GONE

    def _idempotent(self, conn: Connection, scope: str, key: str | None, **expect: str) -> Any:
        if not key:
            return None
        found = self.store.message_by_idempotency(conn, scope, key)
        if found is None:
            return None
        if any(found[k] != v for k, v in expect.items() if v is not None):
            raise ApiError(
                409,
                "idempotency_conflict",
                "this Idempotency-Key was already used for a different message; use a new key",
            )
        return found

    # --- operations -------------------------------------------------------------------

    @retried
    def inbound(
        self, integration_id: str, user: str, text: str, key: str | None
    ) -> tuple[dict[str, Any], set[str]]:
        """Store a user's message and queue it; return (Message JSON, clients to wake)."""
        now = self.clock()
        scope = f"i:{integration_id}"
        with self.store.tx() as conn:
            found = self._idempotent(conn, scope, key, sender=user, text=text)
            if found is not None:
                conv = self.store.conversation(conn, found["conversation_id"])
                return message_json(found, conv["client_id"] if conv else None), set()
            conv = self.store.conversation_of_user(conn, integration_id, user, lock=True)
            loads = self.loads(conn, now)
            if conv is None:
                conv = {
                    "id": new_id("conv"),
                    "integration_id": integration_id,
                    "user_id": user,
                    "client_id": pick_client(loads, self.rng),
                    "status": "created",
                    "created_at": now,
                    "updated_at": now,
                }
                self.store.insert(conn, "conversations", conv)
            else:
                owner = next((r for r in loads if r["id"] == conv["client_id"]), None)
                if owner is None or owner["state"] in GONE:
                    target = pick_client(loads, self.rng)
                    if target is not None:
                        self.store.release_conversation(conn, conv["id"])
                        conv["client_id"] = target
                self.store.update_conversation(
                    conn, conv["id"], {"updated_at": now, "client_id": conv["client_id"]}
                )
            row = self.store.insert_message(
                conn,
                {
                    "id": new_id("msg"),
                    "conversation_id": conv["id"],
                    "direction": "in",
                    "sender": user,
                    "recipient": conv["client_id"] or "",
                    "text": text,
                    "client_id": None,
                    "created_at": now,
                    "state": "pending",
                    "delivery_count": 0,
                    "idem_scope": scope if key else None,
                    "idem_key": key or None,
                },
            )
            wake = {conv["client_id"]} if conv["client_id"] else set()
            self.store.publish(conn, wake)
        self.observer.stored("inbound")
        return message_json(row, conv["client_id"]), wake

    @retried
    def poll(self, client_id: str, implicit_ack: bool) -> PollResult:
        """Mark the client seen and lease it its next messages (in order per conversation).

        ``implicit_ack`` (the seed's plain poll) first acks what earlier polls delivered.
        """
        now = self.clock()
        s = self.settings
        with self.store.tx() as conn:
            self.store.update_principal(conn, "client", client_id, {"last_seen_at": now})
            if implicit_ack:
                self.store.ack(conn, client_id)
            self._rehome(conn, now)
            rows = self.store.claimable(conn, client_id, now, s.poll_batch)
            if not rows:
                return PollResult([])
            self.store.lease(conn, [r["seq"] for r in rows], client_id, now + s.lease_s, now)
            for conv_id in {r["conversation_id"] for r in rows}:
                self.store.update_conversation(conn, conv_id, {"status": "active"})
        result = PollResult([])
        for row in rows:
            row["delivery_count"] = (row["delivery_count"] or 0) + 1
            result.messages.append(message_json(row, client_id))
            if row["delivery_count"] == 1:
                result.latencies.append(max(0.0, now - row["created_at"]))
            else:
                result.redelivered += 1
        self.observer.delivered(result.latencies, result.redelivered)
        return result

    @retried
    def ack(self, client_id: str, ids: list[str]) -> int:
        """Ack messages leased to this client; return how many were acked."""
        with self.store.tx() as conn:
            return self.store.ack(conn, client_id, ids=ids)

    @retried
    def send(
        self,
        client_id: str,
        conv_id: str | None,
        to: str | None,
        text: str,
        key: str | None,
        ack_ids: list[str] | None,
    ) -> dict[str, Any]:
        """Store a reply; ack ``ack_ids``, or (seed) the conversation's delivered messages."""
        now = self.clock()
        scope = f"c:{client_id}"
        with self.store.tx() as conn:
            found = self._idempotent(
                conn, scope, key, text=text, conversation_id=conv_id, recipient=to
            )
            if found is not None:
                return message_json(found)
            conv = self._own_conversation(conn, client_id, conv_id, to, lock=True)
            if to is not None and to != conv["user_id"]:
                raise ApiError(422, "recipient_mismatch", "'to' is not this conversation's user")
            self.store.lock_outbox(conn, conv["integration_id"])
            row = self.store.insert_message(
                conn,
                {
                    "id": new_id("msg"),
                    "conversation_id": conv["id"],
                    "direction": "out",
                    "sender": client_id,
                    "recipient": conv["user_id"],
                    "text": text,
                    "client_id": client_id,
                    "created_at": now,
                    "state": "sent",
                    "delivery_count": 0,
                    "idem_scope": scope if key else None,
                    "idem_key": key or None,
                },
            )
            if ack_ids is not None:
                self.store.ack(conn, client_id, ids=ack_ids)
            else:
                self.store.ack(conn, client_id, conversation_id=conv["id"], below_seq=row["seq"])
            self.store.update_conversation(
                conn, conv["id"], {"updated_at": now, "status": "active"}
            )
        self.observer.stored("send")
        return message_json(row)

    def _own_conversation(
        self,
        conn: Connection,
        client_id: str,
        conv_id: str | None,
        to: str | None,
        lock: bool = False,
    ) -> dict[str, Any]:
        """The client's conversation by id (or by user); ``lock`` it for a write."""
        missing = ApiError(404, "conversation_not_found", "no such conversation for this client")
        if conv_id is None:
            if to is None:
                raise ApiError(422, "conversation_required", "give conversationId (or 'to')")
            found = self.store.conversations_of_client_user(conn, client_id, to, lock=lock)
            if len(found) != 1:
                raise missing
            return found[0]
        conv = self.store.conversation(conn, conv_id, lock=lock)
        if conv is None or conv["client_id"] != client_id:
            raise missing  # another client's conversation: never say that it exists
        return conv

    def conversation(self, client_id: str, conv_id: str) -> dict[str, Any]:
        """The seed's Conversation with its history; 404 unless it is this client's."""
        with self.store.tx() as conn:
            conv = self._own_conversation(conn, client_id, conv_id, None)
            history = self.store.history(conn, conv_id)
        return self.conversation_json(conv, history)

    def conversation_json(
        self, conv: dict[str, Any], history: list[dict[str, Any]] | None
    ) -> dict[str, Any]:
        """Conversation fields (ms times, ``state``); ``messages`` when history is given."""
        s = self.settings
        body: dict[str, Any] = {
            "id": conv["id"],
            "userId": conv["user_id"],
            "clientId": conv["client_id"],
            "integrationId": conv["integration_id"],
            "state": conversation_state(conv, self.clock(), s.idle_after_s, s.conversation_ttl_s),
            "createdAt": int(conv["created_at"] * 1000),
            "updatedAt": int(conv["updated_at"] * 1000),
        }
        if history is not None:
            # An inbound row has no client_id of its own: show the client it went to.
            body["messages"] = [
                message_json(m, m["client_id"] or m["leased_to"] or conv["client_id"])
                for m in history
            ]
        return body

    def outbox(self, integration_id: str, after: int) -> list[dict[str, Any]]:
        """Replies to this integration's users after cursor ``after`` (a ``seq``)."""
        with self.store.tx() as conn:
            rows = self.store.outbox(conn, integration_id, after, self.settings.outbox_batch)
        return [message_json(r) for r in rows]

    @retried
    def sweep(self) -> tuple[set[str], int]:
        """Fail over gone clients' work and delete expired conversations.

        Returns (clients to wake, number of conversations expired); the clients to wake
        include those whose leases ran out, so a long-poll gets its redelivery at once.
        The clients given moved conversations are published to the other nodes too (each
        node's own sweep sees the expired leases).
        """
        now = self.clock()
        with self.store.tx() as conn:
            woken = self._rehome(conn, now)
            self.store.publish(conn, woken)
            woken.update(self.store.clients_with_expired_leases(conn, now))
            expired = self.store.expired_conversations(conn, now - self.settings.conversation_ttl_s)
            self.store.delete_conversations(conn, expired)
        return woken, len(expired)

    def due_clients(self) -> set[str]:
        """Clients with a message they could take now: the wake-up listener's fallback."""
        with self.store.tx() as conn:
            return set(self.store.clients_with_due_messages(conn, self.clock()))

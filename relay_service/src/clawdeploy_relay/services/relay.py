"""Delivery: inbound, poll (claim with a lease), ack, send, outbox, failover, expiry.

Every method runs in one database transaction and returns plain dicts; none knows HTTP.
Methods that queue work return the client ids to wake (see :mod:`.notifier`); on
PostgreSQL they also publish them to the other relay nodes in the same transaction
(:meth:`~..store.Store.publish`, delivered at commit). The methods that write are
:func:`~..retry.retried`: a transaction another node made fail is run again.
Raises :class:`~..envelope.ApiError` 404 ``conversation_not_found`` and 409
``idempotency_conflict`` (the key was used for a different message).

Batches (:meth:`RelayService.inbound_batch`, :meth:`RelayService.send_batch`, and the
group commits of single requests, :mod:`.group_commit`) run many items in one
transaction: each item as its single operation would, its refusal (an ApiError raised
before it writes anything) its own :class:`ItemResult`. Within a batch the conversations
and idempotency keys are read in one query each, and each conversation's update and the
acks by id are written once, at the end (:meth:`RelayService._flush`).
"""

import math
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from ..clock import Clock
from ..envelope import ApiError
from ..retry import retried
from ..settings import Settings
from ..store import Store
from ..tokens import new_id
from .group_commit import GroupCommit, ThreadGroupCommit
from .observer import DeliveryObserver, NullObserver
from .routing import pick_client
from .states import client_state, conversation_state

GONE = ("disconnected", "revoked")
# A poll writes its client's last_seen_at at most this often (seconds of the relay's clock):
# every poll used to commit (an fsync) for it. This process keeps the exact time in memory
# and judges its clients with it; the database (other nodes) lags it by less than this.
SEEN_WRITE_S = 1.0
# Polls look for a gone client's work to move at most this often; the sweep does every time.
REHOME_EVERY_S = 1.0


@dataclass
class PollResult:
    """What a poll took: the messages, and first-delivery latencies in seconds."""

    messages: list[dict[str, Any]]
    latencies: list[float] = field(default_factory=list)
    redelivered: int = 0


@dataclass
class InboundItem:
    """One user's message of a batch: ``user`` (the seed's ``from``), ``text``, ``key``."""

    user: str
    text: str
    key: str | None = None


@dataclass
class SendItem:
    """One reply of a batch, as ``POST /send``'s fields."""

    text: str
    conversation_id: str | None = None
    to: str | None = None
    key: str | None = None
    ack_ids: list[str] | None = None


@dataclass
class ItemResult:
    """The outcome of one batch item: ``message`` (stored, or the first one of a retried
    key), or ``error`` (the :class:`~..envelope.ApiError` that refused this item alone)."""

    message: dict[str, Any] | None = None
    error: ApiError | None = None
    stored: bool = False  # a new message (not the replay of a key): its client is woken


@dataclass
class _Batch:
    """What a batch's items share in their transaction: the client loads, read once when
    the first new conversation needs a home and kept up to date as items are queued; the
    conversations already read and locked (by id, by user), whether each owner is gone,
    and the writes done once per batch at its end (:meth:`RelayService._flush`): each
    conversation's ``updated_at`` / ``status`` / ``client_id``, and the acks by id."""

    now: float
    loads: list[dict[str, Any]] | None = None
    wake: set[str] = field(default_factory=set)
    stored: int = 0
    convs: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_user: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    gone: dict[str, bool] = field(default_factory=dict)
    touched: dict[str, dict[str, Any]] = field(default_factory=dict)
    acks: dict[str, list[str]] = field(default_factory=dict)
    # Prefetched in one query each: (scope, key) -> message or None; users known to have
    # no conversation yet.
    idem: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    no_conversation: set[tuple[str, str]] = field(default_factory=set)

    def prefetch_keys(self, store: Store, conn: Connection, scope: str, keys: list[str]) -> None:
        """Read the messages of these idempotency keys at once (None: the key is new)."""
        wanted = [key for key in keys if key]
        found = {row["idem_key"]: row for row in store.messages_by_idempotency(conn, scope, wanted)}
        for key in wanted:
            self.idem[(scope, key)] = found.get(key)


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
        # Last poll of each client seen by this process, and the last one it wrote.
        self._seen: dict[str, float] = {}
        self._seen_written: dict[str, float] = {}
        self._seen_lock = threading.Lock()
        self._next_rehome = -math.inf
        self._rehome_asked = False
        # SQLite: single /inbound and /send requests that arrive together share a commit.
        # PostgreSQL commits transactions in parallel (and groups their WAL flushes itself).
        self.inbound_commits: GroupCommit[tuple[str, InboundItem], ItemResult] | None = None
        self.send_commits: GroupCommit[tuple[str, SendItem], ItemResult] | None = None
        self.ack_commits: ThreadGroupCommit[tuple[str, list[str]], int] | None = None
        if not store.shared:
            self.inbound_commits = GroupCommit(self.inbound_group)
            self.send_commits = GroupCommit(self.send_many)
            self.ack_commits = ThreadGroupCommit(self.ack_many)

    # --- helpers ----------------------------------------------------------------------

    def last_seen(self, row: dict[str, Any]) -> float | None:
        """A client row's ``last_seen_at``, or this process's later poll of it."""
        stored, mine = row.get("last_seen_at"), self._seen.get(row["id"])
        if mine is not None and (stored is None or mine > stored):
            return mine
        return stored

    def state_of(self, row: dict[str, Any], now: float) -> str:
        """A client row's state at ``now`` (:func:`~.states.client_state`, with
        :meth:`last_seen`)."""
        s = self.settings
        seen = {"revoked_at": row.get("revoked_at"), "last_seen_at": self.last_seen(row)}
        return client_state(seen, now, s.stale_after_s, s.disconnected_after_s)

    def loads(self, conn: Connection, now: float) -> list[dict[str, Any]]:
        """Every client with ``state`` and ``pending`` (one grouped query); its
        ``last_seen_at`` includes this process's polls not written yet."""
        rows = self.store.client_loads(conn)
        for row in rows:
            row["last_seen_at"] = self.last_seen(row)
            row["state"] = self.state_of(row, now)
        return rows

    def request_rehome(self) -> None:
        """Make the next poll look for work to move (a client was revoked here)."""
        self._rehome_asked = True

    def _rehome_due(self, now: float) -> bool:
        if self._rehome_asked or now >= self._next_rehome:
            self._rehome_asked = False
            self._next_rehome = now + REHOME_EVERY_S
            return True
        return False

    def _rehome(self, conn: Connection, now: float) -> set[str]:
        """Move conversations with un-acked messages off gone clients; return clients to wake.

        Cheap when nothing is to move: the gone clients come from the clients table alone,
        the loads (a grouped count over the un-acked messages) only when something moves.
        """
        gone = [r["id"] for r in self.store.client_liveness(conn) if self.state_of(r, now) in GONE]
        homeless = self.store.conversations_needing_home(conn, gone)
        if not homeless:
            return set()
        loads = self.loads(conn, now)
        woken: set[str] = set()
        for conv_id in homeless:
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
        return self._gone(conn, conv["client_id"], now)

    def _gone(self, conn: Connection, client_id: str, now: float) -> bool:
        """Whether a client is disconnected, revoked or unknown (a fresh read of its row)."""
        owner = self.store.principal(conn, "client", client_id)
        return owner is None or self.state_of(owner, now) in GONE

    def _idempotent(
        self,
        conn: Connection,
        scope: str,
        key: str | None,
        batch: "_Batch | None" = None,
        **expect: str,
    ) -> Any:
        """The message stored under ``(scope, key)`` (from the batch's prefetch when it
        has one), or None; 409 ``idempotency_conflict`` when its content differs."""
        if not key:
            return None
        if batch is not None and (scope, key) in batch.idem:
            found = batch.idem[(scope, key)]
        else:
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

    def _mark_seen(self, conn: Connection, client_id: str, now: float) -> bool:
        """Note a poll at ``now``; write ``last_seen_at`` when the written one is
        :data:`SEEN_WRITE_S` old or unknown to this process. Returns whether it wrote
        (the caller records it once the transaction committed)."""
        with self._seen_lock:
            if now > self._seen.get(client_id, -math.inf):
                self._seen[client_id] = now
            written = self._seen_written.get(client_id)
        if written is not None and now - written < SEEN_WRITE_S:
            return False
        self.store.touch_client(conn, client_id, now)
        return True

    # --- operations -------------------------------------------------------------------

    @retried
    def inbound(
        self, integration_id: str, user: str, text: str, key: str | None
    ) -> tuple[dict[str, Any], set[str]]:
        """Store a user's message and queue it; return (Message JSON, clients to wake)."""
        batch = _Batch(self.clock())
        with self.store.tx() as conn:
            message = self._inbound_one(conn, batch, integration_id, InboundItem(user, text, key))
            self._flush(conn, batch)
            self.store.publish(conn, batch.wake)
        if batch.stored:
            self.observer.stored("inbound")
        return message, batch.wake

    def inbound_batch(
        self, integration_id: str, items: list[InboundItem]
    ) -> tuple[list[ItemResult], set[str]]:
        """Store several users' messages in ONE transaction (one commit); return a result
        per item, in order, and the clients to wake.

        Each item is handled as :meth:`inbound` would (idempotency key per item; an item
        reusing a key with other content gets its 409 alone, the others are stored).
        Items of one user keep their order. A database error fails the whole batch.
        """
        return self.inbound_many([(integration_id, item) for item in items])

    @retried
    def inbound_many(
        self, items: list[tuple[str, InboundItem]]
    ) -> tuple[list[ItemResult], set[str]]:
        """:meth:`inbound_batch` for items of several integrations ``(integration id,
        item)``: the group commit of single ``POST /inbound`` requests."""
        batch = _Batch(self.clock())
        results: list[ItemResult] = []
        with self.store.tx() as conn:
            users: dict[str, list[str]] = {}
            for integration_id, item in items:
                users.setdefault(integration_id, []).append(item.user)
            keys: dict[str, list[str]] = {}
            for integration_id, item in items:
                if item.key:
                    keys.setdefault(integration_id, []).append(item.key)
            for integration_id in sorted(users):
                rows = self.store.conversations_of_users(
                    conn, integration_id, users[integration_id]
                )
                found = {row["user_id"]: row for row in rows}
                for user in users[integration_id]:
                    if user in found:
                        batch.by_user[(integration_id, user)] = found[user]
                    else:
                        batch.no_conversation.add((integration_id, user))
                batch.prefetch_keys(
                    self.store, conn, f"i:{integration_id}", keys.get(integration_id, [])
                )
            for integration_id, item in items:
                before = batch.stored
                try:
                    message = self._inbound_one(conn, batch, integration_id, item)
                except ApiError as exc:
                    results.append(ItemResult(error=exc))
                    continue
                results.append(ItemResult(message, stored=batch.stored > before))
            self._flush(conn, batch)
            self.store.publish(conn, batch.wake)
        for _stored in range(batch.stored):
            self.observer.stored("inbound")
        return results, batch.wake

    def inbound_group(self, items: list[tuple[str, InboundItem]]) -> list[ItemResult]:
        """:meth:`inbound_many` without the wake set (each result says whether it was
        stored): the write function of :class:`~.group_commit.GroupCommit`."""
        return self.inbound_many(items)[0]

    def _batch_loads(self, conn: Connection, batch: _Batch) -> list[dict[str, Any]]:
        if batch.loads is None:
            batch.loads = self.loads(conn, batch.now)
        return batch.loads

    def _inbound_one(
        self, conn: Connection, batch: _Batch, integration_id: str, item: InboundItem
    ) -> dict[str, Any]:
        """Store one user's message in ``conn``'s transaction; return its Message JSON.

        The client loads are read only when a conversation needs a (new) client: a new
        user, or a conversation whose client is gone. Raises ApiError 409 before writing.
        """
        now, user, key = batch.now, item.user, item.key
        scope = f"i:{integration_id}"
        found = self._idempotent(conn, scope, key, batch, sender=user, text=item.text)
        if found is not None:
            conv = self.store.conversation(conn, found["conversation_id"])
            return message_json(found, conv["client_id"] if conv else None)
        conv = batch.by_user.get((integration_id, user))
        if conv is None and (integration_id, user) not in batch.no_conversation:
            conv = self.store.conversation_of_user(conn, integration_id, user, lock=True)
        if conv is None:
            conv = {
                "id": new_id("conv"),
                "integration_id": integration_id,
                "user_id": user,
                "client_id": pick_client(self._batch_loads(conn, batch), self.rng),
                "status": "created",
                "created_at": now,
                "updated_at": now,
            }
            self.store.insert(conn, "conversations", conv)
        else:
            owner = conv["client_id"]
            if owner is not None and owner not in batch.gone:
                batch.gone[owner] = self._gone(conn, owner, now)
            if owner is None or batch.gone[owner]:
                target = pick_client(self._batch_loads(conn, batch), self.rng)
                if target is not None:
                    self.store.release_conversation(conn, conv["id"])
                    conv["client_id"] = target
            batch.touched[conv["id"]] = {"updated_at": now, "client_id": conv["client_id"]}
        batch.by_user[(integration_id, user)] = conv
        row = self.store.insert_message(
            conn,
            {
                "id": new_id("msg"),
                "conversation_id": conv["id"],
                "direction": "in",
                "sender": user,
                "recipient": conv["client_id"] or "",
                "text": item.text,
                "client_id": None,
                "created_at": now,
                "state": "pending",
                "delivery_count": 0,
                "idem_scope": scope if key else None,
                "idem_key": key or None,
            },
        )
        batch.stored += 1
        if key:
            batch.idem[(scope, key)] = row
        if conv["client_id"]:
            batch.wake.add(conv["client_id"])
            for load in batch.loads or ():
                if load["id"] == conv["client_id"]:
                    load["pending"] += 1
        return message_json(row, conv["client_id"])

    @retried
    def poll(self, client_id: str, implicit_ack: bool, limit: int | None = None) -> PollResult:
        """Mark the client seen and lease it its next messages (in order per conversation).

        ``implicit_ack`` (the seed's plain poll) first acks what earlier polls delivered.
        At most ``RELAY_POLL_BATCH`` messages, or ``limit`` when smaller; ``limit=0`` is a
        heartbeat: the client is seen (connected) and takes nothing. A poll with nothing
        to ack or take writes nothing (no commit to wait for) unless its ``last_seen_at``
        is due (:data:`SEEN_WRITE_S`).
        """
        now = self.clock()
        s = self.settings
        batch = s.poll_batch if limit is None else min(limit, s.poll_batch)
        with self.store.tx() as conn:
            wrote = self._mark_seen(conn, client_id, now)
            if implicit_ack:
                self.store.ack(conn, client_id)
            if self._rehome_due(now):
                self._rehome(conn, now)
            rows = self.store.claimable(conn, client_id, now, batch) if batch > 0 else []
            if rows:
                self.store.lease(conn, [r["seq"] for r in rows], client_id, now + s.lease_s, now)
                self.store.activate_conversations(conn, [r["conversation_id"] for r in rows])
        if wrote:
            with self._seen_lock:
                if now > self._seen_written.get(client_id, -math.inf):
                    self._seen_written[client_id] = now
        result = PollResult([])
        for row in rows:
            row["delivery_count"] = (row["delivery_count"] or 0) + 1
            result.messages.append(message_json(row, client_id))
            if row["delivery_count"] == 1:
                result.latencies.append(max(0.0, now - row["created_at"]))
            else:
                result.redelivered += 1
        if rows:
            self.observer.delivered(result.latencies, result.redelivered)
        return result

    def ack(self, client_id: str, ids: list[str]) -> int:
        """Ack messages leased to this client; return how many were acked.

        On SQLite the acks of several callers at once (HTTP and WebSocket) share one
        commit (:class:`~.group_commit.ThreadGroupCommit`)."""
        if self.ack_commits is not None:
            return self.ack_commits.submit((client_id, ids))
        return self.ack_many([(client_id, ids)])[0]

    @retried
    def ack_many(self, items: list[tuple[str, list[str]]]) -> list[int]:
        """Several clients' acks ``(client id, ids)`` in one transaction; the count of each."""
        with self.store.tx() as conn:
            return [self.store.ack(conn, client_id, ids=ids) for client_id, ids in items]

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
        batch = _Batch(self.clock())
        item = SendItem(text, conv_id, to, key, ack_ids)
        with self.store.tx() as conn:
            message = self._send_one(conn, batch, client_id, item)
            self._flush(conn, batch)
        if batch.stored:
            self.observer.stored("send")
        return message

    def send_batch(self, client_id: str, items: list[SendItem]) -> list[ItemResult]:
        """Store several replies in ONE transaction (one commit); a result per item, in order.

        Each item is handled as :meth:`send` would (its own idempotency key, acks, 404 /
        409 / 422 for that item alone). On PostgreSQL the conversations named by id and
        then their integrations' outboxes are locked first, each in sorted order
        (:meth:`~..store.Store.lock_conversations`), so the outbox cursor still never
        skips a reply and two batches cannot deadlock. A database error fails the batch.
        """
        return self.send_many([(client_id, item) for item in items])

    @retried
    def send_many(self, items: list[tuple[str, SendItem]]) -> list[ItemResult]:
        """:meth:`send_batch` for items of several clients ``(client id, item)``: the group
        commit of single ``POST /send`` requests."""
        batch = _Batch(self.clock())
        results: list[ItemResult] = []
        with self.store.tx() as conn:
            named = [item.conversation_id for _c, item in items if item.conversation_id]
            for row in self.store.lock_conversations(conn, named):
                batch.convs[row["id"]] = row
            keys: dict[str, list[str]] = {}
            for client_id, item in items:
                if item.key:
                    keys.setdefault(client_id, []).append(item.key)
            for client_id in sorted(keys):
                batch.prefetch_keys(self.store, conn, f"c:{client_id}", keys[client_id])
            for client_id, item in items:
                before = batch.stored
                try:
                    message = self._send_one(conn, batch, client_id, item)
                except ApiError as exc:
                    results.append(ItemResult(error=exc))
                    continue
                results.append(ItemResult(message, stored=batch.stored > before))
            self._flush(conn, batch)
        for _stored in range(batch.stored):
            self.observer.stored("send")
        return results

    def _send_one(
        self, conn: Connection, batch: _Batch, client_id: str, item: SendItem
    ) -> dict[str, Any]:
        """Store one reply in ``conn``'s transaction; return its Message JSON.

        Raises ApiError 404 ``conversation_not_found``, 409 ``idempotency_conflict``, 422
        ``recipient_mismatch`` / ``conversation_required``, each before writing anything.
        """
        now, key, to = batch.now, item.key, item.to
        scope = f"c:{client_id}"
        found = self._idempotent(
            conn,
            scope,
            key,
            batch,
            text=item.text,
            conversation_id=item.conversation_id,
            recipient=to,
        )
        if found is not None:
            return message_json(found)
        cached = batch.convs.get(item.conversation_id or "")
        if cached is not None and cached["client_id"] == client_id:
            conv = cached
        else:
            conv = self._own_conversation(conn, client_id, item.conversation_id, to, lock=True)
            batch.convs[conv["id"]] = conv
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
                "text": item.text,
                "client_id": client_id,
                "created_at": now,
                "state": "sent",
                "delivery_count": 0,
                "idem_scope": scope if key else None,
                "idem_key": key or None,
            },
        )
        if item.ack_ids is not None:
            batch.acks.setdefault(client_id, []).extend(item.ack_ids)
        else:
            self.store.ack(conn, client_id, conversation_id=conv["id"], below_seq=row["seq"])
        batch.touched.setdefault(conv["id"], {}).update(updated_at=now, status="active")
        batch.stored += 1
        if key:
            batch.idem[(scope, key)] = row
        return message_json(row)

    def _flush(self, conn: Connection, batch: _Batch) -> None:
        """The batch's deferred writes, before its commit: one update per conversation
        touched, one ack per client (the same end state as item by item)."""
        for conv_id, values in batch.touched.items():
            self.store.update_conversation(conn, conv_id, values)
        for client_id, ids in batch.acks.items():
            for start in range(0, len(ids), 1000):
                self.store.ack(conn, client_id, ids=ids[start : start + 1000])
        batch.touched.clear()
        batch.acks.clear()

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
        with self.store.read() as conn:
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
        with self.store.read() as conn:
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
        with self.store.read() as conn:
            return set(self.store.clients_with_due_messages(conn, self.clock()))

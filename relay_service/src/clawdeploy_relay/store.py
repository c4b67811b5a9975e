"""The database: engine, transactions and every SQL statement the services use.

Two backends, one schema (:mod:`.schema`, :mod:`.migrations`) and the same methods:

* **SQLite** (one node): writers are serialised by a lock in the process (SQLite has one
  writer anyway), so a transaction sees nothing change under it.
* **PostgreSQL** (several nodes sharing one database): no lock in the process; each
  transaction runs at ``READ COMMITTED`` (:mod:`.engines`) and takes row locks where a
  decision must not race with another node. A claim (:meth:`Store.claimable`) locks the
  messages it takes and their conversations ``FOR UPDATE SKIP LOCKED``: a message being
  claimed, or a conversation being moved or expired, by another transaction is skipped,
  never waited for, never handed out twice. Moving a conversation (failover) locks it
  first (:meth:`Store.lock_conversation`) and re-reads its owner; ``/inbound`` and
  ``/send`` lock their conversation before they write to it; the expiry sweep locks what
  it deletes. Lock order is conversation, then its messages. :meth:`Store.publish` sends
  ``NOTIFY`` on the channel :data:`CHANNEL` at commit (payload ``<node> <client id>``).

SQLite's compiler drops ``FOR UPDATE`` and :meth:`Store.publish` does nothing there, so on
SQLite the same code behaves as it did before PostgreSQL (the writer lock already
serialises every transaction).
"""

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.engine import make_url

from . import engines, migrations
from .schema import (
    client_signing_keys,
    clients,
    conversations,
    hello_nonces,
    integrations,
    messages,
)

Row = dict[str, Any]
# The LISTEN/NOTIFY channel of the relay's wake-ups (services/wake_listener.py listens).
CHANNEL = "clawdeploy_relay"
# The first key of the outbox's advisory locks (a 32-bit constant: "obox" in ASCII).
OUTBOX_LOCK_SPACE = int.from_bytes(b"obox", "big")
# The states of an inbound message not acked yet. Written ``state IN (...)`` rather than
# ``state != 'acked'`` so the (direction, state) index reads only these: acked messages stay
# until their conversation expires (a day by default), and a scan of them on every poll
# grew with all the traffic of the day.
UNACKED = ("pending", "leased")


def _both(query: Any) -> tuple[Any, Any]:
    """``(query, query FOR UPDATE)``: the plain and the locking form, built once."""
    return query, query.with_for_update()


class _Sql:
    """The hot statements, built once with bound parameters (``bindparam``).

    Building a Core statement and its cache key costs more than running it on SQLite
    (about 60 µs against 18 µs for a lookup by key); a statement object built once keeps
    its cache key, so each call only binds its values. Parameter names start with ``b_``
    where a column of the same name would take the value as a ``SET``.
    """

    m, c, k, i = messages.c, conversations.c, clients.c, integrations.c
    token_of = {
        "client": select(clients).where(k.token_hash == bindparam("b_hash")),
        "integration": select(integrations).where(i.token_hash == bindparam("b_hash")),
    }
    principal_of = {
        "client": select(*[col for col in clients.c if col.name != "token_hash"]).where(
            k.id == bindparam("b_id")
        ),
        "integration": select(*[col for col in integrations.c if col.name != "token_hash"]).where(
            i.id == bindparam("b_id")
        ),
    }
    update_principal = {
        "client": clients.update().where(k.id == bindparam("b_id")),
        "integration": integrations.update().where(i.id == bindparam("b_id")),
    }
    # last_seen_at never goes back (another node may have written a later poll).
    touch_client = (
        clients.update()
        .where(k.id == bindparam("b_id"))
        .values(
            last_seen_at=case(
                (
                    or_(k.last_seen_at.is_(None), k.last_seen_at < bindparam("b_seen")),
                    bindparam("b_seen"),
                ),
                else_=k.last_seen_at,
            )
        )
    )
    client_liveness = select(k.id, k.last_seen_at, k.revoked_at)
    conversation = _both(select(conversations).where(c.id == bindparam("b_id")))
    conversation_of_user = _both(
        select(conversations).where(
            c.integration_id == bindparam("b_integration"), c.user_id == bindparam("b_user")
        )
    )
    conversations_of_client_user = _both(
        select(conversations).where(
            c.client_id == bindparam("b_client"), c.user_id == bindparam("b_user")
        )
    )
    lock_conversations = (
        select(conversations)
        .where(c.id.in_(bindparam("b_ids", expanding=True)))
        .order_by(c.id)
        .with_for_update()
    )
    lock_users = (
        select(conversations)
        .where(
            c.integration_id == bindparam("b_integration"),
            c.user_id.in_(bindparam("b_users", expanding=True)),
        )
        .order_by(c.user_id)
        .with_for_update()
    )
    update_conversation = conversations.update().where(c.id == bindparam("b_id"))
    by_idempotency = select(messages).where(
        m.idem_scope == bindparam("b_scope"), m.idem_key == bindparam("b_key")
    )
    by_idempotency_keys = select(messages).where(
        m.idem_scope == bindparam("b_scope"),
        m.idem_key.in_(bindparam("b_keys", expanding=True)),
    )
    history = select(messages).where(m.conversation_id == bindparam("b_id")).order_by(m.seq)
    insert_message = messages.insert()
    outbox = (
        select(messages)
        .join(conversations, c.id == m.conversation_id)
        .where(
            c.integration_id == bindparam("b_integration"),
            m.direction == "out",
            m.seq > bindparam("b_after"),
        )
        .order_by(m.seq)
        .limit(bindparam("b_limit", type_=Integer))
    )
    _ack_base = (m.direction == "in", m.state == "leased", m.leased_to == bindparam("b_client"))
    ack_all = messages.update().where(*_ack_base).values(state="acked")
    ack_ids = (
        messages.update()
        .where(*_ack_base, m.id.in_(bindparam("b_ids", expanding=True)))
        .values(state="acked")
    )
    ack_conversation_below = (
        messages.update()
        .where(
            *_ack_base,
            m.conversation_id == bindparam("b_conv"),
            m.seq < bindparam("b_below"),
        )
        .values(state="acked")
    )
    lease = (
        messages.update()
        .where(m.seq.in_(bindparam("b_seqs", expanding=True)))
        .values(
            state="leased",
            leased_to=bindparam("b_client"),
            lease_until=bindparam("b_until"),
            delivery_count=m.delivery_count + 1,
            first_delivered_at=func.coalesce(m.first_delivered_at, bindparam("b_now")),
        )
    )
    activate = (
        conversations.update()
        .where(c.id.in_(bindparam("b_ids", expanding=True)))
        .values(status="active")
    )


class Store:
    """One relay database; :meth:`open` creates and migrates it.

    ``url`` is ``sqlite:///<path>`` or ``postgresql+psycopg://user:password@host:port/db``
    (``postgresql://`` is taken as psycopg). ``node_id`` names this process in the
    notifications it publishes, so its own listener can skip them.
    """

    def __init__(self, url: str) -> None:
        self.url = engines.normalise(make_url(url))
        self.backend = engines.backend_of(self.url)
        self.node_id = secrets.token_hex(6)
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        m, c = messages.c, conversations.c
        now = bindparam("b_now")
        self._claim = (
            select(messages)
            .join(conversations, c.id == m.conversation_id)
            .where(c.client_id == bindparam("b_client"), self._due(now))
            .order_by(m.seq)
            .limit(bindparam("b_limit", type_=Integer))
            .with_for_update(skip_locked=True)
        )

    @property
    def engine(self) -> Engine:
        """The engine, opened (and migrated) on first use."""
        if self._engine is None:
            self.open()
        assert self._engine is not None
        return self._engine

    @property
    def shared(self) -> bool:
        """Whether several relay nodes may share this database (PostgreSQL)."""
        return self.backend == engines.POSTGRESQL

    def open(self) -> None:
        """Create the engine (and the SQLite file's directory) and apply migrations.

        Raises :class:`ValueError` for an unsupported URL (from :meth:`__init__`), and what
        SQLAlchemy raises when the database is unreachable or unusable (its messages hide
        the password). On PostgreSQL two nodes starting at once migrate once
        (:func:`~.migrations.migrate` holds an advisory lock).
        """
        if self._engine is not None:
            return
        engine = engines.create(self.url)
        with self._writer(), engine.begin() as conn:
            migrations.migrate(conn)
        self._engine = engine

    def close(self) -> None:
        """Dispose of the engine's connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _writer(self) -> Any:
        """The process-wide writer lock on SQLite; nothing on PostgreSQL (row locks)."""
        return nullcontext() if self.shared else self._lock

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """A transaction: committed on success, rolled back on an exception.

        On PostgreSQL a concurrent node may make it fail with a serialization failure, a
        deadlock or a unique violation; :func:`~.retry.retried` re-runs such a call.
        """
        engine = self.engine
        with self._writer(), engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction, without SQLite's writer lock; rolled back at the end.

        On SQLite (WAL) it reads a snapshot of what was committed when it started, while a
        writer goes on: commits happen one at a time under the writer lock, so a snapshot
        holds every message up to its newest (the outbox cursor cannot pass one). For
        reads only: a write here is undone.
        """
        with self.engine.connect() as conn:
            try:
                yield conn
            finally:
                conn.rollback()

    def libpq_params(self) -> dict[str, str]:
        """``psycopg.connect`` arguments for this database (PostgreSQL; holds the password)."""
        return engines.libpq_params(self.url)

    def publish(self, conn: Connection, client_ids: set[str] | list[str]) -> None:
        """NOTIFY the other nodes, at this transaction's commit, to wake these clients.

        The payload is ``"<node_id> <client id>"`` (never message content). Nothing on
        SQLite: there is one node.
        """
        if not self.shared:
            return
        for client_id in sorted(client_ids):
            payload = f"{self.node_id} {client_id}"
            conn.execute(select(func.pg_notify(CHANNEL, payload)))

    # --- principals -------------------------------------------------------------------

    def find_token(self, conn: Connection, token_hash: str) -> tuple[str, Row] | None:
        """Return ``("client"|"integration", row)`` for a token hash, or None."""
        for kind in ("client", "integration"):
            row = conn.execute(_Sql.token_of[kind], {"b_hash": token_hash}).first()
            if row is not None:
                return kind, dict(row._mapping)
        return None

    def insert(self, conn: Connection, table_name: str, values: Row) -> None:
        """Insert one row into ``clients``, ``integrations`` or ``conversations``."""
        table = {"clients": clients, "integrations": integrations, "conversations": conversations}
        conn.execute(table[table_name].insert().values(**values))

    def update_principal(self, conn: Connection, kind: str, pid: str, values: Row) -> bool:
        """Update a client or integration by id; return whether it exists."""
        return conn.execute(_Sql.update_principal[kind], {"b_id": pid, **values}).rowcount > 0

    def touch_client(self, conn: Connection, client_id: str, seen: float) -> None:
        """Set a client's ``last_seen_at`` to ``seen`` unless it holds a later time."""
        conn.execute(_Sql.touch_client, {"b_id": client_id, "b_seen": seen})

    def client_liveness(self, conn: Connection) -> list[Row]:
        """Every client's ``{id, last_seen_at, revoked_at}`` (no join: for gone clients)."""
        return [dict(r._mapping) for r in conn.execute(_Sql.client_liveness)]

    def principal(self, conn: Connection, kind: str, pid: str) -> Row | None:
        """One client or integration by id (token hash left out), or None."""
        row = conn.execute(_Sql.principal_of[kind], {"b_id": pid}).first()
        return dict(row._mapping) if row else None

    def list_principals(self, conn: Connection, kind: str) -> list[Row]:
        """Every client or integration, oldest first (token hashes left out)."""
        table = clients if kind == "client" else integrations
        cols = [c for c in table.c if c.name != "token_hash"]
        rows = conn.execute(select(*cols).order_by(table.c.created_at, table.c.id))
        return [dict(r._mapping) for r in rows]

    def client_loads(self, conn: Connection) -> list[Row]:
        """Every client with ``pending``: its un-acked inbound messages."""
        pending = (
            select(conversations.c.client_id, func.count(messages.c.seq).label("n"))
            .join(messages, messages.c.conversation_id == conversations.c.id)
            .where(messages.c.direction == "in", messages.c.state.in_(UNACKED))
            .group_by(conversations.c.client_id)
            .subquery()
        )
        query = select(
            clients.c.id,
            clients.c.name,
            clients.c.created_at,
            clients.c.last_seen_at,
            clients.c.revoked_at,
            func.coalesce(pending.c.n, 0).label("pending"),
        ).outerjoin(pending, pending.c.client_id == clients.c.id)
        # Ties (clients created at one instant) in id order: the same order on both
        # backends, so a seeded tie-break picks the same client whatever the table's layout.
        order = (clients.c.created_at, clients.c.id)
        return [dict(r._mapping) for r in conn.execute(query.order_by(*order))]

    # --- conversations ----------------------------------------------------------------

    def conversation(self, conn: Connection, conv_id: str, lock: bool = False) -> Row | None:
        """One conversation by id, or None; ``lock``: ``FOR UPDATE`` (waits for a holder)."""
        row = conn.execute(_Sql.conversation[lock], {"b_id": conv_id}).first()
        return dict(row._mapping) if row else None

    def lock_conversation(self, conn: Connection, conv_id: str) -> Row | None:
        """Lock one conversation ``FOR UPDATE SKIP LOCKED``; return its current row.

        None when it is gone or another transaction holds it (a claim, a move, the
        expiry): the caller leaves it alone this time.
        """
        query = select(conversations).where(conversations.c.id == conv_id)
        row = conn.execute(query.with_for_update(skip_locked=True)).first()
        return dict(row._mapping) if row else None

    def conversation_of_user(
        self, conn: Connection, integration_id: str, user: str, lock: bool = False
    ) -> Row | None:
        """The conversation of ``user`` under ``integration_id``, or None; ``lock`` as above."""
        params = {"b_integration": integration_id, "b_user": user}
        row = conn.execute(_Sql.conversation_of_user[lock], params).first()
        return dict(row._mapping) if row else None

    def conversations_of_users(
        self, conn: Connection, integration_id: str, users: list[str]
    ) -> list[Row]:
        """The conversations of these users of ``integration_id`` (one query for a batch),
        locked ``FOR UPDATE`` in user order on PostgreSQL: a batch locks its rows in one
        order, so two batches cannot deadlock on them."""
        if not users:
            return []
        params = {"b_integration": integration_id, "b_users": sorted(set(users))}
        return [dict(r._mapping) for r in conn.execute(_Sql.lock_users, params)]

    def lock_conversations(self, conn: Connection, conv_ids: list[str]) -> list[Row]:
        """These conversations (one query for a batch), locked ``FOR UPDATE`` in id order,
        then the outboxes of their integrations in id order (PostgreSQL; SQLite's writer
        lock does both): a batch of replies takes its locks in the order one ``/send``
        does (conversation, outbox), each kind sorted, so it cannot deadlock with another
        batch or a single send. Returns the conversations found."""
        if not conv_ids:
            return []
        ids = sorted(set(conv_ids))
        rows = [dict(r._mapping) for r in conn.execute(_Sql.lock_conversations, {"b_ids": ids})]
        for integration_id in sorted({row["integration_id"] for row in rows}):
            self.lock_outbox(conn, integration_id)
        return rows

    def conversations_of_client_user(
        self, conn: Connection, client_id: str, user: str, lock: bool = False
    ) -> list[Row]:
        """The conversations of ``client_id`` whose user is ``user``; ``lock`` as above."""
        params = {"b_client": client_id, "b_user": user}
        rows = conn.execute(_Sql.conversations_of_client_user[lock], params)
        return [dict(r._mapping) for r in rows]

    def list_conversations(self, conn: Connection) -> list[Row]:
        """Every conversation with ``pending`` and ``message_count``."""
        m = messages.c
        query = (
            select(
                conversations,
                func.count(m.seq).label("message_count"),
                func.coalesce(
                    func.sum(and_(m.direction == "in", m.state != "acked").cast(Integer)), 0
                ).label("pending"),
            )
            .outerjoin(messages, m.conversation_id == conversations.c.id)
            .group_by(conversations.c.id)
            .order_by(conversations.c.created_at)
        )
        return [dict(r._mapping) for r in conn.execute(query)]

    def update_conversation(self, conn: Connection, conv_id: str, values: Row) -> None:
        """Update one conversation's columns."""
        conn.execute(_Sql.update_conversation, {"b_id": conv_id, **values})

    def activate_conversations(self, conn: Connection, conv_ids: list[str]) -> None:
        """Mark conversations ``active`` (a message of theirs was delivered)."""
        if conv_ids:
            conn.execute(_Sql.activate, {"b_ids": sorted(set(conv_ids))})

    def conversations_needing_home(self, conn: Connection, bad_clients: list[str]) -> list[str]:
        """Ids of conversations with un-acked messages on ``bad_clients`` or on no client."""
        c, m = conversations.c, messages.c
        owner = or_(c.client_id.is_(None), c.client_id.in_(bad_clients))
        query = (
            select(c.id)
            .join(messages, m.conversation_id == c.id)
            .where(owner, m.direction == "in", m.state.in_(UNACKED))
            .group_by(c.id)
            .order_by(func.min(m.seq))
        )
        return list(conn.execute(query).scalars())

    def expired_conversations(self, conn: Connection, before: float) -> list[str]:
        """Ids of conversations untouched since ``before`` with nothing left to deliver.

        Locked ``FOR UPDATE SKIP LOCKED`` until the caller commits: a conversation an
        ``/inbound`` is writing to is skipped, and one locked here makes that ``/inbound``
        wait, then start a new conversation.
        """
        c, m = conversations.c, messages.c
        unacked = select(m.seq).where(
            m.conversation_id == c.id, m.direction == "in", m.state != "acked"
        )
        query = select(c.id).where(c.updated_at < before, ~unacked.exists())
        return list(conn.execute(query.with_for_update(skip_locked=True)).scalars())

    def delete_conversations(self, conn: Connection, ids: list[str]) -> None:
        """Delete conversations and their messages."""
        if ids:
            conn.execute(messages.delete().where(messages.c.conversation_id.in_(ids)))
            conn.execute(conversations.delete().where(conversations.c.id.in_(ids)))

    # --- messages ---------------------------------------------------------------------

    def lock_outbox(self, conn: Connection, integration_id: str) -> None:
        """Hold ``integration_id``'s outbox until this transaction ends (PostgreSQL).

        ``GET /outbox`` pages by ``seq``, so replies must become visible in ``seq`` order:
        two sends that took seqs 7 and 8 and committed 8 first would let a reader's cursor
        pass 7 before it is visible, and 7 would never be read. Taken before the reply's
        insert (which draws the seq), this transaction-level advisory lock makes one
        integration's sends draw and commit their seqs one after the other. Its key is
        (:data:`OUTBOX_LOCK_SPACE`, ``hashtext(integration_id)``); a hash collision only
        serialises two integrations. Nothing on SQLite: its writer lock already does this.
        """
        if self.shared:
            key = func.hashtext(integration_id)
            conn.execute(select(func.pg_advisory_xact_lock(OUTBOX_LOCK_SPACE, key)))

    def insert_message(self, conn: Connection, values: Row) -> Row:
        """Insert a message and return it with its ``seq``."""
        result = conn.execute(_Sql.insert_message, values)
        return {**values, "seq": result.inserted_primary_key[0]}

    def message_by_idempotency(self, conn: Connection, scope: str, key: str) -> Row | None:
        """The message stored under ``(scope, key)``, or None."""
        row = conn.execute(_Sql.by_idempotency, {"b_scope": scope, "b_key": key}).first()
        return dict(row._mapping) if row else None

    def messages_by_idempotency(self, conn: Connection, scope: str, keys: list[str]) -> list[Row]:
        """The messages stored under ``scope`` and any of ``keys`` (one query for a batch)."""
        if not keys:
            return []
        params = {"b_scope": scope, "b_keys": sorted(set(keys))}
        return [dict(r._mapping) for r in conn.execute(_Sql.by_idempotency_keys, params)]

    def history(self, conn: Connection, conv_id: str) -> list[Row]:
        """Every message of a conversation in order."""
        rows = conn.execute(_Sql.history, {"b_id": conv_id})
        return [dict(r._mapping) for r in rows]

    @staticmethod
    def _due(now: float) -> Any:
        """SQL: an inbound message that may be delivered now (pending, or its lease ran
        out) in a conversation with no running lease (so it is delivered in order)."""
        m = messages.c
        busy = messages.alias("busy")
        held = select(busy.c.seq).where(
            busy.c.conversation_id == m.conversation_id,
            busy.c.state == "leased",
            busy.c.lease_until > now,
        )
        return and_(
            m.direction == "in",
            # pending, or leased with the lease run out; IN first, so the index is used
            m.state.in_(UNACKED),
            or_(m.state == "pending", m.lease_until <= now),
            ~held.exists(),
        )

    def claimable(self, conn: Connection, client_id: str, now: float, limit: int) -> list[Row]:
        """Inbound messages ``client_id`` may take now, in ``seq`` order, locked.

        Pending or lease-expired messages of its conversations, skipping any conversation
        that still has an unexpired lease (so a conversation is delivered in order). On
        PostgreSQL the rows of both tables are locked ``FOR UPDATE SKIP LOCKED`` until
        commit, so concurrent claims (other nodes, other clients' moves) never take the
        same message: a locked row is skipped, and a row changed by a claim that committed
        meanwhile is re-checked by PostgreSQL and dropped. Two claims of one client at once
        (a long-poll beside a WebSocket) are safe the same way: each row, and each
        conversation, goes to one of them, and a conversation locked by one is skipped
        whole by the other (so its messages still come in order).
        """
        params = {"b_client": client_id, "b_now": now, "b_limit": limit}
        return [dict(r._mapping) for r in conn.execute(self._claim, params)]

    def clients_with_due_messages(self, conn: Connection, now: float) -> list[str]:
        """Ids of clients with at least one message they could claim now (fallback wake-up)."""
        m, c = messages.c, conversations.c
        query = (
            select(c.client_id)
            .join(messages, m.conversation_id == c.id)
            .where(c.client_id.is_not(None), self._due(now))
            .distinct()
        )
        return [cid for cid in conn.execute(query).scalars() if cid]

    def lease(
        self, conn: Connection, seqs: list[int], client_id: str, until: float, now: float
    ) -> None:
        """Lease messages to ``client_id`` until ``until``; count the delivery."""
        params = {"b_seqs": seqs, "b_client": client_id, "b_until": until, "b_now": now}
        conn.execute(_Sql.lease, params)

    def ack(
        self,
        conn: Connection,
        client_id: str,
        ids: list[str] | None = None,
        conversation_id: str | None = None,
        below_seq: int | None = None,
    ) -> int:
        """Ack messages leased to ``client_id`` (by id, or by conversation); return the count."""
        if ids is not None and conversation_id is None and below_seq is None:
            if not ids:
                return 0
            return conn.execute(_Sql.ack_ids, {"b_client": client_id, "b_ids": ids}).rowcount
        if ids is None and conversation_id is None and below_seq is None:
            return conn.execute(_Sql.ack_all, {"b_client": client_id}).rowcount
        if ids is None and conversation_id is not None and below_seq is not None:
            params = {"b_client": client_id, "b_conv": conversation_id, "b_below": below_seq}
            return conn.execute(_Sql.ack_conversation_below, params).rowcount
        m = messages.c
        where = [m.direction == "in", m.state == "leased", m.leased_to == client_id]
        if ids is not None:
            where.append(m.id.in_(ids))
        if conversation_id is not None:
            where.append(m.conversation_id == conversation_id)
        if below_seq is not None:
            where.append(m.seq < below_seq)
        return conn.execute(messages.update().where(*where).values(state="acked")).rowcount

    def clients_with_expired_leases(self, conn: Connection, now: float) -> list[str]:
        """Ids of clients holding a lease that ran out (their messages are due again)."""
        m = messages.c
        query = (
            select(m.leased_to)
            .where(m.direction == "in", m.state == "leased", m.lease_until <= now)
            .distinct()
        )
        return [cid for cid in conn.execute(query).scalars() if cid]

    def release_conversation(self, conn: Connection, conv_id: str) -> None:
        """Return a conversation's leased messages to ``pending`` (failover)."""
        m = messages.c
        conn.execute(
            messages.update()
            .where(m.conversation_id == conv_id, m.state == "leased")
            .values(state="pending", leased_to=None, lease_until=None)
        )

    def outbox(self, conn: Connection, integration_id: str, after: int, limit: int) -> list[Row]:
        """Replies to ``integration_id``'s users with ``seq > after``, oldest first."""
        params = {"b_integration": integration_id, "b_after": after, "b_limit": limit}
        return [dict(r._mapping) for r in conn.execute(_Sql.outbox, params)]

    def conversation_state_counts(
        self, conn: Connection, now: float, idle_s: float, ttl_s: float
    ) -> dict[str, int]:
        """How many conversations are in each state at ``now``, in one grouped query.

        The CASE is :func:`~.services.states.conversation_state` in SQL (a test holds the
        two together); states with no conversation are left out.
        """
        c = conversations.c
        state = case(
            (c.updated_at <= now - ttl_s, "expired"),
            (c.status == "created", "created"),
            (c.updated_at <= now - idle_s, "idle"),
            else_="active",
        ).label("state")
        rows = conn.execute(select(state, func.count()).group_by(state))
        return {str(name): int(count) for name, count in rows}

    # --- the WebSocket's signed hello (services/signing.py) ----------------------------

    def signing_salt(self, conn: Connection, client_id: str) -> Row | None:
        """``{salt, created_at, revoked_at}`` of a client's signing key, or None (no key)."""
        k = client_signing_keys.c
        query = (
            select(k.salt, k.created_at, clients.c.revoked_at)
            .join(clients, clients.c.id == k.client_id)
            .where(k.client_id == client_id)
        )
        row = conn.execute(query).first()
        return dict(row._mapping) if row else None

    def set_signing_salt(self, conn: Connection, client_id: str, salt: str, now: float) -> None:
        """Give a client a new signing-key salt (replacing its old one: a rotation)."""
        k = client_signing_keys.c
        conn.execute(client_signing_keys.delete().where(k.client_id == client_id))
        conn.execute(
            client_signing_keys.insert().values(client_id=client_id, salt=salt, created_at=now)
        )

    def use_hello_nonce(
        self, conn: Connection, client_id: str, nonce: str, expires_at: float, now: float
    ) -> None:
        """Record a hello's nonce (deleting the expired ones first).

        A nonce already recorded for the client raises :class:`sqlalchemy.exc.IntegrityError`
        (the primary key): the caller refuses the replay.
        """
        conn.execute(hello_nonces.delete().where(hello_nonces.c.expires_at < now))
        conn.execute(
            hello_nonces.insert().values(client_id=client_id, nonce=nonce, expires_at=expires_at)
        )

    # --- reply streams and cancels (services/streams.py) --------------------------------

    def inbound_message(self, conn: Connection, message_id: str) -> Row | None:
        """An inbound message with its conversation's owner: ``{conversation_id, state,
        client_id, integration_id, user_id}``, or None."""
        m, c = messages.c, conversations.c
        query = (
            select(m.conversation_id, m.state, c.client_id, c.integration_id, c.user_id)
            .join(conversations, c.id == m.conversation_id)
            .where(m.id == message_id, m.direction == "in")
        )
        row = conn.execute(query).first()
        return dict(row._mapping) if row else None

    def ack_any(self, conn: Connection, message_id: str) -> bool:
        """Ack an inbound message whoever holds it (a cancel); whether it was not acked."""
        m = messages.c
        query = (
            messages.update()
            .where(m.id == message_id, m.direction == "in", m.state != "acked")
            .values(state="acked")
        )
        return conn.execute(query).rowcount > 0

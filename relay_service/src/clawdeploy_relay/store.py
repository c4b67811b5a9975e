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
    case,
    func,
    or_,
    select,
)
from sqlalchemy.engine import make_url

from . import engines, migrations
from .schema import clients, conversations, integrations, messages

Row = dict[str, Any]
# The LISTEN/NOTIFY channel of the relay's wake-ups (services/wake_listener.py listens).
CHANNEL = "clawdeploy_relay"
# The first key of the outbox's advisory locks (a 32-bit constant: "obox" in ASCII).
OUTBOX_LOCK_SPACE = int.from_bytes(b"obox", "big")


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
        for kind, table in (("client", clients), ("integration", integrations)):
            row = conn.execute(select(table).where(table.c.token_hash == token_hash)).first()
            if row is not None:
                return kind, dict(row._mapping)
        return None

    def insert(self, conn: Connection, table_name: str, values: Row) -> None:
        """Insert one row into ``clients``, ``integrations`` or ``conversations``."""
        table = {"clients": clients, "integrations": integrations, "conversations": conversations}
        conn.execute(table[table_name].insert().values(**values))

    def update_principal(self, conn: Connection, kind: str, pid: str, values: Row) -> bool:
        """Update a client or integration by id; return whether it exists."""
        table = clients if kind == "client" else integrations
        return conn.execute(table.update().where(table.c.id == pid).values(**values)).rowcount > 0

    def principal(self, conn: Connection, kind: str, pid: str) -> Row | None:
        """One client or integration by id (token hash left out), or None."""
        table = clients if kind == "client" else integrations
        cols = [c for c in table.c if c.name != "token_hash"]
        row = conn.execute(select(*cols).where(table.c.id == pid)).first()
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
            .where(messages.c.direction == "in", messages.c.state != "acked")
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
        query = select(conversations).where(conversations.c.id == conv_id)
        row = conn.execute(query.with_for_update() if lock else query).first()
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
        c = conversations.c
        query = select(conversations).where(c.integration_id == integration_id, c.user_id == user)
        row = conn.execute(query.with_for_update() if lock else query).first()
        return dict(row._mapping) if row else None

    def conversations_of_client_user(
        self, conn: Connection, client_id: str, user: str, lock: bool = False
    ) -> list[Row]:
        """The conversations of ``client_id`` whose user is ``user``; ``lock`` as above."""
        c = conversations.c
        query = select(conversations).where(c.client_id == client_id, c.user_id == user)
        rows = conn.execute(query.with_for_update() if lock else query)
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
        conn.execute(conversations.update().where(conversations.c.id == conv_id).values(**values))

    def conversations_needing_home(self, conn: Connection, bad_clients: list[str]) -> list[str]:
        """Ids of conversations with un-acked messages on ``bad_clients`` or on no client."""
        c, m = conversations.c, messages.c
        owner = or_(c.client_id.is_(None), c.client_id.in_(bad_clients))
        query = (
            select(c.id)
            .join(messages, m.conversation_id == c.id)
            .where(owner, m.direction == "in", m.state != "acked")
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
        result = conn.execute(messages.insert().values(**values))
        return {**values, "seq": result.inserted_primary_key[0]}

    def message_by_idempotency(self, conn: Connection, scope: str, key: str) -> Row | None:
        """The message stored under ``(scope, key)``, or None."""
        m = messages.c
        row = conn.execute(select(messages).where(m.idem_scope == scope, m.idem_key == key)).first()
        return dict(row._mapping) if row else None

    def history(self, conn: Connection, conv_id: str) -> list[Row]:
        """Every message of a conversation in order."""
        m = messages.c
        rows = conn.execute(select(messages).where(m.conversation_id == conv_id).order_by(m.seq))
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
            or_(m.state == "pending", and_(m.state == "leased", m.lease_until <= now)),
            ~held.exists(),
        )

    def claimable(self, conn: Connection, client_id: str, now: float, limit: int) -> list[Row]:
        """Inbound messages ``client_id`` may take now, in ``seq`` order, locked.

        Pending or lease-expired messages of its conversations, skipping any conversation
        that still has an unexpired lease (so a conversation is delivered in order). On
        PostgreSQL the rows of both tables are locked ``FOR UPDATE SKIP LOCKED`` until
        commit, so concurrent claims (other nodes, other clients' moves) never take the
        same message: a locked row is skipped, and a row changed by a claim that committed
        meanwhile is re-checked by PostgreSQL and dropped. Claims of one client are also
        serialised by the ``last_seen_at`` update that starts every poll transaction.
        """
        m, c = messages.c, conversations.c
        query = (
            select(messages)
            .join(conversations, c.id == m.conversation_id)
            .where(c.client_id == client_id, self._due(now))
            .order_by(m.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [dict(r._mapping) for r in conn.execute(query)]

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
        m = messages.c
        conn.execute(
            messages.update()
            .where(m.seq.in_(seqs))
            .values(
                state="leased",
                leased_to=client_id,
                lease_until=until,
                delivery_count=m.delivery_count + 1,
                first_delivered_at=func.coalesce(m.first_delivered_at, now),
            )
        )

    def ack(
        self,
        conn: Connection,
        client_id: str,
        ids: list[str] | None = None,
        conversation_id: str | None = None,
        below_seq: int | None = None,
    ) -> int:
        """Ack messages leased to ``client_id`` (by id, or by conversation); return the count."""
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
        m, c = messages.c, conversations.c
        query = (
            select(messages)
            .join(conversations, c.id == m.conversation_id)
            .where(c.integration_id == integration_id, m.direction == "out", m.seq > after)
            .order_by(m.seq)
            .limit(limit)
        )
        return [dict(r._mapping) for r in conn.execute(query)]

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

"""The store on PostgreSQL: migrations once with several nodes, its types, claims with
``SKIP LOCKED``, row locks around moves and expiry, and transactions retried after a
conflict with another node. Skipped without ``RELAY_TEST_DATABASE_URL`` (the retry unit
tests at the end run everywhere)."""

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from clawdeploy_relay import retry
from clawdeploy_relay.clock import FakeClock
from clawdeploy_relay.migrations import LATEST
from clawdeploy_relay.schema import conversations, integrations, messages, schema_version
from clawdeploy_relay.services.relay import RelayService
from clawdeploy_relay.settings import Settings
from clawdeploy_relay.store import Store
from relay_helpers import in_parallel, seed_principals

NODES = 4


@pytest.fixture
def service(postgres_url: str) -> Iterator[RelayService]:
    """A delivery service on a fresh PostgreSQL database, clients c1 and c2."""
    store = Store(postgres_url)
    clock = FakeClock()
    seed_principals(store, clock, ("c1", "c2"), "i1")
    yield RelayService(store, Settings(), clock, random.Random(5))
    store.close()


# --- migrations and schema ------------------------------------------------------------


def test_nodes_starting_together_migrate_once(postgres_url: str) -> None:
    stores = [Store(postgres_url) for node in range(NODES)]
    try:
        in_parallel(NODES, lambda n: stores[n].open())
        with stores[0].tx() as conn:
            versions = conn.execute(select(schema_version.c.version)).scalars().all()
            ids = conn.execute(select(integrations.c.id)).scalars().all()
        assert sorted(versions) == list(range(1, LATEST + 1))
        assert ids == ["default"]
    finally:
        for store in stores:
            store.close()


def test_schema_types_and_index_names(postgres_url: str) -> None:
    store = Store(postgres_url)
    try:
        with store.tx() as conn:
            types = dict(
                conn.execute(
                    text(
                        "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = 'messages'"
                    )
                ).all()
            )
            seq_default = conn.execute(
                text("SELECT pg_get_serial_sequence('messages', 'seq')")
            ).scalar()
            indexes = set(conn.execute(text("SELECT indexname FROM pg_indexes")).scalars())
        assert types["seq"] == "bigint" and seq_default  # BIGSERIAL: 64 bits, a sequence
        assert types["created_at"] == types["lease_until"] == "double precision"
        assert types["text"] == "text" and types["delivery_count"] == "integer"
        assert {"ix_messages_conversation", "ix_messages_state", "ix_conversations_client"} <= (
            indexes
        )
        store.close()
        store.open()  # again: nothing left to migrate, nothing fails
    finally:
        store.close()


# --- claims and locks -----------------------------------------------------------------


def _lock_timeout(conn: Connection) -> None:
    """Make a wait for a row lock fail after 2 s instead of hanging the test."""
    conn.execute(text("SET LOCAL lock_timeout = '2s'"))


def test_a_claim_skips_what_another_transaction_is_claiming(service: RelayService) -> None:
    store = service.store
    for cid in ("c1", "c2"):
        service.poll(cid, implicit_ack=False)
    first = service.inbound("i1", "alice", "one", None)[0]
    owner = first["clientId"]
    # bob and carol: on the same client as alice (sticky by hand).
    others = []
    for user in ("bob", "carol"):
        message = service.inbound("i1", user, "two", None)[0]
        with store.tx() as conn:
            store.update_conversation(conn, message["conversationId"], {"client_id": owner})
        others.append(message["id"])
    now = service.clock()
    with store.engine.connect() as one, store.engine.connect() as two, one.begin():
        held = store.claimable(one, owner, now, 1)
        assert [r["id"] for r in held] == [first["id"]]
        with two.begin():
            _lock_timeout(two)
            started = time.monotonic()
            rest = store.claimable(two, owner, now, 10)
            assert time.monotonic() - started < 1.0  # skipped, not waited for
            assert sorted(r["id"] for r in rest) == sorted(others)


def test_failover_leaves_a_locked_conversation_until_it_is_free(service: RelayService) -> None:
    store, clock = service.store, service.clock
    for cid in ("c1", "c2"):
        service.poll(cid, implicit_ack=False)
    message = service.inbound("i1", "alice", "hi", None)[0]
    owner, conv_id = message["clientId"], message["conversationId"]
    other = "c2" if owner == "c1" else "c1"
    clock.advance(301)  # type: ignore[attr-defined]
    with store.engine.connect() as holder, holder.begin():
        store.conversation(holder, conv_id, lock=True)  # as an /inbound in progress would
        assert service.poll(other, implicit_ack=False).messages == []  # skipped, not waited
        service.sweep()
        with store.tx() as conn:
            assert store.conversation(conn, conv_id)["client_id"] == owner  # type: ignore[index]
    woken, _expired = service.sweep()
    assert woken == {other}
    assert [m["id"] for m in service.poll(other, implicit_ack=False).messages] == [message["id"]]


def test_expiry_and_a_late_inbound_lose_nothing(service: RelayService) -> None:
    store, clock = service.store, service.clock
    service.poll("c1", implicit_ack=True)
    first = service.inbound("i1", "alice", "old", None)[0]
    service.poll(first["clientId"], implicit_ack=True)
    service.poll(first["clientId"], implicit_ack=True)  # acked: nothing left to deliver
    clock.advance(86_401)  # type: ignore[attr-defined]
    with ThreadPoolExecutor(1) as pool, store.engine.connect() as sweeper:
        with sweeper.begin():
            expired = store.expired_conversations(sweeper, clock() - 86_400)
            assert expired == [first["conversationId"]]  # locked until this commits
            late = pool.submit(service.inbound, "i1", "alice", "new", None)
            time.sleep(0.3)
            assert not late.done()  # the inbound waits for the expiry's lock
            store.delete_conversations(sweeper, expired)
        message = late.result(timeout=5)[0]
    assert message["conversationId"] != first["conversationId"]
    with store.tx() as conn:
        stored = conn.execute(select(messages.c.id, messages.c.text)).all()
    assert [tuple(r) for r in stored] == [(message["id"], "new")]


def test_first_messages_of_one_user_on_many_nodes_make_one_conversation(
    service: RelayService,
) -> None:
    results = in_parallel(NODES, lambda n: service.inbound("i1", "zoe", f"m{n}", None)[0])
    assert len({r["conversationId"] for r in results}) == 1
    with service.store.tx() as conn:
        assert len(conn.execute(select(conversations.c.id)).all()) == 1
        assert len(conn.execute(select(messages.c.id)).all()) == NODES


def test_one_idempotency_key_on_many_nodes_stores_one_message(service: RelayService) -> None:
    results = in_parallel(NODES, lambda n: service.inbound("i1", "zoe", "same", "key-1")[0])
    assert len({r["id"] for r in results}) == 1
    with service.store.tx() as conn:
        assert len(conn.execute(select(messages.c.id)).all()) == 1


def test_concurrent_claims_of_one_client_never_share_a_message(service: RelayService) -> None:
    service.poll("c1", implicit_ack=False)
    with service.store.tx() as conn:
        service.store.update_principal(conn, "client", "c2", {"revoked_at": 1.0})
    ids = [service.inbound("i1", f"user{n}", "hi", None)[0]["id"] for n in range(30)]

    def drain(_node: int) -> list[str]:
        taken: list[str] = []
        while batch := service.poll("c1", implicit_ack=False).messages:
            taken += [m["id"] for m in batch]
        return taken

    small = Settings(poll_batch=2)
    service.settings = small
    taken = [i for batch in in_parallel(NODES, drain) for i in batch]
    assert sorted(taken) == sorted(ids)  # every message once, none twice


def test_an_outbox_cursor_never_passes_a_reply_not_yet_committed(
    service: RelayService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reply A draws its seq first but commits last; B, sent meanwhile, must not become
    readable before A, or a reader's cursor would pass A for good."""
    service.poll("c1", implicit_ack=False)
    with service.store.tx() as conn:
        service.store.update_principal(conn, "client", "c2", {"revoked_at": 1.0})
    conv_a = service.inbound("i1", "ann", "hi", None)[0]["conversationId"]
    conv_b = service.inbound("i1", "ben", "hi", None)[0]["conversationId"]
    inserted, release = threading.Event(), threading.Event()
    insert = service.store.insert_message

    def slow_insert(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
        row = insert(conn, values)
        if values["conversation_id"] == conv_a:
            inserted.set()
            assert release.wait(timeout=10)  # A's transaction stays open, its seq drawn
        return row

    monkeypatch.setattr(service.store, "insert_message", slow_insert)
    with ThreadPoolExecutor(2) as pool:
        reply_a = pool.submit(service.send, "c1", conv_a, None, "to ann", None, None)
        assert inserted.wait(timeout=10)
        reply_b = pool.submit(service.send, "c1", conv_b, None, "to ben", None, None)
        time.sleep(0.5)
        seen = service.outbox("i1", 0)  # read while A is still open
        cursor = seen[-1]["seq"] if seen else 0
        release.set()
        ids = {reply_a.result(timeout=10)["id"], reply_b.result(timeout=10)["id"]}
    seen += service.outbox("i1", cursor)
    assert sorted(m["id"] for m in seen) == sorted(ids)  # both read, once each


def test_outbox_pages_see_every_reply_of_concurrent_sends(service: RelayService) -> None:
    service.poll("c1", implicit_ack=False)
    with service.store.tx() as conn:
        service.store.update_principal(conn, "client", "c2", {"revoked_at": 1.0})
    convs = [service.inbound("i1", f"user{n}", "hi", None)[0]["conversationId"] for n in range(8)]
    done = threading.Event()
    read: list[str] = []

    def reader() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            page = service.outbox("i1", cursor)
            read.extend(m["id"] for m in page)
            cursor = page[-1]["seq"] if page else cursor
            if finished and not page:
                return

    def sender(number: int) -> list[str]:
        return [
            service.send("c1", convs[number], None, f"r{k}", None, None)["id"] for k in range(25)
        ]

    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(reader)
        sent = [i for batch in in_parallel(len(convs), sender) for i in batch]
        done.set()
        reading.result(timeout=30)
    assert sorted(read) == sorted(sent)  # every reply read once, none skipped


# --- retries (unit tests: no database) ------------------------------------------------


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _db_error(sqlstate: str) -> DBAPIError:
    return OperationalError("SELECT 1", None, _PgError(sqlstate))


@pytest.mark.parametrize("sqlstate", sorted(retry.RETRYABLE_SQLSTATES))
def test_conflicts_are_retried_until_they_pass(
    sqlstate: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry.time, "sleep", lambda _s: None)
    calls: list[int] = []

    @retry.retried
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _db_error(sqlstate)
        return "done"

    assert flaky() == "done" and len(calls) == 3


def test_retries_are_bounded_and_other_errors_pass_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(retry.time, "sleep", lambda _s: None)
    calls: list[str] = []

    @retry.retried
    def failing(state: str) -> None:
        calls.append(state)
        raise _db_error(state)

    with pytest.raises(DBAPIError):
        failing("40001")
    assert calls == ["40001"] * retry.ATTEMPTS
    calls.clear()
    with pytest.raises(DBAPIError):
        failing("42P01")  # undefined table: a bug, not a conflict
    assert calls == ["42P01"]


def test_psycopg_reports_the_sqlstates_retry_expects() -> None:
    assert psycopg.errors.SerializationFailure.sqlstate == "40001"
    assert psycopg.errors.DeadlockDetected.sqlstate == "40P01"
    assert psycopg.errors.UniqueViolation.sqlstate == "23505"
    assert psycopg.errors.ForeignKeyViolation.sqlstate == "23503"

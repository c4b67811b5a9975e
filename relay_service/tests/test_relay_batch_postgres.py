"""Batches on PostgreSQL, several transactions at once: the outbox cursor never passes a
reply of a batch that commits late (``lock_outbox`` is taken for batches too), concurrent
reply batches over the same conversations in opposite orders neither deadlock for good nor
lose a reply, and concurrent inbound batches of one user keep one conversation."""

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from clawdeploy_relay.clock import FakeClock
from clawdeploy_relay.schema import conversations
from clawdeploy_relay.services.relay import InboundItem, RelayService, SendItem
from clawdeploy_relay.settings import Settings
from clawdeploy_relay.store import Store
from relay_helpers import in_parallel, seed_principals


@pytest.fixture
def service(postgres_url: str) -> Iterator[RelayService]:
    """A delivery service on a fresh PostgreSQL database: client c1 only (c2 revoked)."""
    store = Store(postgres_url)
    clock = FakeClock()
    seed_principals(store, clock, ("c1", "c2"), "i1")
    with store.tx() as conn:
        store.update_principal(conn, "client", "c2", {"revoked_at": 1.0})
    relay = RelayService(store, Settings(), clock, random.Random(5))
    relay.poll("c1", implicit_ack=False)
    yield relay
    store.close()


def test_a_cursor_never_passes_a_reply_batch_not_yet_committed(
    service: RelayService, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv_a = service.inbound("i1", "ann", "hi", None)[0]["conversationId"]
    conv_b = service.inbound("i1", "ben", "hi", None)[0]["conversationId"]
    inserted, release = threading.Event(), threading.Event()
    insert = service.store.insert_message

    def slow_insert(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
        row = insert(conn, values)
        if values["text"] == "batch to ann":
            inserted.set()
            assert release.wait(timeout=10)  # the batch stays open, its seq drawn
        return row

    monkeypatch.setattr(service.store, "insert_message", slow_insert)
    with ThreadPoolExecutor(2) as pool:
        batch = pool.submit(service.send_batch, "c1", [SendItem("batch to ann", conv_a)])
        assert inserted.wait(timeout=10)
        single = pool.submit(service.send, "c1", conv_b, None, "to ben", None, None)
        time.sleep(0.5)
        seen = service.outbox("i1", 0)  # read while the batch is still open
        cursor = seen[-1]["seq"] if seen else 0
        release.set()
        ids = {batch.result(timeout=10)[0].message["id"], single.result(timeout=10)["id"]}
    seen += service.outbox("i1", cursor)
    assert sorted(m["id"] for m in seen) == sorted(ids)  # both read, once each


def test_reply_batches_in_opposite_orders_all_commit(service: RelayService) -> None:
    convs = [service.inbound("i1", f"user{n}", "hi", None)[0]["conversationId"] for n in range(6)]

    def sender(number: int) -> list[str]:
        order = convs if number % 2 == 0 else list(reversed(convs))
        sent: list[str] = []
        for round_ in range(5):
            items = [SendItem(f"r{number}-{round_}-{k}", conv) for k, conv in enumerate(order)]
            results = service.send_batch("c1", items)
            assert all(r.error is None for r in results)
            sent += [r.message["id"] for r in results if r.message]
        return sent

    sent = [i for batch in in_parallel(4, sender) for i in batch]
    read: list[str] = []
    cursor = 0
    while page := service.outbox("i1", cursor):
        read += [m["id"] for m in page]
        cursor = page[-1]["seq"]
    assert sorted(read) == sorted(sent) and len(sent) == 4 * 5 * 6


def test_concurrent_inbound_batches_of_one_user_make_one_conversation(
    service: RelayService,
) -> None:
    def post(number: int) -> list[str]:
        items = [InboundItem("zoe", f"m{number}-{k}") for k in range(3)]
        results, _wake = service.inbound_batch("i1", items)
        return [r.message["conversationId"] for r in results if r.message]

    conv_ids = {c for batch in in_parallel(4, post) for c in batch}
    assert len(conv_ids) == 1
    with service.store.read() as conn:
        count = conn.execute(
            select(func.count()).where(conversations.c.user_id == "zoe")
        ).scalar_one()
    assert count == 1

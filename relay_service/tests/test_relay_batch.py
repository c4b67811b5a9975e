"""Batch routes, ``POST /inbound/batch`` and ``POST /send/batch``: a superset of the seed's
API (the single routes are unchanged), one transaction per batch, a result per item in
order, idempotency keys per item, per-item refusals, and rates that count items."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from clawdeploy_relay.schemas import MAX_BATCH_ITEMS
from relay_helpers import Relay, assert_error


def inbound_batch(
    relay: Relay, items: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> Any:
    return relay.call(
        "POST", "/inbound/batch", json={"messages": items}, headers=headers or relay.admin
    )


def send_batch(relay: Relay, headers: dict[str, str], items: list[dict[str, Any]]) -> Any:
    return relay.call("POST", "/send/batch", json={"messages": items}, headers=headers)


@contextmanager
def counted_transactions(relay: Relay) -> Iterator[list[int]]:
    """Count the write transactions the app's store opens inside the block."""
    store = relay.http.app.state.store
    original = store.tx
    count = [0]

    @contextmanager
    def counting() -> Iterator[Any]:
        count[0] += 1
        with original() as conn:
            yield conn

    store.tx = counting
    try:
        yield count
    finally:
        store.tx = original


def test_inbound_batch_stores_every_item_in_one_transaction(relay: Relay) -> None:
    _cid, oc = relay.register()
    relay.poll(oc)
    items = [{"from": f"user-{i % 3}", "text": f"text {i}"} for i in range(7)]
    with counted_transactions(relay) as transactions:
        answer = inbound_batch(relay, items)
    assert answer.status_code == 200, answer.text
    assert transactions == [1]
    body = answer.json()
    assert body["ok"] is True and body["stored"] == 7
    results = body["results"]
    assert [r["status"] for r in results] == [200] * 7
    assert [r["message"]["text"] for r in results] == [f"text {i}" for i in range(7)]
    # One user's messages keep their order; the client gets them all, in that order.
    polled = relay.poll(oc, ack="explicit")
    assert [m["text"] for m in polled] == [f"text {i}" for i in range(7)]
    seqs = [r["message"]["seq"] for r in results]
    assert seqs == sorted(seqs)


def test_inbound_batch_routes_like_single_posts(relay: Relay) -> None:
    a_id, a = relay.register("a")
    b_id, b = relay.register("b")
    relay.poll(a)
    relay.poll(b)
    first = relay.inbound("alice", "hi")  # a single post still works as in the seed
    items = [{"from": "alice", "text": "again"}, {"from": "bob", "text": "new user"}]
    results = inbound_batch(relay, items).json()["results"]
    # Sticky: alice stays where she was; least busy: bob goes to the other client.
    assert results[0]["message"]["clientId"] == first["clientId"]
    other = b_id if first["clientId"] == a_id else a_id
    assert results[1]["message"]["clientId"] == other


def test_inbound_batch_idempotency_per_item(relay: Relay) -> None:
    _cid, oc = relay.register()
    relay.poll(oc)
    items = [
        {"from": "alice", "text": "one", "idempotencyKey": "k1"},
        {"from": "bob", "text": "two", "idempotencyKey": "k2"},
    ]
    first = inbound_batch(relay, items).json()["results"]
    # The whole batch again, plus a reused key with other content and a new item.
    again = [
        *items,
        {"from": "alice", "text": "changed", "idempotencyKey": "k1"},
        {"from": "carol", "text": "three"},
    ]
    answer = inbound_batch(relay, again).json()
    results = answer["results"]
    assert [r["status"] for r in results] == [200, 200, 409, 200]
    assert results[0]["message"]["id"] == first[0]["message"]["id"]
    assert results[1]["message"]["id"] == first[1]["message"]["id"]
    assert results[2]["ok"] is False and results[2]["error_code"] == "idempotency_conflict"
    assert answer["stored"] == 3
    texts = [m["text"] for m in relay.poll(oc, ack="explicit")]
    assert sorted(texts) == ["one", "three", "two"]  # nothing stored twice
    # A key used by a single post is the same key in a batch.
    single = relay.call(
        "POST",
        "/inbound",
        json={"from": "dave", "text": "four", "idempotencyKey": "k4"},
        headers=relay.admin,
    ).json()
    batch = inbound_batch(relay, [{"from": "dave", "text": "four", "idempotencyKey": "k4"}])
    assert batch.json()["results"][0]["message"]["id"] == single["id"]


def test_inbound_batch_refuses_items_alone(make_relay: Callable[..., Relay]) -> None:
    relay = make_relay(max_text_chars=10, user_burst=2, user_rate_per_s=0.5)
    items = [
        {"from": "alice", "text": "ok 1"},
        {"from": "alice", "text": "far too long text"},
        {"from": "alice", "text": "ok 2"},
        {"from": "alice", "text": "ok 3"},  # alice's third counted item: over her burst
        {"from": "bob", "text": "ok 4"},
    ]
    answer = inbound_batch(relay, items)
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [200, 413, 200, 429, 200]
    assert results[1]["error_code"] == "text_too_long"
    assert results[3]["error_code"] == "rate_limited" and results[3]["retryAfter"] >= 1
    assert answer.json()["stored"] == 3
    metrics = relay.call("GET", "/metrics", headers=relay.admin).text
    assert 'relay_refusals_total{code="rate_limited"} 1.0' in metrics
    assert 'relay_refusals_total{code="text_too_long"} 1.0' in metrics


@pytest.mark.parametrize(
    "body",
    [
        {"messages": []},
        {"messages": [{"from": "a", "text": "x"}] * (MAX_BATCH_ITEMS + 1)},
        {"messages": [{"text": "no sender"}]},
        {"from": "a", "text": "a single message is not a batch"},
    ],
)
def test_invalid_batches_are_422(make_relay: Callable[..., Relay], body: dict[str, Any]) -> None:
    relay = make_relay(max_body_bytes=1024 * 1024)
    answer = relay.call("POST", "/inbound/batch", json=body, headers=relay.admin)
    assert_error(answer, 422, "invalid_request")


def test_batch_idempotency_header_is_refused(relay: Relay) -> None:
    answer = relay.call("POST", "/inbound/batch", json={"messages": [{"from": "a", "text": "x"}]})
    assert_error(answer, 401, "auth_required")
    refused = relay.call(
        "POST",
        "/inbound/batch",
        json={"messages": [{"from": "a", "text": "x"}]},
        headers={**relay.admin, "Idempotency-Key": "k"},
    )
    assert_error(refused, 422, "invalid_request")


def test_batch_body_limit_is_413(make_relay: Callable[..., Relay]) -> None:
    relay = make_relay(max_body_bytes=1024)
    items = [{"from": "a", "text": "x" * 100} for _item in range(20)]
    assert_error(inbound_batch(relay, items), 413, "request_too_large")


def test_send_batch_stores_replies_and_acks_in_one_transaction(relay: Relay) -> None:
    _cid, oc = relay.register()
    relay.poll(oc)
    inbound_batch(relay, [{"from": f"u{i}", "text": f"q{i}"} for i in range(5)])
    polled = relay.poll(oc, ack="explicit")
    assert len(polled) == 5
    items = [
        {
            "conversationId": m["conversationId"],
            "to": m["from"],
            "text": f"re {m['text']}",
            "idempotencyKey": f"reply:{m['id']}",
            "ackIds": [m["id"]],
        }
        for m in polled
    ]
    with counted_transactions(relay) as transactions:
        answer = send_batch(relay, oc, items)
    assert answer.status_code == 200, answer.text
    assert transactions == [1]
    results = answer.json()["results"]
    assert [r["message"]["text"] for r in results] == [f"re q{i}" for i in range(5)]
    outbox = relay.outbox()
    assert [m["id"] for m in outbox] == [r["message"]["id"] for r in results]
    # Acked by the batch: nothing comes back after the lease.
    relay.clock.advance(61)
    assert relay.poll(oc, ack="explicit") == []
    # A retried batch stores nothing new and answers the same replies.
    retried = send_batch(relay, oc, items).json()["results"]
    assert [r["message"]["id"] for r in retried] == [r["message"]["id"] for r in results]
    assert len(relay.outbox()) == 5


def test_send_batch_refuses_items_alone(make_relay: Callable[..., Relay]) -> None:
    relay = make_relay(max_text_chars=20)
    _a_id, a = relay.register("a")
    relay.poll(a)
    mine = relay.inbound("alice", "hi")
    _b_id, b = relay.register("b")
    relay.poll(b)
    theirs = relay.inbound("bob", "hi")  # bob's conversation goes to b (least busy)
    assert theirs["clientId"] != mine["clientId"]
    items = [
        {"conversationId": mine["conversationId"], "text": "fine"},
        {"conversationId": theirs["conversationId"], "text": "not mine"},
        {"conversationId": mine["conversationId"], "text": "x" * 21},
        {"conversationId": mine["conversationId"], "to": "mallory", "text": "wrong user"},
        {"text": "no conversation"},
        {"conversationId": mine["conversationId"], "text": "k", "idempotencyKey": "k"},
        {"conversationId": mine["conversationId"], "text": "other", "idempotencyKey": "k"},
    ]
    answer = send_batch(relay, a, items)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [(r["status"], r.get("error_code")) for r in results] == [
        (200, None),
        (404, "conversation_not_found"),
        (413, "text_too_long"),
        (422, "recipient_mismatch"),
        (422, "conversation_required"),
        (200, None),
        (409, "idempotency_conflict"),
    ]
    assert [m["text"] for m in relay.outbox()] == ["fine", "k"]


def test_send_batch_counts_items_against_the_client_rate(
    make_relay: Callable[..., Relay],
) -> None:
    relay = make_relay(client_burst=5, client_rate_per_s=1)
    _cid, oc = relay.register()
    relay.poll(oc)  # one request of the client's rate
    message = relay.inbound("alice", "hi")
    items = [{"conversationId": message["conversationId"], "text": f"r{i}"} for i in range(4)]
    assert send_batch(relay, oc, items).status_code == 200  # 1 + 4 = the burst
    refused = send_batch(relay, oc, items[:1])
    assert_error(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(relay.outbox()) == 4

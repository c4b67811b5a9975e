"""The hot paths' savings keep the relay's semantics: ``last_seen_at`` written at most every
``SEEN_WRITE_S`` per client while the states stay exact, the client loads read only when a
conversation needs a client, polls that find nothing to do write nothing, and a claim
reads the un-acked messages only."""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from clawdeploy_relay.schema import clients
from clawdeploy_relay.services.relay import SEEN_WRITE_S
from relay_helpers import SQLITE_ONLY, Relay


def stored_last_seen(relay: Relay, client_id: str) -> float | None:
    """``clients.last_seen_at`` as the database holds it (what other nodes see)."""
    store = relay.http.app.state.store
    with store.read() as conn:
        query = select(clients.c.last_seen_at).where(clients.c.id == client_id)
        return conn.execute(query).scalar_one()


def client_view(relay: Relay, client_id: str) -> dict[str, Any]:
    listed = relay.call("GET", "/clients", headers=relay.admin).json()["clients"]
    return next(c for c in listed if c["id"] == client_id)


@contextmanager
def counting(obj: Any, name: str) -> Iterator[list[int]]:
    """Count the calls of ``obj.name`` inside the block."""
    original = getattr(obj, name)
    calls = [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    setattr(obj, name, counted)
    try:
        yield calls
    finally:
        setattr(obj, name, original)


def test_last_seen_is_written_at_most_every_second_per_client(relay: Relay) -> None:
    client_id, oc = relay.register()
    start = relay.clock()
    relay.poll(oc)
    assert stored_last_seen(relay, client_id) == start  # the first poll is written
    relay.clock.advance(SEEN_WRITE_S / 2)
    relay.poll(oc)
    assert stored_last_seen(relay, client_id) == start  # not again within the second
    # ... but the relay's own view has the later poll.
    assert client_view(relay, client_id)["lastSeenAt"] == int((start + SEEN_WRITE_S / 2) * 1000)
    relay.clock.advance(SEEN_WRITE_S)
    relay.poll(oc)
    assert stored_last_seen(relay, client_id) == start + 1.5 * SEEN_WRITE_S


def test_states_count_from_the_last_poll_not_the_last_write(relay: Relay) -> None:
    client_id, oc = relay.register()
    relay.poll(oc)
    relay.clock.advance(0.5)
    relay.poll(oc)  # not written: within SEEN_WRITE_S of the first
    relay.clock.advance(29.7)  # 30.2 s after the written poll, 29.7 s after the last one
    assert client_view(relay, client_id)["state"] == "connected"
    relay.clock.advance(0.3)  # 30 s after the last poll: stale (README: 30 s without)
    assert client_view(relay, client_id)["state"] == "stale"
    relay.clock.advance(270)
    assert client_view(relay, client_id)["state"] == "disconnected"
    relay.poll(oc)
    assert client_view(relay, client_id)["state"] == "connected"


def test_a_poll_after_silence_fails_over_nothing_of_a_live_client(relay: Relay) -> None:
    a_id, a = relay.register("a")
    _b_id, b = relay.register("b")
    relay.poll(a)
    relay.poll(b)
    message = relay.inbound("alice", "hi")
    owner = a if message["clientId"] == a_id else b
    spare = b if owner is a else a
    relay.clock.advance(299.5)
    relay.poll(owner)  # just in time: written, it is connected again
    relay.clock.advance(0.6)  # the spare's poll looks for gone clients' work
    relay.poll(spare)
    assert relay.owner_of(message["conversationId"]) == message["clientId"]


def test_client_loads_are_read_only_when_a_conversation_needs_a_client(relay: Relay) -> None:
    store = relay.http.app.state.store
    _cid, oc = relay.register()
    relay.poll(oc)
    with counting(store, "client_loads") as loads:
        relay.inbound("alice", "first")  # a new user: routed by the loads
        assert loads == [1]
        relay.inbound("alice", "second")  # sticky: no loads
        for _poll in range(3):
            relay.poll(oc, ack="explicit")
        relay.clock.advance(2)
        relay.poll(oc, ack="explicit")  # looks for gone clients' work: nothing to move
        assert loads == [1]
        relay.call(
            "POST",
            "/inbound/batch",
            headers=relay.admin,
            json={"messages": [{"from": f"new-{i}", "text": "x"} for i in range(5)]},
        )
        assert loads == [2]  # once for the whole batch


def test_an_idle_poll_writes_nothing(relay: Relay) -> None:
    store = relay.http.app.state.store
    _cid, oc = relay.register()
    relay.poll(oc, ack="explicit")
    with counting(store, "touch_client") as touched, counting(store, "lease") as leased:
        for _poll in range(5):
            assert relay.poll(oc, ack="explicit") == []
    assert touched == [0] and leased == [0]


@SQLITE_ONLY
def test_a_claim_reads_only_unacked_messages(relay: Relay) -> None:
    """The claim's index search covers the un-acked states alone (SQLite's plan): acked
    messages stay for a day and must not be scanned on every poll."""
    store = relay.http.app.state.store
    with warnings.catch_warnings():  # the bound parameters render as NULL literals
        warnings.simplefilter("ignore")
        compiled = store._claim.compile(
            dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}
        )
    sql = str(compiled).replace("NULL", "0")
    with store.read() as conn:
        raw = conn.connection.dbapi_connection
        plan = " ".join(str(row[3]) for row in raw.execute("EXPLAIN QUERY PLAN " + sql))
    assert "ix_messages_state (direction=? AND state=?)" in plan, plan

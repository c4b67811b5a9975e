"""Service-level tests of delivery, on each backend's fresh database with a fake clock."""

import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from clawdeploy_relay.clock import FakeClock  # noqa: E402
from clawdeploy_relay.services.relay import RelayService  # noqa: E402
from clawdeploy_relay.settings import Settings  # noqa: E402
from clawdeploy_relay.store import Store  # noqa: E402
from relay_helpers import seed_principals  # noqa: E402


@pytest.fixture
def relay(database_url: str) -> Iterator[RelayService]:
    """A service with two clients (c1, c2) and one integration (i1)."""
    store = Store(database_url)
    clock = FakeClock()
    service = RelayService(store, Settings(), clock, random.Random(1))
    seed_principals(store, clock, ("c1", "c2"), "x")
    yield service
    store.close()


def test_least_busy_then_sticky(relay: RelayService) -> None:
    a, _created = relay.inbound("i1", "alice", "hi", None)
    b, _created = relay.inbound("i1", "bob", "hi", None)
    assert {a["clientId"], b["clientId"]} == {"c1", "c2"}
    again, wake = relay.inbound("i1", "alice", "again", None)
    assert again["clientId"] == a["clientId"] and wake == {a["clientId"]}


def test_lease_redelivery_and_explicit_ack(relay: RelayService) -> None:
    msg, _created = relay.inbound("i1", "alice", "hi", None)
    owner = msg["clientId"]
    first = relay.poll(owner, implicit_ack=False).messages
    assert [m["id"] for m in first] == [msg["id"]]
    assert relay.poll(owner, implicit_ack=False).messages == []  # leased
    relay.clock.advance(relay.settings.lease_s + 1)  # type: ignore[attr-defined]
    again = relay.poll(owner, implicit_ack=False).messages
    assert [m["deliveryCount"] for m in again] == [2]
    assert relay.ack(owner, [msg["id"]]) == 1
    relay.clock.advance(relay.settings.lease_s + 1)  # type: ignore[attr-defined]
    assert relay.poll(owner, implicit_ack=False).messages == []


def test_idempotent_inbound(relay: RelayService) -> None:
    one, _created = relay.inbound("i1", "alice", "hi", "k1")
    two, _created = relay.inbound("i1", "alice", "hi", "k1")
    assert one["id"] == two["id"]


def test_failover_after_disconnect(relay: RelayService) -> None:
    relay.poll("c1", implicit_ack=True)
    relay.poll("c2", implicit_ack=True)
    msg, _created = relay.inbound("i1", "alice", "hi", None)
    owner = msg["clientId"]
    other = "c2" if owner == "c1" else "c1"
    relay.clock.advance(301)  # type: ignore[attr-defined]
    # The other client's next poll re-homes the gone client's work (as the sweeper would).
    assert [m["id"] for m in relay.poll(other, implicit_ack=False).messages] == [msg["id"]]


def test_send_acks_and_outbox(relay: RelayService) -> None:
    msg, _created = relay.inbound("i1", "alice", "hi", None)
    owner = msg["clientId"]
    relay.poll(owner, implicit_ack=False)
    reply = relay.send(owner, msg["conversationId"], "alice", "hello", None, None)
    assert [m["id"] for m in relay.outbox("i1", 0)] == [reply["id"]]
    relay.clock.advance(relay.settings.lease_s + 1)  # type: ignore[attr-defined]
    assert relay.poll(owner, implicit_ack=False).messages == []  # acked by the send

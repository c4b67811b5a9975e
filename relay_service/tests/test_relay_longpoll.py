"""Long-poll: ``GET /poll?wait=`` answers as soon as a message is queued, else on time."""

import threading
import time
from collections.abc import Callable

from relay_helpers import Relay


def _post_later(relay: Relay, delay_s: float, user: str) -> threading.Thread:
    def post() -> None:
        time.sleep(delay_s)
        relay.inbound(user, "wake up")

    thread = threading.Thread(target=post)
    thread.start()
    return thread


def test_long_poll_returns_when_a_message_arrives(relay: Relay) -> None:
    _cid, oc = relay.register()
    relay.poll(oc)
    thread = _post_later(relay, 0.2, "alice")
    started = time.monotonic()
    messages = relay.poll(oc, wait=5)
    elapsed = time.monotonic() - started
    thread.join()
    assert [m["text"] for m in messages] == ["wake up"]
    assert 0.15 <= elapsed < 1.5


def test_long_poll_not_woken_by_another_clients_message(relay: Relay) -> None:
    a_id, a = relay.register("oc1")
    _b_id, b = relay.register("oc2")
    relay.poll(a)
    relay.poll(b)
    owner = relay.inbound("bob", "first")["clientId"]
    other = b if owner == a_id else a
    thread = _post_later(relay, 0.1, "bob")  # sticky: queued for bob's client, not ours
    started = time.monotonic()
    assert relay.poll(other, wait=0.4) == []
    assert time.monotonic() - started >= 0.4
    thread.join()


def test_long_poll_times_out_empty(relay: Relay) -> None:
    _cid, oc = relay.register()
    started = time.monotonic()
    assert relay.poll(oc, wait=0.2) == []
    assert 0.2 <= time.monotonic() - started < 1.0


def test_wait_is_capped_by_the_server(make_relay: Callable[..., Relay]) -> None:
    relay = make_relay(poll_max_wait_s=0.1)
    _cid, oc = relay.register()
    started = time.monotonic()
    assert relay.poll(oc, wait=60) == []
    assert time.monotonic() - started < 0.8


def _later(delay_s: float, action: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        time.sleep(delay_s)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_an_ack_wakes_a_long_poll_held_for_the_conversations_next_message(relay: Relay) -> None:
    """In order per conversation: the second message waits for the first one's ack, and
    the ack (here ``POST /ack``; ``POST /send`` alike) wakes the long-poll held meanwhile."""
    _cid, oc = relay.register()
    relay.poll(oc)
    first, second = relay.inbound("alice", "one"), relay.inbound("alice", "two")
    assert [m["id"] for m in relay.poll(oc, ack="explicit", max=1)] == [first["id"]]

    def ack() -> object:
        return relay.call("POST", "/ack", json={"ids": [first["id"]]}, headers=oc)

    thread = _later(0.2, ack)
    started = time.monotonic()
    messages = relay.poll(oc, wait=5, ack="explicit")
    elapsed = time.monotonic() - started
    thread.join()
    assert [m["id"] for m in messages] == [second["id"]]
    assert elapsed < 1.5  # woken by the ack, not by the end of the wait


def test_a_reply_wakes_a_long_poll_held_for_the_conversations_next_message(relay: Relay) -> None:
    _cid, oc = relay.register()
    relay.poll(oc)
    first, second = relay.inbound("alice", "one"), relay.inbound("alice", "two")
    assert [m["id"] for m in relay.poll(oc, ack="explicit", max=1)] == [first["id"]]
    body = {"conversationId": first["conversationId"], "text": "hi", "ackIds": [first["id"]]}
    thread = _later(0.2, lambda: relay.call("POST", "/send", json=body, headers=oc))
    started = time.monotonic()
    messages = relay.poll(oc, wait=5, ack="explicit")
    thread.join()
    assert [m["id"] for m in messages] == [second["id"]]
    assert time.monotonic() - started < 1.5


def test_max_zero_is_a_heartbeat_that_takes_nothing_and_answers_at_once(relay: Relay) -> None:
    cid, oc = relay.register()
    message = relay.inbound("alice", "for later")
    started = time.monotonic()
    assert relay.poll(oc, wait=5, max=0) == []  # a message is pending: still nothing taken
    assert time.monotonic() - started < 1.0
    [row] = relay.call("GET", "/clients", headers=relay.admin).json()["clients"]
    assert row["id"] == cid and row["state"] == "connected"
    assert [m["id"] for m in relay.poll(oc, max=5)] == [message["id"]]

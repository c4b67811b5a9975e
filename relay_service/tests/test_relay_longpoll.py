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

"""Two relay nodes on one PostgreSQL database: two apps (``create_app`` twice, one URL).

A message posted on node A wakes a long-poll or a WebSocket on node B at once, by
LISTEN/NOTIFY (the fallback sweep is set to a minute, so only a notification can be that
fast); concurrent claims on both nodes never hand one message out twice; a lost
notification is caught by the fallback; the listener reconnects when its connection is
killed; a revocation on A closes the client's WebSocket on B. Skipped without
``RELAY_TEST_DATABASE_URL``.
"""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from clawdeploy_relay.services.wake_listener import WakeListener
from relay_helpers import Relay, wait_for
from relay_pg import PgServer
from relay_ws_helpers import connect

pytestmark = pytest.mark.parametrize("relay_backend", ["postgresql"], indirect=True)
SLOW_FALLBACK = {"notify_fallback_s": 60.0}  # a wake-up within seconds is a NOTIFY
WOKEN_WITHIN_S = 1.0


def listener(relay: Relay) -> WakeListener:
    """The node's LISTEN/NOTIFY listener."""
    found: WakeListener = relay.http.app.state.wake_listener
    return found


def _timed_poll(relay: Relay, headers: dict[str, str], **params: Any) -> Callable[[], Any]:
    """Start ``GET /poll`` in a thread; return a function giving (messages, end time)."""
    pool = ThreadPoolExecutor(1)

    def run() -> tuple[list[dict[str, Any]], float]:
        messages = relay.poll(headers, **params)
        return messages, time.monotonic()

    future = pool.submit(run)
    pool.shutdown(wait=False)
    return lambda: future.result(timeout=10)


def test_a_message_posted_on_a_wakes_a_long_poll_on_b(make_relay: Callable[..., Relay]) -> None:
    a, b = make_relay(**SLOW_FALLBACK), make_relay(**SLOW_FALLBACK)
    _cid, oc = a.register()
    b.poll(oc)  # connected, on node B
    result = _timed_poll(b, oc, wait=10)
    time.sleep(0.3)  # B's long-poll is waiting
    posted_at = time.monotonic()
    message = a.inbound("alice", "hello from A")
    messages, answered_at = result()
    assert [m["id"] for m in messages] == [message["id"]]
    assert answered_at - posted_at < WOKEN_WITHIN_S
    assert listener(b).received >= 1 and listener(b).fallback_woken == 0
    assert listener(a).received == 0  # its own notification is skipped


def test_a_websocket_on_b_is_pushed_a_message_posted_on_a(
    make_relay: Callable[..., Relay],
) -> None:
    a, b = make_relay(**SLOW_FALLBACK), make_relay(**SLOW_FALLBACK)
    _cid, oc = a.register()
    with connect(b, oc) as ws:
        ws.nothing_within(0.2)  # the pusher claimed nothing and waits
        posted_at = time.monotonic()
        message = a.inbound("alice", "hello from A")
        pushed = ws.expect("messages", timeout_s=3)["messages"]
        assert time.monotonic() - posted_at < WOKEN_WITHIN_S
        assert [m["id"] for m in pushed] == [message["id"]]


def test_claims_on_both_nodes_at_once_never_duplicate(make_relay: Callable[..., Relay]) -> None:
    a, b = make_relay(poll_batch=3), make_relay(poll_batch=3)
    _cid, oc = a.register()
    b.poll(oc)
    posted = [a.inbound(f"user{n}", f"m{n}")["id"] for n in range(40)]
    barrier = threading.Barrier(4)

    def drain(node: Relay) -> list[str]:
        barrier.wait(timeout=10)
        taken: list[str] = []
        while batch := node.poll(oc, ack="explicit"):
            taken += [m["id"] for m in batch]
        return taken

    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(drain, [a, b, a, b]))
    taken = [i for batch in batches for i in batch]
    assert sorted(taken) == sorted(posted)  # each message once, across both nodes


def test_a_lost_notification_only_delays_the_wake_up(make_relay: Callable[..., Relay]) -> None:
    a = make_relay(**SLOW_FALLBACK)
    b = make_relay(notify_fallback_s=0.3)
    a.http.app.state.store.publish = lambda conn, ids: None  # A's NOTIFY gets lost
    _cid, oc = a.register()
    b.poll(oc)
    result = _timed_poll(b, oc, wait=10)
    time.sleep(0.2)
    posted_at = time.monotonic()
    message = a.inbound("alice", "not announced")
    messages, answered_at = result()
    assert [m["id"] for m in messages] == [message["id"]]
    assert answered_at - posted_at < 0.3 + WOKEN_WITHIN_S
    assert listener(b).received == 0 and listener(b).fallback_woken >= 1


def test_the_listener_reconnects_after_its_connection_is_killed(
    make_relay: Callable[..., Relay],
    postgres: PgServer,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = make_relay(**SLOW_FALLBACK), make_relay(**SLOW_FALLBACK)
    watched = listener(b)
    first_pid = watched.backend_pid
    assert first_pid is not None and watched.connects == 1
    postgres.execute(sql.SQL("SELECT pg_terminate_backend({})").format(sql.Literal(first_pid)))
    assert wait_for(lambda: watched.connects == 2 and watched.listening.is_set())
    assert watched.backend_pid != first_pid
    _cid, oc = a.register()
    b.poll(oc)
    result = _timed_poll(b, oc, wait=10)
    time.sleep(0.3)
    posted_at = time.monotonic()
    message = a.inbound("alice", "after the reconnect")
    messages, answered_at = result()
    assert [m["id"] for m in messages] == [message["id"]]
    assert answered_at - posted_at < WOKEN_WITHIN_S
    assert "wake-up listener lost PostgreSQL" in caplog.text
    password = make_url(database_url).password
    assert password and password not in caplog.text


def test_a_revocation_on_a_closes_the_websocket_on_b(make_relay: Callable[..., Relay]) -> None:
    a, b = make_relay(**SLOW_FALLBACK), make_relay(**SLOW_FALLBACK)
    client_id, oc = a.register()
    with connect(b, oc) as ws:
        ws.nothing_within(0.2)
        revoked_at = time.monotonic()
        a.call("DELETE", f"/clients/{client_id}", headers=a.admin)
        assert ws.expect("error", timeout_s=3)["error_code"] == "token_revoked"
        ws.closed()
        assert time.monotonic() - revoked_at < WOKEN_WITHIN_S  # keepalive is 10 s

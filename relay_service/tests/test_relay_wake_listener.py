"""The LISTEN/NOTIFY listener's logic without a server: which payloads wake whom, and the
reconnection backoff. (With a server: test_relay_postgres_nodes.py.)"""

import random

from clawdeploy_relay.services.notifier import Notifier
from clawdeploy_relay.services.wake_listener import (
    BACKOFF_CAP_S,
    BACKOFF_INITIAL_S,
    WakeListener,
    backoff_delay,
)


def _listener(notifier: Notifier) -> WakeListener:
    return WakeListener({}, notifier, "node-a", 5.0, set)


def test_other_nodes_payloads_wake_their_client_and_ours_are_skipped() -> None:
    notifier = Notifier()
    listener = _listener(notifier)
    listener.deliver("node-b rc_client1")
    assert notifier.version("rc_client1") == 1 and listener.received == 1
    listener.deliver("node-a rc_client1")  # our own: the route woke its pollers already
    listener.deliver("garbage")  # no client id: ignored
    listener.deliver("")
    assert notifier.version("rc_client1") == 1 and listener.received == 1


def test_reconnection_backoff_grows_then_stays_capped() -> None:
    rng = random.Random(1)
    first = backoff_delay(1, rng)
    assert BACKOFF_INITIAL_S / 2 <= first <= BACKOFF_INITIAL_S
    delays = [backoff_delay(attempt, rng) for attempt in range(1, 80)]
    assert all(0 < d <= BACKOFF_CAP_S for d in delays)
    assert min(delays[10:]) >= BACKOFF_CAP_S / 2

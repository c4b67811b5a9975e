"""The token cache: one database lookup per token and ``AUTH_CACHE_S``, revocations through
this process at once, and a revocation elsewhere (another node, the database) within
``AUTH_CACHE_S``."""

from types import SimpleNamespace

import pytest
from sqlalchemy import update

from clawdeploy_relay.schema import clients
from clawdeploy_relay.services import principals as principals_module
from relay_helpers import Relay, assert_error
from test_relay_perf_state import counting


class FakeMonotonic:
    """A monotonic clock for the cache alone (asyncio keeps the real one)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def cache_clock(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    clock = FakeMonotonic()
    monkeypatch.setattr(principals_module, "time", SimpleNamespace(monotonic=clock.monotonic))
    return clock


def test_a_token_is_looked_up_once_per_cache_time(relay: Relay, cache_clock: FakeMonotonic) -> None:
    store = relay.http.app.state.store
    _cid, oc = relay.register()
    with counting(store, "find_token") as lookups:
        for _poll in range(5):
            relay.poll(oc)
        assert lookups == [1]
        cache_clock.now += principals_module.AUTH_CACHE_S + 0.1
        relay.poll(oc)
        assert lookups == [2]
        # Unknown tokens are never remembered.
        for _try in range(2):
            relay.call("GET", "/poll", headers={"Authorization": "Bearer rc_unknown"})
        assert lookups == [4]


def test_a_revocation_here_takes_effect_at_once(relay: Relay, cache_clock: FakeMonotonic) -> None:
    client_id, oc = relay.register()
    relay.poll(oc)  # cached
    relay.call("DELETE", f"/clients/{client_id}", headers=relay.admin)
    assert_error(relay.call("GET", "/poll", headers=oc), 401, "token_revoked")


def test_a_revocation_elsewhere_takes_effect_within_the_cache_time(
    relay: Relay, cache_clock: FakeMonotonic
) -> None:
    client_id, oc = relay.register()
    relay.poll(oc)  # cached
    store = relay.http.app.state.store
    with store.tx() as conn:  # as another node sharing the database would
        conn.execute(update(clients).where(clients.c.id == client_id).values(revoked_at=1.0))
    cache_clock.now += principals_module.AUTH_CACHE_S + 0.1
    assert_error(relay.call("GET", "/poll", headers=oc), 401, "token_revoked")

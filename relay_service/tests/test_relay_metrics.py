"""``GET /metrics``: admin only, and every metric moves as messages flow."""

from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from relay_helpers import Relay, assert_error

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(relay: Relay) -> Samples:
    """``GET /metrics`` with the admin token → ``{(sample name, sorted labels): value}``."""
    response = relay.call("GET", "/metrics", headers=relay.admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    """One sample's value (KeyError when it is not exposed)."""
    return samples[(metric, tuple(sorted(labels.items())))]


def test_metrics_need_the_admin_token(relay: Relay) -> None:
    assert_error(relay.call("GET", "/metrics"), 401, "auth_required")
    _cid, oc = relay.register()
    assert_error(relay.call("GET", "/metrics", headers=oc), 403, "wrong_token_kind")


def test_every_metric_is_exposed_at_zero(relay: Relay) -> None:
    samples = scrape(relay)
    assert value(samples, "relay_messages_total", kind="inbound") == 0
    assert value(samples, "relay_messages_total", kind="send") == 0
    assert value(samples, "relay_redeliveries_total") == 0
    assert value(samples, "relay_delivery_latency_seconds_count") == 0
    for code in ("rate_limited", "request_too_large", "text_too_long"):
        assert value(samples, "relay_refusals_total", code=code) == 0
    for state in ("registered", "connected", "stale", "disconnected", "revoked"):
        assert value(samples, "relay_clients", state=state) == 0
    for state in ("created", "active", "idle", "expired"):
        assert value(samples, "relay_conversations", state=state) == 0
    assert value(samples, "relay_websocket_connections") == 0


def test_metrics_move_as_messages_flow(relay: Relay) -> None:
    client_id, oc = relay.register("oc1")
    relay.poll(oc)
    key = {"Idempotency-Key": "evt-1"}
    first = relay.inbound("alice", "hi", headers={**relay.admin, **key})
    relay.inbound("alice", "hi", headers={**relay.admin, **key})  # a retry: not counted
    relay.inbound("bob", "hello")
    samples = scrape(relay)
    assert value(samples, "relay_messages_total", kind="inbound") == 2
    assert value(samples, "relay_client_pending", client=client_id, name="oc1") == 2
    assert value(samples, "relay_clients", state="connected") == 1
    assert value(samples, "relay_conversations", state="created") == 2

    relay.clock.advance(0.3)
    assert len(relay.poll(oc, ack="explicit")) == 2
    samples = scrape(relay)
    assert value(samples, "relay_delivery_latency_seconds_count") == 2
    assert value(samples, "relay_delivery_latency_seconds_sum") == pytest.approx(0.6)
    assert value(samples, "relay_delivery_latency_seconds_bucket", le="0.25") == 0
    assert value(samples, "relay_delivery_latency_seconds_bucket", le="0.5") == 2
    assert value(samples, "relay_conversations", state="active") == 2

    relay.clock.advance(61)  # past the lease: both come back, counted as redeliveries
    assert [m["deliveryCount"] for m in relay.poll(oc, ack="explicit")] == [2, 2]
    body = {"conversationId": first["conversationId"], "text": "hi alice"}
    assert relay.send(oc, body).status_code == 200  # acks alice's message
    samples = scrape(relay)
    assert value(samples, "relay_redeliveries_total") == 2
    assert value(samples, "relay_delivery_latency_seconds_count") == 2  # first deliveries only
    assert value(samples, "relay_messages_total", kind="send") == 1
    assert value(samples, "relay_client_pending", client=client_id, name="oc1") == 1

    relay.clock.advance(301)  # nobody polls: the client is disconnected, both idle
    samples = scrape(relay)
    assert value(samples, "relay_clients", state="disconnected") == 1
    assert value(samples, "relay_conversations", state="idle") == 2
    relay.clock.advance(86_400)
    assert value(scrape(relay), "relay_conversations", state="expired") == 2


def test_revoked_clients_have_no_pending_gauge(relay: Relay) -> None:
    client_id, _oc = relay.register("gone")
    assert relay.call("DELETE", f"/clients/{client_id}", headers=relay.admin).is_success
    samples = scrape(relay)
    assert value(samples, "relay_clients", state="revoked") == 1
    assert not any(name == "relay_client_pending" for name, _labels in samples)


def test_refusals_are_counted(make_relay: Callable[..., Relay]) -> None:
    relay = make_relay(max_body_bytes=1024, max_text_chars=50, user_burst=1, client_burst=2)
    too_big = relay.call("POST", "/inbound", headers=relay.admin, content=b"x" * 2000)
    assert_error(too_big, 413, "request_too_large")  # refused by Content-Length

    def chunks() -> object:
        yield b'{"from": "a", "text": "'
        yield b"x" * 2000
        yield b'"}'

    streamed = relay.call("POST", "/inbound", headers=relay.admin, content=chunks())
    assert_error(streamed, 413, "request_too_large")  # no Content-Length: cut while reading
    long_text = {"from": "a", "text": "x" * 51}
    assert_error(
        relay.call("POST", "/inbound", headers=relay.admin, json=long_text), 413, "text_too_long"
    )
    relay.inbound("alice", "1")
    limited = relay.call(
        "POST", "/inbound", headers=relay.admin, json={"from": "alice", "text": "2"}
    )
    assert_error(limited, 429, "rate_limited")
    _cid, oc = relay.register()
    relay.poll(oc)
    relay.poll(oc)
    assert_error(relay.call("GET", "/poll", headers=oc), 429, "rate_limited")
    samples = scrape(relay)
    assert value(samples, "relay_refusals_total", code="request_too_large") == 2
    assert value(samples, "relay_refusals_total", code="text_too_long") == 1
    assert value(samples, "relay_refusals_total", code="rate_limited") == 2


def test_each_app_has_its_own_registry(make_relay: Callable[..., Relay]) -> None:
    one = make_relay()
    two = make_relay()  # the same database file, another app
    one.inbound("alice", "hi")
    assert value(scrape(one), "relay_messages_total", kind="inbound") == 1
    assert value(scrape(two), "relay_messages_total", kind="inbound") == 0
    # The gauges come from the store, which the two apps share here.
    assert value(scrape(two), "relay_conversations", state="created") == 1

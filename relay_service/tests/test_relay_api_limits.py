"""Limits and validation: 413 for oversize bodies and texts, 422 for invalid JSON or fields
(without echoing the input), 429 with Retry-After for rates."""

import secrets
from collections.abc import Callable

import pytest

from relay_helpers import Relay, assert_error


@pytest.fixture
def small(make_relay: Callable[..., Relay]) -> Relay:
    return make_relay(max_body_bytes=1024, max_text_chars=50, user_burst=2, client_burst=5)


def test_oversize_body_and_text_are_413(small: Relay) -> None:
    big = small.call(
        "POST", "/inbound", headers=small.admin, json={"from": "a", "text": "x" * 2000}
    )
    assert_error(big, 413, "request_too_large")
    long_text = small.call(
        "POST", "/inbound", headers=small.admin, json={"from": "a", "text": "x" * 51}
    )
    assert_error(long_text, 413, "text_too_long")
    _cid, oc = small.register()
    small.inbound("a", "hi")
    small.poll(oc)
    assert_error(small.send(oc, {"to": "a", "text": "y" * 51}), 413, "text_too_long")


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"{not json", {}),
        (b'{"text": "no sender"}', {}),
        (b'{"from": "alice", "text": ""}', {}),
        (b'{"from": "alice", "text": 7}', {}),
        (b'{"from": "alice", "text": "hi", "idempotencyKey": "has space"}', {}),
        (b'{"from": "alice", "text": "hi"}', {"Idempotency-Key": "x" * 201}),
        (b'["from", "alice"]', {}),
        (b'{"from": "\xff\xfe", "text": "not UTF-8"}', {}),
    ],
)
def test_invalid_inbound_is_422(small: Relay, body: bytes, headers: dict[str, str]) -> None:
    response = small.call(
        "POST",
        "/inbound",
        content=body,
        headers={**small.admin, "Content-Type": "application/json", **headers},
    )
    assert_error(response, 422, "invalid_request")


def test_invalid_values_are_not_echoed(small: Relay) -> None:
    secret = "sk-live-" + secrets.token_hex(12)  # made per run, never a literal
    response = small.call("POST", "/clients", headers=small.admin, json={"name": {"k": secret}})
    assert_error(response, 422, "invalid_request")
    assert secret not in response.text


def test_invalid_query_and_ack_are_422(small: Relay) -> None:
    _cid, oc = small.register()
    for params in ({"wait": -1}, {"wait": 500}, {"ack": "never"}):
        assert_error(small.call("GET", "/poll", headers=oc, params=params), 422, "invalid_request")
    assert_error(small.call("POST", "/ack", headers=oc, json={"ids": []}), 422, "invalid_request")
    for after in (-1, 2**63):  # below 0, and past a 64-bit SQL integer
        assert_error(
            small.call("GET", "/outbox", headers=small.admin, params={"after": after}),
            422,
            "invalid_request",
        )


def test_user_rate_limit_is_429_with_retry_after(small: Relay) -> None:
    small.inbound("alice", "1")
    small.inbound("alice", "2")
    limited = small.call(
        "POST", "/inbound", headers=small.admin, json={"from": "alice", "text": "3"}
    )
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1
    small.inbound("bob", "1")  # another user has their own bucket
    small.clock.advance(float(limited.headers["Retry-After"]))
    small.inbound("alice", "3")


def test_client_rate_limit_is_429(small: Relay) -> None:
    _cid, oc = small.register()
    for _attempt in range(5):
        small.poll(oc)
    assert_error(small.call("GET", "/poll", headers=oc), 429, "rate_limited")
    small.clock.advance(1)
    small.poll(oc)


def test_nul_characters_are_refused_on_every_backend(relay: Relay) -> None:
    """PostgreSQL cannot store U+0000; both backends answer 422 before any SQL runs."""
    cid, oc = relay.register()
    conv = relay.inbound("alice", "hi")["conversationId"]
    refused = [
        relay.call("POST", "/inbound", headers=relay.admin, json={"from": "a\x00", "text": "x"}),
        relay.call("POST", "/inbound", headers=relay.admin, json={"from": "a", "text": "x\x00"}),
        relay.call("POST", "/clients", headers=relay.admin, json={"name": "\x00"}),
        relay.send(oc, {"conversationId": conv, "text": "re\x00"}),
        relay.call("POST", "/ack", headers=oc, json={"ids": ["msg\x00"]}),
        relay.call("GET", "/conversations/conv%00x", headers=relay.admin),
        relay.call("DELETE", "/clients/oc%00", headers=relay.admin),
        relay.call("GET", "/outbox", headers=relay.admin, params={"integrationId": "d\x00"}),
    ]
    for response in refused:
        body = assert_error(response, 422, "invalid_request")
        assert "U+0000" in body["error"], body
    assert relay.owner_of(conv) == cid  # nothing else changed

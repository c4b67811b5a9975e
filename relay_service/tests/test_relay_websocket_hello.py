"""``/ws``'s signed hello: per-client signing keys, the HMAC, the clock window, replays,
refusals that say nothing about which clients exist, rotation and revocation."""

import hashlib
import hmac
import secrets
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from clawdeploy_relay.schema import hello_nonces, metadata
from clawdeploy_relay.ws.hello import canonical_hello, hello_frame, sign_hello
from relay_helpers import Relay, assert_error
from relay_ws_helpers import (
    connect,
    connect_signed,
    register_signed,
    signed_hello,
    unauthenticated,
)


@pytest.fixture
def signing_secret() -> str:
    return secrets.token_hex(32)


@pytest.fixture
def signed_relay(make_relay: Callable[..., Relay], signing_secret: str) -> Relay:
    """A relay with ``RELAY_SIGNING_SECRET`` set."""
    relay = make_relay(signing_secret=signing_secret)
    relay.tokens.append(signing_secret)
    return relay


def refusal(relay: Relay, hello: dict) -> tuple[dict, int]:
    """Send ``hello`` on a fresh bearer-less socket; the error frame and the close code."""
    with unauthenticated(relay) as ws:
        ws.send(hello)
        error = ws.expect("error")
        return error, ws.closed()["code"]


def test_the_canonical_string_is_the_documented_one() -> None:
    assert canonical_hello("client-1", 1700000000123, "n" * 16) == (
        b"clawdeploy-relay/ws-hello/v1\nclient-1\n1700000000123\n" + b"n" * 16
    )
    # An independent computation of the documented HMAC.
    key = "rs_example"
    expected = hmac.new(
        key.encode(), b"clawdeploy-relay/ws-hello/v1\nc\n5\n" + b"a" * 16, hashlib.sha256
    )
    assert sign_hello(key, "c", 5, "a" * 16) == expected.hexdigest()


def test_a_signed_hello_opens_the_socket(signed_relay: Relay) -> None:
    relay = signed_relay
    client_id, _headers, key = register_signed(relay)
    with connect_signed(relay, client_id, key) as ws:
        message = relay.inbound("alice", "hi")
        pushed = ws.expect("messages")["messages"]
        assert [m["id"] for m in pushed] == [message["id"]]
        ws.send({"type": "ack", "ids": [message["id"]], "ref": "a"})
        assert ws.expect("acked")["acked"] == 1
    clients = relay.call("GET", "/clients", headers=relay.admin).json()["clients"]
    assert clients[0]["state"] == "connected"


def test_bearer_upgrades_still_work_beside_signed_hellos(signed_relay: Relay) -> None:
    relay = signed_relay
    client_id, headers, _key = register_signed(relay)
    with connect(relay, headers) as ws:
        relay.inbound("alice", "hi")
        assert ws.expect("messages")["messages"][0]["clientId"] == client_id


def test_every_refusal_of_a_client_looks_the_same(signed_relay: Relay) -> None:
    relay = signed_relay
    client_id, _headers, key = register_signed(relay, "oc1")
    revoked_id, _h, revoked_key = register_signed(relay, "oc2")
    relay.call("DELETE", f"/clients/{revoked_id}", headers=relay.admin)
    cases = {
        "wrong key": signed_hello(relay, client_id, "rs_" + "x" * 43),
        "another client's key": signed_hello(relay, client_id, revoked_key),
        "unknown client": signed_hello(relay, "client-0000000000000000", key),
        "revoked client": signed_hello(relay, revoked_id, revoked_key),
        "tampered nonce": {**signed_hello(relay, client_id, key), "nonce": "z" * 32},
        "tampered ts": {
            **(hello := signed_hello(relay, client_id, key)),
            "ts": hello["ts"] + 1,
        },
        "upper-case hex": {
            **(good := signed_hello(relay, client_id, key)),
            "sig": good["sig"].upper(),
        },
    }
    answers = {}
    for name, hello in cases.items():
        error, code = refusal(relay, hello)
        if name == "upper-case hex":  # refused by the frame's schema: sig is lower-case hex
            assert (error["error_code"], code) == ("invalid_request", 4400), name
            continue
        assert code == 4401, name
        answers[name] = (error["error_code"], error["error"])
    assert set(answers.values()) == {
        ("auth_failed", "hello refused: unknown or revoked client, or a bad signature")
    }, answers
    # The real key still works after all that.
    with connect_signed(relay, client_id, key):
        pass


def test_the_clock_window_is_sixty_seconds_either_way(signed_relay: Relay) -> None:
    relay = signed_relay
    client_id, _headers, key = register_signed(relay)
    now_ms = int(relay.clock() * 1000)
    for offset_s in (-61, 61):
        error, code = refusal(relay, hello_frame(key, client_id, now_ms + offset_s * 1000))
        assert (error["error_code"], code) == ("hello_expired", 4401)
    for offset_s in (-59, 59):
        with unauthenticated(relay) as ws:
            ws.send(hello_frame(key, client_id, now_ms + offset_s * 1000))
            assert ws.expect("ready")["clientId"] == client_id


def test_a_replayed_hello_is_refused_on_every_node(
    make_relay: Callable[..., Relay], signing_secret: str
) -> None:
    node_a = make_relay(signing_secret=signing_secret)
    node_b = make_relay(signing_secret=signing_secret)  # the same database
    client_id, _headers, key = register_signed(node_a)
    hello = signed_hello(node_a, client_id, key)
    with unauthenticated(node_a) as ws:
        ws.send(hello)
        ws.expect("ready")
    for node in (node_a, node_b):
        error, code = refusal(node, hello)
        assert (error["error_code"], code) == ("auth_failed", 4401)
    with connect_signed(node_b, client_id, key):  # a fresh nonce is fine
        pass


def test_nonces_are_forgotten_once_out_of_the_window(signed_relay: Relay) -> None:
    relay = signed_relay
    client_id, _headers, key = register_signed(relay)
    store = relay.http.app.state.store  # type: ignore[attr-defined]

    def nonces() -> int:
        with store.tx() as conn:
            return int(conn.execute(select(func.count()).select_from(hello_nonces)).scalar_one())

    for _round in range(3):
        with connect_signed(relay, client_id, key):
            pass
    assert nonces() == 3
    relay.clock.advance(121)  # the three hellos' ts are now outside the window
    with connect_signed(relay, client_id, key):
        pass
    assert nonces() == 1


def test_the_hello_must_come_first_and_in_time(make_relay: Callable[..., Relay]) -> None:
    relay = make_relay(signing_secret=secrets.token_hex(32), ws_hello_timeout_s=0.3)
    client_id, _headers, key = register_signed(relay)
    with unauthenticated(relay) as ws:
        error = ws.expect("error", timeout_s=2)
        assert error["error_code"] == "hello_timeout"
        assert ws.closed()["code"] == 4408
    for first in ({"type": "ping"}, {"type": "hello", "clientId": client_id}):
        error, code = refusal(relay, first)
        assert (error["error_code"], code) == ("invalid_request", 4400)
    with unauthenticated(relay) as ws:
        ws.session.send_bytes(b"{}")
        assert ws.expect("error")["error_code"] == "invalid_request"
        assert ws.closed()["code"] == 4400


def test_rotation_issues_a_new_key_and_the_old_one_fails(signed_relay: Relay) -> None:
    relay = signed_relay
    client_id, _headers, old_key = register_signed(relay)
    rotated = relay.call("POST", f"/clients/{client_id}/signing-key", headers=relay.admin)
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["signingKey"]
    assert new_key.startswith("rs_") and new_key != old_key
    assert rotated.json()["clientId"] == client_id
    relay.tokens.append(new_key)
    error, code = refusal(relay, signed_hello(relay, client_id, old_key))
    assert (error["error_code"], code) == ("auth_failed", 4401)
    with connect_signed(relay, client_id, new_key):
        pass
    missing = relay.call("POST", "/clients/client-nope/signing-key", headers=relay.admin)
    assert_error(missing, 404, "client_not_found")
    relay.call("DELETE", f"/clients/{client_id}", headers=relay.admin)
    assert_error(
        relay.call("POST", f"/clients/{client_id}/signing-key", headers=relay.admin),
        409,
        "client_revoked",
    )
    error, code = refusal(relay, signed_hello(relay, client_id, new_key))
    assert (error["error_code"], code) == ("auth_failed", 4401)
    client_token = relay.tokens[-3]
    forbidden = relay.call(
        "POST",
        f"/clients/{client_id}/signing-key",
        headers={"Authorization": f"Bearer {client_token}"},
    )
    assert forbidden.status_code in (401, 403)


def test_revoked_while_signed_in_is_closed(signed_relay: Relay) -> None:
    relay = signed_relay
    client_id, _headers, key = register_signed(relay)
    with connect_signed(relay, client_id, key) as ws:
        relay.call("DELETE", f"/clients/{client_id}", headers=relay.admin)
        assert ws.expect("error")["error_code"] == "token_revoked"
        assert ws.closed()["code"] == 1008


def test_without_a_signing_secret_there_are_no_keys(relay: Relay) -> None:
    created = relay.call("POST", "/clients", json={"name": "oc"}, headers=relay.admin).json()
    relay.tokens.append(created["token"])
    assert created["signingKey"] is None
    assert_error(
        relay.call("POST", f"/clients/{created['clientId']}/signing-key", headers=relay.admin),
        409,
        "signing_not_configured",
    )
    error, code = refusal(relay, signed_hello(relay, created["clientId"], "rs_guess"))
    assert (error["error_code"], code) == ("hello_not_configured", 4401)


def test_the_database_holds_no_signing_key(signed_relay: Relay, signing_secret: str) -> None:
    relay = signed_relay
    client_id, _headers, key = register_signed(relay)
    rotated = relay.call("POST", f"/clients/{client_id}/signing-key", headers=relay.admin)
    keys = [key, rotated.json()["signingKey"]]
    with connect_signed(relay, client_id, keys[1]):
        pass
    store = relay.http.app.state.store  # type: ignore[attr-defined]
    with store.tx() as conn:
        dump = repr([conn.execute(select(t)).all() for t in metadata.sorted_tables])
    assert "client_signing_keys" in repr(metadata.sorted_tables) and client_id in dump
    for secret in [*keys, signing_secret]:
        assert secret not in dump and secret.removeprefix("rs_") not in dump

"""Who may call what: 401 for no/unknown/revoked tokens, 403 for the wrong kind, 404 that
does not leak another client's conversation, and tokens never shown again or stored."""

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from clawdeploy_relay.schema import metadata
from relay_helpers import Relay, assert_error, bearer

ROUTES = [
    ("GET", "/clients"),
    ("POST", "/clients"),
    ("GET", "/integrations"),
    ("GET", "/conversations"),
    ("GET", "/conversations/conv-x"),
    ("POST", "/inbound"),
    ("GET", "/poll"),
    ("POST", "/send"),
    ("POST", "/ack"),
    ("GET", "/outbox"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_missing_or_unknown_token_is_401(relay: Relay, method: str, path: str) -> None:
    missing = relay.call(method, path)
    assert_error(missing, 401, "auth_required")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert_error(relay.call(method, path, headers=bearer("rc_nope")), 401, "auth_failed")
    basic = relay.call(method, path, headers={"Authorization": "Basic YTpi"})
    assert_error(basic, 401, "auth_required")


def test_health_is_public(relay: Relay) -> None:
    assert relay.call("GET", "/health").status_code == 200


def test_wrong_token_kind_is_403(relay: Relay) -> None:
    _cid, oc = relay.register()
    _iid, web = relay.integration()
    wrong = [
        ("GET", "/clients", oc),
        ("POST", "/clients", web),
        ("GET", "/conversations", oc),
        ("GET", "/conversations/conv-x", web),
        ("POST", "/inbound", oc),
        ("GET", "/poll", relay.admin),
        ("GET", "/poll", web),
        ("POST", "/send", web),
        ("POST", "/ack", relay.admin),
        ("GET", "/outbox", oc),
        ("DELETE", "/clients/x", oc),
    ]
    for method, path, headers in wrong:
        response = relay.call(method, path, headers=headers, json={"name": "n"})
        assert_error(response, 403, "wrong_token_kind")


def test_another_clients_conversation_is_404_like_a_missing_one(relay: Relay) -> None:
    a_id, a = relay.register("oc1")
    b_id, b = relay.register("oc2")
    relay.poll(a)
    relay.poll(b)
    message = relay.inbound("alice", "hi")
    conv_id = message["conversationId"]
    owner, stranger = (a, b) if message["clientId"] == a_id else (b, a)
    assert relay.call("GET", f"/conversations/{conv_id}", headers=owner).status_code == 200
    theirs = assert_error(
        relay.call("GET", f"/conversations/{conv_id}", headers=stranger),
        404,
        "conversation_not_found",
    )
    missing = assert_error(
        relay.call("GET", "/conversations/conv-missing", headers=stranger),
        404,
        "conversation_not_found",
    )
    assert theirs["error"] == missing["error"]
    send = relay.send(stranger, {"conversationId": conv_id, "text": "mine now"})
    assert_error(send, 404, "conversation_not_found")
    by_to = relay.send(stranger, {"to": "alice", "text": "mine now"})
    assert_error(by_to, 404, "conversation_not_found")
    assert relay.call("GET", f"/conversations/{conv_id}", headers=relay.admin).status_code == 200
    assert b_id  # both clients exist; only the owner sees the conversation


def test_revoked_integration_is_401(relay: Relay) -> None:
    integration_id, web = relay.integration()
    relay.inbound("alice", "hi", headers=web)
    assert relay.call("DELETE", f"/integrations/{integration_id}", headers=relay.admin).is_success
    assert_error(relay.call("GET", "/outbox", headers=web), 401, "token_revoked")
    default = relay.call("DELETE", "/integrations/default", headers=relay.admin)
    assert_error(default, 409, "default_integration")


def test_admin_routes_503_without_admin_token(make_relay: Callable[..., Relay]) -> None:
    relay = make_relay(admin_token=None)
    response = relay.call("GET", "/clients", headers=bearer("a" * 64))
    assert_error(response, 503, "auth_not_configured")


def _stored_bytes(relay: Relay, database_url: str) -> bytes:
    """Everything the database holds: the SQLite files, or every row on PostgreSQL."""
    if database_url.startswith("sqlite:///"):
        db_path = Path(database_url.removeprefix("sqlite:///"))
        return b"".join(
            path.read_bytes()
            for path in db_path.parent.iterdir()
            if path.name.startswith("relay.db")
        )
    store = relay.http.app.state.store
    with store.tx() as conn:
        rows = [list(conn.execute(select(table))) for table in metadata.sorted_tables]
    return repr(rows).encode()


def test_tokens_are_shown_once_and_stored_hashed(
    relay: Relay, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _cid, oc = relay.register("oc1")
    _iid, web = relay.integration("web")
    relay.inbound("alice", "hi", headers=web)
    relay.poll(oc)
    lists = [relay.call("GET", p, headers=relay.admin) for p in ("/clients", "/integrations")]
    assert all("token" not in r.json()[r.url.path.strip("/")][0] for r in lists)
    stored = _stored_bytes(relay, database_url)
    assert b"alice" in stored  # the dump holds the data
    logged = caplog.text
    for token in relay.tokens:
        assert token.encode() not in stored
        assert token not in logged
    # Relay.call already checked that no other answer showed a token.

"""The connector over the relay's ``/ws`` (``CONNECTOR_TRANSPORT=ws``): pushed messages,
replies and acks as frames, bearer or signed hello, reconnection, the gateway gate, cancel,
and the same no-loss guarantees as the long-poll.

The relay is the real app on a socket (0.5 s leases); the gateway is :class:`FakeGateway`.
"""

import logging
import time
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from clawdeploy_relay.connector.main import _missing
from clawdeploy_relay.connector.openresponses import session_user
from clawdeploy_relay.connector.settings import ConnectorSettings
from connector_harness import Stack, message_lines, wait_for


def sockets_open(stack: Stack) -> int:
    """``relay_websocket_connections`` on the relay's ``/metrics``."""
    text = stack.admin.get("/metrics").text
    line = next(row for row in text.splitlines() if row.startswith("relay_websocket_"))
    return int(float(line.split()[-1]))


def signed(stack: Stack, **overrides: Any) -> dict[str, Any]:
    """Connector settings for a signed hello: no client token at all."""
    return {
        "transport": "ws",
        "client_token": None,
        "client_id": stack.client_id,
        "signing_key": SecretStr(stack.signing_key),
        **overrides,
    }


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + repr([getattr(r, "fields", None) for r in caplog.records])


def test_bearer_socket_answers_end_to_end(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    stack.connector(transport="ws")
    wait_for(lambda: sockets_open(stack) == 1)
    started = time.monotonic()
    sent = stack.inbound("alice", "hello there")
    (reply,) = stack.wait_replies(1)
    assert time.monotonic() - started < 3.0  # pushed, not polled
    assert reply["text"] == "re: hello there (turn 1; before: -)"
    assert reply["conversationId"] == sent["conversationId"]
    assert stack.gateway.users() == [session_user(sent["conversationId"])]
    (line,) = message_lines(caplog, 1)
    assert (line["outcome"], line["message_id"]) == ("answered", sent["id"])
    assert stack.pending() == 0
    time.sleep(1.0)  # twice the lease: acked by the send frame, nothing comes back
    assert stack.delivery_counts(sent["conversationId"]) == [1]
    assert len(stack.outbox()) == 1
    opened = [r for r in caplog.records if r.getMessage() == "websocket open"]
    assert opened and opened[0].fields["signed_hello"] is False
    text = logged(caplog)
    assert "hello there" not in text
    for secret in stack.secrets:
        assert secret not in text


def test_signed_hello_without_a_token_keeps_each_conversation_in_order(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    first = stack.inbound("alice", "one")
    stack.inbound("alice", "two")
    stack.inbound("bob", "hi")
    stack.connector(**signed(stack))
    replies = stack.wait_replies(3)
    assert [r["text"] for r in replies if r["to"] == "alice"] == [
        "re: one (turn 1; before: -)",
        "re: two (turn 2; before: one)",
    ]
    alice = session_user(first["conversationId"])
    assert [c["text"] for c in stack.gateway.calls if c["user"] == alice] == ["one", "two"]
    assert stack.pending() == 0
    opened = [r for r in caplog.records if r.getMessage() == "websocket open"]
    assert opened[0].fields["signed_hello"] is True
    for secret in stack.secrets:
        assert secret not in logged(caplog)


def test_a_wrong_signing_key_is_refused_and_retried_slowly(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bad = "rs_" + "A" * 43
    thread = stack.connector(**signed(stack, signing_key=SecretStr(bad)), auth_retry_s=0.3)
    stack.inbound("alice", "hi")
    time.sleep(1.0)
    refused = [r for r in caplog.records if r.getMessage().startswith("relay refused the client")]
    assert 2 <= len(refused) <= 5  # every auth_retry_s, not hammering
    assert refused[0].levelno == logging.ERROR and refused[0].fields["code"] == "auth_failed"
    assert stack.outbox() == [] and stack.gateway.calls == []
    assert bad not in logged(caplog)
    thread.stop()
    stack.connector(**signed(stack))  # the right key: the message waited, not lost
    (reply,) = stack.wait_replies(1)
    assert reply["text"].startswith("re: hi")


def test_the_socket_reconnects_after_the_relay_restarts(stack: Stack) -> None:
    stack.connector(transport="ws")
    wait_for(lambda: sockets_open(stack) == 1)
    stack.inbound("alice", "before")
    stack.wait_replies(1)
    stack.relay.stop()
    time.sleep(0.3)  # the connector retries with backoff meanwhile
    stack.relay.start()
    stack.inbound("alice", "after")
    replies = stack.wait_replies(2)
    assert [r["text"].split(" (")[0] for r in replies] == ["re: before", "re: after"]
    assert stack.pending() == 0


def test_a_failing_gateway_closes_the_socket_until_it_answers(stack: Stack) -> None:
    stack.gateway.script.extend(["500"] * 6)
    stack.connector(transport="ws", backoff_initial_s=0.1, backoff_max_s=0.1)
    wait_for(lambda: sockets_open(stack) == 1)
    sent = stack.inbound("alice", "hello")
    # While the gateway fails the connector holds no socket (the client goes stale, as
    # when it stops polling), and the message stays un-acked.
    wait_for(lambda: len(stack.gateway.calls) >= 2)
    assert sockets_open(stack) == 0
    (reply,) = stack.wait_replies(1)
    assert reply["text"] == "re: hello (turn 1; before: -)"
    wait_for(lambda: sockets_open(stack) == 1)
    assert [c["behaviour"] for c in stack.gateway.calls][-1] == "ok"
    assert stack.pending() == 0
    assert stack.delivery_counts(sent["conversationId"])[0] >= 1


def test_killed_before_the_reply_loses_nothing_and_doubles_nothing(stack: Stack) -> None:
    stack.gateway.script.append("hang")
    doomed = stack.connector(transport="ws")
    sent = stack.inbound("alice", "hello")
    wait_for(lambda: stack.gateway.calls)
    doomed.kill()  # the message was pushed and leased, never acked
    stack.gateway.release.set()
    stack.connector(transport="ws")
    (reply,) = stack.wait_replies(1)
    assert reply["text"].startswith("re: hello")
    time.sleep(1.0)
    assert len(stack.outbox()) == 1
    assert stack.pending() == 0
    # Pushed again once the dead socket's lease ran out (more than once on a slow host).
    assert stack.delivery_counts(sent["conversationId"])[0] >= 2
    assert [c["text"] for c in stack.gateway.calls] == ["hello", "hello"]


def test_a_cancel_stops_the_gateway_call_and_the_conversation_goes_on(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stack.gateway.script.append("hang")
    stack.connector(transport="ws", gateway_timeout_s=20)
    first = stack.inbound("alice", "long job")
    wait_for(lambda: stack.gateway.calls)
    second = stack.inbound("alice", "next")
    cancelled = stack.admin.post("/cancel", json={"messageId": first["id"]})
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["cancelled"], cancelled.json()["notified"]) == (True, 1)
    (reply,) = stack.wait_replies(1)
    assert reply["text"].startswith("re: next")  # no reply to the cancelled message
    lines = message_lines(caplog, 2)
    assert {(line["message_id"], line["outcome"]) for line in lines} == {
        (first["id"], "cancelled"),
        (second["id"], "answered"),
    }
    (cancel,) = [r for r in caplog.records if r.getMessage() == "cancel"]
    assert (cancel.fields["message_id"], cancel.fields["state"]) == (first["id"], "running")
    stack.gateway.release.set()
    time.sleep(1.0)  # past the lease: the cancelled message does not come back
    assert len(stack.outbox()) == 1 and stack.pending() == 0
    assert [c["text"] for c in stack.gateway.calls] == ["long job", "next"]


def test_revoked_while_connected_is_retried_slowly(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stack.connector(**signed(stack), auth_retry_s=0.3)
    wait_for(lambda: sockets_open(stack) == 1)
    assert stack.admin.delete(f"/clients/{stack.client_id}").status_code == 200
    wait_for(lambda: sockets_open(stack) == 0)
    time.sleep(0.8)
    refused = [r for r in caplog.records if r.getMessage().startswith("relay refused the client")]
    assert 2 <= len(refused) <= 5
    assert sockets_open(stack) == 0


def test_ws_settings() -> None:
    base = {"gateway_token": SecretStr("g" * 40)}
    assert ConnectorSettings(**base).transport == "poll"
    with pytest.raises(ValidationError, match="CONNECTOR_TRANSPORT=ws"):
        ConnectorSettings(**base, signing_key=SecretStr("rs_x"), client_id="client-1")
    with pytest.raises(ValidationError, match="CONNECTOR_CLIENT_ID"):
        ConnectorSettings(**base, transport="ws", signing_key=SecretStr("rs_x"))
    with pytest.raises(ValidationError):
        ConnectorSettings(**base, transport="push")
    keyed = ConnectorSettings(
        **base, transport="ws", signing_key=SecretStr("rs_x"), client_id="client-1"
    )
    assert _missing(keyed) is None  # no client token needed with a signing key
    assert "CONNECTOR_CLIENT_TOKEN" in (_missing(ConnectorSettings(**base, transport="ws")) or "")

"""The connector when the gateway or the relay fails: retried, never lost, never doubled."""

import logging
import secrets
import time
from pathlib import Path

import pytest

from clawdeploy_relay.connector.openresponses import session_user
from connector_harness import FakeGateway, Stack, message_lines, wait_for


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + repr([getattr(r, "fields", None) for r in caplog.records])


def test_gateway_failing_three_times_then_recovering_gives_one_reply(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stack.gateway.script.extend(["500", "502", "500"])
    stack.connector()
    sent = stack.inbound("alice", "hello")
    (reply,) = stack.wait_replies(1)
    assert reply["text"] == "re: hello (turn 1; before: -)"
    assert [c["behaviour"] for c in stack.gateway.calls] == ["500", "502", "500", "ok"]
    assert set(stack.gateway.users()) == {session_user(sent["conversationId"])}
    assert stack.pending() == 0
    time.sleep(0.3)
    assert len(stack.outbox()) == 1
    retries = [r for r in caplog.records if r.getMessage() == "gateway unavailable, will retry"]
    assert [r.fields["attempt"] for r in retries] == [1, 2, 3]
    assert all(0.01 <= r.fields["retry_in_s"] <= 0.2 for r in retries)
    (line,) = message_lines(caplog, 1)
    assert line["gateway_attempts"] == 4 and line["outcome"] == "answered"


def test_gateway_down_then_up(stack: Stack, admin_token: str) -> None:
    stack.gateway.stop()
    late = FakeGateway(stack.gateway.token)
    stack.connector(gateway_url=late.url)
    stack.inbound("alice", "anyone there?")
    time.sleep(0.4)  # connection refused, retried with backoff
    assert stack.outbox() == []
    late.start()
    try:
        (reply,) = stack.wait_replies(1)
        assert reply["text"].startswith("re: anyone there?")
        assert len(late.calls) == 1
    finally:
        late.stop()
    assert stack.pending() == 0


def test_a_gateway_that_hangs_past_the_timeout_is_asked_again(stack: Stack) -> None:
    stack.gateway.script.append("hang")
    stack.connector(gateway_timeout_s=0.3)
    stack.inbound("alice", "slow one")
    (reply,) = stack.wait_replies(1)
    stack.gateway.release.set()
    assert reply["text"].startswith("re: slow one")
    assert [c["behaviour"] for c in stack.gateway.calls] == ["hang", "ok"]
    assert stack.pending() == 0


def test_a_wrong_gateway_token_is_logged_and_retried_slowly(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    right = stack.gateway.token
    stack.connector(auth_retry_s=0.25)
    stack.gateway.token = secrets.token_urlsafe(32)  # the connector's token is now wrong
    started = time.monotonic()
    stack.inbound("alice", "hello")
    wait_for(lambda: len(stack.gateway.calls) >= 2)
    time.sleep(0.3)
    # Every 0.25 s (CONNECTOR_AUTH_RETRY_S), not at the 0.02 s backoff.
    assert len(stack.gateway.calls) <= (time.monotonic() - started) / 0.25 + 1
    errors = [r for r in caplog.records if r.getMessage().startswith("gateway refused the token")]
    assert errors and errors[0].levelno == logging.ERROR
    assert "OPENCLAW_GATEWAY_TOKEN" in errors[0].getMessage()
    assert errors[0].fields["http_status"] == 401
    assert stack.outbox() == []
    wrong = stack.gateway.token
    stack.gateway.token = right
    (reply,) = stack.wait_replies(1)
    assert reply["text"].startswith("re: hello")
    logged = _logged(caplog)
    for token in [*stack.secrets, wrong]:
        assert token not in logged


def test_no_new_work_is_taken_while_the_gateway_fails(stack: Stack) -> None:
    stack.gateway.script.extend(["500"] * 1000)
    stack.connector(concurrency=2, poll_wait_s=0.3)  # a free worker: only the gate holds back
    stack.inbound("alice", "first")
    wait_for(lambda: len(stack.gateway.calls) >= 2)
    time.sleep(0.5)  # the long-poll in flight when the gateway failed has ended
    bob = stack.inbound("bob", "second")
    time.sleep(0.5)
    assert stack.delivery_counts(bob["conversationId"]) == [0]  # never polled
    assert {c["text"] for c in stack.gateway.calls} == {"first"}
    stack.gateway.script.clear()
    replies = stack.wait_replies(2)
    assert sorted(r["to"] for r in replies) == ["alice", "bob"]
    assert stack.pending() == 0


def test_relay_down_for_a_while_then_back(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    stack.gateway.script.append("hang")
    stack.connector()
    stack.inbound("alice", "before the outage")
    wait_for(lambda: stack.gateway.in_flight == 1)
    stack.relay.stop()
    stack.gateway.release.set()  # the reply is ready while the relay is down
    time.sleep(0.5)
    stack.relay.start()
    (reply,) = stack.wait_replies(1)
    assert reply["text"].startswith("re: before the outage")
    assert stack.pending() == 0
    stack.inbound("alice", "after the outage")  # polling works again
    replies = stack.wait_replies(2)
    assert replies[1]["text"] == ("re: after the outage (turn 2; before: before the outage)")
    warnings = [r for r in caplog.records if r.getMessage() == "relay unavailable, will retry"]
    assert warnings


def test_a_revoked_client_token_is_logged_and_retried(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    thread = stack.connector(poll_wait_s=0.2)
    response = stack.admin.delete(f"/clients/{stack.client_id}")
    assert response.status_code == 200
    wait_for(
        lambda: any(
            r.getMessage().startswith("relay refused the client token") for r in caplog.records
        )
    )
    assert thread.alive()
    for token in stack.secrets:
        assert token not in _logged(caplog)


def test_a_busy_connector_stays_connected_while_its_gateway_works(
    tmp_path: Path, admin_token: str
) -> None:
    """A gateway call longer than the relay's disconnect time: the busy connector polls
    for nothing (every worker is taken) but sends heartbeats, so the relay keeps it
    connected and does not fail its conversation over while the reply is being made."""
    stack = Stack(
        tmp_path,
        admin_token,
        secrets.token_urlsafe(32),
        stale_after_s=0.8,
        disconnected_after_s=1.6,
        poll_max_wait_s=0.4,
    )
    try:
        stack.gateway.delay_s = 3.0
        stack.connector(poll_wait_s=0.4, heartbeat_s=0.2, gateway_timeout_s=10.0)
        stack.inbound("alice", "take your time")
        assert wait_for(lambda: stack.gateway.in_flight == 1, 5.0)
        states = set()
        deadline = time.monotonic() + 2.4  # past the disconnect time, the call still running
        while time.monotonic() < deadline:
            states.add(stack.client_state())
            time.sleep(0.1)
        assert states == {"connected"}
        (reply,) = stack.wait_replies(1)
        assert reply["text"].startswith("re: take your time")
        assert len(stack.gateway.calls) == 1 and stack.pending() == 0
    finally:
        stack.close()

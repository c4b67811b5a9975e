"""The connector end to end: /inbound → relay → connector → gateway → /send → /outbox.

The relay is the real app on a socket; the gateway is :class:`FakeGateway` (OpenResponses
shapes, sessions from ``user`` as OpenClaw derives them).
"""

import logging
import time

import pytest

from clawdeploy_relay.connector.openresponses import session_user
from connector_harness import Stack, message_lines


def test_a_message_is_answered_end_to_end(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    stack.connector()
    sent = stack.inbound("alice", "hello there")
    (reply,) = stack.wait_replies(1)
    assert reply["text"] == "re: hello there (turn 1; before: -)"
    assert reply["conversationId"] == sent["conversationId"]
    assert reply["to"] == "alice"
    (call,) = stack.gateway.calls
    assert call["user"] == f"relay:{sent['conversationId']}"
    assert stack.pending() == 0
    # One line per message, with ids, latency and outcome, and neither text nor tokens.
    (line,) = message_lines(caplog, 1)
    assert line["message_id"] == sent["id"]
    assert line["conversation_id"] == sent["conversationId"]
    assert line["outcome"] == "answered" and line["delivery_count"] == 1
    assert isinstance(line["latency_ms"], int)
    logged = caplog.text + repr([getattr(r, "fields", None) for r in caplog.records])
    assert "hello there" not in logged
    for token in stack.secrets:
        assert token not in logged


def test_one_session_per_conversation_in_order(stack: Stack) -> None:
    first = stack.inbound("alice", "one")
    stack.inbound("alice", "two")
    stack.inbound("alice", "three")
    bob = stack.inbound("bob", "hi")
    stack.connector()
    replies = stack.wait_replies(4)
    alice = [r["text"] for r in replies if r["to"] == "alice"]
    assert alice == [
        "re: one (turn 1; before: -)",
        "re: two (turn 2; before: one)",
        "re: three (turn 3; before: one | two)",
    ]
    assert [r["text"] for r in replies if r["to"] == "bob"] == ["re: hi (turn 1; before: -)"]
    alice_user = session_user(first["conversationId"])
    assert [c["text"] for c in stack.gateway.calls if c["user"] == alice_user] == [
        "one",
        "two",
        "three",
    ]
    assert {c["user"] for c in stack.gateway.calls} == {
        alice_user,
        session_user(bob["conversationId"]),
    }
    # The session key OpenClaw derives from it (agent main, lower-cased).
    assert stack.gateway.calls[0]["key"] == f"agent:main:openresponses-user:{alice_user}"


def test_concurrency_runs_conversations_in_parallel_but_each_in_order(stack: Stack) -> None:
    stack.gateway.delay_s = 0.3
    for text in ("a1", "a2"):
        stack.inbound("alice", text)
    for text in ("b1", "b2"):
        stack.inbound("bob", text)
    started = time.monotonic()
    stack.connector(concurrency=2)
    replies = stack.wait_replies(4)
    elapsed = time.monotonic() - started
    assert stack.gateway.max_in_flight == 2
    assert elapsed < 4 * 0.3 + 0.5  # not one after the other
    for user, texts in (("alice", ["a1", "a2"]), ("bob", ["b1", "b2"])):
        assert [r["text"].split(" (")[0] for r in replies if r["to"] == user] == [
            f"re: {t}" for t in texts
        ]


def test_default_concurrency_is_one_message_at_a_time(stack: Stack) -> None:
    stack.gateway.delay_s = 0.1
    for user in ("alice", "bob", "carol"):
        stack.inbound(user, "hi")
    stack.connector()
    stack.wait_replies(3)
    assert stack.gateway.max_in_flight == 1


def test_a_request_the_gateway_rejects_gets_the_error_reply(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stack.connector(error_reply="sorry, cannot do that")
    stack.inbound("alice", "poison pill")
    stack.inbound("alice", "fine now")
    replies = stack.wait_replies(2)
    assert [r["text"] for r in replies] == [
        "sorry, cannot do that",
        "re: fine now (turn 1; before: -)",
    ]
    assert stack.pending() == 0
    rejected = [r for r in caplog.records if r.getMessage() == "gateway rejected the message"]
    assert rejected and rejected[0].levelno == logging.ERROR
    assert "Unknown agent" in rejected[0].fields["detail"]  # the reason is in the log only
    assert [line["source"] for line in message_lines(caplog, 2)] == [
        "error_reply",
        "reply",
    ]


def test_an_agent_model_is_sent_as_given(stack: Stack) -> None:
    stack.connector(agent_model="openclaw/ops")
    sent = stack.inbound("alice", "hello")
    stack.wait_replies(1)
    user = session_user(sent["conversationId"])
    assert stack.gateway.calls[0]["key"] == f"agent:ops:openresponses-user:{user}"


def test_a_long_reply_is_cut_to_the_limit(stack: Stack) -> None:
    stack.gateway.reply_tag = "x" * 500
    stack.connector(max_reply_chars=100)
    stack.inbound("alice", "hello")
    (reply,) = stack.wait_replies(1)
    assert len(reply["text"]) == 100 and reply["text"].endswith("…")

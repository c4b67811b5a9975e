"""Crashes and stops: a killed or stopped connector loses nothing and doubles nothing.

The relay's lease is 0.5 s here, so a message left un-acked comes back within a second.
"""

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from clawdeploy_relay.connector.deliver import reply_key
from clawdeploy_relay.connector.errors import RelayError
from clawdeploy_relay.connector.relay_client import InboundMessage, RelayClient
from connector_harness import Stack, message_lines, wait_for

SRC = Path(__file__).resolve().parents[1] / "src"


def _outcomes(caplog: pytest.LogCaptureFixture, count: int = 1) -> list[str]:
    return [line["outcome"] for line in message_lines(caplog, count)]


def test_killed_between_send_and_ack_does_not_duplicate(stack: Stack) -> None:
    sent_once = threading.Event()

    class FreezeAfterSend(RelayClient):
        """The reply reaches the relay, then the process "dies" before doing anything else."""

        async def send(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            answer = await super().send(*args, **kwargs)
            sent_once.set()
            await asyncio.Event().wait()  # frozen until killed
            return answer

    doomed = stack.connector(relay_factory=FreezeAfterSend)
    sent = stack.inbound("alice", "hello")
    assert sent_once.wait(5)
    doomed.kill()
    stack.connector()
    time.sleep(1.0)  # twice the lease: a redelivery would have come by now
    (reply,) = stack.wait_replies(1)
    assert reply["text"] == "re: hello (turn 1; before: -)"
    # /send acked the message in the same transaction (ackIds): nothing comes back.
    assert stack.pending() == 0
    assert stack.delivery_counts(sent["conversationId"]) == [1]
    assert len(stack.gateway.calls) == 1


def test_a_lost_send_answer_is_retried_with_the_same_key(stack: Stack) -> None:
    lost: list[bool] = []

    class LoseFirstAnswer(RelayClient):
        """The first /send reaches the relay but its answer is lost on the way back."""

        async def send(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            answer = await super().send(*args, **kwargs)
            if not lost:
                lost.append(True)
                raise RelayError("unavailable", "POST /send: ReadError")
            return answer

    stack.connector(relay_factory=LoseFirstAnswer)
    stack.inbound("alice", "hello")
    wait_for(lambda: lost and stack.pending() == 0)
    time.sleep(0.3)
    (reply,) = stack.outbox()
    assert reply["text"].startswith("re: hello")
    assert len(stack.gateway.calls) == 1


def test_a_redelivered_message_reuses_the_remembered_reply(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    refused: list[bool] = []

    class RefuseFirstSend(RelayClient):
        """The relay refuses the first reply (a bug would do that); it stays un-acked."""

        async def send(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            if not refused:
                refused.append(True)
                raise RelayError("rejected", "POST /send answered HTTP 422", 422, "invalid")
            return await super().send(*args, **kwargs)

    stack.connector(relay_factory=RefuseFirstSend)
    stack.inbound("alice", "hello")
    (reply,) = stack.wait_replies(1)
    assert reply["text"] == "re: hello (turn 1; before: -)"
    wait_for(lambda: stack.pending() == 0)
    assert len(stack.gateway.calls) == 1  # the lease brought it back; the gateway was not asked
    lines = message_lines(caplog, 2)
    assert [(f["outcome"], f["source"]) for f in lines] == [
        ("rejected", "reply"),
        ("answered", "remembered"),
    ]


@pytest.mark.parametrize("same_text", [True, False], ids=["replayed", "conflicting"])
def test_a_reply_stored_before_a_lost_ack_is_not_sent_twice(
    stack: Stack, caplog: pytest.LogCaptureFixture, same_text: bool
) -> None:
    """An earlier process stored the reply (same key) but died before its ack took effect."""
    caplog.set_level(logging.INFO)
    sent = stack.inbound("alice", "hello")
    client = httpx.Client(
        base_url=stack.relay.url, headers={"Authorization": f"Bearer {stack.client_token}"}
    )
    with client:
        (polled,) = client.get("/poll", params={"ack": "explicit"}).json()["messages"]
        earlier = "re: hello (turn 1; before: -)" if same_text else "an earlier answer"
        body = {
            "conversationId": polled["conversationId"],
            "text": earlier,
            "idempotencyKey": reply_key(polled["id"]),
            "ackIds": [],
        }
        assert client.post("/send", json=body).status_code == 200
    assert stack.pending() == 1
    stack.connector()
    wait_for(lambda: stack.pending() == 0, 5)  # after the lease: delivered again, acked
    time.sleep(0.3)
    (reply,) = stack.outbox()
    assert reply["text"] == earlier
    assert stack.delivery_counts(sent["conversationId"]) == [2]
    assert _outcomes(caplog) == ["answered" if same_text else "duplicate"]


def test_stop_while_the_gateway_hangs_leaves_the_message_for_redelivery(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stack.gateway.script.append("hang")
    first = stack.connector(shutdown_grace_s=0.2)
    sent = stack.inbound("alice", "hello")
    wait_for(lambda: stack.gateway.in_flight == 1)
    started = time.monotonic()
    first.stop()
    assert time.monotonic() - started < 1.5
    assert _outcomes(caplog) == ["abandoned"]
    assert stack.pending() == 1 and stack.outbox() == []
    stack.gateway.release.set()
    stack.connector()
    (reply,) = stack.wait_replies(1)
    assert reply["conversationId"] == sent["conversationId"]
    wait_for(lambda: stack.pending() == 0)
    assert stack.delivery_counts(sent["conversationId"]) == [2]


def test_stop_lets_the_message_in_hand_finish_within_the_grace(stack: Stack) -> None:
    stack.gateway.delay_s = 0.3
    thread = stack.connector(shutdown_grace_s=5)
    stack.inbound("alice", "hello")
    wait_for(lambda: stack.gateway.in_flight == 1)
    thread.stop()
    (reply,) = stack.outbox()  # finished before the stop returned
    assert reply["text"].startswith("re: hello")
    assert stack.pending() == 0


def test_stop_while_waiting_to_retry_is_immediate(stack: Stack) -> None:
    stack.gateway.script.extend(["500"] * 1000)
    thread = stack.connector(backoff_initial_s=5, backoff_max_s=5)
    stack.inbound("alice", "hello")
    wait_for(lambda: len(stack.gateway.calls) == 1)
    started = time.monotonic()
    thread.stop()
    assert time.monotonic() - started < 1.0
    assert stack.pending() == 1


def _private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_sigterm_stops_the_process_and_nothing_is_lost(stack: Stack, tmp_path: Path) -> None:
    stack.gateway.script.append("hang")
    env_file = _private(
        tmp_path / "connector.env",
        f"CONNECTOR_CLIENT_TOKEN={stack.client_token}\n"
        f"CONNECTOR_RELAY_URL={stack.relay.url}\n"
        f"CONNECTOR_GATEWAY_URL={stack.gateway.url}\n"
        f"CONNECTOR_GATEWAY_ENV_FILE={tmp_path / 'gateway.env'}\n"
        "CONNECTOR_POLL_WAIT_S=1\nCONNECTOR_SHUTDOWN_GRACE_S=0.2\n",
    )
    _private(tmp_path / "gateway.env", f"OPENCLAW_GATEWAY_TOKEN={stack.gateway.token}\n")
    env = {
        k: v for k, v in os.environ.items() if not k.upper().startswith(("CONNECTOR_", "RELAY_"))
    }
    env.update(CONNECTOR_ENV_FILE=str(env_file), PYTHONPATH=str(SRC))
    process = subprocess.Popen(
        [sys.executable, "-m", "clawdeploy_relay.connector"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        sent = stack.inbound("alice", "hello")
        wait_for(lambda: stack.gateway.in_flight == 1, 15)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines]
    assert events[0] == "started" and "stopping" in events and events[-1] == "stopped"
    (handled,) = [line for line in lines if line["event"] == "message"]
    assert handled["outcome"] == "abandoned" and handled["message_id"] == sent["id"]
    for token in stack.secrets:
        assert token not in err
    assert "hello" not in err
    stack.gateway.release.set()
    stack.connector()
    (reply,) = stack.wait_replies(1)
    assert reply["conversationId"] == sent["conversationId"]
    wait_for(lambda: stack.pending() == 0)


def test_inbound_message_from_json_defaults() -> None:
    message = InboundMessage.from_json(
        {"id": "m", "conversationId": "c", "from": "u", "text": "t", "deliveryCount": 3}
    )
    assert (message.conversation_id, message.sender, message.delivery_count) == ("c", "u", 3)

"""The connector's parts without sockets: wire format, backoff, settings, order, stop."""

import asyncio
import json
import os
import random
import secrets
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from clawdeploy_relay.connector import main as connector_main
from clawdeploy_relay.connector.backoff import backoff_delay
from clawdeploy_relay.connector.dispatch import Dispatcher
from clawdeploy_relay.connector.errors import GatewayError, retry_after
from clawdeploy_relay.connector.openresponses import output_text, parse_answer, request_body
from clawdeploy_relay.connector.relay_client import InboundMessage
from clawdeploy_relay.connector.settings import ConnectorSettings, load_connector_settings
from clawdeploy_relay.connector.stop import AbandonedError, Stop

JSON = "application/json; charset=utf-8"


@pytest.fixture(autouse=True)
def _no_connector_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("CONNECTOR_"):
            monkeypatch.delenv(name)


def _response(status: str = "completed", output: list[Any] | None = None, **extra: Any) -> bytes:
    body = {"id": "resp_1", "object": "response", "status": status, "output": output or []}
    return json.dumps({**body, **extra}).encode()


def _message(text: str, phase: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text}],
    }
    if phase:
        item["phase"] = phase
    return item


# --- the OpenResponses wire format ----------------------------------------------------


def test_request_body_is_one_user_message_with_the_session_user() -> None:
    assert request_body("openclaw", "hi", "conv-1") == {
        "model": "openclaw",
        "stream": False,
        "user": "relay:conv-1",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        ],
    }


def test_output_text_prefers_the_final_answer_and_skips_other_items() -> None:
    response = {
        "output": [
            {"type": "reasoning", "summary": []},
            _message("thinking aloud", "commentary"),
            _message("the answer", "final_answer"),
            {"type": "function_call", "name": "x", "arguments": "{}"},
        ]
    }
    assert output_text(response) == "the answer"
    two = {"output": [_message("one"), _message("two")]}
    assert output_text(two) == "one\n\ntwo"
    parts = {"output": [{"type": "message", "role": "assistant", "content": [
        {"type": "output_text", "text": "a"}, {"type": "refusal", "refusal": "no"},
        {"type": "output_text", "text": "b"}]}]}  # fmt: skip
    assert output_text(parts) == "ab"
    assert output_text({"output": []}) == ""


def test_parse_answer_reads_a_completed_response() -> None:
    body = _response(output=[_message("pong from stub", "final_answer")])
    assert parse_answer(200, JSON, body) == "pong from stub"
    assert parse_answer(200, JSON, _response("incomplete", [_message("cut")])) == "cut"


# (status, content type, body, expected kind): the cases of openclaw-facts.md Q2.
GATEWAY_ERRORS = [
    (401, JSON, b'{"error":{"message":"Unauthorized","type":"unauthorized"}}', "auth"),
    (429, JSON, b'{"error":{"message":"Too many","type":"rate_limited"}}', "auth"),
    (404, "text/plain", b"Not Found", "not_serving"),
    (405, "text/plain", b"Method Not Allowed", "not_serving"),
    (200, "text/html", b"<html>control ui</html>", "not_serving"),
    (
        400,
        JSON,
        b'{"error":{"message":"Unknown agent \'nosuch\'.","type":"invalid_request_error"}}',
        "rejected",
    ),  # fmt: skip
    (
        401,
        JSON,
        _response("failed", error={"code": "authentication_error", "message": "401"}),
        "model",
    ),  # fmt: skip
    (
        500,
        JSON,
        _response("failed", error={"code": "api_error", "message": "internal error"}),
        "model",
    ),  # fmt: skip
    (502, JSON, _response("failed", error={"code": "api_error", "message": "upstream"}), "model"),
    (408, JSON, _response("failed", error={"code": "api_error", "message": "timeout"}), "model"),
    (200, JSON, _response("failed", error={"code": "api_error", "message": "x"}), "model"),
    (503, "text/plain", b"Service Unavailable", "unavailable"),
    (408, "text/plain", b"Request Timeout", "unavailable"),
]


@pytest.mark.parametrize(("status", "ctype", "body", "kind"), GATEWAY_ERRORS)
def test_parse_answer_classifies_failures(status: int, ctype: str, body: bytes, kind: str) -> None:
    with pytest.raises(GatewayError) as caught:
        parse_answer(status, ctype, body, "7")
    assert caught.value.kind == kind
    assert caught.value.status == status
    if status == 429:
        assert caught.value.retry_after_s == 7.0


def test_retry_after_takes_seconds_only() -> None:
    assert retry_after("3") == 3.0
    assert retry_after(None) is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert retry_after("-1") is None


# --- backoff and stop -----------------------------------------------------------------


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    for attempt in range(1, 30):
        step = min(8.0, 0.5 * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, 0.5, 8.0, rng) for _draw in range(50)]
        assert all(step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert backoff_delay(10_000, 0.5, 8.0, rng) <= 8.0
    with pytest.raises(ValueError):
        backoff_delay(0, 0.5, 8.0, rng)


def test_stop_cuts_a_sleep_short() -> None:
    async def scenario() -> float:
        stop = Stop()
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, stop.set)
        started = loop.time()
        with pytest.raises(AbandonedError):
            await stop.sleep(10)
        with pytest.raises(AbandonedError):
            await stop.sleep(0)  # already stopping
        return loop.time() - started

    assert asyncio.run(scenario()) < 1.0


# --- order and concurrency ------------------------------------------------------------


def _msg(conv: str, n: int) -> InboundMessage:
    return InboundMessage(f"{conv}-{n}", conv, "user", f"text {n}", 1)


def test_dispatcher_keeps_each_conversation_in_order_and_bounds_parallelism() -> None:
    async def scenario() -> tuple[list[str], int]:
        done: list[str] = []
        running = peak = 0

        async def handle(message: InboundMessage) -> str:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1
            done.append(message.id)
            return "answered"

        dispatcher = Dispatcher(handle, 2, Stop())
        batch = [_msg(c, n) for n in range(3) for c in ("a", "b", "c")]
        assert dispatcher.offer(batch) == 9
        assert dispatcher.offer(batch[:2]) == 0  # already held: a redelivery is ignored
        while dispatcher.held():
            await asyncio.sleep(0.01)
        return done, peak

    done, peak = asyncio.run(scenario())
    assert peak == 2
    for conv in ("a", "b", "c"):
        assert [d for d in done if d.startswith(conv)] == [f"{conv}-0", f"{conv}-1", f"{conv}-2"]


def test_dispatcher_drops_the_rest_of_a_conversation_left_unacked() -> None:
    async def scenario() -> list[str]:
        seen: list[str] = []

        async def handle(message: InboundMessage) -> str:
            seen.append(message.id)
            return "abandoned" if message.id == "a-0" else "answered"

        dispatcher = Dispatcher(handle, 1, Stop())
        dispatcher.offer([_msg("a", 0), _msg("a", 1), _msg("b", 0)])
        while dispatcher.held():
            await asyncio.sleep(0.01)
        dispatcher.offer([_msg("a", 0)])  # delivered again later: taken again
        while dispatcher.held():
            await asyncio.sleep(0.01)
        return seen

    assert asyncio.run(scenario()) == ["a-0", "b-0", "a-0"]


# --- settings and the entry point -----------------------------------------------------


def _private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_settings_defaults() -> None:
    s = ConnectorSettings()
    assert s.gateway_url == "http://127.0.0.1:18789"
    assert s.agent_model == "openclaw"
    assert s.concurrency == 1
    assert s.client_token is None


@pytest.mark.parametrize("model", ["openclaw", "openclaw/main", "openclaw:ops", "OpenClaw"])
def test_settings_accept_openclaw_models(model: str) -> None:
    assert ConnectorSettings(agent_model=model).agent_model == model


@pytest.mark.parametrize("model", ["main", "bogus/model", "openclaw/", "gpt-4o"])
def test_settings_refuse_other_models(model: str) -> None:
    with pytest.raises(ValidationError):
        ConnectorSettings(agent_model=model)


def test_settings_refuse_bad_urls_and_timings() -> None:
    with pytest.raises(ValidationError):
        ConnectorSettings(relay_url="ftp://relay")
    with pytest.raises(ValidationError):
        ConnectorSettings(relay_url="https://user:secret@relay.example.net")
    assert ConnectorSettings(relay_url="https://relay.example.net/").relay_url == (
        "https://relay.example.net"
    )
    with pytest.raises(ValidationError):
        ConnectorSettings(backoff_initial_s=5, backoff_max_s=1)
    with pytest.raises(ValidationError):
        ConnectorSettings(concurrency=0)


def test_settings_from_private_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client_token, gateway_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    gateway_env = _private(tmp_path / ".env", f"OPENCLAW_GATEWAY_TOKEN={gateway_token}\nX=1\n")
    env = _private(
        tmp_path / "connector.env",
        f"CONNECTOR_CLIENT_TOKEN={client_token}\nCONNECTOR_GATEWAY_ENV_FILE={gateway_env}\n"
        "CONNECTOR_CONCURRENCY=4\n",
    )
    monkeypatch.setenv("CONNECTOR_ENV_FILE", str(env))
    s = load_connector_settings()
    assert s.client_token is not None and s.client_token.get_secret_value() == client_token
    assert s.gateway_token is not None and s.gateway_token.get_secret_value() == gateway_token
    assert s.concurrency == 4
    assert client_token not in repr(s) and gateway_token not in repr(s)


@pytest.mark.parametrize("which", ["connector", "gateway"])
def test_group_readable_token_files_are_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    which: str,
) -> None:
    token = secrets.token_urlsafe(32)
    gateway_env = _private(
        tmp_path / ".env",
        f"OPENCLAW_GATEWAY_TOKEN={token}\n",
        0o640 if which == "gateway" else 0o600,
    )
    env = _private(
        tmp_path / "connector.env",
        f"CONNECTOR_CLIENT_TOKEN={token}\nCONNECTOR_GATEWAY_ENV_FILE={gateway_env}\n",
        0o644 if which == "connector" else 0o600,
    )
    monkeypatch.setenv("CONNECTOR_ENV_FILE", str(env))
    assert connector_main.main() == 2
    err = capsys.readouterr().err
    assert "chmod 600" in err and token not in err


def test_main_refuses_a_gateway_env_file_without_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway_env = _private(tmp_path / ".env", "OPENCLAW_VERSION=2026.9.6\n")
    monkeypatch.setenv("CONNECTOR_CLIENT_TOKEN", secrets.token_urlsafe(32))
    monkeypatch.setenv("CONNECTOR_GATEWAY_ENV_FILE", str(gateway_env))
    assert connector_main.main() == 2
    assert "has no OPENCLAW_GATEWAY_TOKEN" in capsys.readouterr().err


def test_main_refuses_missing_tokens_and_invalid_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert connector_main.main() == 2
    assert "CONNECTOR_CLIENT_TOKEN is not set" in capsys.readouterr().err
    token = secrets.token_urlsafe(32)
    monkeypatch.setenv("CONNECTOR_CLIENT_TOKEN", token)
    assert connector_main.main() == 2
    assert "no gateway token" in capsys.readouterr().err
    monkeypatch.setenv("CONNECTOR_GATEWAY_TOKEN", token)
    monkeypatch.setenv("CONNECTOR_AGENT_MODEL", "main")
    assert connector_main.main() == 2
    err = capsys.readouterr().err
    assert "invalid CONNECTOR_AGENT_MODEL" in err and token not in err


def test_both_gateway_token_sources_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        ConnectorSettings(gateway_token="x" * 40, gateway_env_file=str(tmp_path / ".env"))

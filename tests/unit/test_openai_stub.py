"""The stub model provider (tests/fixtures/openai_stub.py): the default fixed reply is kept,
and the opt-in echo mode reports the user-role texts a request carried."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

STUB_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "openai_stub.py"
_SPEC = importlib.util.spec_from_file_location("openai_stub_under_test", STUB_PATH)
assert _SPEC is not None and _SPEC.loader is not None
stub = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(stub)


def _serve(echo: bool) -> Iterator[str]:
    server = stub.StubServer(("127.0.0.1", 0), "pong from stub", "", "", echo=echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d/v1" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain_url() -> Iterator[str]:
    """A stub answering its fixed reply."""
    yield from _serve(echo=False)


@pytest.fixture
def echo_url() -> Iterator[str]:
    """A stub in echo mode."""
    yield from _serve(echo=True)


def _post(url: str, body: dict[str, Any]) -> tuple[str, str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.headers.get("Content-Type", ""), answer.read().decode()


CHAT = {
    "model": "stub-model",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "[Mon 2026-11-23 15:48 UTC] first"},
        {"role": "assistant", "content": "pong"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ],
}


def test_default_reply_is_unchanged(plain_url: str) -> None:
    kind, text = _post(plain_url + "/chat/completions", CHAT)
    assert kind == "application/json"
    assert json.loads(text)["choices"][0]["message"]["content"] == "pong from stub"


def test_echo_chat_completions_reports_user_texts(echo_url: str) -> None:
    kind, text = _post(echo_url + "/chat/completions", CHAT)
    assert kind == "application/json"
    reply = json.loads(text)["choices"][0]["message"]["content"]
    assert reply.startswith(stub.ECHO_PREFIX)
    assert json.loads(reply[len(stub.ECHO_PREFIX) :]) == {
        "peer": "127.0.0.1",
        "user_messages": 2,
        "texts": ["[Mon 2026-11-23 15:48 UTC] first", "second"],
    }


def test_echo_streaming_chat_completions(echo_url: str) -> None:
    kind, text = _post(echo_url + "/chat/completions", dict(CHAT, stream=True))
    assert kind == "text/event-stream"
    deltas = [
        json.loads(line[len("data: ") :])["choices"]
        for line in text.splitlines()
        if line.startswith("data: {")
    ]
    content = "".join(c[0]["delta"].get("content", "") for c in deltas if c)
    assert json.loads(content[len(stub.ECHO_PREFIX) :])["texts"] == [
        CHAT["messages"][1]["content"],
        "second",
    ]


def test_echo_streaming_responses(echo_url: str) -> None:
    body = {
        "model": "stub-model",
        "stream": True,
        "input": [
            {"type": "message", "role": "system", "content": "be brief"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "one"}]},
            {"role": "user", "content": "two"},
            {"type": "function_call_output", "call_id": "c1", "output": "x"},
        ],
    }
    kind, text = _post(echo_url + "/responses", body)
    assert kind == "text/event-stream"
    done = [
        json.loads(line[len("data: ") :])
        for line in text.splitlines()
        if line.startswith("data: ") and "response.output_text.done" in line
    ]
    assert len(done) == 1
    echoed = json.loads(done[0]["text"][len(stub.ECHO_PREFIX) :])
    assert echoed["texts"] == ["one", "two"] and echoed["user_messages"] == 2


def test_user_texts_of_a_plain_string_input() -> None:
    assert stub.user_texts({"input": "hello"}) == ["hello"]
    assert stub.user_texts({"input": 3}) == []
    assert stub.user_texts({}) == []


def test_reply_and_echo_exclude_each_other() -> None:
    done = subprocess.run(
        [sys.executable, str(STUB_PATH), "--echo", "--reply", "x", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2 and "not allowed with" in done.stderr

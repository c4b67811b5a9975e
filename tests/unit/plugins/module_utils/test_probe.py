"""Tests of the shared probe: classification of real gateway answers (bodies as observed
on OpenClaw 2026.9.6, research/openclaw-facts.md) and the retry/deadline/masking rules."""

from __future__ import annotations

import json
import secrets

import pytest

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import probe

JSON = "application/json; charset=utf-8"
HEALTH_OK = (200, JSON, b'{"ok":true,"status":"live"}')
READY_OK = (200, JSON, b'{"ready":true,"failing":[]}')
COMPLETED = json.dumps(
    {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "openclaw:main",
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "pong from stub"}],
            }
        ],
    }
).encode()
UNAUTHORIZED = b'{"error":{"message":"Unauthorized","type":"unauthorized"}}'
UPSTREAM_401 = json.dumps(
    {
        "id": "resp_2",
        "object": "response",
        "status": "failed",
        "output": [],
        "error": {"code": "authentication_error", "message": "401 Incorrect API key provided"},
    }
).encode()


class FakeGateway:
    """A fetch function answering from a table keyed by (method, path)."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, method, url, headers, body, timeout):
        path = "/" + url.split("/", 3)[3]
        self.calls.append((method, path, dict(headers)))
        answer = self.answers[(method, path)]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
            if isinstance(answer, Exception):
                raise answer
        return answer


def gateway(responses_answer, health=HEALTH_OK):
    return FakeGateway(
        {
            ("GET", "/healthz"): health,
            ("GET", "/readyz"): READY_OK,
            ("POST", "/v1/responses"): responses_answer,
        }
    )


def test_ok_returns_the_model_reply():
    fake = gateway((200, JSON, COMPLETED))
    result = probe.probe_gateway("http://gw:18789/", "tok", fetch_fn=fake)
    assert result["diagnosis"] == "ok" and result["ok"] is True
    assert result["reply"] == "pong from stub"
    assert result["http_status"] == 200
    assert result["fix"] == probe.DIAGNOSES["ok"]
    method, path, headers = fake.calls[-1]
    assert (method, path) == ("POST", "/v1/responses")
    assert headers["Authorization"] == "Bearer tok"


def test_gateway_401_is_auth_failed():
    result = probe.probe_gateway("http://gw", "tok", fetch_fn=gateway((401, JSON, UNAUTHORIZED)))
    assert result["diagnosis"] == "auth_failed"
    assert result["ok"] is False


def test_upstream_401_response_object_is_upstream_model_error():
    result = probe.probe_gateway("http://gw", "tok", fetch_fn=gateway((401, JSON, UPSTREAM_401)))
    assert result["diagnosis"] == "upstream_model_error"
    assert "authentication_error" in result["detail"]


def test_404_is_endpoint_not_enabled():
    result = probe.probe_gateway(
        "http://gw", "tok", fetch_fn=gateway((404, "text/plain", b"Not Found"))
    )
    assert result["diagnosis"] == "responses_endpoint_not_enabled_or_not_found"


def test_html_health_is_not_a_gateway():
    html = (200, "text/html; charset=utf-8", b"<!doctype html><title>Control UI</title>")
    result = probe.probe_gateway(
        "http://gw", "tok", fetch_fn=gateway((200, JSON, COMPLETED), health=html)
    )
    assert result["diagnosis"] == "network_or_unreachable"
    assert "text/html" in result["detail"]


def test_provider_failures_are_upstream_errors():
    failed = json.dumps(
        {
            "object": "response",
            "status": "failed",
            "error": {"code": "api_error", "message": "upstream provider error"},
        }
    ).encode()
    assert (
        probe.probe_gateway("http://gw", "t", fetch_fn=gateway((502, JSON, failed)))["diagnosis"]
        == "upstream_model_error"
    )
    timeout = probe.Unreachable("timed out", timed_out=True)
    result = probe.probe_gateway("http://gw", "t", fetch_fn=gateway(timeout))
    assert result["diagnosis"] == "upstream_model_error"
    assert "model request took over" in result["detail"]


def test_rate_limit_is_auth_failed():
    result = probe.probe_gateway("http://gw", "t", fetch_fn=gateway((429, JSON, b'{"error":{}}')))
    assert result["diagnosis"] == "auth_failed"


def test_no_token_never_sends_a_request():
    fake = gateway((200, JSON, COMPLETED))
    result = probe.probe_gateway("http://gw", None, fetch_fn=fake)
    assert result["diagnosis"] == "auth_failed"
    assert ("POST", "/v1/responses") not in [call[:2] for call in fake.calls]


def test_liveness_only_skips_the_model_request():
    fake = gateway(AssertionError("must not be called"))
    result = probe.probe_gateway("http://gw", None, responses=False, fetch_fn=fake)
    assert result["diagnosis"] == "ok"
    assert result["health"] == {"ok": True, "status": "live"}


def test_unreachable_retries_until_the_gateway_is_up():
    refused = probe.Unreachable("[Errno 111] Connection refused")
    fake = FakeGateway(
        {
            ("GET", "/healthz"): [refused, refused, HEALTH_OK],
            ("GET", "/readyz"): READY_OK,
            ("POST", "/v1/responses"): (200, JSON, COMPLETED),
        }
    )
    result = probe.probe_gateway("http://gw", "t", deadline=5, interval=0.01, fetch_fn=fake)
    assert result["diagnosis"] == "ok"
    assert result["attempts"] == 3


def test_unreachable_gives_up_at_the_deadline():
    fake = gateway((200, JSON, COMPLETED), health=probe.Unreachable("refused"))
    result = probe.probe_gateway("http://gw", "t", deadline=0.05, interval=0.02, fetch_fn=fake)
    assert result["diagnosis"] == "network_or_unreachable"
    assert 1 < result["attempts"] <= 4


COOLDOWN = json.dumps(
    {
        "object": "response",
        "status": "failed",
        "error": {
            "code": "api_error",
            "message": "Authentication failed (provider returned HTTP 401)",
        },
    }
).encode()


def test_upstream_errors_are_final_unless_asked_to_retry():
    fake = gateway((502, JSON, COOLDOWN))
    result = probe.probe_gateway("http://gw", "t", deadline=5, interval=0.01, fetch_fn=fake)
    assert (result["diagnosis"], result["attempts"]) == ("upstream_model_error", 1)


def test_retry_on_waits_out_a_provider_cooldown():
    # OpenClaw refuses a provider for 30 s after an HTTP 401, even once the key is right.
    fake = FakeGateway(
        {
            ("GET", "/healthz"): HEALTH_OK,
            ("GET", "/readyz"): READY_OK,
            ("POST", "/v1/responses"): [
                (502, JSON, COOLDOWN),
                (502, JSON, COOLDOWN),
                (200, JSON, COMPLETED),
            ],
        }
    )
    result = probe.probe_gateway(
        "http://gw",
        "t",
        deadline=5,
        interval=0.01,
        retry_on=["upstream_model_error"],
        fetch_fn=fake,
    )
    assert (result["diagnosis"], result["attempts"]) == ("ok", 3)


def test_auth_failure_is_not_retried():
    fake = gateway((401, JSON, UNAUTHORIZED))
    result = probe.probe_gateway("http://gw", "t", deadline=5, interval=0.01, fetch_fn=fake)
    assert result["attempts"] == 1


def test_readyz_failing_list_is_reported():
    fake = gateway((200, JSON, COMPLETED))
    fake.answers[("GET", "/readyz")] = (
        503,
        JSON,
        b'{"ready":false,"failing":["startup-sidecars"]}',
    )
    assert probe.probe_gateway("http://gw", "t", fetch_fn=fake)["failing"] == ["startup-sidecars"]


def test_token_never_appears_in_the_result():
    token = secrets.token_urlsafe(32)
    echo = json.dumps(
        {
            "object": "response",
            "status": "failed",
            "error": {"code": "x", "message": "bad header Bearer " + token},
        }
    ).encode()
    result = probe.probe_gateway("http://gw", token, fetch_fn=gateway((500, JSON, echo)))
    assert token not in json.dumps(result)
    assert "********" in result["detail"]


def test_every_diagnosis_has_a_fix():
    assert set(probe.DIAGNOSES) == {
        "ok",
        "auth_failed",
        "responses_endpoint_not_enabled_or_not_found",
        "network_or_unreachable",
        "upstream_model_error",
        "backend_unreachable",
        "executor_not_available",
    }
    assert all(fix.strip() for fix in probe.DIAGNOSES.values())


@pytest.mark.parametrize(
    ("status", "body", "diagnosis"),
    [
        (
            200,
            {
                "ok": True,
                "diagnosis": "ok",
                "gateway": {"ok": True},
                "service": {"version": "0.1.0"},
            },
            "ok",
        ),
        (401, {"ok": False, "error_code": "auth_failed", "error": "missing"}, "auth_failed"),
        (403, {"ok": False, "error_code": "auth_failed", "error": "wrong"}, "auth_failed"),
        (503, {"ok": False, "error_code": "auth_not_configured", "error": "unset"}, "auth_failed"),
        (
            500,
            {"ok": False, "error_code": "internal_error", "error": "boom"},
            "backend_unreachable",
        ),
    ],
)
def test_backend_probe(status, body, diagnosis):
    fake = FakeGateway(
        {("GET", "/api/v1/status"): (status, "application/json", json.dumps(body).encode())}
    )
    result = probe.probe_backend("http://b:18889", "tok", fetch_fn=fake)
    assert result["diagnosis"] == diagnosis


def test_backend_unreachable_and_html():
    down = FakeGateway({("GET", "/api/v1/status"): probe.Unreachable("refused")})
    assert probe.probe_backend("http://b", "t", fetch_fn=down)["diagnosis"] == "backend_unreachable"
    html = FakeGateway({("GET", "/api/v1/status"): (200, "text/html", b"<html>")})
    assert probe.probe_backend("http://b", "t", fetch_fn=html)["diagnosis"] == "backend_unreachable"


def test_real_fetch_reports_refused_port():
    # A closed loopback port: the real urllib path, no server needed.
    result = probe.probe_gateway("http://127.0.0.1:9", "t", timeout=2)
    assert result["diagnosis"] == "network_or_unreachable"
    assert result["http_status"] is None

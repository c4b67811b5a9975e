"""GatewayProber: wiring to the shared probe, token masking, and the probe contract both ways."""

import socket

import pytest
from pydantic import SecretStr

from backend_helpers import CheckedClient, login, make_result
from clawdeploy_backend import gateway_probe
from clawdeploy_backend.deps import get_gateway_prober
from clawdeploy_backend.main import create_app
from clawdeploy_backend.redact import MASK, display_url, mask_secrets
from clawdeploy_backend.services.gateway import GatewayProber
from clawdeploy_backend.settings import Settings


def _closed_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_from_settings_passes_url_token_timeout_and_model(monkeypatch, gateway_token):
    seen = {}

    def spy(base_url, token, **kwargs):
        seen.update(base_url=base_url, token=token, **kwargs)
        return make_result("ok")

    monkeypatch.setattr(gateway_probe, "probe_gateway", spy)
    settings = Settings(
        openclaw_gateway_url="http://127.0.0.1:28789/",
        openclaw_gateway_token=gateway_token,
        gateway_probe_timeout_s=7.5,
        gateway_agent_model="openclaw/main",
    )
    result = GatewayProber.from_settings(settings).probe()

    assert result["diagnosis"] == "ok"
    assert seen == {
        "base_url": "http://127.0.0.1:28789",
        "token": gateway_token,
        "timeout": 7.5,
        "model": "openclaw/main",
    }


def test_unset_gateway_token_is_passed_as_none(monkeypatch):
    seen = {}

    def spy(base_url, token, **kwargs):
        seen["token"] = token
        return make_result("auth_failed")

    monkeypatch.setattr(gateway_probe, "probe_gateway", spy)
    GatewayProber.from_settings(Settings()).probe()
    assert seen == {"token": None}


def test_results_are_masked(api_token, gateway_token):
    prober = GatewayProber(
        "http://127.0.0.1:18789",
        SecretStr(gateway_token),
        mask=(SecretStr(api_token), None),
        probe_fn=lambda *a, **k: make_result(
            "upstream_model_error",
            detail=f"x{gateway_token}y",
            health={"nested": [api_token, {"k": gateway_token}]},
            latency_ms=5,
        ),
    )
    result = prober.probe()
    assert result["detail"] == f"x{MASK}y"
    assert result["health"] == {"nested": [MASK, {"k": MASK}]}
    assert result["latency_ms"] == 5
    assert gateway_token not in repr(result) and api_token not in repr(result)


def test_mask_secrets_prefers_longer_secrets():
    assert mask_secrets("abcdef", ["abc", "abcdef"]) == MASK
    assert mask_secrets({"t": ("abc", 1)}, ["abc", None, ""]) == {"t": (MASK, 1)}
    assert mask_secrets("abc", []) == "abc"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:18789", "http://127.0.0.1:18789"),
        ("https://u:p@gw.example:8443/base?token=t#f", "https://gw.example:8443/base"),
        ("http://[::1]:18789/", "http://[::1]:18789/"),
        ("http://user@host", "http://host"),
    ],
)
def test_display_url_drops_credentials(url, shown):
    assert display_url(url) == shown


def test_real_probe_of_a_closed_port_is_network_or_unreachable(api_token):
    """No fake: the shared probe runs against a loopback port nothing listens on."""
    settings = Settings(
        backend_api_token=api_token,
        openclaw_gateway_url=f"http://127.0.0.1:{_closed_loopback_port()}",
        gateway_probe_timeout_s=3,
    )
    with CheckedClient(create_app(settings), [api_token]) as client:
        body = client.get("/api/v1/status", headers={"Authorization": f"Bearer {api_token}"}).json()
        assert login(client, api_token).status_code == 303
        page = client.get("/web/status").text
    assert body["ok"] is True
    assert body["diagnosis"] == "network_or_unreachable"
    assert body["gateway"]["ok"] is False
    assert body["gateway"]["http_status"] is None
    assert body["gateway"]["fix"] == gateway_probe.DIAGNOSES["network_or_unreachable"]
    assert "network_or_unreachable" in page


def _fetch_via(client):
    """A ``fetch_fn`` for gateway_probe that sends its requests to the TestClient."""

    def fetch(method, url, headers, body, timeout):
        response = client.request(method, url, headers=headers, content=body)
        return response.status_code, response.headers.get("content-type", ""), response.content

    return fetch


@pytest.mark.parametrize(
    ("server_token", "client_token", "diagnosis"),
    [("same", "same", "ok"), ("same", "other", "auth_failed"), (None, "other", "auth_failed")],
)
def test_collection_backend_probe_understands_this_api(
    fake_prober, gateway_token, server_token, client_token, diagnosis
):
    """``gateway_probe.probe_backend`` (used by the status playbook) reads our envelope."""
    tokens = {"same": gateway_token + "-api", "other": "wrong-token", None: None}
    app = create_app(Settings(backend_api_token=tokens[server_token]))
    fake_prober.result = make_result("upstream_model_error")
    app.dependency_overrides[get_gateway_prober] = lambda: fake_prober
    with CheckedClient(app, [gateway_token]) as client:
        result = gateway_probe.probe_backend(
            "http://testserver", tokens[client_token], fetch_fn=_fetch_via(client)
        )
    assert result["diagnosis"] == diagnosis
    if diagnosis == "ok":
        assert result["health"]["gateway_diagnosis"] == "upstream_model_error"
        assert result["health"]["gateway_ok"] is False

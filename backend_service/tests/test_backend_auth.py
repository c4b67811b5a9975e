"""Bearer auth of /api/*: 503 unconfigured, 401 missing, 403 wrong, constant-time compare."""

import hmac

import pytest
from fastapi import FastAPI

from backend_helpers import CheckedClient, FakeProber, make_result
from clawdeploy_backend.deps import get_gateway_prober
from clawdeploy_backend.main import create_app
from clawdeploy_backend.settings import Settings

STATUS = "/api/v1/status"


def _client_with(token: str | None, gateway_token: str, prober: FakeProber) -> CheckedClient:
    app: FastAPI = create_app(
        Settings(backend_api_token=token, openclaw_gateway_token=gateway_token)
    )
    app.dependency_overrides[get_gateway_prober] = lambda: prober
    return CheckedClient(app, [gateway_token])


def test_right_token_is_accepted(client, auth_headers, fake_prober):
    response = client.get(STATUS, headers=auth_headers)
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert fake_prober.calls == 1


def test_bearer_scheme_is_case_insensitive(client, api_token):
    # RFC 9110 11.1: auth schemes are case-insensitive.
    response = client.get(STATUS, headers={"Authorization": f"bearer {api_token}"})
    assert response.status_code == 200


def test_missing_header_is_401(client, fake_prober):
    response = client.get(STATUS)
    assert response.status_code == 401
    body = response.json()
    assert body["ok"] is False
    assert body["error_code"] == "auth_failed"
    assert "Authorization: Bearer" in body["error"]
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert fake_prober.calls == 0, "the gateway must not be probed for an unauthenticated call"


@pytest.mark.parametrize(
    "value",
    ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "Bearer ", "", "TOKEN-WITHOUT-SCHEME"],
)
def test_header_without_bearer_token_is_401(client, api_token, value):
    value = value.replace("TOKEN-WITHOUT-SCHEME", api_token)
    response = client.get(STATUS, headers={"Authorization": value})
    assert response.status_code == 401
    assert response.json()["error_code"] == "auth_failed"


@pytest.mark.parametrize("kind", ["longer", "shorter", "other-case", "unrelated"])
def test_wrong_token_is_403(client, api_token, fake_prober, kind):
    wrong = {
        "longer": api_token + "x",
        "shorter": api_token[:-1],
        "other-case": api_token.swapcase(),
        "unrelated": "not-the-token",
    }[kind]
    assert wrong != api_token
    response = client.get(STATUS, headers={"Authorization": f"Bearer {wrong}"})
    assert response.status_code == 403
    body = response.json()
    assert body["ok"] is False
    assert body["error_code"] == "auth_failed"
    assert "does not match BACKEND_API_TOKEN" in body["error"]
    assert fake_prober.calls == 0


@pytest.mark.parametrize("server_token", [None, "", "   "])
def test_unset_server_token_is_503(gateway_token, server_token):
    prober = FakeProber({})
    with _client_with(server_token, gateway_token, prober) as client:
        for headers in ({}, {"Authorization": "Bearer anything"}):
            response = client.get(STATUS, headers=headers)
            assert response.status_code == 503
            body = response.json()
            assert body["ok"] is False
            assert body["error_code"] == "auth_not_configured"
            assert "BACKEND_API_TOKEN" in body["error"]
    assert prober.calls == 0


def test_unset_server_token_leaves_health_open_and_web_closed(gateway_token):
    prober = FakeProber(make_result("ok"))
    with _client_with(None, gateway_token, prober) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/web/status", follow_redirects=False).status_code == 303
        assert client.get("/web/login").status_code == 200
    assert prober.calls == 0


def test_tokens_are_compared_in_constant_time(client, api_token, monkeypatch):
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert client.get(STATUS, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get(STATUS, headers={"Authorization": f"Bearer {api_token}"}).status_code == 200
    assert calls == [
        (b"wrong", api_token.encode()),
        (api_token.encode(), api_token.encode()),
    ]


def test_non_ascii_token_is_refused_not_crashed(client):
    # Header values arrive as latin-1; the comparison must not raise on them.
    response = client.get(STATUS, headers={"Authorization": "Bearer caf\xe9".encode("latin-1")})
    assert response.status_code == 403


def test_openapi_documents_the_bearer_scheme(client):
    schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["BackendApiToken"]["scheme"].lower() == "bearer"
    assert set(schema["paths"][STATUS]["get"]["responses"]) >= {"200", "401", "403", "503"}

"""GET /web/status: the HTML page (behind the login) shows the diagnosis, never a token."""

import html

import pytest

from backend_helpers import TAXONOMY, CheckedClient, login, make_result
from clawdeploy_backend import __version__, gateway_probe
from clawdeploy_backend.deps import get_gateway_prober
from clawdeploy_backend.main import create_app
from clawdeploy_backend.redact import MASK
from clawdeploy_backend.services.gateway import GatewayProber


@pytest.mark.parametrize("diagnosis", TAXONOMY)
def test_page_shows_diagnosis_fix_status_latency(web_client, fake_prober, diagnosis):
    fake_prober.result = make_result(diagnosis, http_status=404, latency_ms=987)
    response = web_client.get("/web/status")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    text = html.unescape(response.text)
    assert f'id="diagnosis" class="badge {"ok" if diagnosis == "ok" else "fail"}">{diagnosis}<' in (
        text
    )
    assert gateway_probe.DIAGNOSES[diagnosis] in text
    assert '<dd id="http-status">404</dd>' in text
    assert '<dd id="latency">987 ms</dd>' in text
    assert f'<span id="version">{__version__}</span>' in text
    assert '<dd id="gateway-url">http://127.0.0.1:18789</dd>' in text


def test_page_without_http_answer(web_client, fake_prober):
    fake_prober.result = make_result("network_or_unreachable", http_status=None, detail="refused")
    text = web_client.get("/web/status").text
    assert '<dd id="http-status">no answer</dd>' in text
    assert '<dd id="detail">refused</dd>' in text


def test_page_escapes_what_the_gateway_says(web_client, fake_prober):
    fake_prober.result = make_result("upstream_model_error", detail="<script>alert(1)</script>")
    text = web_client.get("/web/status").text
    assert "<script" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_page_is_static_and_hardened(web_client):
    response = web_client.get("/web/status")
    assert "<script" not in response.text.lower()
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "server" not in response.headers


def test_page_never_shows_a_token(settings, api_token, gateway_token):
    """The real prober path: whatever the probe returns, tokens are masked before rendering."""
    password = "pw-" + gateway_token[:12]

    def leaky_probe(base_url, token, **kwargs):
        assert token == gateway_token
        return make_result(
            "auth_failed",
            detail=f"sent Bearer {token}; backend token {api_token}",
            reply=token,
            health={"echo": token, token: api_token},
            failing=[api_token],
        )

    app = create_app(settings)
    prober = GatewayProber(
        f"http://admin:{password}@127.0.0.1:18789/?token={gateway_token}",
        settings.openclaw_gateway_token,
        mask=(settings.backend_api_token,),
        probe_fn=leaky_probe,
    )
    app.dependency_overrides[get_gateway_prober] = lambda: prober
    # CheckedClient fails on any response showing one of these.
    with CheckedClient(app, [api_token, gateway_token, password]) as client:
        assert login(client, api_token).status_code == 303
        text = client.get("/web/status").text
        assert MASK in text
        assert '<dd id="gateway-url">http://127.0.0.1:18789/</dd>' in text
        body = client.get("/api/v1/status", headers={"Authorization": f"Bearer {api_token}"})
        assert body.json()["gateway"]["reply"] == MASK


def test_page_needs_a_login(client, fake_prober):
    response = client.get("/web/status", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/web/login?next=/web/status"
    assert fake_prober.calls == 0, "no probe for a visitor who is not logged in"

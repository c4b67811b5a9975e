"""Security headers on every response; request body limit (413 request_too_large)."""

import pytest

from clawdeploy_backend.middleware import SECURITY_HEADERS


@pytest.mark.parametrize(
    ("method", "path", "authed"),
    [
        ("GET", "/healthz", False),
        ("GET", "/api/v1/status", True),
        ("GET", "/api/v1/status", False),
        ("GET", "/api/v1/models", True),
        ("GET", "/web/login", False),
        ("GET", "/web/status", False),
        ("GET", "/no/such/route", False),
        ("GET", "/metrics", True),
        ("GET", "/openapi.json", False),
    ],
)
def test_security_headers_everywhere(client, auth_headers, method, path, authed):
    response = client.request(
        method, path, headers=auth_headers if authed else {}, follow_redirects=False
    )
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # no script allowed at all
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_carry_no_script(web_client):
    for path in ("/web/status", "/web/models", "/web/login"):
        assert "<script" not in web_client.get(path).text.lower()


def test_declared_oversize_body_is_413(client, auth_headers, settings):
    body = b"x" * (settings.backend_max_body_bytes + 1)
    response = client.post(
        "/api/v1/models/import-astr",
        content=body,
        headers={**auth_headers, "Content-Type": "application/json", "X-Trace-Id": "big-1"},
    )
    assert response.status_code == 413
    data = response.json()
    assert data == {
        "ok": False,
        "trace_id": "big-1",
        "error_code": "request_too_large",
        "error": f"the request body is larger than {settings.backend_max_body_bytes} bytes",
    }
    assert response.headers["X-Trace-Id"] == "big-1"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_streamed_oversize_body_is_413(client, auth_headers, settings):
    chunk = b" " * 65536

    def chunks():
        for _chunk in range(settings.backend_max_body_bytes // len(chunk) + 2):
            yield chunk

    response = client.post(
        "/api/v1/models/import-astr",
        content=chunks(),
        headers={**auth_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error_code"] == "request_too_large"


def test_streamed_oversize_form_is_413(web_client, settings):
    def chunks():
        yield b"csrf_token="
        for _chunk in range(settings.backend_max_body_bytes // 65536 + 2):
            yield b"a" * 65536

    response = web_client.post(
        "/web/models/pull-astr",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


def test_body_under_the_limit_passes(client, auth_headers):
    padding = "x" * 500_000
    body = {"providers": [{"id": "a", "model": "m"}], "padding": padding}
    response = client.post("/api/v1/models/import-astr", json=body, headers=auth_headers)
    assert response.status_code == 200

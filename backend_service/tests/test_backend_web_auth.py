"""Login, sessions, logout and CSRF of /web: cookie flags, constant time, no open redirect."""

import hashlib
import hmac
import sqlite3

import pytest

from backend_helpers import csrf_of, login
from clawdeploy_backend.auth import web_session

PAGES = ["/web/status", "/web/models"]


@pytest.mark.parametrize("page", PAGES)
def test_pages_redirect_to_login(client, page):
    response = client.get(page, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/web/login?next={page}"


@pytest.mark.parametrize("action", ["/web/models/pull-astr", "/web/logout"])
def test_posts_without_a_session_redirect_to_login(client, action, settings):
    response = client.post(action, data={"csrf_token": "x"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/web/login")
    assert not settings.audit_log_path.exists() or "models.pull" not in (
        settings.audit_log_path.read_text()
    )


def test_login_sets_a_strict_httponly_session_cookie(client, api_token, settings):
    response = login(client, api_token, "/web/models")
    assert response.status_code == 303
    assert response.headers["location"] == "/web/models"
    cookies = response.headers.get_list("set-cookie")
    [session] = [c for c in cookies if c.startswith(f"{web_session.SESSION_COOKIE}=")]
    attributes = {a.strip().lower() for a in session.split(";")}
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/web" in attributes
    assert f"max-age={settings.web_session_ttl_s}" in attributes
    assert "secure" not in attributes  # loopback http; WEB_COOKIE_SECURE turns it on
    session_id = session.split(";")[0].split("=", 1)[1]
    assert len(session_id) >= 43
    # The database keeps the hash of the session id, not the id.
    db = sqlite3.connect(settings.database_path)
    [(id_hash,)] = db.execute("SELECT id_hash FROM web_sessions").fetchall()
    db.close()
    assert id_hash == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id.encode() not in settings.database_path.read_bytes()
    assert client.get("/web/models").status_code == 200
    assert client.get("/web/status").status_code == 200


def test_secure_cookie_setting(app, api_token, settings):
    from backend_helpers import CheckedClient

    app.state.settings = settings.model_copy(update={"web_cookie_secure": True})
    with CheckedClient(
        app,
        [api_token],
    ) as client:
        form = client.get("/web/login")
        assert "secure" in form.headers["set-cookie"].lower()


def test_wrong_token_is_403_and_creates_no_session(client, settings):
    response = login(client, "not-the-token")
    assert response.status_code == 403
    assert 'id="login-error"' in response.text
    assert web_session.SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert client.get("/web/status", follow_redirects=False).status_code == 303
    assert '"outcome": "auth_failed"' in settings.audit_log_path.read_text()


def test_login_compares_in_constant_time(client, api_token, monkeypatch):
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(
        web_session.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b)
    )
    assert login(client, api_token).status_code == 303
    assert (api_token.encode(), api_token.encode()) in calls


def test_login_needs_the_double_submit_csrf(client, api_token):
    form = client.get("/web/login")
    token = csrf_of(form.text)
    bad = client.post(
        "/web/login",
        data={"csrf_token": token + "x", "token": api_token},
        follow_redirects=False,
    )
    assert bad.status_code == 403
    client.cookies.clear()
    no_cookie = client.post(
        "/web/login", data={"csrf_token": token, "token": api_token}, follow_redirects=False
    )
    assert no_cookie.status_code == 403


def test_login_without_server_token_is_503(settings, fake_prober):
    from backend_helpers import CheckedClient
    from clawdeploy_backend.main import create_app

    app = create_app(settings.model_copy(update={"backend_api_token": None}))
    with CheckedClient(app, []) as client:
        response = login(client, "")
    assert response.status_code == 503
    assert "BACKEND_API_TOKEN" in response.text


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example", "/web/../api/v1/status", "javascript:x"]
)
def test_next_is_never_an_open_redirect(client, api_token, target):
    form = client.get("/web/login", params={"next": "/web/models"})
    response = client.post(
        "/web/login",
        data={"csrf_token": csrf_of(form.text), "token": api_token, "next": target},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/web/status"


def test_logout_needs_csrf_and_ends_the_session(web_client):
    page = web_client.get("/web/status")
    cookie = web_client.cookies.get(web_session.SESSION_COOKIE)
    forged = web_client.post("/web/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    assert web_client.get("/web/status").status_code == 200
    response = web_client.post(
        "/web/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/web/login"
    assert web_client.get("/web/status", follow_redirects=False).status_code == 303
    # The old cookie is dead on the server, not only deleted in this browser.
    web_client.cookies.set(web_session.SESSION_COOKIE, cookie, path="/web")
    assert web_client.get("/web/status", follow_redirects=False).status_code == 303


def test_forged_session_cookie_is_ignored(client):
    client.cookies.set(web_session.SESSION_COOKIE, "made-up", path="/web")
    assert client.get("/web/models", follow_redirects=False).status_code == 303


def test_expired_session_needs_a_new_login(app, api_token, settings, monkeypatch):
    from backend_helpers import CheckedClient
    from clawdeploy_backend import store as store_module

    with CheckedClient(app, [api_token]) as client:
        assert login(client, api_token).status_code == 303
        now = store_module.time.time()
        monkeypatch.setattr(store_module.time, "time", lambda: now + settings.web_session_ttl_s + 1)
        assert client.get("/web/status", follow_redirects=False).status_code == 303


def test_session_cookie_does_not_open_the_api(web_client):
    response = web_client.get("/api/v1/status")
    assert response.status_code == 401


def test_a_new_api_token_ends_every_session(settings, api_token, fake_prober):
    import secrets

    from pydantic import SecretStr

    from backend_helpers import CheckedClient
    from clawdeploy_backend.main import create_app

    with CheckedClient(create_app(settings), [api_token]) as client:
        assert login(client, api_token).status_code == 303
        cookies = dict(client.cookies)
    # Same token, restarted service: still logged in.
    with CheckedClient(create_app(settings), [api_token]) as client:
        client.cookies.update(cookies)
        assert client.get("/web/models", follow_redirects=False).status_code == 200
    new_token = SecretStr(secrets.token_urlsafe(32))
    rotated = settings.model_copy(update={"backend_api_token": new_token})
    with CheckedClient(create_app(rotated), [api_token]) as client:
        client.cookies.update(cookies)
        assert client.get("/web/models", follow_redirects=False).status_code == 303

"""/web/models: the table of stored models, the one-click pull and its result banner."""

import html
import shutil
from pathlib import Path

import pytest

from backend_helpers import csrf_of

FIXTURES = Path(__file__).parent / "fixtures" / "astr"


def _place(settings, name):
    settings.astr_cmd_config_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / name, settings.astr_cmd_config_path)


def test_empty_page_has_the_pull_button(web_client):
    page = web_client.get("/web/models")
    assert page.status_code == 200
    assert 'id="no-models"' in page.text
    assert 'action="/web/models/pull-astr"' in page.text
    assert 'id="pull"' in page.text
    assert csrf_of(page.text)
    assert 'id="banner"' not in page.text
    assert '<code id="mode">cmd_config_then_export</code>' in page.text


def test_pull_button_pulls_and_shows_a_banner(web_client, settings):
    _place(settings, "cmd_config.json")
    page = web_client.get("/web/models")
    response = web_client.post(
        "/web/models/pull-astr", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/web/models?pull=ok&count=3"
    shown = web_client.get(response.headers["location"])
    assert 'id="banner" class="banner ok" data-code="ok">Pulled 3 provider(s)' in shown.text
    for provider in ("gpt-4o-mini", "deepseek-chat", "gemini-flash"):
        assert f'data-provider-id="{provider}"' in shown.text
    assert "https://api.deepseek.example/v1" in shown.text
    assert 'id="last-sync"' in shown.text
    last = settings.audit_log_path.read_text().splitlines()[-1]
    assert '"actor": "web"' in last and '"action": "models.pull"' in last


def test_pull_failure_banner(web_client, settings):
    page = web_client.get("/web/models")
    shown = web_client.post("/web/models/pull-astr", data={"csrf_token": csrf_of(page.text)})
    assert shown.url.path == "/web/models"
    assert 'data-code="pull_all_sources_failed"' in shown.text
    assert "banner fail" in shown.text


def test_pull_without_csrf_is_refused(web_client, settings):
    _place(settings, "cmd_config.json")
    for data in ({}, {"csrf_token": "forged"}):
        response = web_client.post("/web/models/pull-astr", data=data, follow_redirects=False)
        assert response.status_code == 403
    assert 'id="no-models"' in web_client.get("/web/models").text


def test_pull_in_read_only_mode(web_client, settings, memory):
    _place(settings, "cmd_config.json")
    memory.mb = 100
    page = web_client.get("/web/models")
    shown = web_client.post("/web/models/pull-astr", data={"csrf_token": csrf_of(page.text)})
    assert 'data-code="read_only_mode"' in shown.text
    assert 'id="no-models"' in shown.text


@pytest.mark.parametrize("code", ["<script>alert(1)</script>", "unknown_code"])
def test_banner_only_for_known_codes(web_client, code):
    page = web_client.get("/web/models", params={"pull": code})
    assert 'id="banner"' not in page.text
    assert "<script" not in page.text


def test_page_escapes_stored_values(web_client, auth_headers):
    export = {"providers": [{"id": "<b>x</b>", "model": '"><script>alert(1)</script>'}]}
    assert (
        web_client.post("/api/v1/models/import-astr", json=export, headers=auth_headers).status_code
        == 200
    )
    text = web_client.get("/web/models").text
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert html.escape("<b>x</b>") in text


def test_every_sync_error_has_a_banner():
    from clawdeploy_backend.routers.web import PULL_BANNERS
    from clawdeploy_backend.services.sync_actions import SYNC_ERROR_STATUS

    assert set(SYNC_ERROR_STATUS) | {"ok", "read_only_mode"} == set(PULL_BANNERS)

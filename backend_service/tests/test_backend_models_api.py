"""/api/v1/models, import-astr, pull-astr: envelope, auth, read-only mode, audit trail."""

import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "astr"
MODELS = "/api/v1/models"
IMPORT = "/api/v1/models/import-astr"
PULL = "/api/v1/models/pull-astr"


def _audit_lines(settings):
    path = settings.audit_log_path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _place(settings, name, target="cmd"):
    path = settings.astr_cmd_config_path if target == "cmd" else settings.astr_plugin_export_path
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / name, path)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", MODELS), ("POST", IMPORT), ("POST", PULL), ("GET", "/metrics")]
)
def test_routes_need_the_bearer_token(client, method, path):
    response = client.request(method, path, json={"providers": []})
    assert response.status_code == 401
    assert response.json()["error_code"] == "auth_failed"
    wrong = client.request(method, path, headers={"Authorization": "Bearer nope"}, json={})
    assert wrong.status_code == 403


def test_empty_list(client, auth_headers):
    body = client.get(MODELS, headers=auth_headers).json()
    assert body["ok"] is True and body["trace_id"]
    assert body["count"] == 0 and body["models"] == [] and body["default_provider_id"] is None
    assert body["last_sync"] is None


def test_import_then_list(client, auth_headers, settings):
    export = json.loads((FIXTURES / "plugin_export.json").read_text())
    response = client.post(IMPORT, json=export, headers={**auth_headers, "X-Trace-Id": "imp-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True and body["trace_id"] == "imp-1"
    assert body["source"] == "import" and body["count"] == 3
    assert body["default_provider_id"] == "deepseek-chat"
    listed = client.get(MODELS, headers=auth_headers).json()
    assert listed["count"] == 3
    assert listed["models"][0]["provider_id"] == "deepseek-chat"  # the default first
    assert listed["models"][0]["is_default"] is True
    assert set(listed["models"][0]) == {
        "provider_id",
        "model",
        "provider_type",
        "base_url",
        "enabled",
        "is_default",
        "source",
        "updated_at",
        "imported_at",
    }
    assert listed["last_sync"]["action"] == "import" and listed["last_sync"]["trace_id"] == "imp-1"
    [line] = _audit_lines(settings)
    assert line["action"] == "models.import" and line["actor"] == "api"
    assert line["outcome"] == "ok" and line["trace_id"] == "imp-1"
    assert line["detail"]["count"] == 3
    assert set(line) == {"ts", "trace_id", "action", "actor", "outcome", "detail"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"providers": "x"}, 422, "plugin_export_parse_failed"),
        ({"using_provider": "a"}, 422, "plugin_export_parse_failed"),
        ({"providers": []}, 422, "astr_provider_empty"),
        ([1, 2], 422, "invalid_request"),
    ],
)
def test_import_errors(client, auth_headers, settings, body, status, code):
    response = client.post(IMPORT, json=body, headers=auth_headers)
    assert response.status_code == status
    data = response.json()
    assert data["ok"] is False and data["error_code"] == code and data["error"]
    if code != "invalid_request":
        assert _audit_lines(settings)[-1]["outcome"] == code


def test_import_rejects_invalid_json(client, auth_headers):
    response = client.post(
        IMPORT, content=b"{not json", headers={**auth_headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error_code"] == "invalid_request"


def test_pull_from_cmd_config(client, auth_headers, settings):
    _place(settings, "cmd_config_bom.json")
    response = client.post(PULL, headers=auth_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "cmd_config" and body["count"] == 3
    assert {m["provider_id"] for m in body["models"]} == {
        "gpt-4o-mini",
        "deepseek-chat",
        "gemini-flash",
    }
    line = _audit_lines(settings)[-1]
    assert (line["action"], line["actor"], line["outcome"]) == ("models.pull", "api", "ok")


@pytest.mark.parametrize(
    ("cmd", "export", "status", "code"),
    [
        (None, None, 422, "pull_all_sources_failed"),
        (
            "cmd_config_root_list.json",
            "plugin_export_root_list.json",
            422,
            "pull_all_sources_failed",
        ),
    ],
)
def test_pull_errors_in_the_default_mode(client, auth_headers, settings, cmd, export, status, code):
    if cmd:
        _place(settings, cmd)
    if export:
        _place(settings, export, "export")
    response = client.post(PULL, headers=auth_headers)
    assert response.status_code == status
    body = response.json()
    assert body["error_code"] == code
    assert [a["source"] for a in body["attempts"]] == ["cmd_config", "plugin_export"]
    assert _audit_lines(settings)[-1]["outcome"] == code


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [
        ("cmd_config_only", 404, "astr_config_not_found"),
        ("plugin_export_only", 404, "plugin_export_not_found"),
    ],
)
def test_pull_errors_in_single_source_modes(
    settings, auth_headers, fake_prober, mode, status, code
):
    from backend_helpers import CheckedClient, FakeMemory
    from clawdeploy_backend.deps import get_memory_guard
    from clawdeploy_backend.main import create_app
    from clawdeploy_backend.services.stability import MemoryGuard

    app = create_app(settings.model_copy(update={"astr_pull_source_mode": mode}))
    app.dependency_overrides[get_memory_guard] = lambda: MemoryGuard(reader=FakeMemory(4096))
    with CheckedClient(app, []) as client:
        response = client.post(PULL, headers=auth_headers)
    assert response.status_code == status
    assert response.json()["error_code"] == code


def test_read_only_mode_refuses_writes_but_not_reads(client, auth_headers, memory, settings):
    _place(settings, "cmd_config.json")
    memory.mb = 349
    for path, kwargs in ((PULL, {}), (IMPORT, {"json": {"providers": [{"id": "a"}]}})):
        response = client.post(path, headers=auth_headers, **kwargs)
        assert response.status_code == 503
        assert response.json()["error_code"] == "read_only_mode"
        assert "349" in response.json()["error"]
    assert client.get(MODELS, headers=auth_headers).json()["count"] == 0
    status = client.get("/api/v1/status", headers=auth_headers).json()
    assert status["read_only"] is True and status["memory_available_mb"] == 349
    memory.mb = 350
    assert client.post(PULL, headers=auth_headers).status_code == 200


def test_unknown_memory_does_not_block(client, auth_headers, memory, settings):
    _place(settings, "cmd_config.json")
    memory.mb = None
    assert client.post(PULL, headers=auth_headers).status_code == 200
    status = client.get("/api/v1/status", headers=auth_headers).json()
    assert status["read_only"] is False and status["memory_available_mb"] is None

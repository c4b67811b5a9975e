"""No key from AstrBot's files ever reaches the database, an API response, the models page
or the audit log: fixtures get freshly generated secrets in ``key``/``api_key``/``keys``,
in URLs (user info, query) and in unrelated settings, then every sink is searched."""

import json
import re
import secrets
from pathlib import Path

import pytest

from backend_helpers import CheckedClient, FakeMemory, csrf_of, login
from clawdeploy_backend.deps import get_gateway_prober, get_memory_guard
from clawdeploy_backend.main import create_app
from clawdeploy_backend.services.stability import MemoryGuard

FIXTURES = Path(__file__).parent / "fixtures" / "astr"
PLACEHOLDER = re.compile(r"__KEY_(\d+)__")


def _with_secrets(name: str, generated: dict[str, str]) -> str:
    """The fixture's text with each ``__KEY_n__`` replaced by a new random secret."""

    def fill(match: re.Match[str]) -> str:
        value = "sk-" + secrets.token_urlsafe(24)
        generated[f"{name}:{match.group(1)}"] = value
        return value

    return PLACEHOLDER.sub(fill, (FIXTURES / name).read_text(encoding="utf-8-sig"))


def _stored_bytes(settings) -> bytes:
    data_dir = settings.backend_data_dir
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("backend_state.db*")))


def _audit_text(settings) -> str:
    return "".join(p.read_text() for p in sorted(settings.backend_log_dir.glob("audit.jsonl*")))


@pytest.mark.parametrize(
    "cmd_name", ["cmd_config.json", "cmd_config_bom.json", "cmd_config_disabled.json"]
)
def test_no_secret_reaches_any_sink(settings, api_token, gateway_token, fake_prober, cmd_name):
    generated: dict[str, str] = {}
    cmd_text = _with_secrets(cmd_name, generated)
    export_text = _with_secrets("plugin_export.json", generated)
    assert len(generated) >= 5 and all(v in cmd_text + export_text for v in generated.values())
    settings.astr_cmd_config_path.parent.mkdir(parents=True)
    settings.astr_cmd_config_path.write_text(cmd_text, encoding="utf-8-sig")
    settings.astr_plugin_export_path.write_text(export_text, encoding="utf-8")

    # Disabled providers too: their keys go through every sink as well.
    app = create_app(settings.model_copy(update={"astr_pull_require_enabled_provider": False}))
    app.dependency_overrides[get_gateway_prober] = lambda: fake_prober
    guard = MemoryGuard(reader=FakeMemory(4096))
    app.dependency_overrides[get_memory_guard] = lambda: guard
    hidden = [api_token, gateway_token, *generated.values()]
    auth = {"Authorization": f"Bearer {api_token}"}
    # CheckedClient fails the test on any response (body or header) showing one of these.
    with CheckedClient(app, hidden) as client:
        pulled = client.post("/api/v1/models/pull-astr", headers=auth)
        assert pulled.status_code == 200 and pulled.json()["source"] == "cmd_config"
        assert client.get("/api/v1/models", headers=auth).json()["count"] >= 3
        imported = client.post(
            "/api/v1/models/import-astr", json=json.loads(export_text), headers=auth
        )
        assert imported.status_code == 200 and imported.json()["count"] == 3
        # A failed import whose body is full of keys: the error must not echo them.
        bad = json.loads(export_text)
        bad["providers"] = {"k": bad["providers"]}
        failed = client.post("/api/v1/models/import-astr", json=bad, headers=auth)
        assert failed.json()["error_code"] == "plugin_export_parse_failed"

        assert login(client, api_token, "/web/models").status_code == 303
        page = client.get("/web/models")
        assert page.status_code == 200 and "deepseek-chat" in page.text
        pull = client.post(
            "/web/models/pull-astr",
            data={"csrf_token": csrf_of(page.text)},
            follow_redirects=True,
        )
        assert 'id="banner"' in pull.text
        client.get("/metrics", headers=auth)

    stored = _stored_bytes(settings)
    audit = _audit_text(settings)
    assert b"api.openai.example" in stored, "the database was not written; the check would be void"
    assert "models.pull" in audit and "models.import" in audit
    for secret in hidden:
        assert secret.encode() not in stored, "a secret reached the database"
        assert secret not in audit, "a secret reached the audit log"

"""Settings: defaults, the seed-style env file named by BACKEND_ENV_FILE, env precedence."""

import secrets

import pytest
from pydantic import SecretStr, ValidationError

from backend_helpers import CheckedClient, FakeProber, make_result
from clawdeploy_backend.deps import get_gateway_prober
from clawdeploy_backend.main import create_app
from clawdeploy_backend.settings import SettingsFileError, load_settings


@pytest.fixture
def seed_env_file(tmp_path, api_token, gateway_token):
    """A seed-style .env: gateway and backend keys mixed, comments, quotes, unknown keys."""
    path = tmp_path / ".env"
    path.write_text(
        "# shared by the sidecar and backend-service\n"
        f"OPENCLAW_GATEWAY_TOKEN={gateway_token}\n"
        "OPENCLAW_VERSION=2026.2.9\n"
        f'BACKEND_API_TOKEN="{api_token}"\n'
        "BACKEND_PORT=19999\n"
        "OPENCLAW_GATEWAY_URL=http://127.0.0.1:28789/\n"
        "GATEWAY_PROBE_TIMEOUT_S=3.5\n"
        "EXECUTOR_CODEX_BIN=/usr/local/bin/codex\n",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def test_defaults():
    settings = load_settings()
    assert settings.backend_api_token is None
    assert settings.backend_host == "127.0.0.1"
    assert settings.backend_port == 18889
    assert settings.openclaw_gateway_url == "http://127.0.0.1:18789"
    assert settings.openclaw_gateway_token is None
    assert settings.gateway_probe_timeout_s == 20.0
    assert settings.gateway_agent_model == "openclaw"


def test_env_file_is_read(monkeypatch, seed_env_file, api_token, gateway_token):
    monkeypatch.setenv("BACKEND_ENV_FILE", str(seed_env_file))
    settings = load_settings()
    assert isinstance(settings.backend_api_token, SecretStr)
    assert settings.backend_api_token.get_secret_value() == api_token
    assert settings.openclaw_gateway_token.get_secret_value() == gateway_token
    assert settings.backend_port == 19999
    assert settings.openclaw_gateway_url == "http://127.0.0.1:28789"
    assert settings.gateway_probe_timeout_s == 3.5
    assert settings.executor_codex_bin == "/usr/local/bin/codex"  # the seed's variable
    assert settings.backend_host == "127.0.0.1"  # not in the file: default
    assert not hasattr(settings, "openclaw_version")
    assert api_token not in repr(settings) and gateway_token not in repr(settings)


def test_environment_overrides_env_file(monkeypatch, seed_env_file, api_token):
    other = secrets.token_urlsafe(32)
    monkeypatch.setenv("BACKEND_ENV_FILE", str(seed_env_file))
    monkeypatch.setenv("BACKEND_API_TOKEN", other)
    monkeypatch.setenv("backend_port", "20000")  # names are case-insensitive
    settings = load_settings()
    assert settings.backend_api_token.get_secret_value() == other
    assert settings.backend_port == 20000
    assert settings.gateway_probe_timeout_s == 3.5  # still from the file


def test_environment_alone(monkeypatch, gateway_token):
    monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", gateway_token)
    monkeypatch.setenv("GATEWAY_AGENT_MODEL", "openclaw/main")
    settings = load_settings()
    assert settings.openclaw_gateway_token.get_secret_value() == gateway_token
    assert settings.gateway_agent_model == "openclaw/main"


def test_missing_env_file_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("BACKEND_ENV_FILE", str(tmp_path / "absent.env"))
    with pytest.raises(SettingsFileError, match="BACKEND_ENV_FILE=.*absent.env"):
        load_settings()


def test_empty_env_file_variable_means_none(monkeypatch):
    monkeypatch.setenv("BACKEND_ENV_FILE", "")
    assert load_settings().backend_port == 18889


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_tokens_count_as_unset(monkeypatch, blank):
    monkeypatch.setenv("BACKEND_API_TOKEN", blank)
    monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", blank)
    settings = load_settings()
    assert settings.backend_api_token is None
    assert settings.openclaw_gateway_token is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BACKEND_PORT", "0"),
        ("BACKEND_PORT", "70000"),
        ("BACKEND_PORT", "http"),
        ("GATEWAY_PROBE_TIMEOUT_S", "0"),
        ("OPENCLAW_GATEWAY_URL", "127.0.0.1:18789"),
        ("OPENCLAW_GATEWAY_URL", "ftp://127.0.0.1:18789"),
        ("OPENCLAW_GATEWAY_URL", "http://127.0.0.1:notaport"),
        ("OPENCLAW_GATEWAY_URL", "http://user:pw@127.0.0.1:18789"),
        ("OPENCLAW_GATEWAY_URL", "http://127.0.0.1:18789/?token=x"),
        ("GATEWAY_AGENT_MODEL", ""),
    ],
)
def test_invalid_values_are_rejected(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.lower()):
        load_settings()


def test_create_app_without_arguments_reads_the_environment(
    monkeypatch, seed_env_file, api_token, gateway_token
):
    monkeypatch.setenv("BACKEND_ENV_FILE", str(seed_env_file))
    app = create_app()
    assert app.state.settings.backend_port == 19999
    assert app.state.gateway_prober.base_url == "http://127.0.0.1:28789"
    app.dependency_overrides[get_gateway_prober] = lambda: FakeProber(make_result("ok"))
    with CheckedClient(app, [api_token, gateway_token]) as client:
        ok = client.get("/api/v1/status", headers={"Authorization": f"Bearer {api_token}"})
        assert ok.status_code == 200
        wrong = client.get("/api/v1/status", headers={"Authorization": f"Bearer {gateway_token}"})
        assert wrong.status_code == 403

"""Helpers for the backend-service tests (a module name unique in the repository)."""

import html
import re
import shutil
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from clawdeploy_backend import gateway_probe

# docs/architecture.md, "Probe taxonomy": the codes every part of the collection reports.
TAXONOMY = (
    "ok",
    "auth_failed",
    "responses_endpoint_not_enabled_or_not_found",
    "network_or_unreachable",
    "upstream_model_error",
    "backend_unreachable",
    "executor_not_available",
)
SETTING_VARS = (
    "BACKEND_ENV_FILE",
    "BACKEND_API_TOKEN",
    "BACKEND_HOST",
    "BACKEND_PORT",
    "OPENCLAW_GATEWAY_URL",
    "OPENCLAW_GATEWAY_TOKEN",
    "GATEWAY_PROBE_TIMEOUT_S",
    "GATEWAY_AGENT_MODEL",
    "GATEWAY_PROBE_CACHE_S",
    "GATEWAY_CIRCUIT_FAILURES",
    "GATEWAY_CIRCUIT_OPEN_S",
    "MEMORY_READ_ONLY_MB",
    "MEMORY_HEAVY_JOB_MIN_MB",
    "BACKEND_DATA_DIR",
    "BACKEND_LOG_DIR",
    "AUDIT_LOG_MAX_BYTES",
    "AUDIT_LOG_BACKUP_COUNT",
    "BACKEND_MAX_BODY_BYTES",
    "WEB_SESSION_TTL_S",
    "WEB_COOKIE_SECURE",
    "ASTR_PULL_SOURCE_MODE",
    "ASTR_CMD_CONFIG_PATH",
    "ASTR_PLUGIN_EXPORT_PATH",
    "EXECUTOR_ENABLED",
    "EXECUTOR_CODEX_BIN",
    "EXECUTOR_ALLOWED_WORKDIRS",
    "EXECUTOR_ALLOW_ANY_WORKDIR",
    "EXECUTOR_DEFAULT_WORKDIR",
    "EXECUTOR_ALLOW_DANGER_MODE",
    "EXECUTOR_TIMEOUT_S",
    "EXECUTOR_KILL_GRACE_S",
    "EXECUTOR_MAX_TASK_CHARS",
    "EXECUTOR_OUTPUT_MAX_BYTES",
    "EXECUTOR_QUEUE_MAX",
    "EXECUTOR_CODEX_HOME",
    "EXECUTOR_PASS_ENV",
    "EXECUTOR_GEMINI_BIN",
    "BACKEND_DB_PATH",
    "BACKEND_AUDIT_PATH",
    "ASTR_PULL_REQUIRE_ENABLED_PROVIDER",
    # the seed's names of ours (settings.SEED_ALIASES)
    "BACKEND_REQUEST_TIMEOUT_SECONDS",
    "ASTRBOT_CMD_CONFIG_PATH",
    "ASTRBOT_PLUGIN_EXPORT_PATH",
    "EXECUTOR_TIMEOUT_SECONDS",
)
_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_result(diagnosis: str, **fields: Any) -> dict[str, Any]:
    """A probe result shaped like ``gateway_probe.probe_gateway``'s, for ``diagnosis``."""
    result: dict[str, Any] = {
        "diagnosis": diagnosis,
        "ok": diagnosis == "ok",
        "http_status": 200 if diagnosis == "ok" else None,
        "latency_ms": 42,
        "fix": gateway_probe.DIAGNOSES[diagnosis],
        "detail": "",
        "reply": "pong" if diagnosis == "ok" else None,
        "health": {"ok": True, "status": "live"},
        "failing": [],
    }
    result.update(fields)
    return result


class FakeProber:
    """Stands in for ``GatewayProber``: returns a canned result and counts calls."""

    def __init__(
        self, result: dict[str, Any] | BaseException, base_url: str = "http://127.0.0.1:18789"
    ) -> None:
        self.result: dict[str, Any] | BaseException = result
        self.base_url = base_url
        self.calls = 0

    def probe(self) -> dict[str, Any]:
        self.calls += 1
        if isinstance(self.result, BaseException):
            raise self.result
        return dict(self.result)


class CheckedClient(TestClient):
    """A TestClient that fails the test if a response body or header shows a secret."""

    def __init__(self, app: FastAPI, secrets_to_hide: list[str]) -> None:
        super().__init__(app, raise_server_exceptions=False)
        self.secrets_to_hide = secrets_to_hide

    def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        response = super().request(*args, **kwargs)
        shown = response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        for secret in self.secrets_to_hide:
            assert secret not in shown, f"response to {args[:2]} shows a secret"
        return response


class FakeMemory:
    """An injectable ``MemAvailable`` reader: set ``mb`` (None = unknown)."""

    def __init__(self, mb: int | None = 4096) -> None:
        self.mb = mb

    def __call__(self) -> int | None:
        return self.mb


def csrf_of(page: str) -> str:
    """The first CSRF token rendered in a page's forms."""
    match = _CSRF_RE.search(page)
    assert match, "the page has no csrf_token field"
    return html.unescape(match.group(1))


def login(client: TestClient, token: str, next_path: str = "/web/status") -> Any:
    """Log ``client`` in through the form; returns the response (not followed)."""
    form = client.get("/web/login", params={"next": next_path})
    assert form.status_code == 200
    return client.post(
        "/web/login",
        data={"csrf_token": csrf_of(form.text), "token": token, "next": next_path},
        follow_redirects=False,
    )


ASTR_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "astr"


def astr_app(tmp_path: Path, api_token: str, gateway_token: str, **overrides: Any) -> FastAPI:
    """An app for end-to-end style tests: temp state/log dirs, AstrBot's cmd_config.json
    and a plugin export copied from the fixtures, a gateway prober that says ``ok`` and
    4 GB of available memory. ``overrides`` are extra Settings fields."""
    from clawdeploy_backend.deps import get_gateway_prober, get_memory_guard
    from clawdeploy_backend.main import create_app
    from clawdeploy_backend.services.stability import MemoryGuard
    from clawdeploy_backend.settings import Settings

    astr = tmp_path / "astr"
    astr.mkdir()
    shutil.copy(ASTR_FIXTURES / "cmd_config.json", astr / "cmd_config.json")
    shutil.copy(ASTR_FIXTURES / "plugin_export.json", astr / "export.json")
    settings = Settings(
        backend_api_token=api_token,
        openclaw_gateway_token=gateway_token,
        backend_data_dir=tmp_path / "state",
        backend_log_dir=tmp_path / "log",
        astr_cmd_config_path=astr / "cmd_config.json",
        astr_plugin_export_path=astr / "export.json",
        **overrides,
    )
    app = create_app(settings)
    prober = FakeProber(make_result("ok"))
    guard = MemoryGuard(
        read_only_below_mb=settings.memory_read_only_mb,
        heavy_job_min_mb=settings.memory_heavy_job_min_mb,
        reader=FakeMemory(4096),
    )
    app.dependency_overrides[get_gateway_prober] = lambda: prober
    app.dependency_overrides[get_memory_guard] = lambda: guard
    return app

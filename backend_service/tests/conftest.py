"""Shared fixtures: a fresh app per test with generated tokens and a fake gateway prober.

``backend_service/src`` goes on ``sys.path`` so the tests run from a checkout without an
install. The ``client`` fixture fails any request whose response shows a token.
"""

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# The helpers module too, whatever import mode pytest runs in.
sys.path[:0] = [str(TESTS.parent / "src"), str(TESTS)]

from fastapi import FastAPI  # noqa: E402

from backend_helpers import (  # noqa: E402
    SETTING_VARS,
    CheckedClient,
    FakeMemory,
    FakeProber,
    login,
    make_result,
)
from clawdeploy_backend.deps import get_gateway_prober, get_memory_guard  # noqa: E402
from clawdeploy_backend.main import create_app  # noqa: E402
from clawdeploy_backend.services.stability import MemoryGuard  # noqa: E402
from clawdeploy_backend.settings import Settings  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's own environment out of every test, and run each in its own
    directory, so the default ./data and ./logs of an app land in tmp_path."""
    for name in SETTING_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def api_token() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def gateway_token() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def auth_headers(api_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}"}


@pytest.fixture
def settings(api_token: str, gateway_token: str, tmp_path: Path) -> Settings:
    return Settings(
        backend_api_token=api_token,
        openclaw_gateway_token=gateway_token,
        openclaw_gateway_url="http://127.0.0.1:18789",
        backend_data_dir=tmp_path / "state",
        backend_log_dir=tmp_path / "log",
        astr_cmd_config_path=tmp_path / "astr" / "cmd_config.json",
        astr_plugin_export_path=tmp_path / "astr" / "export.json",
    )


@pytest.fixture
def fake_prober() -> FakeProber:
    return FakeProber(make_result("ok"))


@pytest.fixture
def memory() -> FakeMemory:
    return FakeMemory(4096)


@pytest.fixture
def app(settings: Settings, fake_prober: FakeProber, memory: FakeMemory) -> FastAPI:
    app = create_app(settings)
    app.dependency_overrides[get_gateway_prober] = lambda: fake_prober
    guard = MemoryGuard(
        read_only_below_mb=settings.memory_read_only_mb,
        heavy_job_min_mb=settings.memory_heavy_job_min_mb,
        reader=memory,
        cache_s=0,  # a test's change of memory.mb counts at once
    )
    app.dependency_overrides[get_memory_guard] = lambda: guard
    return app


@pytest.fixture
def client(app: FastAPI, api_token: str, gateway_token: str) -> Iterator[CheckedClient]:
    with CheckedClient(app, [api_token, gateway_token]) as test_client:
        yield test_client


@pytest.fixture
def web_client(client: CheckedClient, api_token: str) -> CheckedClient:
    """``client``, logged in to the web pages."""
    response = login(client, api_token)
    assert response.status_code == 303, response.text
    return client

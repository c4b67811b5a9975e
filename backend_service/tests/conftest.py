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

from backend_helpers import SETTING_VARS, CheckedClient, FakeProber, make_result  # noqa: E402
from clawdeploy_backend.deps import get_gateway_prober  # noqa: E402
from clawdeploy_backend.main import create_app  # noqa: E402
from clawdeploy_backend.settings import Settings  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own environment out of every test."""
    for name in SETTING_VARS:
        monkeypatch.delenv(name, raising=False)


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
def settings(api_token: str, gateway_token: str) -> Settings:
    return Settings(
        backend_api_token=api_token,
        openclaw_gateway_token=gateway_token,
        openclaw_gateway_url="http://127.0.0.1:18789",
    )


@pytest.fixture
def fake_prober() -> FakeProber:
    return FakeProber(make_result("ok"))


@pytest.fixture
def app(settings: Settings, fake_prober: FakeProber) -> FastAPI:
    app = create_app(settings)
    app.dependency_overrides[get_gateway_prober] = lambda: fake_prober
    return app


@pytest.fixture
def client(app: FastAPI, api_token: str, gateway_token: str) -> Iterator[CheckedClient]:
    with CheckedClient(app, [api_token, gateway_token]) as test_client:
        yield test_client

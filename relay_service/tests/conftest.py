"""Shared fixtures: a fresh relay app per test on a temporary SQLite file and a fake clock.

``relay_service/src`` goes on ``sys.path`` so the tests run from a checkout without an
install. The background sweep is slowed to once a minute (real time) unless a test asks
for it, so nothing moves behind a test's back.
"""

import os
import random
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
sys.path[:0] = [str(TESTS.parent / "src"), str(TESTS)]

from fastapi.testclient import TestClient  # noqa: E402

from clawdeploy_relay.clock import FakeClock  # noqa: E402
from clawdeploy_relay.main import create_app  # noqa: E402
from clawdeploy_relay.settings import Settings  # noqa: E402
from relay_helpers import Relay  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's RELAY_* variables out, and run in tmp_path."""
    for name in list(os.environ):
        if name.upper().startswith("RELAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def admin_token() -> str:
    return secrets.token_hex(32)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "relay.db"


@pytest.fixture
def make_relay(admin_token: str, clock: FakeClock, db_path: Path) -> Iterator[Callable[..., Relay]]:
    """``make_relay(**settings)`` → a started :class:`Relay` (lifespan run); closed after."""
    opened: list[TestClient] = []

    def make(**overrides: Any) -> Relay:
        values: dict[str, Any] = {
            "admin_token": admin_token,
            "database_url": f"sqlite:///{db_path}",
            "sweep_interval_s": 60.0,
            **overrides,
        }
        app = create_app(Settings(**values), clock=clock, rng=random.Random(7))
        http = TestClient(app)
        http.__enter__()
        opened.append(http)
        return Relay(http, admin_token, clock)

    yield make
    for http in opened:
        http.__exit__(None, None, None)


@pytest.fixture
def relay(make_relay: Callable[..., Relay]) -> Relay:
    """A relay with the default settings."""
    return make_relay()

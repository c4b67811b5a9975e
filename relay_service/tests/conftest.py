"""Shared fixtures: a fresh relay app per test on a fresh database and a fake clock.

``relay_service/src`` goes on ``sys.path`` so the tests run from a checkout without an
install. The background sweep is slowed to once a minute (real time) unless a test asks
for it, so nothing moves behind a test's back.

Backends: every test that takes ``database_url`` (directly or through ``relay`` /
``make_relay``) runs on a temporary SQLite file; when ``RELAY_TEST_DATABASE_URL`` names a
PostgreSQL server (``scripts/postgres.sh url``), it runs a second time, as
``test_x[postgresql]``, on a database of its own created for it and dropped after
(``test_x[sqlite]`` then names the first run). The variable is read once, at import,
before ``_clean_env`` removes every ``RELAY_*`` variable from the tests' environment.
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
from relay_pg import ENV_VAR, PgServer, admin_url_from_env  # noqa: E402

PG_ADMIN_URL = admin_url_from_env()
BACKENDS = ("sqlite", "postgresql") if PG_ADMIN_URL is not None else ("sqlite",)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that needs a database once per configured backend (unless the test
    names its backend itself, as the PostgreSQL-only module does)."""
    chosen = any(
        "relay_backend" in str(mark.args[0])
        for mark in metafunc.definition.iter_markers("parametrize")
    )
    if "relay_backend" in metafunc.fixturenames and len(BACKENDS) > 1 and not chosen:
        metafunc.parametrize("relay_backend", BACKENDS, indirect=True)


def pytest_report_header() -> str:
    shown = "sqlite and postgresql" if len(BACKENDS) > 1 else f"sqlite only ({ENV_VAR} unset)"
    return f"relay backends: {shown}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer | None]:
    """The PostgreSQL server of ``RELAY_TEST_DATABASE_URL``, or None."""
    if PG_ADMIN_URL is None:
        yield None
        return
    server = PgServer(PG_ADMIN_URL)
    yield server
    server.close()


@pytest.fixture
def relay_backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"`` (parametrized when PostgreSQL is configured)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database_url(relay_backend: str, tmp_path: Path, pg_server: PgServer | None) -> Iterator[str]:
    """The test's own database: a file in ``tmp_path``, or a new PostgreSQL database."""
    if relay_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'relay.db'}"
        return
    if pg_server is None:
        pytest.skip(f"PostgreSQL only: set {ENV_VAR} (scripts/postgres.sh url)")
    with pg_server.fresh() as url:
        yield url


@pytest.fixture
def postgres_url(pg_server: PgServer | None) -> Iterator[str]:
    """A new PostgreSQL database for a PostgreSQL-only test; skipped without a server."""
    if pg_server is None:
        pytest.skip(f"PostgreSQL only: set {ENV_VAR} (scripts/postgres.sh url)")
    with pg_server.fresh() as url:
        yield url


@pytest.fixture
def postgres(pg_server: PgServer | None) -> PgServer:
    """The PostgreSQL server itself (admin statements); skipped without one."""
    if pg_server is None:
        pytest.skip(f"PostgreSQL only: set {ENV_VAR} (scripts/postgres.sh url)")
    return pg_server


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
def make_relay(
    admin_token: str, clock: FakeClock, database_url: str
) -> Iterator[Callable[..., Relay]]:
    """``make_relay(**settings)`` → a started :class:`Relay` (lifespan run); closed after.

    Every relay made in one test shares the test's database (two nodes, on PostgreSQL).
    """
    opened: list[TestClient] = []

    def make(**overrides: Any) -> Relay:
        values: dict[str, Any] = {
            "admin_token": admin_token,
            "database_url": database_url,
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


@pytest.fixture
def stack(tmp_path: Path, admin_token: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The connector tests' :class:`connector_harness.Stack`: the real relay under uvicorn
    (SQLite, real clock, 0.5 s leases), a fake gateway and one registered client (with a
    signing key); the developer's ``CONNECTOR_*`` variables are kept out. Closed after."""
    from connector_harness import Stack  # uvicorn and the fake gateway: only when used

    for name in list(os.environ):
        if name.upper().startswith("CONNECTOR_"):
            monkeypatch.delenv(name)
    built = Stack(tmp_path, admin_token, secrets.token_urlsafe(32))
    yield built
    built.close()

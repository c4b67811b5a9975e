"""``RELAY_DATABASE_URL``: the backends it takes, and its password never shown (settings'
repr, validation errors, ``main()``'s message, a failed start, the logs). Needs no server:
an unreachable PostgreSQL is a closed port on 127.0.0.1."""

import secrets
import socket

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from clawdeploy_relay import main as main_module
from clawdeploy_relay.main import create_app
from clawdeploy_relay.settings import Settings
from clawdeploy_relay.store import Store


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def password() -> str:
    return secrets.token_hex(16)


def test_the_url_is_a_secret_in_the_settings(password: str) -> None:
    url = f"postgresql+psycopg://relay:{password}@db.internal:5432/relay"
    settings = Settings(database_url=url)
    assert settings.database_url.get_secret_value() == url
    assert password not in repr(settings) and password not in str(settings.model_dump())


def test_an_unknown_backend_is_refused_without_showing_the_url(
    password: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"mysql://relay:{password}@127.0.0.1/relay"
    with pytest.raises(ValidationError) as refused:
        Settings(database_url=url)
    assert "postgresql+psycopg://" in str(refused.value) and password not in str(refused.value)
    monkeypatch.setenv("RELAY_ADMIN_TOKEN", secrets.token_hex(32))
    monkeypatch.setenv("RELAY_DATABASE_URL", url)
    assert main_module.main() == 2
    err = capsys.readouterr().err
    assert "RELAY_DATABASE_URL" in err and password not in err
    with pytest.raises(ValueError, match="postgresql"):
        Store("postgresql+psycopg2://relay@127.0.0.1/relay")


def test_postgresql_urls_mean_psycopg_3() -> None:
    store = Store("postgresql://relay@127.0.0.1:5433/relay")
    assert (store.backend, store.url.drivername, store.shared) == (
        "postgresql",
        "postgresql+psycopg",
        True,
    )
    assert not Store("sqlite:///relay.db").shared


def test_libpq_params_keep_a_unix_socket_and_options(password: str) -> None:
    store = Store(f"postgresql+psycopg://relay:{password}@/relay?host=/run/pg&sslmode=disable")
    assert store.libpq_params() == {
        "host": "/run/pg",
        "dbname": "relay",
        "user": "relay",
        "password": password,
        "sslmode": "disable",
    }


def test_an_unreachable_database_fails_the_start_without_the_password(
    password: str, admin_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"postgresql+psycopg://relay:{password}@127.0.0.1:{_closed_port()}/relay"
    app = create_app(Settings(admin_token=admin_token, database_url=url))
    with pytest.raises(Exception) as failed, TestClient(app):
        pass
    assert "connection" in str(failed.value).lower()
    assert password not in str(failed.value) and password not in repr(failed.value)
    assert password not in caplog.text

"""The app around the routes: entry point, lifespan sweep, migrations, OpenAPI."""

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from clawdeploy_relay import main as main_module
from clawdeploy_relay.migrations import LATEST, current_version
from clawdeploy_relay.store import Store
from relay_helpers import Relay, wait_for

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
SEED_ROUTES = {
    ("GET", "/health"),
    ("POST", "/clients"),
    ("GET", "/clients"),
    ("GET", "/conversations"),
    ("GET", "/conversations/{conversation_id}"),
    ("GET", "/poll"),
    ("POST", "/send"),
    ("POST", "/inbound"),
    ("GET", "/outbox"),
}


def test_console_script_is_declared() -> None:
    scripts = PYPROJECT.read_text().split("[project.scripts]", 1)[1].split("[", 1)[0]
    assert 'clawdeploy-relay = "clawdeploy_relay.main:main"' in scripts


def test_main_refuses_to_start_without_admin_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_module.main() == 2
    assert "RELAY_ADMIN_TOKEN is not set" in capsys.readouterr().err


def test_main_reports_invalid_settings_without_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELAY_ADMIN_TOKEN", "short-secret-value")
    assert main_module.main() == 2
    err = capsys.readouterr().err
    assert "RELAY_ADMIN_TOKEN" in err and "short-secret-value" not in err


def test_main_refuses_a_readable_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / "relay.env"
    env.write_text(f"RELAY_ADMIN_TOKEN={'a' * 64}\n")
    os.chmod(env, 0o644)
    monkeypatch.setenv("RELAY_ENV_FILE", str(env))
    assert main_module.main() == 2
    assert "chmod 600" in capsys.readouterr().err


def test_main_runs_uvicorn_with_the_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, admin_token: str
) -> None:
    env = tmp_path / "relay.env"
    env.write_text(f"RELAY_ADMIN_TOKEN={admin_token}\nRELAY_PORT=9999\n")
    os.chmod(env, 0o600)
    monkeypatch.setenv("RELAY_ENV_FILE", str(env))
    seen: dict[str, Any] = {}
    monkeypatch.setattr(main_module.uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    assert main_module.main() == 0
    assert (seen["host"], seen["port"], seen["factory"]) == ("127.0.0.1", 9999, True)
    assert (seen["ws"], seen["ws_max_size"]) == ("wsproto", 65536)  # /ws frames: the body limit
    app = seen.pop("app")
    assert isinstance(app(), FastAPI)
    main_module.uvicorn.Config(app, **seen)  # every option is one uvicorn knows


def test_routes_keep_the_seeds_paths(relay: Relay) -> None:
    schema = relay.call("GET", "/openapi.json").json()
    routes = {(m.upper(), path) for path, ops in schema["paths"].items() for m in ops}
    assert routes >= SEED_ROUTES
    assert ("POST", "/ack") in routes


def test_unknown_route_is_an_envelope(relay: Relay) -> None:
    body = relay.call("GET", "/nope").json()
    assert (body["ok"], body["error_code"]) == (False, "not_found")


def test_migrations_create_the_default_integration(relay: Relay, database_url: str) -> None:
    store = Store(database_url)
    with store.tx() as conn:
        assert current_version(conn) == LATEST == 3
    ids = [
        i["id"]
        for i in relay.call("GET", "/integrations", headers=relay.admin).json()["integrations"]
    ]
    assert ids == ["default"]
    store.close()


def test_background_sweep_expires_conversations(make_relay: Callable[..., Relay]) -> None:
    relay = make_relay(sweep_interval_s=0.05)
    _cid, oc = relay.register()
    conv_id = relay.inbound("alice", "hi")["conversationId"]
    relay.poll(oc)
    relay.poll(oc)  # acks it: nothing left to deliver
    relay.clock.advance(86_401)  # past RELAY_CONVERSATION_TTL_S

    def gone() -> bool:
        return (
            relay.call("GET", f"/conversations/{conv_id}", headers=relay.admin).status_code == 404
        )

    assert wait_for(gone, timeout_s=2.0)


def test_background_sweep_wakes_long_poll_for_redelivery(make_relay: Callable[..., Relay]) -> None:
    relay = make_relay(sweep_interval_s=0.05)
    _cid, oc = relay.register()
    message = relay.inbound("alice", "hi")
    assert relay.poll(oc, ack="explicit")
    # While the long-poll waits, the lease runs out; only the sweep can notice and wake it.
    timer = threading.Timer(0.2, relay.clock.advance, args=(61,))
    timer.start()
    started = time.monotonic()
    again = relay.poll(oc, ack="explicit", wait=3)
    timer.join()
    assert [(m["id"], m["deliveryCount"]) for m in again] == [(message["id"], 2)]
    assert time.monotonic() - started < 1.5

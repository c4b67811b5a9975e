"""The console script / ``python -m`` entry point, and the package's build metadata."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from clawdeploy_backend import __main__ as entry

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def test_main_runs_uvicorn_as_specified(monkeypatch, api_token):
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setenv("BACKEND_API_TOKEN", api_token)
    monkeypatch.setenv("BACKEND_HOST", "127.0.0.2")
    monkeypatch.setenv("BACKEND_PORT", "18999")

    assert entry.main() == 0

    [(factory, options)] = calls
    assert options == {
        "factory": True,
        "host": "127.0.0.2",
        "port": 18999,
        "workers": 1,
        "proxy_headers": False,
        "server_header": False,
        "access_log": True,
    }
    app = factory()
    assert isinstance(app, FastAPI)
    assert app.state.settings.backend_api_token.get_secret_value() == api_token


def test_main_reports_a_missing_env_file(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("must not start"))
    monkeypatch.setenv("BACKEND_ENV_FILE", str(tmp_path / "nope.env"))
    assert entry.main() == 2
    assert "BACKEND_ENV_FILE" in capsys.readouterr().err


def test_main_reports_invalid_settings_without_their_values(monkeypatch, capsys):
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("must not start"))
    monkeypatch.setenv("BACKEND_PORT", "port-secret-ish")
    assert entry.main() == 2
    err = capsys.readouterr().err
    assert "invalid BACKEND_PORT" in err
    assert "port-secret-ish" not in err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_python_m_serves_healthz_on_loopback(api_token):
    """Start the real server (``python -m clawdeploy_backend``) and ask it for /healthz."""
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(SRC),
        "BACKEND_API_TOKEN": api_token,
        "BACKEND_PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "clawdeploy_backend"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                url = f"http://127.0.0.1:{port}/healthz"
                with urllib.request.urlopen(url, timeout=2) as response:
                    body, headers = response.read().decode(), response.headers
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert '"service":"clawdeploy-backend"' in body
        assert headers["Server"] is None
        assert headers["X-Trace-Id"]
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0].decode()
    assert "GET /healthz" in output  # the access log is on
    assert api_token not in output


def test_gateway_probe_is_the_collection_module():
    link = SRC / "clawdeploy_backend" / "gateway_probe.py"
    assert link.is_symlink()
    assert os.readlink(link) == "../../../plugins/module_utils/probe.py"
    assert link.resolve() == ROOT.parent / "plugins" / "module_utils" / "probe.py"


def test_dependencies_are_pinned_exactly():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == [
        "fastapi==0.165.0",
        "starlette==1.10.0",
        "uvicorn==0.54.0",
        "pydantic==2.14.3",
        "pydantic-settings==2.16.3",
        "Jinja2==3.1.6",
        "prometheus-client==0.26.0",
    ]
    assert project["scripts"] == {
        "clawdeploy-backend": "clawdeploy_backend.__main__:main",
        "clawdeploy-backend-migrate-seed": "clawdeploy_backend.seed_migration:main",
    }

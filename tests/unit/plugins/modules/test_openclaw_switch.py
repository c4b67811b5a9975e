"""In-process tests of the openclaw_switch module against a recording ``docker`` on PATH.

The stand-in ``docker`` writes each command line it gets to a log and answers
``inspect`` with the container's running state; ``FAKE_DOCKER_FAIL=<word>`` makes the
command containing that word fail. What the module asks of the real Docker CLI and
Compose v2 (flags, order) is asserted here; the real engine is exercised by the Molecule
lifecycle scenario.
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any

import pytest
from harness import Result, run_module

from ansible_collections.clawdeploy.openclaw.plugins.modules import openclaw_switch

TOKEN = "tok-switch-test-secret"

FAKE_DOCKER = """#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_DOCKER_LOG"
case "$*" in
  *"$FAKE_DOCKER_FAIL"*) echo "fake docker: $FAKE_DOCKER_FAIL refused" >&2; exit 1 ;;
esac
if [ "$1" = inspect ]; then echo "$FAKE_DOCKER_RUNNING"; fi
exit 0
"""


@pytest.fixture
def docker_log(tmp_path, monkeypatch):
    """A fake ``docker`` first on PATH; returns a function reading its command lines."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "docker"
    fake.write_text(FAKE_DOCKER)
    fake.chmod(0o755)
    log = tmp_path / "docker.log"
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    monkeypatch.setenv("FAKE_DOCKER_RUNNING", "true")
    monkeypatch.setenv("FAKE_DOCKER_FAIL", "no-such-word")
    return lambda: log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def live(tmp_path):
    root = tmp_path / "main"
    (root / "config").mkdir(parents=True)
    (root / ".env").write_text("OPENCLAW_VERSION=2026.8.2\nOPENCLAW_GATEWAY_TOKEN=%s\n" % TOKEN)
    (root / ".env").chmod(0o600)
    (root / "config" / "openclaw_sidecar.config.json5").write_text("{a: 1}\n")
    (root / "openclaw_sidecar.compose.yml").write_text("services: {}\n")
    (root / "data" / "openclaw_home").mkdir(parents=True)
    (root / "data" / "openclaw_home" / "openclaw.sqlite").write_bytes(b"state of A")
    next_dir = root / "staging" / "next"
    (next_dir / "config").mkdir(parents=True)
    (next_dir / ".env").write_text("OPENCLAW_VERSION=2026.9.6\nOPENCLAW_GATEWAY_TOKEN=%s\n" % TOKEN)
    (next_dir / "config" / "openclaw_sidecar.config.json5").write_text("{a: 2}\n")
    return root


def run(monkeypatch, live, check=False, **args: Any) -> Result:
    args = dict(
        dict(
            instance="main",
            project_src=str(live),
            project_name="openclaw-main",
            container="openclaw-gateway-main",
            staged=str(live / "staging" / "next"),
            set_aside_dir=str(live / "staging" / "before"),
        ),
        **args,
    )
    args = {key: value for key, value in args.items() if value is not None}
    result = run_module(monkeypatch, openclaw_switch.main, check, True, args)
    assert TOKEN not in result.text()
    return result


def test_upgrade_switch_runs_stop_then_compose_up_and_archives(
    monkeypatch, live, docker_log, tmp_path
):
    backups = tmp_path / "backups"
    result = run(monkeypatch, live, snapshot=True, backup_dir=str(backups), backup_keep=2)
    assert result.kind == "exit" and result.changed
    assert docker_log() == [
        "inspect --format {{.State.Running}} openclaw-gateway-main",
        "stop --time 30 openclaw-gateway-main",
        "compose --ansi never --project-directory %s --project-name openclaw-main --file %s "
        "up --detach --no-color --quiet-pull --pull never --no-build --remove-orphans"
        % (live, live / "openclaw_sidecar.compose.yml"),
    ]
    assert (live / ".env").read_text().startswith("OPENCLAW_VERSION=2026.9.6")
    before = live / "staging" / "before"
    assert (before / ".env").read_text().startswith("OPENCLAW_VERSION=2026.8.2")
    assert (before / "data" / "openclaw_home" / "openclaw.sqlite").read_bytes() == b"state of A"
    assert stat.S_IMODE(os.stat(before).st_mode) == 0o700
    backup = result["backup"]
    assert backup["path"].startswith(str(backups / "main-")) and backup["files"] == 4
    assert stat.S_IMODE(os.stat(backup["path"]).st_mode) == 0o600
    assert set(result["timings"]) == {"precopy", "stop", "files", "start", "after_start"}
    assert result["diff"]["before"] == ".env\nconfig\n"
    assert json.loads(json.dumps(result.data))  # the result is plain JSON


def test_check_mode_only_looks(monkeypatch, live, docker_log):
    result = run(monkeypatch, live, check=True, snapshot=True)
    assert result.kind == "exit" and result.changed
    assert result["put_live"] == [".env", "config"]
    assert result["copy"] == ["data", "openclaw_sidecar.compose.yml"]
    assert docker_log() == ["inspect --format {{.State.Running}} openclaw-gateway-main"]
    assert (live / ".env").read_text().startswith("OPENCLAW_VERSION=2026.8.2")
    assert not (live / "staging" / "before").exists()


def test_set_aside_root_makes_a_timestamped_directory(monkeypatch, live, docker_log, tmp_path):
    result = run(
        monkeypatch,
        live,
        set_aside_dir=None,
        set_aside_root=str(tmp_path / "set-aside" / "main"),
        start=False,
    )
    assert result.kind == "exit", result.data
    aside = result["set_aside_dir"]
    assert os.path.dirname(aside) == str(tmp_path / "set-aside" / "main")
    assert sorted(os.listdir(aside)) == [".env", "config"]
    assert stat.S_IMODE(os.stat(os.path.dirname(aside)).st_mode) == 0o700
    assert not any(line.startswith("compose") for line in docker_log())


def test_failed_start_leaves_the_switch_and_names_the_set_aside_dir(monkeypatch, live, docker_log):
    monkeypatch.setenv("FAKE_DOCKER_FAIL", "compose")
    result = run(monkeypatch, live, snapshot=True)
    assert result.kind == "fail"
    assert result["undone"] is False
    assert "did not start" in result["msg"] and "compose refused" in result["msg"]
    assert result["set_aside_dir"] == str(live / "staging" / "before")


def test_failed_stop_changes_nothing(monkeypatch, live, docker_log):
    monkeypatch.setenv("FAKE_DOCKER_FAIL", "stop")
    result = run(monkeypatch, live, snapshot=True)
    assert result.kind == "fail" and result["undone"] is True
    assert (live / ".env").read_text().startswith("OPENCLAW_VERSION=2026.8.2")
    assert not (live / "staging" / "before").exists()


def test_stopped_gateway_is_neither_stopped_nor_started_again(monkeypatch, live, docker_log):
    monkeypatch.setenv("FAKE_DOCKER_RUNNING", "false")
    result = run(monkeypatch, live, start=False)
    assert result.kind == "exit" and result["was_running"] is False
    assert docker_log() == ["inspect --format {{.State.Running}} openclaw-gateway-main"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(backup_dir="/tmp/x"), "set snapshot=true too"),
        (dict(staged=None), "snapshot is False but all of the following are missing: staged"),
        (dict(remove_set_aside=True), "following are missing: backup_dir"),
        (dict(set_aside_root="/tmp/y"), "mutually exclusive: set_aside_dir|set_aside_root"),
        (dict(instance="../main"), "instance"),
    ],
)
def test_bad_input_is_refused_before_anything(monkeypatch, live, docker_log, args, message):
    result = run(monkeypatch, live, **args)
    assert result.kind == "fail" and message in result["msg"]
    assert docker_log() == []


@pytest.fixture
def healthz():
    """A loopback HTTP server answering GET /healthz like a live OpenClaw gateway."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            body = json.dumps({"ok": True, "status": "live"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()


def test_the_archive_waits_for_the_gateway_to_be_live(
    monkeypatch, live, docker_log, tmp_path, healthz
):
    result = run(monkeypatch, live, snapshot=True, backup_dir=str(tmp_path / "b"), wait_url=healthz)
    assert result.kind == "exit" and result["live"] is True
    assert os.path.exists(result["backup"]["path"])


def test_the_archive_is_written_when_the_gateway_never_gets_live(
    monkeypatch, live, docker_log, tmp_path
):
    result = run(
        monkeypatch,
        live,
        snapshot=True,
        backup_dir=str(tmp_path / "b"),
        wait_url="http://127.0.0.1:9",
        wait_timeout=0,
    )
    assert result.kind == "exit" and result["live"] is False
    assert os.path.exists(result["backup"]["path"])

"""In-process tests of the backup modules: openclaw_backup (create, stage) and
openclaw_backup_info (verify).

They run as root or as any other user (ownership is compared with the test's own ids).
"""

from __future__ import annotations

import datetime
import io
import json
import os
import secrets
import shutil
import stat
import tarfile
from typing import Any

import pytest
from harness import Result, run_module, snapshot

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import names
from ansible_collections.clawdeploy.openclaw.plugins.modules import (
    openclaw_backup,
    openclaw_backup_info,
)

TOKEN = "tok_" + secrets.token_urlsafe(24)
SQLITE = os.urandom(4096)
MISMATCH_END = "; refusing to use it. Take a new backup or use another archive."


@pytest.fixture
def clock(monkeypatch):
    """A controllable UTC clock for archive and set-aside names."""
    state = {"now": datetime.datetime(2026, 11, 23, 17, 58, 0, tzinfo=datetime.timezone.utc)}

    def tick(minutes: int = 1) -> None:
        state["now"] += datetime.timedelta(minutes=minutes)

    monkeypatch.setattr(names, "utcnow", lambda: state["now"])
    return tick


@pytest.fixture
def run(monkeypatch, clock):
    """Run the module in-process with the given args; return a Result (the clock ticks)."""

    def _run(check: bool = False, diff: bool = True, **args: Any) -> Result:
        args.setdefault("instance", "main")
        module = openclaw_backup.main
        if args.get("state") == "verify":  # openclaw_backup_info (was state=verify)
            del args["state"]
            module = openclaw_backup_info.main
        result = run_module(monkeypatch, module, check, diff, args)
        clock()
        assert TOKEN not in result.text(), "the .env token leaked into the result"
        return result

    return _run


def mode_of(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def src(tmp_path):
    """An instance directory shaped like the gateway role's."""
    root = tmp_path / "instances" / "main"
    (root / "config").mkdir(parents=True)
    env = root / ".env"
    env.write_text("OPENCLAW_VERSION=2026.9.6\nOPENCLAW_GATEWAY_TOKEN=%s\n" % TOKEN)
    env.chmod(0o600)
    (root / "openclaw_sidecar.compose.yml").write_text("services: {}\n")
    (root / "config" / "openclaw_sidecar.config.json5").write_text("{gateway: {}}\n")
    home = root / "data" / "openclaw_home"
    (home / "state").mkdir(parents=True)
    home.chmod(0o700)
    (home / "state" / "openclaw.sqlite").write_bytes(SQLITE)
    (home / "state" / "openclaw.sqlite").chmod(0o600)
    workspace = root / "data" / "openclaw_workspace"
    workspace.mkdir()
    (workspace / "AGENTS.md").write_text("be nice\n")
    (workspace / "current").symlink_to("AGENTS.md")
    (root / "staging").mkdir()
    (root / "staging" / "openclaw.tar").write_bytes(b"image")
    return root


@pytest.fixture
def backups(tmp_path):
    return tmp_path / "backups"


def backup(run, src, backups, **extra: Any) -> Result:
    result = run(src=str(src), dest_dir=str(backups), exclude=["staging"], **extra)
    assert result.kind == "exit" and result.changed, result.data
    return result


def tamper(archive: str, member_name: str) -> None:
    """Rewrite ``archive`` with one byte of ``member_name`` changed, the old manifest kept."""
    items = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            data = tar.extractfile(member).read() if member.isreg() else None
            if member.name == member_name:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            items.append((member, data))
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for member, data in items:
            tar.addfile(member, io.BytesIO(data) if data is not None else None)


# --- create -----------------------------------------------------------------------------


def test_create_then_verify(run, src, backups):
    created = backup(run, src, backups, label="pre-upgrade to 2026.9.6", keep=3)
    path = str(backups / "main-20261123T175800Z.tar.gz")
    assert created["path"] == path
    assert mode_of(path) == 0o600 and mode_of(backups) == 0o700
    assert created["files"] == 5
    assert created["bytes"] == os.path.getsize(path)
    assert len(created["sha256"]) == 64
    assert created["pruned"] == [] and created["skipped"] == []
    assert created["manifest"] == {
        "format": "clawdeploy-backup/1",
        "instance": "main",
        "created_at": "2026-11-23T17:58:00Z",
        "openclaw_version": "2026.9.6",
        "label": "pre-upgrade to 2026.9.6",
        "entries": 11,
    }
    assert created["diff"] == {
        "before_header": str(backups),
        "after_header": str(backups),
        "before": "",
        "after": path + "\n",
    }

    verified = run(state="verify", path=path)
    assert verified.kind == "exit" and not verified.changed
    assert verified["ok"] is True and verified["mismatches"] == []
    assert verified["manifest"] == created["manifest"]
    assert verified["files"] == 5 and verified["bytes"] == created["bytes"]


def test_create_check_mode_writes_nothing(run, src, backups):
    before = snapshot(src)
    result = run(check=True, src=str(src), dest_dir=str(backups), exclude=["staging"])
    assert result.kind == "exit" and result.changed
    assert result["path"] == str(backups / "main-20261123T175800Z.tar.gz")
    assert result["sha256"] is None and result["bytes"] is None
    assert not backups.exists()
    assert snapshot(src) == before

    backup(run, src, backups)
    listing = sorted(os.listdir(backups))
    again = run(check=True, src=str(src), dest_dir=str(backups), keep=1)
    assert again.changed and again["pruned"] == [str(backups / listing[0])]
    assert sorted(os.listdir(backups)) == listing


def test_create_warns_about_what_it_leaves_out(run, src, backups):
    os.mkfifo(str(src / "data" / "pipe"))
    (src / "data" / "passwd").symlink_to("/etc/passwd")
    result = backup(run, src, backups)
    assert result["skipped"] == [
        {"path": "data/passwd", "reason": "symbolic link pointing outside src"},
        {"path": "data/pipe", "reason": "FIFO"},
    ]
    assert result.warnings == [
        "not archived: data/passwd (symbolic link pointing outside src)",
        "not archived: data/pipe (FIFO)",
    ]


def test_keep_two_of_three_prunes_only_the_oldest(run, src, backups):
    first = backup(run, src, backups, keep=2)
    second = backup(run, src, backups, keep=2)
    (backups / "other-20261101T000000Z.tar.gz").write_bytes(b"another instance")
    third = backup(run, src, backups, keep=2)
    assert third["pruned"] == [first["path"]]
    assert sorted(os.listdir(backups)) == sorted(
        [
            os.path.basename(second["path"]),
            os.path.basename(third["path"]),
            "other-20261101T000000Z.tar.gz",
        ]
    )
    assert third["diff"]["before"] == "%s\n%s\n" % (first["path"], second["path"])
    assert third["diff"]["after"] == "%s\n%s\n" % (second["path"], third["path"])


def test_create_needs_src_and_dest_dir(run, src):
    result = run(src=str(src))
    assert result.kind == "fail" and "dest_dir" in result["msg"]


def test_invalid_instance_name_fails(run, src, backups):
    result = run(instance="../main", src=str(src), dest_dir=str(backups))
    assert result.kind == "fail" and "not a valid instance name" in result["msg"]
    assert not backups.exists()


# --- verify (openclaw_backup_info) -------------------------------------------------------


def test_tampered_archive_fails_verify_and_stage_refuses(run, src, backups):
    archive = backup(run, src, backups)["path"]
    tamper(archive, "instance/data/openclaw_home/state/openclaw.sqlite")

    verified = run(state="verify", path=archive)
    assert verified.kind == "fail"
    assert verified["msg"] == (
        "Archive %s does not match its manifest (1 problem, first: "
        "data/openclaw_home/state/openclaw.sqlite sha256 differs)%s" % (archive, MISMATCH_END)
    )
    assert verified["ok"] is False
    assert verified["mismatches"] == [
        {"path": "data/openclaw_home/state/openclaw.sqlite", "reason": "sha256 differs"}
    ]

    (src / ".env").write_text("OPENCLAW_GATEWAY_TOKEN=%s-new\n" % TOKEN)
    before = snapshot(src)
    staging = src / "staging" / "next"
    for check in (True, False):
        staged = run(check=check, state="stage", path=archive, dest=str(src), staging=str(staging))
        assert staged.kind == "fail"
        assert staged["msg"] == verified["msg"]
        assert snapshot(src) == before
        assert not staging.exists()


def test_wrong_instance_is_refused(run, src, backups, tmp_path):
    archive = backup(run, src, backups)["path"]
    verified = run(instance="alice", state="verify", path=archive)
    assert verified.kind == "fail"
    assert "is a backup of instance 'main', not 'alice'" in verified["msg"]
    dest = tmp_path / "alice"
    staged = run(
        instance="alice", state="stage", path=archive, dest=str(dest), staging=str(dest / "s")
    )
    assert staged.kind == "fail" and "not 'alice'" in staged["msg"]
    assert not dest.exists()


def test_verify_missing_archive_fails(run, tmp_path):
    result = run(state="verify", path=str(tmp_path / "none.tar.gz"))
    assert result.kind == "fail" and "does not exist" in result["msg"]


def test_verify_never_changes_anything_in_check_mode_either(run, src, backups):
    archive = backup(run, src, backups)["path"]
    before = snapshot(backups)
    for check in (True, False):
        result = run(check=check, state="verify", path=archive)
        assert result.kind == "exit" and not result.changed and result["ok"]
    assert snapshot(backups) == before


# --- stage (the half of a restore done while the gateway serves) -------------------------


def switch_in(staging, dest) -> None:
    """What openclaw_switch does after a stage: rename the staged entries live."""
    for name in os.listdir(staging):
        live = dest / name
        if live.is_dir() and not live.is_symlink():
            shutil.rmtree(live)
        elif live.exists() or live.is_symlink():
            live.unlink()
        os.rename(staging / name, live)
    staging.rmdir()


def test_stage_into_empty_dest_then_nothing_to_do(run, src, backups, tmp_path):
    archive = backup(run, src, backups)["path"]
    dest = tmp_path / "new-host" / "main"
    dest.mkdir(parents=True)
    staging = tmp_path / "new-host" / "staging" / "next"
    args = dict(state="stage", path=archive, dest=str(dest), staging=str(staging))
    before = snapshot(tmp_path / "new-host")
    first = run(check=True, **args)
    assert first.kind == "exit" and first.changed and first["restored"] == 11
    assert first["staged"] == str(staging)
    assert snapshot(tmp_path / "new-host") == before, "check mode changed something"

    second = run(**args)
    assert second.kind == "exit" and second.changed and second["restored"] == 11
    assert snapshot(dest) == {}  # the live instance is left alone
    expected = {k: v for k, v in snapshot(src, times=False).items() if not k.startswith("staging")}
    assert snapshot(staging, times=False) == expected
    assert mode_of(staging) == 0o700
    assert mode_of(staging / ".env") == 0o600
    assert mode_of(staging / "data" / "openclaw_home") == 0o700
    assert os.readlink(staging / "data" / "openclaw_workspace" / "current") == "AGENTS.md"
    assert os.stat(staging / ".env").st_uid == os.getuid()
    diff = second["diff"]
    assert diff["before"] == ""
    assert ".env: file 0600" in diff["after"]
    assert "data/openclaw_home: dir 0700" in diff["after"]
    assert "data/openclaw_workspace/current: symlink" in diff["after"]

    switch_in(staging, dest)
    after = snapshot(tmp_path / "new-host")
    for check in (True, False):
        again = run(check=check, **args)
        assert again.kind == "exit" and not again.changed, again.data
        assert again["restored"] == 0 and again["staged"] is None
        assert again["diff"] == dict(again["diff"], before="", after="")
    assert snapshot(tmp_path / "new-host") == after


def test_stage_into_a_missing_dest_creates_it(run, src, backups, tmp_path):
    archive = backup(run, src, backups)["path"]
    dest = tmp_path / "restored" / "main"
    staging = dest / "staging" / "next"
    result = run(state="stage", path=archive, dest=str(dest), staging=str(staging))
    assert result.kind == "exit" and result.changed, result.data
    assert mode_of(dest) == 0o750
    assert (staging / "data" / "openclaw_home" / "state" / "openclaw.sqlite").read_bytes() == SQLITE


def test_stage_over_a_changed_dest_leaves_it_alone_and_shows_the_change(run, src, backups):
    archive = backup(run, src, backups)["path"]
    # the instance moved on after the backup
    (src / ".env").write_text("OPENCLAW_GATEWAY_TOKEN=%s-rotated\n" % TOKEN)
    (src / "data" / "openclaw_home" / "state" / "openclaw.sqlite").write_bytes(b"newer state")
    (src / "data" / "openclaw_home" / "state" / "openclaw.sqlite-wal").write_bytes(b"wal")
    (src / "config" / "openclaw_sidecar.config.json5").chmod(0o666)
    old = snapshot(src)
    staging = src / "staging" / "next"
    result = run(state="stage", path=archive, dest=str(src), staging=str(staging))
    assert result.kind == "exit" and result.changed
    live = {k: v for k, v in snapshot(src).items() if not k.startswith("staging")}
    assert live == {k: v for k, v in old.items() if not k.startswith("staging")}
    assert (staging / "data" / "openclaw_home" / "state" / "openclaw.sqlite").read_bytes() == SQLITE
    assert not (staging / "data" / "openclaw_home" / "state" / "openclaw.sqlite-wal").exists()
    assert (staging / ".env").read_text().endswith("OPENCLAW_GATEWAY_TOKEN=%s\n" % TOKEN)
    # diff: checksums, modes and owners of what changes, never contents
    diff = result["diff"]
    assert "data/openclaw_home/state/openclaw.sqlite-wal: file" in diff["before"]
    assert "openclaw.sqlite-wal" not in diff["after"]
    assert "config/openclaw_sidecar.config.json5: file 0666" in diff["before"]
    assert ".env: file 0600" in diff["after"] and "sha256:" in diff["after"]
    assert "openclaw_sidecar.compose.yml" not in diff["before"] + diff["after"]
    assert "rotated" not in json.dumps(result.data)


def test_stage_needs_staging(run, src, backups):
    archive = backup(run, src, backups)["path"]
    result = run(state="stage", path=archive, dest=str(src))
    assert result.kind == "fail" and "staging" in result["msg"]


def test_env_content_never_in_results(run, src, backups):
    created = backup(run, src, backups)
    archive = created["path"]
    results = [
        created,
        run(check=True, src=str(src), dest_dir=str(backups)),
        run(state="verify", path=archive),
    ]
    (src / ".env").write_text("OPENCLAW_GATEWAY_TOKEN=%s\nOTHER=%s\n" % (TOKEN, TOKEN))
    staging = str(src / "staging" / "next")
    results.append(run(check=True, state="stage", path=archive, dest=str(src), staging=staging))
    results.append(run(state="stage", path=archive, dest=str(src), staging=staging))
    tamper(archive, "instance/.env")
    results.append(run(state="verify", path=archive))
    assert results[-1].kind == "fail"
    for result in results:
        assert TOKEN not in json.dumps(result.data) + "\n".join(result.warnings)

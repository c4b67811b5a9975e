"""In-process tests of the openclaw_release module.

Each scenario follows community.docker's four-way pattern where it applies: check mode,
apply, idempotent check, idempotent apply, asserting ``changed`` every time.
"""

from __future__ import annotations

import datetime
import json
import os
import stat
from typing import Any

import pytest
from harness import Result, four_way, run_module, snapshot

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import names
from ansible_collections.clawdeploy.openclaw.plugins.module_utils import release as rel
from ansible_collections.clawdeploy.openclaw.plugins.modules import openclaw_release

SHA_A = "a" * 64
SHA_B = "b" * 64


@pytest.fixture
def clock(monkeypatch):
    """A controllable UTC clock for the ids and deployed_at of new releases."""
    state = {"now": datetime.datetime(2026, 11, 23, 18, 0, 0, tzinfo=datetime.timezone.utc)}

    def tick(minutes: int = 1) -> None:
        state["now"] += datetime.timedelta(minutes=minutes)

    monkeypatch.setattr(names, "utcnow", lambda: state["now"])
    return tick


@pytest.fixture
def run(monkeypatch, clock):
    """Run the module in-process with the given args; return a Result (the clock ticks)."""

    def _run(check: bool = False, diff: bool = True, **args: Any) -> Result:
        result = run_module(monkeypatch, openclaw_release.main, check, diff, args)
        clock()
        return result

    return _run


def deployment(version: str, config: str = SHA_A, **extra: Any) -> dict[str, Any]:
    return dict(
        version=version,
        image="clawdeploy/openclaw:%s" % version,
        image_id="sha256:" + (version.replace(".", "") * 8)[:64],
        config_sha256=config,
        **extra,
    )


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def history_path(tmp_path):
    directory = tmp_path / "releases"
    directory.mkdir()
    return directory / "main.json"


def deployed(run, path, *versions: str, **extra: Any) -> list[dict[str, Any]]:
    """Record each version in turn; return the releases."""
    releases = []
    for version in versions:
        result = run(path=str(path), instance="main", **deployment(version), **extra)
        assert result.kind == "exit" and result.changed, result.data
        releases.append(result["release"])
    return releases


def read(path) -> dict[str, Any]:
    return json.loads(path.read_text())


# --- present ----------------------------------------------------------------------------


def test_present_first_release_four_way(run, history_path):
    args = dict(
        path=str(history_path),
        instance="main",
        backup_path="/opt/openclaw-assistant/backups/main-1.tar.gz",
        note="first deploy",
        **deployment("2026.8.2"),
    )
    first, second, third, fourth = four_way(run, history_path.parent, **args)

    assert first["release"]["version"] == "2026.8.2"
    assert first["current"] == first["release"]
    assert first["previous"] is None

    release = second["release"]
    assert release["id"] == "20261123T180100Z-2026.8.2"
    assert release["deployed_at"] == "2026-11-23T18:01:00Z"
    assert release["status"] == "active"
    assert release["backup_path"] == "/opt/openclaw-assistant/backups/main-1.tar.gz"
    assert release["note"] == "first deploy"
    assert second["current"] == release and second["previous"] is None
    assert second["releases"] == [release]
    assert second["pruned"] == [] and second["prunable_images"] == []
    assert second["images"] == sorted([release["image"], release["image_id"]])
    assert read(history_path) == {
        "schema": 1,
        "instance": "main",
        "current": release["id"],
        "previous": None,
        "releases": [release],
    }
    assert mode_of(history_path) == 0o600
    assert third["release"] == release and fourth["release"] == release
    assert third["current"] == release


def test_present_upgrade_four_way(run, history_path):
    (old,) = deployed(run, history_path, "2026.8.2")
    args = dict(path=str(history_path), instance="main", **deployment("2026.9.6"))
    results = four_way(run, history_path.parent, **args)
    new = results[1]["release"]
    assert results[1]["current"] == new
    assert results[1]["previous"]["id"] == old["id"]
    assert results[1]["previous"]["status"] == "superseded"
    assert read(history_path)["previous"] == old["id"]
    assert [r["status"] for r in read(history_path)["releases"]] == ["superseded", "active"]


def test_present_same_release_with_other_backup_and_note_is_unchanged(run, history_path):
    (release,) = deployed(run, history_path, "2026.9.6", note="one")
    result = run(
        path=str(history_path),
        instance="main",
        backup_path="/other.tgz",
        note="two",
        **deployment("2026.9.6"),
    )
    assert not result.changed
    assert result["release"] == release


def test_present_config_change_is_a_new_release(run, history_path):
    (release,) = deployed(run, history_path, "2026.9.6")
    result = run(path=str(history_path), instance="main", **deployment("2026.9.6", SHA_B))
    assert result.changed
    assert result["previous"]["id"] == release["id"]
    assert result["current"]["config_sha256"] == SHA_B


@pytest.mark.parametrize("version", ["latest", "2026.09.06", "v2026.9.6", "2026.9"])
def test_present_bad_version_fails_with_fix(run, history_path, version):
    args = deployment("2026.9.6")
    args["version"] = version
    result = run(path=str(history_path), instance="main", **args)
    assert result.kind == "fail"
    assert "YYYY.M.D" in result["msg"] and "2026.9.6" in result["msg"]
    assert not history_path.exists()


def test_present_bad_checksum_fails(run, history_path):
    result = run(path=str(history_path), instance="main", **deployment("2026.9.6", "xyz"))
    assert result.kind == "fail" and "SHA-256" in result["msg"]


def test_present_requires_its_fields(run, history_path):
    result = run(path=str(history_path), instance="main", version="2026.9.6")
    assert result.kind == "fail"
    assert "image" in result["msg"] and "config_sha256" in result["msg"]


def test_present_missing_directory(run, tmp_path):
    path = tmp_path / "nowhere" / "main.json"
    args = dict(path=str(path), instance="main", **deployment("2026.9.6"))
    check = run(check=True, **args)
    assert check.kind == "exit" and check.changed
    result = run(**args)
    assert result.kind == "fail"
    assert "does not exist; create it first" in result["msg"]
    assert not path.parent.exists()


def test_present_fixes_mode(run, history_path):
    deployed(run, history_path, "2026.9.6")
    os.chmod(history_path, 0o644)
    content = history_path.read_bytes()
    args = dict(path=str(history_path), instance="main", **deployment("2026.9.6"))
    check = run(check=True, **args)
    assert check.changed and mode_of(history_path) == 0o644
    assert check["diff"][1] == {
        "before": {"path": str(history_path), "mode": "0644"},
        "after": {"path": str(history_path), "mode": "0600"},
    }
    result = run(**args)
    assert result.changed and mode_of(history_path) == 0o600
    assert history_path.read_bytes() == content
    assert not run(**args).changed


def test_symlink_is_followed(run, history_path, tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(history_path)
    result = run(path=str(link), instance="main", **deployment("2026.9.6"))
    assert result.changed and result["path"] == str(link)
    assert link.is_symlink()
    assert read(history_path)["current"] == result["current"]["id"]
    assert mode_of(history_path) == 0o600


def test_corrupt_file_fails_naming_it_for_every_state(run, history_path):
    history_path.write_text('{"schema": 1, "instance": "main", "releases": [')
    before = snapshot(history_path.parent)
    for state, extra in (
        ("present", deployment("2026.9.6")),
        ("rollback", {}),
        ("failed", {}),
    ):
        result = run(path=str(history_path), instance="main", state=state, **extra)
        assert result.kind == "fail"
        assert str(history_path) in result["msg"] and "corrupt" in result["msg"]
    assert snapshot(history_path.parent) == before


# --- rollback ---------------------------------------------------------------------------


def test_rollback_by_id_four_way(run, history_path):
    first, second, third = deployed(run, history_path, "2026.7.1", "2026.8.2", "2026.9.6")
    args = dict(path=str(history_path), instance="main", state="rollback", target=first["id"])
    results = four_way(run, history_path.parent, **args)
    result = results[1]
    assert result["release"]["id"] == first["id"]
    assert result["current"]["id"] == first["id"] and result["current"]["status"] == "active"
    assert result["previous"] is None
    assert [r["status"] for r in result["releases"]] == ["active", "superseded", "rolled_back"]
    assert results[0]["current"] == result["current"]  # check mode predicted it


def test_rollback_previous_steps_back(run, history_path):
    first, second, third = deployed(run, history_path, "2026.7.1", "2026.8.2", "2026.9.6")
    args = dict(path=str(history_path), instance="main", state="rollback")
    check = run(check=True, **args)
    assert check.changed and check["release"]["id"] == second["id"]
    result = run(**args)
    assert result.changed
    assert result["current"]["id"] == second["id"]
    assert result["previous"]["id"] == first["id"]
    on_disk = read(history_path)
    assert on_disk["current"] == second["id"] and on_disk["previous"] == first["id"]
    assert [r["status"] for r in on_disk["releases"]] == ["superseded", "active", "rolled_back"]
    # target=previous is relative: a second run goes one further back
    again = run(**args)
    assert again.changed and again["current"]["id"] == first["id"]


def test_rollback_unknown_id_lists_known_ids(run, history_path):
    releases = deployed(run, history_path, "2026.8.2", "2026.9.6")
    before = snapshot(history_path.parent)
    result = run(path=str(history_path), instance="main", state="rollback", target="nope")
    assert result.kind == "fail"
    assert "no release with id 'nope'" in result["msg"]
    for release in releases:
        assert release["id"] in result["msg"]
    assert snapshot(history_path.parent) == before


def test_rollback_without_previous_fails(run, history_path):
    deployed(run, history_path, "2026.9.6")
    result = run(path=str(history_path), instance="main", state="rollback")
    assert result.kind == "fail" and "no previous release" in result["msg"]
    empty = run(path=str(history_path.parent / "x.json"), instance="x", state="rollback")
    assert empty.kind == "fail" and "deploy first" in empty["msg"]


# --- failed -----------------------------------------------------------------------------


def test_failed_with_target_four_way(run, history_path):
    first, second = deployed(run, history_path, "2026.8.2", "2026.9.6")
    args = dict(path=str(history_path), instance="main", state="failed", target=second["id"])
    results = four_way(run, history_path.parent, **args)
    result = results[1]
    assert result["release"]["id"] == second["id"]
    assert result["release"]["status"] == "failed"
    assert result["current"]["id"] == first["id"]
    assert result["previous"] is None
    assert [r["status"] for r in read(history_path)["releases"]] == ["active", "failed"]
    assert results[3]["release"]["status"] == "failed"


def test_failed_without_target_marks_current(run, history_path):
    first, second, third = deployed(run, history_path, "2026.7.1", "2026.8.2", "2026.9.6")
    result = run(path=str(history_path), instance="main", state="failed")
    assert result.changed and result["release"]["id"] == third["id"]
    assert result["current"]["id"] == second["id"]
    assert result["previous"]["id"] == first["id"]


def test_failed_without_previous_fails(run, history_path):
    deployed(run, history_path, "2026.9.6")
    before = snapshot(history_path.parent)
    result = run(path=str(history_path), instance="main", state="failed")
    assert result.kind == "fail" and "no previous release to go back to" in result["msg"]
    assert snapshot(history_path.parent) == before


def test_failed_release_is_not_a_rollback_target(run, history_path):
    first, second = deployed(run, history_path, "2026.8.2", "2026.9.6")
    run(path=str(history_path), instance="main", state="failed")
    result = run(path=str(history_path), instance="main", state="rollback", target=second["id"])
    assert result.kind == "fail" and "failed its deployment" in result["msg"]


# --- pruning ----------------------------------------------------------------------------


def test_present_prunes_oldest_and_reports_images(run, history_path):
    releases = deployed(run, history_path, "2026.1.1", "2026.2.1", "2026.3.1", keep=3)
    result = run(path=str(history_path), instance="main", keep=3, **deployment("2026.4.1"))
    assert result.changed
    assert [r["id"] for r in result["pruned"]] == [releases[0]["id"]]
    assert result["pruned"][0]["image"] == "clawdeploy/openclaw:2026.1.1"
    assert result["prunable_images"] == sorted([releases[0]["image"], releases[0]["image_id"]])
    assert len(read(history_path)["releases"]) == 3
    assert releases[0]["image"] not in result["images"]
    assert releases[1]["image"] in result["images"]


def test_lowering_keep_prunes_on_an_unchanged_deploy_four_way(run, history_path):
    releases = deployed(run, history_path, "2026.1.1", "2026.2.1", "2026.3.1", "2026.4.1")
    args = dict(path=str(history_path), instance="main", keep=2, **deployment("2026.4.1"))
    results = four_way(run, history_path.parent, **args)
    assert [r["id"] for r in results[0]["pruned"]] == [r["id"] for r in releases[:2]]
    assert [r["id"] for r in results[1]["pruned"]] == [r["id"] for r in releases[:2]]
    assert results[2]["pruned"] == [] and results[3]["pruned"] == []
    assert [r["id"] for r in read(history_path)["releases"]] == [r["id"] for r in releases[2:]]


def test_prune_keeps_current_and_previous_after_rollback(run, history_path):
    releases = deployed(run, history_path, "2026.1.1", "2026.2.1", "2026.3.1", "2026.4.1")
    result = run(
        path=str(history_path),
        instance="main",
        state="rollback",
        target=releases[1]["id"],
        keep=1,
    )
    assert result.changed
    kept = [r["id"] for r in result["releases"]]
    # current (2.1) and previous (1.1) are protected; 3.1 is pruned; 4.1 is the newest
    assert kept == [releases[0]["id"], releases[1]["id"], releases[3]["id"]]
    assert [r["id"] for r in result["pruned"]] == [releases[2]["id"]]
    assert result["current"]["id"] == releases[1]["id"]
    assert result["previous"]["id"] == releases[0]["id"]


def test_keep_must_be_positive(run, history_path):
    result = run(path=str(history_path), instance="main", keep=0, **deployment("2026.9.6"))
    assert result.kind == "fail" and "keep must be at least 1" in result["msg"]


# --- diff -------------------------------------------------------------------------------


def test_diff_shows_history_before_and_after(run, history_path):
    args = dict(path=str(history_path), instance="main", **deployment("2026.8.2"))
    first = run(check=True, **args)
    (diff,) = first["diff"]
    assert diff["before"] == "" and diff["before_header"] == str(history_path)
    assert json.loads(diff["after"])["releases"][0]["version"] == "2026.8.2"
    run(**args)
    text = history_path.read_text()

    upgrade = run(check=True, path=str(history_path), instance="main", **deployment("2026.9.6"))
    (diff,) = upgrade["diff"]
    assert diff["before"] == text
    after = json.loads(diff["after"])
    assert [r["version"] for r in after["releases"]] == ["2026.8.2", "2026.9.6"]
    assert after["current"] == upgrade["current"]["id"]

    applied = run(path=str(history_path), instance="main", **deployment("2026.9.6"))
    assert applied["diff"][0]["after"] == history_path.read_text()

    unchanged = run(path=str(history_path), instance="main", **deployment("2026.9.6"))
    (diff,) = unchanged["diff"]
    assert diff["before"] == diff["after"]


def test_no_diff_key_without_diff_mode(run, history_path):
    result = run(diff=False, path=str(history_path), instance="main", **deployment("2026.9.6"))
    assert "diff" not in result.data


def test_whole_lifecycle_file_is_valid_after_each_step(run, history_path):
    """deploy A -> upgrade B -> B fails -> upgrade C -> rollback -> re-deploy: always loadable."""
    path = str(history_path)
    deployed(run, history_path, "2026.8.2", "2026.9.6")
    assert run(path=path, instance="main", state="failed").changed
    assert rel.load(path, "main")["current"].endswith("2026.8.2")
    deployed(run, history_path, "2026.10.1")
    back = run(path=path, instance="main", state="rollback")
    assert back["current"]["version"] == "2026.8.2"
    redeploy = run(path=path, instance="main", **deployment("2026.8.2"))
    assert not redeploy.changed
    history = rel.load(path, "main")
    assert [r["status"] for r in history["releases"]] == ["active", "failed", "rolled_back"]

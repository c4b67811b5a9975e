"""Tests of the release history format and operations."""

from __future__ import annotations

import datetime
import json
import os
import stat

import pytest

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import fileops
from ansible_collections.clawdeploy.openclaw.plugins.module_utils import release as rel

SHA_A = "a" * 64
SHA_B = "b" * 64
T0 = datetime.datetime(2026, 11, 23, 17, 58, 0, tzinfo=datetime.timezone.utc)


def at(minutes: int) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


def deploy(history, version, minutes, config=SHA_A, image_id=None, **kwargs):
    image_id = image_id or "sha256:" + version.replace(".", "") * 4
    new, release, changed = rel.record(
        history,
        version=version,
        image="clawdeploy/openclaw:%s" % version,
        image_id=image_id,
        config_sha256=config,
        now=at(minutes),
        **kwargs,
    )
    assert changed
    return new, release


def three():
    """History with 2026.7.1 -> 2026.8.2 -> 2026.9.6 deployed, 9.6 current."""
    history = rel.empty("main")
    history, first = deploy(history, "2026.7.1", 0)
    history, second = deploy(history, "2026.8.2", 1)
    history, third = deploy(history, "2026.9.6", 2)
    return history, first, second, third


def statuses(history):
    return [r["status"] for r in history["releases"]]


# --- load and write -------------------------------------------------------------------


def test_load_missing_file_is_empty_history(tmp_path):
    history = rel.load(str(tmp_path / "main.json"), "main")
    assert history == {
        "schema": 1,
        "instance": "main",
        "current": None,
        "previous": None,
        "releases": [],
    }
    assert not (tmp_path / "main.json").exists()


def test_write_then_load_round_trip_mode_0600(tmp_path):
    path = tmp_path / "main.json"
    history = three()[0]
    old_umask = os.umask(0)
    try:
        rel.write(str(path), history)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert rel.load(str(path), "main") == history
    assert json.loads(path.read_text()) == history
    assert path.read_text().endswith("\n")
    assert os.listdir(tmp_path) == ["main.json"]


def test_write_replaces_atomically_and_fixes_mode(tmp_path):
    path = tmp_path / "main.json"
    path.write_text("old")
    os.chmod(path, 0o644)
    inode = path.stat().st_ino
    rel.write(str(path), rel.empty("main"))
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["releases"] == []


def test_write_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "main.json"
    rel.write(str(path), rel.empty("main"))
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileops.os, "replace", boom)
    with pytest.raises(OSError):
        rel.write(str(path), three()[0])
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["main.json"]


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("{not json", "corrupt"),
        (b"\xff\xfe", "corrupt"),
        ("[]", "not a JSON object"),
        ('{"schema": 2, "instance": "main", "releases": []}', "schema is 2"),
        ('{"schema": 1, "instance": "main"}', "'releases'"),
        ('{"schema": 1, "instance": "main", "releases": [{"id": "x"}]}', "lacks version"),
        (
            '{"schema": 1, "instance": "main", "current": "nope", "previous": null,'
            ' "releases": []}',
            "not the id of any release",
        ),
    ],
)
def test_load_corrupt_file_names_the_file(tmp_path, content, fragment):
    path = tmp_path / "main.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(rel.ReleaseError) as info:
        rel.load(str(path), "main")
    assert str(path) in str(info.value)
    assert fragment in str(info.value)
    assert "move it aside" in str(info.value)


def test_load_bad_status_and_inconsistent_active(tmp_path):
    path = tmp_path / "main.json"
    history = three()[0]
    history["releases"][0]["status"] = "weird"
    path.write_text(json.dumps(history))
    with pytest.raises(rel.ReleaseError, match="status is 'weird'"):
        rel.load(str(path), "main")
    history = three()[0]
    history["releases"][0]["status"] = "active"
    path.write_text(json.dumps(history))
    with pytest.raises(rel.ReleaseError, match="active releases"):
        rel.load(str(path), "main")


def test_load_other_instance_is_refused(tmp_path):
    path = tmp_path / "main.json"
    rel.write(str(path), rel.empty("alice"))
    with pytest.raises(rel.ReleaseError, match="belongs to instance 'alice', not 'main'"):
        rel.load(str(path), "main")


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "version", ["2026.9.6", "2026.12.31", "2026.2.26", "2026.9.6-beta.1", "2026.9.6-broken"]
)
def test_valid_versions(version):
    rel.validate_version(version)


@pytest.mark.parametrize(
    "version",
    ["latest", "2026.09.6", "2026.9", "v2026.9.6", "2026.13.1", "2026.9.6-", "2026.9.6 x", ""],
)
def test_invalid_versions(version):
    with pytest.raises(rel.ReleaseError, match="YYYY.M.D"):
        rel.validate_version(version)


def test_invalid_checksum_and_instance():
    with pytest.raises(rel.ReleaseError, match="SHA-256"):
        rel.validate_sha256("ABC")
    with pytest.raises(rel.ReleaseError, match="not a valid instance name"):
        rel.validate_instance("../etc")


# --- record -------------------------------------------------------------------------


def test_record_first_release():
    history, release = deploy(rel.empty("main"), "2026.8.2", 0, backup_path=None, note="first")
    assert release == {
        "id": "20261123T175800Z-2026.8.2",
        "version": "2026.8.2",
        "image": "clawdeploy/openclaw:2026.8.2",
        "image_id": release["image_id"],
        "config_sha256": SHA_A,
        "deployed_at": "2026-11-23T17:58:00Z",
        "backup_path": None,
        "status": "active",
        "note": "first",
    }
    assert history["current"] == release["id"]
    assert history["previous"] is None


def test_record_supersedes_current_and_sets_previous():
    history, first, second, third = three()
    assert statuses(history) == ["superseded", "superseded", "active"]
    assert history["current"] == third["id"]
    assert history["previous"] == second["id"]
    assert rel.current(history) == third
    assert rel.previous(history)["id"] == second["id"]
    assert first["deployed_at"] < second["deployed_at"] < third["deployed_at"]


def test_record_same_as_current_changes_nothing():
    history, current = deploy(rel.empty("main"), "2026.9.6", 0, backup_path="/b/1.tgz")
    again, release, changed = rel.record(
        history,
        version="2026.9.6",
        image="other:tag",
        image_id=current["image_id"],
        config_sha256=SHA_A,
        backup_path="/b/2.tgz",
        note="rerun",
        now=at(5),
    )
    assert not changed
    assert again == history
    assert release == current


@pytest.mark.parametrize(
    "change", [dict(config=SHA_B), dict(image_id="sha256:" + "c" * 64), dict(version="2026.9.7")]
)
def test_record_any_difference_is_a_new_release(change):
    history = deploy(rel.empty("main"), "2026.9.6", 0)[0]
    version = change.pop("version", "2026.9.6")
    history2, release = deploy(history, version, 1, **change)
    assert len(history2["releases"]) == 2
    assert history2["previous"] == history["current"]
    assert history2["current"] == release["id"]


def test_record_does_not_modify_its_input():
    history = three()[0]
    snapshot = json.dumps(history, sort_keys=True)
    deploy(history, "2026.10.1", 9)
    rel.rollback(history, "previous")
    rel.mark_failed(history)
    rel.prune(history, 1)
    assert json.dumps(history, sort_keys=True) == snapshot


def test_record_same_second_gets_unique_ids():
    history = deploy(rel.empty("main"), "2026.9.6", 0)[0]
    history, second = deploy(history, "2026.9.6", 0, config=SHA_B)
    history, third = deploy(history, "2026.9.6", 0)
    assert second["id"] == "20261123T175800Z-2026.9.6.2"
    assert third["id"] == "20261123T175800Z-2026.9.6.3"


def test_record_validates_its_input():
    with pytest.raises(rel.ReleaseError, match="YYYY.M.D"):
        rel.record(rel.empty("main"), "9.6", "i", "sha256:x", SHA_A)
    with pytest.raises(rel.ReleaseError, match="SHA-256"):
        rel.record(rel.empty("main"), "2026.9.6", "i", "sha256:x", "nope")
    with pytest.raises(rel.ReleaseError, match="image_id"):
        rel.record(rel.empty("main"), "2026.9.6", "i", "", SHA_A)
    with pytest.raises(rel.ReleaseError, match="image must"):
        rel.record(rel.empty("main"), "2026.9.6", "", "sha256:x", SHA_A)


# --- select ------------------------------------------------------------------------


def test_select_previous_current_and_id():
    history, first, second, third = three()
    assert rel.select(history, "previous")["id"] == second["id"]
    assert rel.select(history, "current") == third
    assert rel.select(history, first["id"])["id"] == first["id"]


def test_select_unknown_id_lists_known_ids():
    history, first, second, third = three()
    with pytest.raises(rel.ReleaseError) as info:
        rel.select(history, "nope")
    message = str(info.value)
    assert "no release with id 'nope'" in message
    for release in (first, second, third):
        assert release["id"] in message


def test_select_previous_in_empty_and_single_histories():
    with pytest.raises(rel.ReleaseError, match="empty.*deploy first"):
        rel.select(rel.empty("main"), "previous")
    with pytest.raises(rel.ReleaseError, match="empty.*deploy first"):
        rel.select(rel.empty("main"), "20261123T175800Z-2026.9.6")
    history = deploy(rel.empty("main"), "2026.9.6", 0)[0]
    with pytest.raises(rel.ReleaseError, match="no previous release"):
        rel.select(history, "previous")


# --- rollback and failed ---------------------------------------------------------------


def test_rollback_to_previous():
    history, first, second, third = three()
    new, release, changed = rel.rollback(history, "previous")
    assert changed and release["id"] == second["id"]
    assert statuses(new) == ["superseded", "active", "rolled_back"]
    assert new["current"] == second["id"]
    assert new["previous"] == first["id"]


def test_rollback_to_current_id_changes_nothing():
    history, first, second, third = three()
    new, release, changed = rel.rollback(history, third["id"])
    assert not changed and new == history and release == third


def test_rollback_to_id_is_idempotent():
    history, first, second, third = three()
    once = rel.rollback(history, first["id"])[0]
    twice, release, changed = rel.rollback(once, first["id"])
    assert not changed and twice == once
    assert once["current"] == first["id"]
    assert once["previous"] is None
    assert statuses(once) == ["active", "superseded", "rolled_back"]


def test_roll_forward_to_a_rolled_back_release():
    history, first, second, third = three()
    back = rel.rollback(history, "previous")[0]
    forward, release, changed = rel.rollback(back, third["id"])
    assert changed
    assert statuses(forward) == ["superseded", "rolled_back", "active"]
    assert forward["current"] == third["id"]
    assert forward["previous"] == first["id"]


def test_rollback_to_failed_release_is_refused():
    history, first, second, third = three()
    failed = rel.mark_failed(history)[0]
    with pytest.raises(rel.ReleaseError, match="failed its deployment"):
        rel.rollback(failed, third["id"])


def test_rollback_without_previous():
    history = deploy(rel.empty("main"), "2026.9.6", 0)[0]
    with pytest.raises(rel.ReleaseError, match="no previous release"):
        rel.rollback(history, "previous")


def test_deploy_after_rollback_makes_rollback_target_previous():
    history, first, second, third = three()
    back = rel.rollback(history, first["id"])[0]
    new, fourth = deploy(back, "2026.10.1", 9)
    assert new["previous"] == first["id"]
    assert statuses(new) == ["superseded", "superseded", "rolled_back", "active"]


def test_mark_failed_goes_back_to_previous():
    history, first, second, third = three()
    new, release, changed = rel.mark_failed(history)
    assert changed and release["id"] == third["id"]
    assert statuses(new) == ["superseded", "active", "failed"]
    assert new["current"] == second["id"]
    assert new["previous"] == first["id"]


def test_mark_failed_with_id_is_idempotent():
    history, first, second, third = three()
    once = rel.mark_failed(history, third["id"])[0]
    twice, release, changed = rel.mark_failed(once, third["id"])
    assert not changed and twice == once and release["status"] == "failed"


def test_mark_failed_of_a_non_current_release_is_refused():
    history, first, second, third = three()
    with pytest.raises(rel.ReleaseError, match="only the current release"):
        rel.mark_failed(history, first["id"])


def test_mark_failed_without_previous():
    history = deploy(rel.empty("main"), "2026.9.6", 0)[0]
    with pytest.raises(rel.ReleaseError, match="no previous release to go back to"):
        rel.mark_failed(history)
    with pytest.raises(rel.ReleaseError, match="empty"):
        rel.mark_failed(rel.empty("main"))


def test_redeploying_the_previous_release_after_failure_is_unchanged():
    history, first, second, third = three()
    failed = rel.mark_failed(history)[0]
    # the playbook re-runs deploy with the settings of the release now current
    again, release, changed = rel.record(
        failed, "2026.8.2", second["image"], second["image_id"], SHA_A, now=at(10)
    )
    assert not changed and release["id"] == second["id"]


# --- prune and images -----------------------------------------------------------------


def long_history(count):
    history = rel.empty("main")
    releases = []
    for index in range(count):
        history, release = deploy(history, "2026.%d.1" % (index + 1), index)
        releases.append(release)
    return history, releases


def test_prune_keeps_newest():
    history, releases = long_history(7)
    new, removed = rel.prune(history, 5)
    assert [r["id"] for r in removed] == [releases[0]["id"], releases[1]["id"]]
    assert [r["id"] for r in new["releases"]] == [r["id"] for r in releases[2:]]
    assert removed[0]["image"] == "clawdeploy/openclaw:2026.1.1"


def test_prune_nothing_when_within_keep():
    history = long_history(3)[0]
    new, removed = rel.prune(history, 5)
    assert removed == [] and new == history


def test_prune_never_removes_current_or_previous():
    history, releases = long_history(7)
    back = rel.rollback(history, releases[0]["id"])[0]  # current: the oldest
    back["previous"] = releases[1]["id"]  # and the next oldest as previous
    new, removed = rel.prune(back, 2)
    kept = [r["id"] for r in new["releases"]]
    assert releases[0]["id"] in kept and releases[1]["id"] in kept
    assert kept == [r["id"] for r in releases[:2]] + [r["id"] for r in releases[5:]]
    assert len(removed) == 3


def test_prune_keep_one_keeps_current_and_previous():
    history, releases = long_history(4)
    new, removed = rel.prune(history, 1)
    assert [r["id"] for r in new["releases"]] == [releases[2]["id"], releases[3]["id"]]
    assert len(removed) == 2


def test_prune_keep_must_be_positive():
    with pytest.raises(rel.ReleaseError, match="at least 1"):
        rel.prune(rel.empty("main"), 0)


def test_referenced_images():
    history, releases = long_history(3)
    refs = rel.referenced_images(history)
    assert refs == sorted([r["image"] for r in releases] + [r["image_id"] for r in releases])
    assert rel.referenced_images(rel.empty("main")) == []

"""In-process tests of the openclaw_release_info module (was openclaw_release state=query)."""

from __future__ import annotations

import datetime
import os
from typing import Any

import pytest
from harness import Result, run_module, snapshot

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import release as rel
from ansible_collections.clawdeploy.openclaw.plugins.modules import openclaw_release_info

T0 = datetime.datetime(2026, 11, 23, 18, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture
def run(monkeypatch):
    def _run(check: bool = False, **args: Any) -> Result:
        return run_module(monkeypatch, openclaw_release_info.main, check, True, args)

    return _run


@pytest.fixture
def history_path(tmp_path):
    directory = tmp_path / "releases"
    directory.mkdir()
    return directory / "main.json"


def deployed(path, *versions: str) -> list[dict[str, Any]]:
    """Write a history of ``versions`` (one minute apart) with module_utils; the releases."""
    history = rel.empty("main")
    releases = []
    for minute, version in enumerate(versions):
        history, release, _changed = rel.record(
            history,
            version=version,
            image="clawdeploy/openclaw:%s" % version,
            image_id="sha256:" + (version.replace(".", "") * 8)[:64],
            config_sha256="a" * 64,
            now=T0 + datetime.timedelta(minutes=minute),
        )
        releases.append(release)
    rel.write(str(path), history)
    return releases


def test_missing_file_is_empty_and_creates_nothing(run, history_path):
    for check in (True, False):
        result = run(check=check, path=str(history_path), instance="main")
        assert result.kind == "exit" and not result.changed
        assert result["exists"] is False
        assert result["current"] is None and result["previous"] is None
        assert result["releases"] == [] and result["images"] == []
    assert not history_path.exists()


def test_returns_history_and_changes_nothing(run, history_path):
    releases = deployed(history_path, "2026.7.1", "2026.8.2", "2026.9.6")
    os.chmod(history_path, 0o644)  # not corrected: an info module never writes
    before = snapshot(history_path.parent)
    result = run(path=str(history_path), instance="main")
    assert result.kind == "exit" and not result.changed and result["exists"]
    assert [r["id"] for r in result["releases"]] == [r["id"] for r in releases]
    assert result["current"]["id"] == releases[2]["id"]
    assert result["previous"]["id"] == releases[1]["id"]
    assert "clawdeploy/openclaw:2026.9.6" in result["images"]
    assert "diff" not in result.data
    assert snapshot(history_path.parent) == before


def test_path_is_a_directory_fails(run, history_path):
    history_path.mkdir()
    result = run(path=str(history_path), instance="main")
    assert result.kind == "fail" and "not a regular file" in result["msg"]


def test_instance_mismatch_fails(run, history_path):
    deployed(history_path, "2026.9.6")
    result = run(path=str(history_path), instance="alice")
    assert result.kind == "fail"
    assert "belongs to instance 'main', not 'alice'" in result["msg"]


def test_invalid_instance_name_fails(run, history_path):
    for name in ("a/b", "Main", "x" * 41, "-a"):
        result = run(path=str(history_path), instance=name)
        assert result.kind == "fail" and "not a valid instance name" in result["msg"], name


def test_corrupt_file_fails_naming_it(run, history_path):
    history_path.write_text('{"schema": 1, "instance": "main", "releases": [')
    result = run(path=str(history_path), instance="main")
    assert result.kind == "fail"
    assert str(history_path) in result["msg"] and "corrupt" in result["msg"]


def test_symlink_is_followed(run, history_path, tmp_path):
    releases = deployed(history_path, "2026.9.6")
    link = tmp_path / "link.json"
    link.symlink_to(history_path)
    result = run(path=str(link), instance="main")
    assert result.kind == "exit" and result["current"]["id"] == releases[0]["id"]

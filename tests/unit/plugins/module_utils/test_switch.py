"""Tests of the instance switch (module_utils/switch.py) with a recording container runtime.

The runtime fake records each call together with what the instance directory held at
that moment, so the tests can assert that nothing changed before the gateway stopped and
that everything was in place when it started.
"""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import switch as sw


def switch(*args, **kwargs):
    """sw.switch with the role's exclude (the staging directory is scratch, never switched)."""
    kwargs.setdefault("exclude", ["staging"])
    return sw.switch(*args, **kwargs)


def plan(*args, **kwargs):
    kwargs.setdefault("exclude", ["staging"])
    return sw.plan(*args, **kwargs)


def tree(root) -> dict:
    """Every path below ``root``: ("dir", mode) or ("file", mode, bytes) or ("link", target)."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(directory, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                with open(full, "rb") as handle:
                    found[rel] = ("file", stat.S_IMODE(st.st_mode), handle.read())
    return found


class FakeRuntime(sw.Runtime):
    """Records calls as (name, tree of the instance at that moment); fails on request."""

    def __init__(self, live, running=True, fail=()):
        self.live = live
        self.is_running = running
        self.fail = set(fail)
        self.calls = []

    def _call(self, name):
        self.calls.append((name, tree(self.live)))
        if name in self.fail:
            raise RuntimeError("%s refused" % name)

    def running(self):
        return self.is_running

    def stop(self):
        self._call("stop")
        self.is_running = False

    def start_again(self):
        self._call("start_again")
        self.is_running = True

    def up(self):
        self._call("up")
        self.is_running = True

    def copy(self, source, target):
        self._call("copy")
        subprocess.run(["cp", "-a", "--", source, target], check=True)

    def names(self):
        return [name for name, _tree in self.calls]


def instance(root, version="2026.8.2", token="tok-a"):
    root.mkdir(mode=0o750)
    env = "OPENCLAW_VERSION=%s\nOPENCLAW_GATEWAY_TOKEN=%s\n" % (version, token)
    (root / ".env").write_text(env)
    (root / ".env").chmod(0o600)
    (root / "openclaw_sidecar.compose.yml").write_text("services: {}\n")
    (root / "config").mkdir(mode=0o750)
    (root / "config" / "openclaw_sidecar.config.json5").write_text("{v: '%s'}\n" % version)
    state = root / "data" / "openclaw_home" / "state"
    state.mkdir(parents=True)
    (root / "data" / "openclaw_home").chmod(0o700)
    (state / "openclaw.sqlite").write_bytes(b"sqlite of " + version.encode())
    (root / "data" / "openclaw_workspace").mkdir()
    (root / "data" / "openclaw_workspace" / "latest").symlink_to("../openclaw_home")
    (root / "staging").mkdir()
    return root


@pytest.fixture
def live(tmp_path):
    return instance(tmp_path / "main")


def stage_upgrade(live):
    """A staged .env and config of version B, as upgrade.yml stages them."""
    next_dir = live / "staging" / "next"
    (next_dir / "config").mkdir(parents=True, mode=0o750)
    (next_dir / ".env").write_text("OPENCLAW_VERSION=2026.9.6\nOPENCLAW_GATEWAY_TOKEN=tok-a\n")
    (next_dir / ".env").chmod(0o600)
    (next_dir / "config" / "openclaw_sidecar.config.json5").write_text("{v: '2026.9.6'}\n")
    return next_dir


def without_staging(found):
    return {k: v for k, v in found.items() if not k.startswith("staging")}


def test_upgrade_switch_keeps_a_full_stopped_snapshot(live):
    before = without_staging(tree(live))
    staged = stage_upgrade(live)
    aside = live / "staging" / "before"
    runtime = FakeRuntime(live)
    archived = []
    result = switch(
        str(live),
        str(aside),
        runtime,
        staged=str(staged),
        snapshot=True,
        after_start=lambda: archived.append(tree(aside)) or "archive.tar.gz",
    )
    # The copies are made while the gateway serves; after the stop only what changed.
    assert runtime.names() == ["copy", "copy", "stop", "up"]
    # Nothing had changed when the stop was asked for; all was in place at the start.
    assert without_staging(runtime.calls[0][1]) == before
    at_up = without_staging(runtime.calls[-1][1])
    assert at_up[".env"][2].startswith(b"OPENCLAW_VERSION=2026.9.6")
    assert at_up[os.path.join("config", "openclaw_sidecar.config.json5")][2] == b"{v: '2026.9.6'}\n"
    # aside is the whole stopped instance: moved .env/config, copied data/compose file.
    assert tree(aside) == before
    assert stat.S_IMODE(os.stat(aside).st_mode) == 0o700
    assert archived == [before]
    assert result["after_start"] == "archive.tar.gz"
    assert result["put_live"] == [".env", "config"]
    assert result["move_aside"] == [".env", "config"]
    assert result["copy"] == ["data", "openclaw_sidecar.compose.yml"]
    assert result["was_running"] and result["started"]
    assert set(result["timings"]) == {"precopy", "stop", "files", "start", "after_start"}
    assert result["window"] >= 0
    assert not staged.exists()
    # The data the new release runs on is the original, not the copy.
    assert (live / "data" / "openclaw_home" / "state" / "openclaw.sqlite").read_bytes() == (
        b"sqlite of 2026.8.2"
    )


def test_rollback_switch_sets_the_whole_instance_aside(live, tmp_path):
    b_state = without_staging(tree(live))
    staged = live / "staging" / "next"
    instance(staged, version="2026.7.1", token="tok-old")
    (staged / "staging").rmdir()
    wanted = tree(staged)
    aside = tmp_path / "set-aside" / "20261201T120000Z"
    aside.parent.mkdir()
    runtime = FakeRuntime(live)
    result = switch(str(live), str(aside), runtime, staged=str(staged))
    assert runtime.names() == ["stop", "up"]
    assert without_staging(tree(live)) == wanted
    assert tree(aside) == b_state
    assert result["copy"] == []


def test_stopped_gateway_is_not_stopped_and_start_false_leaves_it_down(live, tmp_path):
    staged = stage_upgrade(live)
    runtime = FakeRuntime(live, running=False)
    result = switch(str(live), str(tmp_path / "aside"), runtime, staged=str(staged), start=False)
    assert runtime.names() == []
    assert not result["was_running"] and not result["started"]
    assert set(result["timings"]) == {"precopy", "stop", "files", "start"}


def test_snapshot_only_copies_and_changes_nothing_live(live):
    before = without_staging(tree(live))
    runtime = FakeRuntime(live)
    result = switch(str(live), str(live / "staging" / "backup"), runtime, snapshot=True)
    assert runtime.names() == ["copy", "copy", "copy", "copy", "stop", "up"]
    assert without_staging(tree(live)) == before
    assert tree(live / "staging" / "backup") == before
    assert result["put_live"] == [] and result["move_aside"] == []


def test_a_failing_rename_is_undone_and_the_old_gateway_started_again(live, monkeypatch):
    before = tree(live)
    staged = stage_upgrade(live)
    staged_before = tree(staged)
    real_rename = os.rename
    calls = []

    def rename(source, target):
        calls.append(source)
        if len(calls) == 4:  # .env and config moved aside, .env put live, config fails
            raise OSError(28, "No space left on device")
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", rename)
    runtime = FakeRuntime(live)
    aside = live / "staging" / "before"
    with pytest.raises(sw.SwitchError) as err:
        switch(str(live), str(aside), runtime, staged=str(staged), snapshot=True)
    assert err.value.undone
    assert "nothing was changed and the gateway was started again" in str(err.value)
    assert "No space left" in str(err.value)
    assert runtime.names()[-2:] == ["stop", "start_again"]
    monkeypatch.setattr(os, "rename", real_rename)
    assert not aside.exists()
    assert tree(staged) == staged_before
    assert without_staging(tree(live)) == without_staging(before)


def test_a_failing_start_leaves_the_switch_and_names_aside(live):
    staged = stage_upgrade(live)
    aside = live / "staging" / "before"
    runtime = FakeRuntime(live, fail={"up"})
    with pytest.raises(sw.SwitchError) as err:
        switch(str(live), str(aside), runtime, staged=str(staged), snapshot=True)
    assert not err.value.undone and err.value.set_aside_dir == str(aside)
    assert "did not start" in str(err.value) and str(aside) in str(err.value)
    assert (live / ".env").read_text().startswith("OPENCLAW_VERSION=2026.9.6")
    assert (aside / ".env").read_text().startswith("OPENCLAW_VERSION=2026.8.2")


def test_a_failing_step_after_the_start_keeps_aside(live):
    staged = stage_upgrade(live)
    aside = live / "staging" / "before"

    def archive():
        raise OSError(28, "No space left on device")

    with pytest.raises(sw.SwitchError) as err:
        switch(
            str(live),
            str(aside),
            FakeRuntime(live),
            staged=str(staged),
            snapshot=True,
            after_start=archive,
        )
    assert not err.value.undone
    assert "switched and started" in str(err.value)
    assert (aside / "data" / "openclaw_home" / "state" / "openclaw.sqlite").exists()


def test_a_failing_stop_changes_nothing(live):
    before = tree(live)
    staged = stage_upgrade(live)
    with pytest.raises(sw.SwitchError) as err:
        switch(
            str(live),
            str(live / "staging" / "x"),
            FakeRuntime(live, fail={"stop"}),
            staged=str(staged),
        )
    assert err.value.undone and "stopping the gateway failed" in str(err.value)
    assert without_staging(tree(live)) == without_staging(before)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda live: (live / "staging" / "before").mkdir(), "already exists"),
        (lambda live: (live / "staging" / "next").mkdir(), "is empty"),
        (lambda live: None, "does not exist"),
    ],
)
def test_plan_refuses_bad_input_before_touching_anything(live, setup, message):
    setup(live)
    before = tree(live)
    runtime = FakeRuntime(live)
    with pytest.raises(sw.SwitchError, match=message) as err:
        switch(
            str(live),
            str(live / "staging" / "before"),
            runtime,
            staged=str(live / "staging" / "next"),
        )
    assert err.value.undone
    assert runtime.names() == []
    assert tree(live) == before


def test_plan_refuses_aside_inside_what_is_copied(live):
    with pytest.raises(sw.SwitchError, match="lies inside data"):
        plan(str(live), str(live / "data" / "aside"), snapshot=True)


def test_plan_is_what_switch_does(live):
    staged = stage_upgrade(live)
    planned = plan(str(live), str(live / "staging" / "before"), str(staged), snapshot=True)
    assert planned == {
        "put_live": [".env", "config"],
        "move_aside": [".env", "config"],
        "copy": ["data", "openclaw_sidecar.compose.yml"],
    }
    assert not (live / "staging" / "before").exists()

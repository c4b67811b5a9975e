"""In-process tests of the openclaw_secret module.

Each scenario follows community.docker's four-way pattern where it applies: check mode,
apply, idempotent check, idempotent apply, asserting ``changed`` every time.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from harness import Result, run_module, snapshot

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import fileops
from ansible_collections.clawdeploy.openclaw.plugins.modules import openclaw_secret

GATEWAY = "OPENCLAW_GATEWAY_TOKEN"
BACKEND = "BACKEND_API_TOKEN"


@pytest.fixture
def run(monkeypatch):
    """Run the module in-process with the given args; return a Result."""

    def _run(check: bool = False, diff: bool = True, **args: Any) -> Result:
        return run_module(monkeypatch, openclaw_secret.main, check, diff, args)

    return _run


def token() -> str:
    return secrets.token_urlsafe(32)


def read_env(path) -> dict[str, str]:
    from ansible_collections.clawdeploy.openclaw.plugins.module_utils import dotenv

    return dotenv.as_dict(dotenv.parse(path.read_text()))


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def seed_env(directory, gateway: str | None = None, backend: str | None = None):
    """A seed-style .env as in the Astr runbook, with both tokens."""
    seed = directory / "seed"
    seed.mkdir()
    path = seed / ".env"
    path.write_text(
        "OPENCLAW_GATEWAY_TOKEN=%s\nOPENCLAW_VERSION=2026.2.9\nBACKEND_API_TOKEN=%s\n"
        % (gateway or token(), backend or token())
    )
    return path


# --- generate: the four-way pattern -----------------------------------------------------


def test_generate_four_way(run, tmp_path):
    env = tmp_path / ".env"
    args = dict(path=str(env), key=GATEWAY)

    first = run(check=True, **args)
    assert first.kind == "exit" and first.changed
    assert first["source"] == "generated" and first["value"] is None
    assert not env.exists()

    second = run(**args)
    assert second.changed and second["source"] == "generated"
    value = second["value"]
    assert len(value) >= 43
    assert read_env(env) == {GATEWAY: value}
    assert mode_of(env) == 0o600

    third = run(check=True, **args)
    assert not third.changed
    assert third["source"] == "existing" and third["value"] == value

    fourth = run(**args)
    assert not fourth.changed
    assert fourth["source"] == "existing" and fourth["value"] == value
    assert read_env(env) == {GATEWAY: value}


def test_generated_tokens_differ_and_length_is_entropy(run, tmp_path):
    a = run(path=str(tmp_path / "a.env"), key=GATEWAY)
    b = run(path=str(tmp_path / "b.env"), key=GATEWAY, length=48)
    assert a["value"] != b["value"]
    assert len(b["value"]) == 64


def test_keeps_other_lines_untouched(run, tmp_path):
    env = tmp_path / ".env"
    original = (
        "# managed by hand\r\nexport OPENCLAW_VERSION=2026.9.6\r\n\r\n"
        "PROVIDER_NAME='my provider'\r\n; a systemd comment\r\n"
    )
    env.write_text(original, newline="")
    result = run(path=str(env), key=GATEWAY)
    assert result.changed
    text = env.read_bytes().decode()
    assert text == original + "%s=%s\r\n" % (GATEWAY, result["value"])


# --- adopt_from ---------------------------------------------------------------------------


def test_adopt_both_tokens_from_seed_install(run, tmp_path):
    gw, be = token(), token()
    seed = seed_env(tmp_path, gw, be)
    seed_before = seed.read_bytes()
    gateway_env = tmp_path / "gateway.env"
    backend_env = tmp_path / "backend.env"
    missing = str(tmp_path / "nowhere" / ".env")

    args = dict(path=str(gateway_env), key=GATEWAY, adopt_from=[missing, str(seed)])
    check = run(check=True, **args)
    assert check.changed and check["source"] == "adopted" and check["value"] == gw
    assert not gateway_env.exists()
    applied = run(**args)
    assert applied.changed and applied["source"] == "adopted" and applied["value"] == gw
    again = run(check=True, **args)
    assert not again.changed and again["source"] == "existing"
    again = run(**args)
    assert not again.changed and again["source"] == "existing" and again["value"] == gw

    backend = run(path=str(backend_env), key=BACKEND, adopt_from=[str(seed)])
    assert backend["source"] == "adopted" and backend["value"] == be
    assert read_env(gateway_env) == {GATEWAY: gw}
    assert read_env(backend_env) == {BACKEND: be}
    assert seed.read_bytes() == seed_before


def test_existing_value_wins_over_adopt_from(run, tmp_path):
    mine = token()
    env = tmp_path / ".env"
    env.write_text("%s=%s\n" % (GATEWAY, mine))
    env.chmod(0o600)
    result = run(path=str(env), key=GATEWAY, adopt_from=[str(seed_env(tmp_path))])
    assert not result.changed and result["source"] == "existing" and result["value"] == mine


def test_adopt_skips_placeholders_and_takes_first_real_value(run, tmp_path):
    placeholder = tmp_path / "placeholder.env"
    placeholder.write_text("%s=replace_with_strong_random_token\n" % GATEWAY)
    gw = token()
    seed = seed_env(tmp_path, gateway=gw)
    result = run(path=str(tmp_path / ".env"), key=GATEWAY, adopt_from=[str(placeholder), str(seed)])
    assert result["source"] == "adopted" and result["value"] == gw
    assert result["weak"] is False


def test_adopted_short_value_warns_without_leaking(run, tmp_path):
    weak = "weak" + secrets.token_hex(4)
    seed = seed_env(tmp_path, gateway=weak)
    result = run(path=str(tmp_path / ".env"), key=GATEWAY, adopt_from=[str(seed)])
    assert result["source"] == "adopted" and result["value"] == weak
    assert result["weak"] is True
    assert len(result.warnings) == 1
    assert "shorter than 32" in result.warnings[0] and "rotate: true" in result.warnings[0]
    assert weak not in result.text()


# --- placeholders -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "placeholder", ["replace_with_strong_random_token", "", "changeme", "CHANGE_ME", "''"]
)
def test_placeholder_counts_as_absent(run, tmp_path, placeholder):
    env = tmp_path / ".env"
    env.write_text(
        "# from .env.example\n%s=%s\nOPENCLAW_VERSION=2026.2.9\n" % (GATEWAY, placeholder)
    )
    env.chmod(0o600)
    check = run(check=True, path=str(env), key=GATEWAY)
    assert check.changed and check["source"] == "generated"
    assert "value replaced (generated)" in check["diff"][0]["after"]
    result = run(path=str(env), key=GATEWAY)
    assert result.changed and result["source"] == "generated"
    assert read_env(env) == {GATEWAY: result["value"], "OPENCLAW_VERSION": "2026.2.9"}
    assert env.read_text().startswith("# from .env.example\n")


# --- rotate -------------------------------------------------------------------------------


def test_rotate(run, tmp_path):
    old = token()
    env = tmp_path / ".env"
    env.write_text("A=1\n%s=%s\nB=2\n" % (GATEWAY, old))
    env.chmod(0o600)
    before = snapshot(tmp_path)

    check = run(check=True, path=str(env), key=GATEWAY, rotate=True)
    assert check.changed and check["source"] == "rotated" and check["value"] is None
    assert snapshot(tmp_path) == before

    result = run(path=str(env), key=GATEWAY, rotate=True)
    assert result.changed and result["source"] == "rotated"
    assert result["value"] != old
    assert env.read_text() == "A=1\n%s=%s\nB=2\n" % (GATEWAY, result["value"])
    diff = json.dumps(result["diff"])
    assert old not in diff and result["value"] not in diff
    assert "value replaced (rotated)" in diff

    # rotate is not idempotent by design; without it the new value stays
    after = run(path=str(env), key=GATEWAY)
    assert not after.changed and after["value"] == result["value"]


def test_rotate_without_existing_value_is_generated(run, tmp_path):
    result = run(path=str(tmp_path / ".env"), key=GATEWAY, rotate=True)
    assert result["source"] == "generated"


def test_short_existing_value_warns(run, tmp_path):
    weak = "short" + secrets.token_hex(3)
    env = tmp_path / ".env"
    env.write_text("%s=%s\n" % (GATEWAY, weak))
    env.chmod(0o600)
    result = run(path=str(env), key=GATEWAY)
    assert not result.changed and result["value"] == weak
    assert result["weak"] is True
    assert any("rotate: true" in w for w in result.warnings)
    assert weak not in result.text()


# --- given value --------------------------------------------------------------------------


def test_given_value_four_way(run, tmp_path):
    env = tmp_path / ".env"
    api_key = "sk-" + token() + " with space"
    args = dict(path=str(env), key="OPENAI_API_KEY", value=api_key)
    assert run(check=True, **args).changed
    assert not env.exists()
    applied = run(**args)
    assert applied.changed and applied["source"] == "given"
    assert env.read_text() == "OPENAI_API_KEY='%s'\n" % api_key
    assert not run(check=True, **args).changed
    assert not run(**args).changed


def test_given_value_replaces_existing(run, tmp_path):
    env = tmp_path / ".env"
    old, new = token(), token()
    env.write_text("K=%s\n" % old)
    env.chmod(0o600)
    result = run(path=str(env), key="K", value=new)
    assert result.changed and read_env(env) == {"K": new}
    assert old not in result.text() and new not in result.text()


def test_unwritable_given_value_fails_without_leaking(run, tmp_path):
    secret = "it's-" + token()
    result = run(path=str(tmp_path / ".env"), key="K", value=secret)
    assert result.kind == "fail"
    assert "single quote" in result["msg"]
    assert secret not in result.text()
    assert not (tmp_path / ".env").exists()


# --- source copy --------------------------------------------------------------------------


def test_copy_from_source_four_way(run, tmp_path):
    gw = token()
    gateway_env = tmp_path / "gateway.env"
    gateway_env.write_text("%s=%s\n" % (GATEWAY, gw))
    backend_env = tmp_path / "backend.env"
    backend_env.write_text("%s=%s\n" % (BACKEND, token()))
    backend_env.chmod(0o600)
    args = dict(path=str(backend_env), key=GATEWAY, source=dict(path=str(gateway_env)))

    check = run(check=True, **args)
    assert check.changed and check["source"] == "copied" and check["value"] == gw
    assert GATEWAY not in read_env(backend_env)
    applied = run(**args)
    assert applied.changed and applied["value"] == gw
    assert read_env(backend_env)[GATEWAY] == gw
    assert not run(check=True, **args).changed
    assert not run(**args).changed

    # the source changed (rotation): the copy follows
    new = token()
    gateway_env.write_text("%s=%s\n" % (GATEWAY, new))
    follow = run(**args)
    assert follow.changed and read_env(backend_env)[GATEWAY] == new
    assert gw not in follow.text() and new not in follow.text()


def test_copy_with_other_key_name(run, tmp_path):
    gw = token()
    src = tmp_path / "gateway.env"
    src.write_text("%s=%s\n" % (GATEWAY, gw))
    result = run(
        path=str(tmp_path / "b.env"),
        key="GATEWAY_BEARER_TOKEN",
        source=dict(path=str(src), key=GATEWAY),
    )
    assert result["source"] == "copied"
    assert read_env(tmp_path / "b.env") == {"GATEWAY_BEARER_TOKEN": gw}


def test_copy_missing_source_file(run, tmp_path):
    args = dict(
        path=str(tmp_path / "b.env"), key=GATEWAY, source=dict(path=str(tmp_path / "no.env"))
    )
    failed = run(**args)
    assert failed.kind == "fail"
    assert "source file" in failed["msg"] and "does not exist" in failed["msg"]
    check = run(check=True, **args)
    assert check.kind == "exit" and check.changed
    assert check["source"] == "copied" and check["value"] is None
    assert not (tmp_path / "b.env").exists()


@pytest.mark.parametrize(
    "content", ["OTHER=1\n", "%s=replace_with_strong_random_token\n" % GATEWAY]
)
def test_copy_missing_source_key(run, tmp_path, content):
    src = tmp_path / "gateway.env"
    src.write_text(content)
    args = dict(path=str(tmp_path / "b.env"), key=GATEWAY, source=dict(path=str(src)))
    failed = run(**args)
    assert failed.kind == "fail" and "has no value for %s" % GATEWAY in failed["msg"]
    check = run(check=True, **args)
    assert check.kind == "exit" and check.changed and check["value"] is None


def test_value_and_source_are_mutually_exclusive(run, tmp_path):
    result = run(path=str(tmp_path / "e"), key="K", value=token(), source=dict(path="/x"))
    assert result.kind == "fail" and "mutually exclusive" in result["msg"]


# --- permissions --------------------------------------------------------------------------


def test_permissions_are_fixed_even_when_value_is_unchanged(run, tmp_path):
    value = token()
    env = tmp_path / ".env"
    env.write_text("%s=%s\n" % (GATEWAY, value))
    env.chmod(0o644)
    args = dict(path=str(env), key=GATEWAY)

    check = run(check=True, **args)
    assert check.changed and check["source"] == "existing"
    assert mode_of(env) == 0o644
    assert check["diff"][-1]["before"]["mode"] == "0644"
    assert check["diff"][-1]["after"]["mode"] == "0600"

    applied = run(**args)
    assert applied.changed and applied["value"] == value
    assert mode_of(env) == 0o600
    assert read_env(env) == {GATEWAY: value}

    assert not run(check=True, **args).changed
    assert not run(**args).changed


def test_custom_mode_and_owner(run, tmp_path):
    env = tmp_path / ".env"
    uid, gid = os.getuid(), os.getgid()
    result = run(path=str(env), key=GATEWAY, mode="0640", owner=str(uid), group=str(gid))
    assert result.changed and mode_of(env) == 0o640
    assert (os.stat(env).st_uid, os.stat(env).st_gid) == (uid, gid)
    assert not run(path=str(env), key=GATEWAY, mode="0640", owner=str(uid), group=str(gid)).changed


@pytest.mark.skipif(os.geteuid() != 0, reason="changing the group needs root")
def test_group_is_enforced(run, tmp_path):
    env = tmp_path / ".env"
    run(path=str(env), key=GATEWAY)
    result = run(path=str(env), key=GATEWAY, group="65534")
    assert result.changed and os.stat(env).st_gid == 65534
    assert not run(path=str(env), key=GATEWAY, group="65534").changed


def test_new_file_is_never_world_readable(run, tmp_path, monkeypatch):
    """Even between the atomic rename and the chmod, a new file is private."""
    seen = []
    real_replace = fileops.os.replace

    def spy(src, dest, *args, **kwargs):
        real_replace(src, dest, *args, **kwargs)
        seen.append(mode_of(dest))

    monkeypatch.setattr(fileops.os, "replace", spy)
    old_umask = os.umask(0o022)
    try:
        run(path=str(tmp_path / ".env"), key=GATEWAY, mode="0644")
    finally:
        os.umask(old_umask)
    assert seen == [0o600]
    assert mode_of(tmp_path / ".env") == 0o644


# --- check mode, diff, failures -------------------------------------------------------------


def test_check_mode_writes_nothing(run, tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    env = target / ".env"
    env.write_text("# x\nOPENCLAW_VERSION=1\n")
    env.chmod(0o644)
    seed = seed_env(tmp_path)
    before = snapshot(target)
    for args in (
        dict(key=GATEWAY),
        dict(key=GATEWAY, rotate=True),
        dict(key=GATEWAY, value=token()),
        dict(key=GATEWAY, adopt_from=[str(seed)]),
        dict(key=GATEWAY, source=dict(path=str(seed))),
        dict(key="NEW_KEY", path=str(target / "new.env")),
    ):
        args.setdefault("path", str(env))
        result = run(check=True, **args)
        assert result.kind == "exit" and result.changed
        assert snapshot(target) == before


def test_diff_is_masked(run, tmp_path):
    old, other = token(), token()
    env = tmp_path / ".env"
    env.write_text("# comment stays visible\nOTHER_SECRET=%s\n%s=%s\n" % (other, BACKEND, old))
    env.chmod(0o600)
    result = run(path=str(env), key=GATEWAY)
    diff = result["diff"][0]
    assert diff["before"] == (
        "# comment stays visible\nOTHER_SECRET=********\nBACKEND_API_TOKEN=********\n"
    )
    assert diff["after"] == diff["before"] + "OPENCLAW_GATEWAY_TOKEN=********\n"
    shown = result.text()
    for secret in (old, other, result["value"]):
        assert secret not in shown
    assert len(result["diff"]) == 1  # no permission change


def test_no_diff_without_diff_mode(run, tmp_path):
    result = run(diff=False, path=str(tmp_path / ".env"), key=GATEWAY)
    assert "diff" not in result.data


def test_diff_of_new_file_in_check_mode(run, tmp_path):
    result = run(check=True, path=str(tmp_path / ".env"), key=GATEWAY)
    assert result["diff"][0]["before"] == ""
    assert result["diff"][0]["after"] == "OPENCLAW_GATEWAY_TOKEN=********\n"


def test_missing_parent_directory(run, tmp_path):
    path = tmp_path / "missing" / ".env"
    failed = run(path=str(path), key=GATEWAY)
    assert failed.kind == "fail"
    assert "does not exist; create it first" in failed["msg"]
    assert str(tmp_path / "missing") in failed["msg"]
    # in check mode the directory may come from an earlier task of the same run
    check = run(check=True, path=str(path), key=GATEWAY)
    assert check.kind == "exit" and check.changed and check["value"] is None


def test_path_is_a_directory(run, tmp_path):
    failed = run(path=str(tmp_path), key=GATEWAY)
    assert failed.kind == "fail" and "is not a regular file" in failed["msg"]


def test_unparseable_file_fails_without_leaking(run, tmp_path):
    secret = token()
    env = tmp_path / ".env"
    env.write_text("%s='%s\n" % (GATEWAY, secret))
    failed = run(path=str(env), key=GATEWAY)
    assert failed.kind == "fail" and "not terminated" in failed["msg"]
    assert secret not in failed.text()


def test_symlink_is_followed(run, tmp_path):
    real = tmp_path / "real.env"
    real.write_text("A=1\n")
    link = tmp_path / "link.env"
    link.symlink_to(real)
    result = run(path=str(link), key=GATEWAY)
    assert result.changed and link.is_symlink()
    assert read_env(real) == {"A": "1", GATEWAY: result["value"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(key="not-valid"), "invalid environment variable name"),
        (dict(key=GATEWAY, length=16), "length must be at least 32"),
        (dict(key=GATEWAY, source=dict(path="/x", key="bad key")), "source.key"),
    ],
)
def test_invalid_arguments(run, tmp_path, args, message):
    result = run(path=str(tmp_path / ".env"), **args)
    assert result.kind == "fail" and message in result["msg"]


def test_real_exit_path_hides_secret_outside_value(tmp_path, capsys):
    """Without patching exit_json: what reaches Ansible has the secret only in `value`."""
    weak = "weak" + secrets.token_hex(4)
    env = tmp_path / ".env"
    env.write_text("%s=%s\n" % (GATEWAY, weak))
    env.chmod(0o644)
    args = dict(path=str(env), key=GATEWAY, _ansible_diff=True)
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        openclaw_secret.main()
    assert exited.value.code == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["value"] == weak and result["changed"] is True
    # in a controller process warnings go to the display; on a target into the result
    warnings = json.dumps(result.get("warnings", [])) + captured.err
    assert "rotate: true" in warnings
    del result["value"]
    assert weak not in json.dumps(result) + captured.err

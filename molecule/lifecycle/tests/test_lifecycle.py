"""The version lifecycle of gateway instance `main`, driven with the real playbooks.

The tests run in file order and each one starts from the state the previous one left:
A deployed (converge) -> upgrade to B -> rollback to A -> upgrade to a release that
cannot start (automatic rollback) -> backup -> tampered archive refused -> wipe -> restore.
Every stable point is checked for idempotence with a second run that must change nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess

import plays
import pytest
import testinfra.utils.ansible_runner
from plays import changed, said

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts(
    "openclaw_hosts"
)

PROJECT = os.environ["MOLECULE_PROJECT_DIRECTORY"]
SCENARIO = os.path.join(PROJECT, "molecule", "lifecycle")
ROOT = "/opt/openclaw-assistant"
INSTANCE = f"{ROOT}/instances/main"
HISTORY = f"{ROOT}/releases/main.json"
BACKUPS = f"{ROOT}/backups"
A = os.environ.get("CLAWDEPLOY_LIFECYCLE_FROM") or "2026.8.2"
B = os.environ.get("CLAWDEPLOY_LIFECYCLE_TO") or "2026.9.6"
BROKEN = f"{B}-broken"
MARKER = f"{INSTANCE}/data/openclaw_workspace/written-under-{A}.txt"
MARKER_TEXT = f"notes written while OpenClaw {A} ran\n"
HOST = testinfra.get_host(f"ansible://{testinfra_hosts[0]}?ansible_inventory={INVENTORY}")


def play(playbook: str, *args: str) -> subprocess.CompletedProcess:
    """Run one of the collection's playbooks at version A's pin, verbosely, secrets scanned."""
    return plays.play(HOST, playbook, *args, env={"OPENCLAW_VERSION": A})


def converge(version: str, *args: str) -> subprocess.CompletedProcess:
    """The scenario's deploy play pinned at ``version``."""
    pin = f"gateway_openclaw_version={version}"
    return play(os.path.join(SCENARIO, "converge.yml"), "-e", pin, *args)


def history(host) -> dict:
    return json.loads(host.file(HISTORY).content_string)


def current(host) -> dict:
    hist = history(host)
    return next(r for r in hist["releases"] if r["id"] == hist["current"])


def running_version(host) -> str:
    image = host.check_output("docker inspect -f '{{.Config.Image}}' openclaw-gateway-main")
    return image.rsplit(":", 1)[1]


def token(host) -> str:
    for line in host.file(f"{INSTANCE}/.env").content_string.splitlines():
        if line.startswith("OPENCLAW_GATEWAY_TOKEN="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("no gateway token")


def responses_ok(host) -> bool:
    """A real POST /v1/responses through the gateway to the stub provider."""
    body = json.dumps({"model": "openclaw", "input": "ping"})
    cmd = host.run(
        "curl -sS -m 90 -o /tmp/lc-body -w '%%{http_code}' -H %s "
        "-H 'Content-Type: application/json' -d %s http://127.0.0.1:18789/v1/responses"
        % (shlex.quote("Authorization: Bearer " + token(host)), shlex.quote(body))
    )
    text = host.file("/tmp/lc-body").content_string if cmd.rc == 0 else cmd.stderr
    return cmd.stdout == "200" and "pong from stub" in text


def backups(host) -> list[str]:
    out = host.check_output(f"ls -1 {BACKUPS}")
    return sorted(f"{BACKUPS}/{name}" for name in out.split() if name.startswith("main-"))


def manifest(host, path: str) -> dict:
    raw = host.check_output(f"tar -xzOf {shlex.quote(path)} manifest.json")
    return json.loads(raw)


@pytest.fixture(scope="module")
def original_token(host) -> str:
    return token(host)


def test_a_is_deployed_and_recorded(host, original_token):
    assert running_version(host) == A
    release = current(host)
    assert release["version"] == A and release["status"] == "active"
    assert host.file(HISTORY).mode == 0o600
    assert responses_ok(host)
    # Data of version A that must survive the upgrade and come back with the rollback.
    host.check_output(
        f"printf %s {shlex.quote(MARKER_TEXT)} > {MARKER} && chown openclaw-gateway: {MARKER}"
    )
    assert original_token


def test_upgrade_check_mode_changes_nothing(host):
    before = history(host)
    result = play("upgrade.yml", "--check", "--diff", "-e", f"openclaw_version={B}")
    assert result.returncode == 0
    assert f"would go from OpenClaw {A} to {B}" in said(result)
    assert history(host) == before
    assert running_version(host) == A
    assert host.run(f"ls {BACKUPS}/main-*.tar.gz").rc != 0


def test_upgrade_to_b_keeps_data_and_tokens(host, original_token):
    result = play("upgrade.yml", "-e", f"openclaw_version={B}")
    assert result.returncode == 0
    assert f"upgraded from {A} to {B}" in said(result)
    assert running_version(host) == B
    hist = history(host)
    release = current(host)
    assert release["version"] == B
    previous = next(r for r in hist["releases"] if r["id"] == hist["previous"])
    assert previous["version"] == A
    # The pre-upgrade state: a quiesced archive taken by version A, private.
    archive = host.file(release["backup_path"])
    assert archive.exists and archive.mode == 0o600 and archive.user == "root"
    assert manifest(host, release["backup_path"])["openclaw_version"] == A
    assert host.file(MARKER).content_string == MARKER_TEXT
    assert token(host) == original_token
    assert responses_ok(host)


def test_b_is_a_stable_point(host):
    assert changed(converge(B)) == 0
    assert changed(play("upgrade.yml", "-e", f"openclaw_version={B}")) == 0


def test_deploy_refuses_to_change_the_version(host):
    before = history(host)
    result = converge(A)
    assert result.returncode != 0
    assert f"runs OpenClaw {B} but this play asks for {A}" in said(result)
    assert "playbooks/upgrade.yml" in said(result)
    assert history(host) == before
    assert running_version(host) == B


def test_rollback_check_mode_changes_nothing(host):
    before = history(host)
    result = play("rollback.yml", "--check")
    assert result.returncode == 0
    assert "would go back from" in said(result)
    assert history(host) == before
    assert running_version(host) == B


def test_rollback_to_a_with_its_state(host, original_token):
    b_release = current(host)
    result = play("rollback.yml")
    assert result.returncode == 0
    assert f"rolled back from {B} to {A}" in said(result)
    assert running_version(host) == A
    assert current(host)["version"] == A
    rolled = next(r for r in history(host)["releases"] if r["id"] == b_release["id"])
    assert rolled["status"] == "rolled_back"
    assert host.file(MARKER).content_string == MARKER_TEXT
    assert token(host) == original_token
    # What B wrote is set aside, not deleted.
    assert host.run(f"ls -d {ROOT}/set-aside/main/*/data/openclaw_home").rc == 0
    assert responses_ok(host)


def test_a_is_a_stable_point_after_the_rollback(host):
    assert changed(converge(A)) == 0


def test_failed_upgrade_rolls_back_automatically(host, original_token):
    result = play(
        "upgrade.yml", "-e", f"openclaw_version={BROKEN}", "-e", "gateway_upgrade_deadline=45"
    )
    assert result.returncode != 0
    assert f"to {BROKEN} FAILED" in said(result)
    assert f"Automatic rollback to {A} done, and the instance answers ok" in said(result)
    assert "fails at gateway start" in said(result)  # the failed release's own log line
    assert running_version(host) == A
    hist = history(host)
    assert current(host)["version"] == A
    assert [r["status"] for r in hist["releases"] if r["version"] == BROKEN] == ["failed"]
    assert host.file(MARKER).content_string == MARKER_TEXT
    assert token(host) == original_token
    assert responses_ok(host)


def test_a_is_a_stable_point_after_the_failed_upgrade(host):
    assert changed(converge(A)) == 0


def test_backup_is_a_private_archive_with_a_manifest(host):
    before = backups(host)
    result = play("backup.yml")
    assert result.returncode == 0
    new = sorted(set(backups(host)) - set(before))
    assert len(new) == 1
    archive = host.file(new[0])
    assert archive.mode == 0o600 and archive.user == "root"
    data = manifest(host, new[0])
    assert data["instance"] == "main" and data["openclaw_version"] == A
    entries = {e["path"]: e for e in data["entries"]}
    assert entries[".env"]["mode"] == "0600"
    assert entries["data/openclaw_home"]["user"] == "openclaw-gateway"
    assert f"data/openclaw_workspace/written-under-{A}.txt" in entries
    assert not any(p.startswith("staging") for p in entries)
    assert host.service("docker").is_running
    assert responses_ok(host)


TAMPER = """
import sys, tarfile
src_path, dst_path, victim = sys.argv[1:]
with tarfile.open(src_path, "r:gz") as src, tarfile.open(dst_path, "w:gz") as dst:
    for member in src.getmembers():
        data = src.extractfile(member) if member.isfile() else None
        if member.name.endswith(victim):
            import io
            data = io.BytesIO(b"tampered\\n")
            member.size = 9
        dst.addfile(member, data)
"""


def test_restore_refuses_a_tampered_archive(host):
    # The newest archive with one file's bytes changed and its manifest left as it was.
    tampered = f"{BACKUPS}/tampered-main.tar.gz"
    host.check_output(
        "python3 -c %s %s %s %s && chmod 600 %s"
        % (
            shlex.quote(TAMPER),
            shlex.quote(backups(host)[-1]),
            tampered,
            MARKER.rsplit("/", 1)[1],
            tampered,
        )
    )
    before = hashlib.sha256(host.file(MARKER).content).hexdigest()
    result = play("restore.yml", "-e", f"gateway_restore_archive={tampered}")
    assert result.returncode != 0
    assert "does not match its manifest" in said(result)
    assert hashlib.sha256(host.file(MARKER).content).hexdigest() == before
    assert running_version(host) == A
    assert responses_ok(host)
    host.check_output(f"rm -f {tampered}")


def test_wipe_then_restore_gives_identical_files(host, original_token):
    archive = backups(host)[-1]
    data = manifest(host, archive)
    host.check_output(f"docker stop openclaw-gateway-main; rm -rf {INSTANCE}/data {INSTANCE}/.env")
    result = play("restore.yml", "-e", "gateway_restore_start=false")
    assert result.returncode == 0
    for entry in data["entries"]:
        path = f"{INSTANCE}/{entry['path']}"
        f = host.file(path)
        assert f.exists, path
        assert "%04o" % f.mode == entry["mode"], path
        if entry["type"] == "file":
            assert f.sha256sum == entry["sha256"], path
    assert token(host) == original_token


def test_restored_instance_serves_and_is_a_stable_point(host, original_token):
    converge(A)
    assert running_version(host) == A
    assert responses_ok(host)
    assert host.file(MARKER).content_string == MARKER_TEXT
    assert changed(converge(A)) == 0


def test_no_secret_in_the_verbose_scenario_output(host):
    # Every play above was scanned by plays.play; this covers Molecule's own runs.
    assert plays.host_secrets(host)
    plays.assert_scenario_log_clean(host)

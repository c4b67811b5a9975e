"""The image the gateway role built on the host from npm is the pinned OpenClaw, and an
instance runs from it."""

from __future__ import annotations

import json
import os
import time

import plays
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("openclaw_hosts")

VERSION = os.environ.get("OPENCLAW_VERSION") or "2026.9.6"
IMAGE = f"local/openclaw-built:{VERSION}"
ROOT = "/opt/openclaw-assistant"
SCENARIO = os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "build")
UNPUBLISHED = "2026.1.2"


def test_image_was_built_on_the_host_with_the_pinned_version(host):
    info = json.loads(host.check_output(f"docker image inspect {IMAGE}"))[0]
    assert info["Config"]["Labels"]["org.opencontainers.image.version"] == VERSION
    assert info["Config"]["User"] == "1000:1000"
    out = host.check_output(f"docker run --rm --network none {IMAGE} openclaw --version")
    assert out.startswith(f"OpenClaw {VERSION}")


def test_build_context_left_no_ca_in_the_final_filesystem(host):
    cmd = host.run(f"docker run --rm --network none {IMAGE} ls /tmp/build-ca")
    assert cmd.rc != 0


def test_instance_runs_from_the_built_image(host):
    state = ""
    for _attempt in range(40):
        state = host.check_output(
            "docker inspect -f '{{.Config.Image}} {{.State.Health.Status}}' openclaw-gateway-built"
        )
        if state.endswith("healthy") and not state.endswith("unhealthy"):
            break
        time.sleep(3)
    assert state == f"{IMAGE} healthy"
    body = host.check_output("curl -sS http://127.0.0.1:18801/healthz")
    assert json.loads(body) == {"ok": True, "status": "live"}


def test_engine_installed_by_someone_else_is_left_alone(host):
    assert host.service("docker").is_running
    assert not host.file("/etc/clawdeploy/docker-engine.managed").exists


def test_no_secret_in_the_verbose_scenario_output(host):
    assert plays.host_secrets(host)  # the built instance's gateway token at least
    plays.assert_scenario_log_clean(host)


def test_a_version_npm_does_not_have_is_refused_before_anything_changes(host):
    # 2026.1.2 is a real date on which no openclaw was published (npm view openclaw versions).
    instances = [
        {"name": "built", "port": 18801},
        {"name": "unpublished", "port": 18802, "version": UNPUBLISHED},
    ]
    before = host.check_output(f"ls -1 {ROOT}/instances")
    extra = json.dumps({"gateway_instances": instances})
    result = plays.play(host, os.path.join(SCENARIO, "converge.yml"), "-e", extra)
    assert result.returncode != 0
    assert f"npm has no openclaw@{UNPUBLISHED}" in plays.said(result)
    assert host.check_output(f"ls -1 {ROOT}/instances") == before
    assert not host.file(f"{ROOT}/instances/unpublished").exists
    assert host.run("docker inspect openclaw-gateway-unpublished").rc != 0

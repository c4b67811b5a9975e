"""Bad input and faults on the converged demo host (issue 9): every playbook run here goes
through molecule/shared/plays.py at -vvv, and its whole output is searched for the host's
secrets. Each test leaves the host as it found it: the deployed stack, answering.

Runs after test_default.py (file order), on the host that scenario converged.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shlex
import time

import plays
import pytest
import testinfra.utils.ansible_runner
from plays import said

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(plays.INVENTORY).get_hosts(
    "openclaw_hosts"
)

ROOT = "/opt/openclaw-assistant"
INSTANCE = f"{ROOT}/instances/main"
CONTAINER = "openclaw-gateway-main"
BACKEND_ENV = f"{ROOT}/backend-service/backend.env"
HISTORY = f"{ROOT}/releases/main.json"
# What a deploy writes for instance main, and the backend-service's copy of its token.
FILES = [
    f"{INSTANCE}/.env",
    f"{INSTANCE}/config/openclaw_sidecar.config.json5",
    f"{INSTANCE}/openclaw_sidecar.compose.yml",
    BACKEND_ENV,
    HISTORY,
]
MAIN = {"name": "main", "port": 18789}
WEAK = "OPENCLAW_GATEWAY_TOKEN=abc"


def stub_provider(api_key: str) -> dict:
    """The demo inventory's stub provider (inventories/demo) with another ``api_key``."""
    return {
        "stub": {
            "base_url": "http://host.docker.internal:18790/v1",
            "api": "openai-completions",
            "api_key": api_key,
            "models": [{"id": "stub-model", "name": "Stub Model"}],
        }
    }


def deploy(host, extra: dict, **kwargs):
    """playbooks/deploy.yml with ``extra`` as extra vars (from a file), verbose and scanned."""
    with plays.extra_vars_file(extra) as path:
        return plays.play(host, "deploy.yml", "-e", "@" + path, **kwargs)


def digests(host) -> dict[str, str]:
    return {path: hashlib.sha256(host.file(path).content).hexdigest() for path in FILES}


def started_at(host) -> str:
    return host.check_output(f"docker inspect -f '{{{{.State.StartedAt}}}}' {CONTAINER}")


def wait_healthy(host, seconds: int = 180) -> str:
    state = ""
    for _attempt in range(seconds // 3):
        state = host.check_output(f"docker inspect -f '{{{{.State.Health.Status}}}}' {CONTAINER}")
        if state == "healthy":
            break
        time.sleep(3)
    return state


def responses_ok(host) -> bool:
    """A real POST /v1/responses through the gateway to the stub provider."""
    token = plays.host_secrets(host)[f"{INSTANCE}/.env:OPENCLAW_GATEWAY_TOKEN"]
    body = json.dumps({"model": "openclaw", "input": "ping"})
    cmd = host.run(
        "curl -sS -m 90 -o /tmp/rel-body -w '%%{http_code}' -H %s "
        "-H 'Content-Type: application/json' -d %s http://127.0.0.1:18789/v1/responses"
        % (shlex.quote("Authorization: Bearer " + token), shlex.quote(body))
    )
    text = host.file("/tmp/rel-body").content_string if cmd.rc == 0 else cmd.stderr
    return cmd.stdout == "200" and "pong from stub" in text


@pytest.fixture()
def untouched(host):
    """Asserts the test changed none of the deployed files and did not restart the gateway."""
    before, since = digests(host), started_at(host)
    yield
    assert digests(host) == before
    assert started_at(host) == since


def test_status_and_check_mode_print_no_secret_at_vvv(host):
    status = plays.play(host, "status.yml")
    assert status.returncode == 0
    assert "running/healthy" in said(status)
    assert plays.play(host, "status.yml", "--check").returncode == 0
    check = plays.play(host, "deploy.yml", "--check", "--diff")
    assert check.returncode == 0


def test_a_blank_provider_key_is_refused_before_anything_changes(host, untouched):
    result = deploy(host, {"gateway_providers": stub_provider("   ")})
    assert result.returncode != 0
    assert "provider stub has an empty api_key" in said(result)


def test_a_deploy_that_breaks_the_gateway_puts_the_previous_one_back(host):
    wrong = "wrong-" + secrets.token_hex(20)
    before = digests(host)
    result = deploy(
        host, {"gateway_providers": stub_provider(wrong)}, extra_secrets={"the wrong key": wrong}
    )
    assert result.returncode != 0
    assert "upstream_model_error" in said(result)
    assert "restored the previous configuration" in said(result)
    # Config, compose file, .env (the right key) and the release history as they were:
    # the broken deploy is not a release to roll back to.
    assert digests(host) == before
    assert wrong not in host.file(f"{INSTANCE}/.env").content_string
    assert wait_healthy(host) == "healthy"
    assert responses_ok(host)


def test_a_port_another_process_listens_on_is_refused_naming_it(host, untouched):
    holder = host.check_output("ss -Hltnp 'sport = :18889'")
    process = holder.split('(("', 1)[1].split('"', 1)[0]
    result = deploy(host, {"gateway_instances": [MAIN, {"name": "extra", "port": 18889}]})
    assert result.returncode != 0
    assert "instance extra: port 18889" in said(result)
    assert f"{process} (pid " in said(result)
    assert not host.file(f"{ROOT}/instances/extra").exists


def test_a_new_instance_that_cannot_start_leaves_nothing_behind(host, untouched):
    extra = {"name": "extra", "port": 18795, "extra_hosts": ["broken.invalid:999.0.0.1"]}
    result = deploy(host, {"gateway_instances": [MAIN, extra]})
    assert result.returncode != 0
    assert "Instance extra could not be brought to started" in said(result)
    assert "nothing is left of it" in said(result)
    assert not host.file(f"{ROOT}/instances/extra").exists
    assert not host.file(f"{ROOT}/releases/extra.json").exists
    names = host.check_output("docker ps -a --format '{{.Names}}'").split()
    assert "openclaw-gateway-extra" not in names


def test_a_weak_token_on_the_host_is_refused_with_the_fix(host):
    env = f"{INSTANCE}/.env"
    host.check_output(f"cp -a {env} /root/main.env.saved")
    backend_before = hashlib.sha256(host.file(BACKEND_ENV).content).hexdigest()
    try:
        host.check_output(f"sed -i 's/^OPENCLAW_GATEWAY_TOKEN=.*/{WEAK}/' {env}")
        result = deploy(host, {})
        assert result.returncode != 0
        assert "shorter than 32 characters" in said(result)
        assert "gateway_token_rotate: true" in said(result)
        assert WEAK in host.file(env).content_string  # not rewritten
        assert hashlib.sha256(host.file(BACKEND_ENV).content).hexdigest() == backend_before
    finally:
        host.check_output(f"cp -a /root/main.env.saved {env} && rm -f /root/main.env.saved")


def test_status_shows_a_starting_gateway_and_strict_status_waits_for_it(host):
    host.check_output(f"docker restart {CONTAINER}")
    loose = plays.play(host, "status.yml", "-e", "clawdeploy_status_strict=false")
    assert loose.returncode == 0
    assert "running/starting" in said(loose)
    strict = plays.play(host, "status.yml")
    assert strict.returncode == 0
    assert "running/healthy" in said(strict)
    assert wait_healthy(host) == "healthy"
    assert responses_ok(host)

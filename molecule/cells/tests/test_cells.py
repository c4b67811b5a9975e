"""Verify the cells of the team (molecule/cells/vars/team.yml) on the two converged test hosts:
ports allocated from the range and kept, a clash refused in preflight with both hosts
unchanged, each cell on its own Docker network unable to reach another's gateway, and
every gateway answering /healthz on loopback and a real POST /v1/responses."""

from __future__ import annotations

import json
import os
import shlex

import plays
import pytest
import testinfra
import yaml
from plays import said

INVENTORY = plays.INVENTORY
ROOT = "/opt/openclaw-assistant"
RECORD = f"{ROOT}/ports.json"
TEAM_FILE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "vars", "team.yml")
FIRST, LAST = 18800, 18819  # team.yml's gateway_port_range
STUB_REPLY = "pong from stub"
A, B = "clawdeploy-cells-a", "clawdeploy-cells-b"
# What runs where: instance name -> (host, explicit port or None).
GATEWAYS = {
    "main": (A, 18789),
    "wang-xiaoming": (A, None),
    "bob": (B, None),
    "carol": (B, 18850),
}
# Pings a TCP port from inside a gateway container (the image has node, no curl).
CONNECT = (
    "const s=require('net').connect({host:process.argv[1],port:+process.argv[2],timeout:3000});"
    "s.on('connect',()=>{console.log('open');process.exit(0)});"
    "s.on('timeout',()=>{console.log('timeout');process.exit(1)});"
    "s.on('error',e=>{console.log(e.code);process.exit(1)})"
)


def host_of(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


@pytest.fixture(scope="module")
def hosts():
    return {A: host_of(A), B: host_of(B)}


def record(host) -> dict:
    return json.loads(host.file(RECORD).content_string)


@pytest.fixture(scope="module")
def ports(hosts) -> dict[str, int]:
    """Each gateway's port: the explicit one, or the one the host's record gives."""
    out = {}
    for name, (where, port) in GATEWAYS.items():
        out[name] = port if port else record(hosts[where])[name]
    return out


def token(host, name: str) -> str:
    return plays.host_secrets(host)[f"{ROOT}/instances/{name}/.env:OPENCLAW_GATEWAY_TOKEN"]


def connect(host, container: str, address: str, port: int) -> str:
    """'open', 'timeout' or the error code of a TCP connect from inside ``container``."""
    cmd = host.run(
        "docker exec %s node -e %s %s %d"
        % (container, shlex.quote(CONNECT), shlex.quote(address), port)
    )
    return cmd.stdout.strip() or cmd.stderr.strip()


def inspect(host, container: str) -> dict:
    return json.loads(host.check_output(f"docker inspect {container}"))[0]


def play_team(hosts, team: dict, *args: str):
    """playbooks/deploy.yml with ``team`` as the extra vars (in place of team.yml)."""
    secrets = dict(plays.host_secrets(hosts[B]))
    with plays.extra_vars_file(team) as path:
        return plays.play(hosts[A], "deploy.yml", "-e", "@" + path, *args, extra_secrets=secrets)


def the_team() -> dict:
    with open(TEAM_FILE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def snapshot(host) -> str:
    """Every file ClawDeploy wrote (not the gateways' own state) with its checksum, and
    when each container started."""
    files = host.check_output(
        f"find {ROOT} -path '*/data' -prune -o -type f -print0 | sort -z | xargs -0 sha256sum"
    )
    started = host.check_output(
        "docker ps -aq | xargs docker inspect -f '{{.Name}} {{.State.StartedAt}}'"
    )
    return files + "\n" + started


def test_ports_come_from_the_range_and_are_recorded(hosts, ports):
    assert record(hosts[A]) == {"wang-xiaoming": ports["wang-xiaoming"]}
    # carol gives her port: it is hers, not the record's.
    assert record(hosts[B]) == {"bob": ports["bob"]}
    for name in ("wang-xiaoming", "bob"):
        assert FIRST <= ports[name] <= LAST
        where = GATEWAYS[name][0]
        compose = hosts[where].file(f"{ROOT}/instances/{name}/openclaw_sidecar.compose.yml")
        assert f'"127.0.0.1:{ports[name]}:18789"' in compose.content_string
    assert hosts[A].file(RECORD).mode == 0o644


def test_the_second_converge_kept_the_ports(hosts):
    """converge.yml copied the record the first converge wrote; idempotence (a second
    converge, changed=0) left the record exactly as it was."""
    for host in hosts.values():
        first = host.file("/opt/clawdeploy-test/ports.first.json").content_string
        assert host.file(RECORD).content_string == first


@pytest.mark.parametrize("name", sorted(GATEWAYS))
def test_each_gateway_answers_healthz_on_loopback_only(hosts, ports, name):
    host = hosts[GATEWAYS[name][0]]
    port = ports[name]
    listeners = [
        line.split()[3]
        for line in host.check_output("ss -Hltn").splitlines()
        if line.split()[3].endswith(f":{port}")
    ]
    assert listeners and all(addr == f"127.0.0.1:{port}" for addr in listeners), listeners
    status = host.check_output(
        f"curl -s -o /dev/null -w '%{{http_code}}' -m 10 http://127.0.0.1:{port}/healthz"
    )
    assert status == "200"


@pytest.mark.parametrize("name", sorted(GATEWAYS))
def test_each_gateway_answers_a_real_responses_request(hosts, ports, name):
    host = hosts[GATEWAYS[name][0]]
    body = json.dumps({"model": "openclaw", "input": "ping"})
    cmd = host.run(
        "curl -sS -m 90 -o /tmp/cells-body -w '%%{http_code}' -H %s "
        "-H 'Content-Type: application/json' -d %s http://127.0.0.1:%d/v1/responses"
        % (
            shlex.quote("Authorization: Bearer " + token(host, name)),
            shlex.quote(body),
            ports[name],
        )
    )
    assert cmd.rc == 0, cmd.stderr
    text = host.file("/tmp/cells-body").content_string
    assert cmd.stdout == "200", text[:300]
    assert STUB_REPLY in text


def test_each_cell_has_its_own_token(hosts):
    tokens = [token(hosts[where], name) for name, (where, _port) in GATEWAYS.items()]
    assert len(set(tokens)) == len(tokens)


def test_limits_and_the_display_name_reach_the_containers(hosts):
    bob = inspect(hosts[B], "openclaw-gateway-bob")["HostConfig"]
    assert bob["NanoCpus"] == 1_500_000_000
    assert bob["Memory"] == 1800 * 1024**2
    carol = inspect(hosts[B], "openclaw-gateway-carol")
    assert carol["HostConfig"]["PidsLimit"] == 256
    assert carol["HostConfig"]["NanoCpus"] == 0  # no cpus given: no limit
    labels = inspect(hosts[A], "openclaw-gateway-wang-xiaoming")["Config"]["Labels"]
    assert labels["com.clawdeploy.display-name"] == "王小明"
    assert labels["com.clawdeploy.cell"] == "wang-xiaoming"
    main = inspect(hosts[A], "openclaw-gateway-main")["Config"]["Labels"]
    assert "com.clawdeploy.cell" not in main  # the classic instance is not a cell


@pytest.mark.parametrize(
    ("where", "one", "other"), [(A, "wang-xiaoming", "main"), (B, "bob", "carol")]
)
def test_no_gateway_reaches_another_over_a_container_network(hosts, ports, where, one, other):
    """Each Compose project has its own bridge network. From one's container, the other's
    gateway is unreachable both on its container address and on its published port through
    the host's gateway address; its own gateway and the stub on the host answer."""
    host = hosts[where]
    mine, theirs = (
        inspect(host, f"openclaw-gateway-{one}"),
        inspect(host, f"openclaw-gateway-{other}"),
    )
    my_nets = mine["NetworkSettings"]["Networks"]
    their_nets = theirs["NetworkSettings"]["Networks"]
    assert list(my_nets) == [f"openclaw-{one}_default"]
    assert list(their_nets) == [f"openclaw-{other}_default"]
    their_address = next(iter(their_nets.values()))["IPAddress"]
    container = f"openclaw-gateway-{one}"
    # The controls: the network works, so a refusal below is the isolation.
    assert connect(host, container, "127.0.0.1", 18789) == "open"
    assert connect(host, container, "host.docker.internal", 18790) == "open"
    assert connect(host, f"openclaw-gateway-{other}", "127.0.0.1", 18789) == "open"
    assert connect(host, container, their_address, 18789) != "open"
    assert connect(host, container, "host.docker.internal", ports[other]) != "open"


def test_a_port_clash_is_refused_in_preflight_and_nothing_changes(hosts):
    """Two explicit users of one port (main's 18789 given to a cell) on the first host, and a
    port a process of the host listens on (the stub's 18790) on the second: both refused
    before anything changes, each message naming both users of the port."""
    team = the_team()
    cells = team["gateway_cells"]
    cells[0] = dict(cells[0], port=18789)
    cells[1] = dict(cells[1], port=18790)
    before = {name: snapshot(host) for name, host in hosts.items()}
    result = play_team(hosts, team)
    assert result.returncode != 0
    out = said(result)
    assert (
        "port 18789 on host clawdeploy-cells-a is given to instance main and cell wang-xiaoming"
        in out
    )
    assert "instance bob: port 18790 is already in use on this host by python3 (pid " in out
    assert {name: snapshot(host) for name, host in hosts.items()} == before
    assert not hosts[B].file(f"{ROOT}/instances/wang-xiaoming").exists


def test_no_secret_in_the_verbose_scenario_output(hosts):
    plays.assert_scenario_log_clean(hosts[A], plays.host_secrets(hosts[B]))

"""Bad input fails before anything on the host changes, with a message that says what to
fix: the gateway role's preflight and argument specs, run for real by ansible-playbook on
the controller (preflight only asserts, it changes nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
GOOD = {
    "gateway_instances": [{"name": "main", "port": 18789}],
    "gateway_providers": {"stub": {"base_url": "http://h:1/v1", "models": [{"id": "m"}]}},
    "gateway_default_model": "stub/m",
}


def run_role(tmp_path: Path, variables: dict, tasks_from: str | None = "preflight/deploy.yml"):
    include = {"name": "clawdeploy.openclaw.gateway"}
    if tasks_from:
        include["tasks_from"] = tasks_from
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "tasks": [{"ansible.builtin.include_role": include}],
        }
    ]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".cache" / "collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
    }
    bindir = Path(sys.executable).parent
    argv = [
        str(bindir / "ansible-playbook"),
        "-i",
        "localhost,",
        str(tmp_path / "play.yml"),
        "-e",
        "@" + str(tmp_path / "vars.json"),
        "-e",
        "ansible_python_interpreter=" + sys.executable,
    ]
    return subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=120
    )


def test_good_input_passes_preflight(tmp_path):
    result = run_role(tmp_path, GOOD)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"gateway_instances": [{"name": "a", "port": 18789}, {"name": "b", "port": 18789}]},
            "port 18789 is used by 2 instances",
        ),
        ({"gateway_instances": [{"name": "Main_1", "port": 18789}]}, "lowercase letters"),
        (
            {"gateway_instances": [{"name": "main", "port": 80}]},
            "port 80 must be an integer from 1024 to 65535",
        ),
        ({"gateway_instances": [{"name": "main", "port": 70000}]}, "port 70000 must be"),
        ({"gateway_openclaw_version": "latest"}, "must be a release date"),
        ({"gateway_openclaw_version": "2026.13.1"}, "'2026.13.1' is not a real date"),
        (
            {"gateway_instances": [{"name": "main", "port": 18789, "version": "2026.2.30"}]},
            "instance main: version '2026.2.30' is not a real date",
        ),
        (
            {"gateway_providers": {"stub": {**GOOD["gateway_providers"]["stub"], "api_key": " "}}},
            "provider stub has an empty api_key",
        ),
        (
            {
                "gateway_providers": {
                    "cloud": {"base_url": "https://llm.example.com/v1", "models": [{"id": "m"}]}
                },
                "gateway_default_model": "cloud/m",
            },
            "provider cloud (https://llm.example.com/v1) has no api_key",
        ),
        ({"gateway_default_model": ""}, "has no model provider"),
        ({"gateway_default_model": "stub/other"}, "stub/m"),
        ({"gateway_image_source": "archive"}, "gateway_image_archive_dir"),
        (
            {"gateway_image_source": "archive", "gateway_image_archive_dir": "/nonexistent"},
            "docker save -o /nonexistent/openclaw-2026.9.6.tar",
        ),
    ],
)
def test_bad_input_fails_with_what_to_fix(tmp_path, change, message):
    result = run_role(tmp_path, {**GOOD, **change})
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_every_failing_field_has_its_own_message(tmp_path):
    bad = {"gateway_instances": [{"name": "main", "port": 22, "version": "2026.13.1"}]}
    result = run_role(tmp_path, {**GOOD, **bad})
    assert result.returncode != 0
    out = " ".join((result.stdout + result.stderr).split())
    assert "gateway_instances has 2 problem(s)" in out
    assert "instance main: port 22 must be an integer from 1024 to 65535" in out
    assert "instance main: version '2026.13.1' is not a real date (month must be in 1..12)" in out


def test_argument_specs_reject_unknown_choices_before_any_task(tmp_path):
    result = run_role(tmp_path, {**GOOD, "gateway_image_source": "ftp"}, tasks_from=None)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "gateway_image_source" in out and "pull, build, archive" in out
    assert "TASK [clawdeploy.openclaw.gateway : Create the gateway group]" not in out


# Cells: gateway_cells entries placed on this host ("localhost") join its instances.
TEAM = [
    {"id": "alice", "display_name": "王小明", "host": "localhost"},
    {"id": "bob", "host": "localhost", "cpus": 1.5, "port": 18810},
]


def test_cells_pass_preflight_and_get_ports(tmp_path):
    result = run_role(tmp_path, {**GOOD, "gateway_cells": TEAM})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TASK [clawdeploy.openclaw.gateway : Allocate the ports]" in result.stdout


def test_without_cells_nothing_is_allocated(tmp_path):
    result = run_role(tmp_path, GOOD)
    assert result.returncode == 0, result.stdout + result.stderr
    after = result.stdout.split("Read the record of allocated ports", 1)[1]
    assert after.split("TASK [", 1)[0].strip().endswith("skipping: [localhost]")


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (
            [{"id": "alice", "host": "gw9"}],
            "gateway_cells[0] (alice): host 'gw9' is not in the inventory; use one of: localhost",
        ),
        ([{"id": "Alice", "host": "localhost"}], "id 'Alice' must be 1-40 lowercase letters"),
        (
            [{"id": "alice", "host": "localhost"}, {"id": "alice", "host": "localhost"}],
            "gateway_cells: id alice is used by entries #0, #1",
        ),
        (
            [{"id": "alice", "host": "localhost", "port": 18789}],
            "port 18789 on host localhost is given to instance main and cell alice",
        ),
        (
            [
                {"id": "alice", "host": "localhost", "port": 18810},
                {"id": "bob", "host": "localhost", "port": 18810},
            ],
            "port 18810 on host localhost is given to cell alice and cell bob",
        ),
        ([{"id": "alice", "host": "localhost", "port": 99999}], "port 99999 must be an integer"),
        (
            [{"id": "alice", "host": "localhost", "state": "absent"}],
            "gateway_cells: state absent (alice) is not supported yet",
        ),
        ([{"id": "main", "host": "localhost"}], "id main is also a gateway_instances name"),
        ([{"id": "alice", "host": "localhost", "cpus": 0}], "cpus 0 must be a positive number"),
    ],
)
def test_bad_cells_fail_with_what_to_fix(tmp_path, cells, message):
    result = run_role(tmp_path, {**GOOD, "gateway_cells": cells})
    assert result.returncode != 0
    assert message in " ".join((result.stdout + result.stderr).split())


def test_a_range_with_no_free_port_left_names_the_cell(tmp_path):
    cells = [{"id": "alice", "host": "localhost"}, {"id": "bob", "host": "localhost"}]
    change = {"gateway_cells": cells, "gateway_port_range": "18811-18811"}
    result = run_role(tmp_path, {**GOOD, **change})
    assert result.returncode != 0
    out = " ".join((result.stdout + result.stderr).split())
    assert "instance bob: no free port left in gateway_port_range 18811-18811" in out


def test_a_bad_port_range_is_refused(tmp_path):
    change = {
        "gateway_cells": [{"id": "alice", "host": "localhost"}],
        "gateway_port_range": "80-90",
    }
    result = run_role(tmp_path, {**GOOD, **change})
    assert result.returncode != 0
    assert "gateway_port_range '80-90' must be FIRST-LAST within 1024-65535" in result.stdout

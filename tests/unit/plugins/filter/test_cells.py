"""Tests of the cells filter: one host's colleagues become gateway instances, and every bad
entry of gateway_cells gets a message naming the entry, the field and what to give."""

from __future__ import annotations

import pathlib

import yaml

from ansible_collections.clawdeploy.openclaw.plugins.filter.cells import (
    openclaw_cell_errors,
    openclaw_cells,
)

HOSTS = ["gw1", "gw2"]
TEAM = [
    {"id": "alice", "display_name": "王小明", "host": "gw1", "port": 18810, "state": "started"},
    {"id": "bob", "host": "gw2", "memory_limit": "1g", "cpus": 1.5},
    {"id": "carol", "host": "gw1", "state": "absent", "purge": True},
]


def test_a_hosts_cells_become_instances_with_their_fields():
    cells = openclaw_cells(TEAM, "gw1")
    assert [c["name"] for c in cells] == ["alice", "carol"]
    alice, carol = cells
    assert alice == {
        "name": "alice",
        "cell": True,
        "display_name": "王小明",
        "port": 18810,
        "state": "started",
    }
    assert "host" not in carol and "port" not in carol  # allocated by the role
    assert carol["display_name"] == "carol" and carol["purge"] is True
    assert openclaw_cells(TEAM, "gw2")[0]["cpus"] == 1.5
    assert openclaw_cells(TEAM, "gw3") == []
    assert openclaw_cells(None, "gw1") == []


def test_a_good_team_has_no_problem():
    assert openclaw_cell_errors(TEAM, HOSTS, {"gw1": [{"name": "main", "port": 18789}]}) == []
    assert openclaw_cell_errors(None, HOSTS) == []


def test_each_bad_field_is_named_with_its_value_and_rule():
    team = [
        {"id": "Alice_1", "host": "gw1"},
        {"id": "bob", "host": "gw9"},
        {"id": "carol", "host": "gw1", "port": 80},
        {"id": "dan", "host": "gw1", "state": "paused"},
        {"id": "eve", "host": "gw1", "purge": True},
        {"id": "fay", "host": "gw1", "display_name": "line\nbreak"},
        {"id": "gus", "host": "gw1", "prot": 18811},
        {"id": "hal", "host": "gw1", "cpus": 0, "memory_limit": "lots", "pids_limit": 2},
        {"id": "ivy", "host": "gw1", "version": "latest"},
        "just-a-name",
    ]
    problems = openclaw_cell_errors(team, HOSTS)
    expected = [
        "gateway_cells[0] (Alice_1): id 'Alice_1' must be 1-40 lowercase letters",
        "gateway_cells[1] (bob): host 'gw9' is not in the inventory; use one of: gw1, gw2",
        "gateway_cells[2] (carol): port 80 must be an integer from 1024 to 65535",
        "gateway_cells[3] (dan): state 'paused' must be one of started, stopped, absent",
        "gateway_cells[4] (eve): purge: true deletes the cell's data and is only taken with "
        "state: absent",
        "gateway_cells[5] (fay): display_name holds a control character",
        "gateway_cells[6] (gus): unknown field(s) prot; a cell takes id, display_name, host",
        "gateway_cells[7] (hal): cpus 0 must be a positive number",
        "gateway_cells[7] (hal): memory_limit 'lots' must be a size such as 2g",
        "gateway_cells[7] (hal): pids_limit 2 must be an integer of at least 16",
        "gateway_cells[8] (ivy): version 'latest' must be a release date",
        "gateway_cells[9] must be a mapping with id and host (got 'just-a-name')",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert len(problems) == len(expected)


def test_duplicate_ids_and_shared_ports_name_both_users():
    team = [
        {"id": "alice", "host": "gw1", "port": 18810},
        {"id": "alice", "host": "gw2"},
        {"id": "bob", "host": "gw1", "port": "18789"},
        {"id": "main", "host": "gw1"},
        {"id": "old", "host": "gw1", "port": 18810, "state": "absent"},
    ]
    problems = openclaw_cell_errors(team, HOSTS, {"gw1": [{"name": "main", "port": 18789}]})
    assert problems == [
        "gateway_cells: id alice is used by entries #0, #1; each colleague needs an id of "
        "their own",
        "gateway_cells: id main is also a gateway_instances name on host gw1; rename the cell "
        "or the instance",
        "port 18789 on host gw1 is given to instance main and cell bob; give each its own "
        "port (or leave the cell's port out to allocate one)",
    ]  # an absent cell gives its port back: no clash with alice


def test_a_display_name_may_be_any_language_but_not_blank_or_huge():
    ok = openclaw_cell_errors([{"id": "li", "host": "gw1", "display_name": "李雷 (Lǐ Léi)"}], HOSTS)
    assert ok == []
    for bad, rule in (("  ", "non-empty"), ("x" * 81, "81 characters")):
        [problem] = openclaw_cell_errors([{"id": "li", "host": "gw1", "display_name": bad}], HOSTS)
        assert rule in problem


def test_not_a_list_is_refused():
    assert openclaw_cell_errors({"alice": {}}, HOSTS) == [
        "gateway_cells must be a list of colleague entries (got dict)"
    ]


def test_allocated_ports_fill_only_missing_ports():
    cells = openclaw_cells(TEAM, "gw1", {"alice": 18899, "carol": 18801})
    assert [(c["name"], c["port"]) for c in cells] == [("alice", 18810), ("carol", 18801)]
    assert "port" not in openclaw_cells(TEAM, "gw2", {"alice": 18801})[0]


def test_two_instances_on_one_port_are_left_to_the_instance_checks():
    instances = {"gw1": [{"name": "a", "port": 18789}, {"name": "b", "port": 18789}]}
    assert openclaw_cell_errors([], HOSTS, instances) == []


def test_the_team_example_inventory_is_a_good_team():
    example = pathlib.Path(__file__).resolve().parents[4] / "inventories" / "team-example"
    hosts = list(yaml.safe_load((example / "hosts.yml").read_text())["openclaw_hosts"]["hosts"])
    cells = yaml.safe_load((example / "group_vars/all/cells.yml").read_text())["gateway_cells"]
    main = {hosts[0]: [{"name": "main", "port": 18789}], hosts[1]: []}
    assert openclaw_cell_errors(cells, hosts, main) == []
    assert any(not c["display_name"].isascii() for c in cells)  # a Chinese name among them
    assert {c.get("state", "started") for c in cells} <= {"started", "stopped"}

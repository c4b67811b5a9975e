"""Tests of port allocation: stable across runs, never a port in use, explicit ports and
other instances' records respected, a full range refused with what to do."""

from __future__ import annotations

import pytest

from ansible_collections.clawdeploy.openclaw.plugins.filter.ports import (
    openclaw_allocate_ports,
    port_range,
)

SS = (
    'LISTEN 0 4096 127.0.0.1:18800 0.0.0.0:* users:(("nginx",pid=7,fd=6))\n'
    'LISTEN 0 4096 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))\n'
)
RANGE = "18800-18809"


def allocate(instances, record=None, ss=SS, docker_ps="", spec=RANGE):
    return openclaw_allocate_ports(instances, record or {}, ss, docker_ps, spec, "127.0.0.1")


def test_ports_skip_listeners_and_explicit_ports_and_are_recorded():
    result = allocate([{"name": "main", "port": 18801}, {"name": "alice"}, {"name": "bob"}])
    assert result["problems"] == []
    # 18800: nginx listens there; 18801: main's explicit port.
    assert result["ports"] == {"main": 18801, "alice": 18802, "bob": 18803}
    assert result["record"] == {"alice": 18802, "bob": 18803}  # only allocated ones


def test_a_second_run_keeps_the_recorded_ports_while_the_cells_run():
    first = allocate([{"name": "alice"}, {"name": "bob"}])
    published = "openclaw-gateway-alice 127.0.0.1:18801->18789/tcp\n"
    ss = SS + 'LISTEN 0 4096 127.0.0.1:18801 0.0.0.0:* users:(("docker-proxy",pid=9,fd=4))\n'
    # The order of the list changed, alice's own container publishes her port: same ports.
    again = allocate([{"name": "bob"}, {"name": "alice"}], first["record"], ss, published)
    assert again["ports"] == first["ports"] == {"alice": 18801, "bob": 18802}
    assert again["record"] == first["record"]


def test_a_recorded_port_taken_by_something_else_moves():
    record = {"alice": 18801}
    ss = SS + 'LISTEN 0 4096 127.0.0.1:18801 0.0.0.0:* users:(("redis",pid=3,fd=4))\n'
    result = allocate([{"name": "alice"}], record, ss)
    assert result["ports"] == {"alice": 18802}


def test_an_explicit_port_wins_over_a_record_and_a_stopped_cell_keeps_its_port():
    record = {"alice": 18801, "bob": 18802, "gone": 18803}
    result = allocate(
        [{"name": "main", "port": 18801}, {"name": "alice"}, {"name": "bob", "state": "stopped"}],
        record,
    )
    # alice loses 18801 to main; bob is stopped (nothing listens) and keeps 18802;
    # "gone" is not in this run's list: its port stays reserved and recorded.
    assert result["ports"] == {"main": 18801, "alice": 18804, "bob": 18802}
    assert result["record"] == {"alice": 18804, "bob": 18802, "gone": 18803}


def test_an_absent_instance_gives_its_port_back():
    result = allocate([{"name": "alice", "state": "absent"}, {"name": "bob"}], {"alice": 18801})
    assert result["ports"] == {"bob": 18801}
    assert result["record"] == {"bob": 18801}


def test_a_full_range_names_the_instance_and_the_fix():
    result = allocate([{"name": "a"}, {"name": "b"}], spec="18800-18801")
    assert result["ports"] == {"a": 18801}
    assert result["problems"] == [
        "instance b: no free port left in gateway_port_range 18800-18801 (every port is given "
        "to an instance or in use on the host); widen the range or give b a port"
    ]


@pytest.mark.parametrize("spec", ["18809-18800", "80-90", "a-b", [1, 2, 3], [18800, True], 5])
def test_a_bad_range_is_refused(spec):
    with pytest.raises(ValueError, match="gateway_port_range"):
        port_range(spec)
    assert allocate([{"name": "a"}], spec=spec)["problems"][0].startswith("gateway_port_range")


def test_ranges_as_text_or_pair():
    assert port_range(" 18800 - 18899 ") == (18800, 18899)
    assert port_range([18800, 18800]) == (18800, 18800)


def test_the_record_may_be_the_record_files_text():
    result = allocate([{"name": "alice"}], '{\n    "alice": 18805\n}\n')
    assert result["ports"] == {"alice": 18805}
    assert allocate([{"name": "alice"}], "")["ports"] == {"alice": 18801}


@pytest.mark.parametrize("text", ["{not json", "[18801]", '{"alice": "18801"}'])
def test_a_broken_record_is_refused_with_what_to_do(text):
    result = allocate([{"name": "alice"}], text)
    assert result["ports"] == {}
    assert result["problems"][0].startswith("the port record (ports.json under gateway_root)")
    assert "delete it to allocate the ports again" in result["problems"][0]


def test_an_instance_with_a_port_that_is_not_a_number_gets_none():
    result = allocate([{"name": "main", "port": "abc"}, {"name": "alice"}])
    assert result["ports"] == {"alice": 18801}
    assert result["problems"] == []

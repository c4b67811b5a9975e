"""Tests of the preflight's port check against what ss and docker ps print on a host."""

from __future__ import annotations

from ansible_collections.clawdeploy.openclaw.plugins.filter.listeners import (
    openclaw_port_conflicts,
    parse_listeners,
)

SS = """\
LISTEN 0      4096       127.0.0.1:18889      0.0.0.0:*    users:(("python3",pid=812,fd=6))
LISTEN 0      4096       127.0.0.1:18789      0.0.0.0:*    users:(("docker-proxy",pid=901,fd=7))
LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=300,fd=3))
LISTEN 0      4096            [::]:9100          [::]:*    users:(("node_exporter",pid=77,fd=3))
LISTEN 0      4096   127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=5,fd=14))
"""
PS = "openclaw-gateway-main 127.0.0.1:18789->18789/tcp\nother \n"


def inst(name, port):
    return {"name": name, "port": port, "container": "openclaw-gateway-" + name}


def test_parse_names_the_process():
    listeners = parse_listeners(SS)
    assert listeners[0] == {"address": "127.0.0.1", "port": 18889, "processes": [("python3", 812)]}
    assert listeners[3]["address"] == "[::]"
    assert listeners[4]["address"] == "127.0.0.53"


def test_own_container_and_free_ports_are_fine():
    assert (
        openclaw_port_conflicts([inst("main", 18789), inst("b", 20000)], SS, PS, "127.0.0.1") == []
    )


def test_a_port_another_process_holds_names_it():
    [problem] = openclaw_port_conflicts([inst("alice", 18889)], SS, PS, "127.0.0.1")
    assert (
        "instance alice: port 18889 is already in use on this host by python3 (pid 812)" in problem
    )
    assert "127.0.0.1:18889" in problem


def test_wildcard_listeners_take_every_address():
    assert openclaw_port_conflicts([inst("a", 22)], SS, "", "127.0.0.1")
    assert openclaw_port_conflicts([inst("a", 9100)], SS, "", "127.0.0.1")
    # a listener on another specific address does not take loopback's port
    assert openclaw_port_conflicts([inst("a", 53)], SS, "", "127.0.0.1") == []


def test_another_instances_container_is_named():
    [problem] = openclaw_port_conflicts([inst("bob", 18789)], SS, PS, "127.0.0.1")
    assert "published by openclaw-gateway-main (another instance's container)" in problem

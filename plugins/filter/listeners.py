# Copyright (c) 2026 ClawDeploy maintainers
# MIT License (see LICENSE)
"""Which instance ports something else already listens on.

Input is what two commands print on the host: ``ss -Hltnp`` (iproute2: one TCP listener
per line, ``State Recv-Q Send-Q Local:Port Peer:Port users:(("name",pid=N,fd=N))``) and
``docker ps --format '{{.Names}} {{.Ports}}'`` (``127.0.0.1:18789->18789/tcp, ...``),
so a port our own instance's container already publishes is not a conflict.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Tuple

_USERS_RE = re.compile(r'\("([^"]+)",pid=(\d+)')
_PUBLISHED_RE = re.compile(r"(?:^|,\s*)(?:\[?[0-9a-fA-F.:]*\]?):(\d+)->")
_ANY = ("0.0.0.0", "*", "::", "[::]")


def parse_listeners(ss_output: str) -> List[Dict[str, Any]]:
    """``ss -Hltnp`` lines as ``[{address, port, processes: [(name, pid)]}]``."""
    listeners = []
    for line in (ss_output or "").splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[0] != "LISTEN":
            continue
        address, _sep, port = fields[3].rpartition(":")
        if not port.isdigit():
            continue
        address = address.split("%", 1)[0]
        processes = [(name, int(pid)) for name, pid in _USERS_RE.findall(line)]
        listeners.append({"address": address, "port": int(port), "processes": processes})
    return listeners


def parse_published(docker_ps_output: str) -> Dict[int, str]:
    """``docker ps`` name/ports lines as ``{host port: container name}``."""
    published: Dict[int, str] = {}
    for line in (docker_ps_output or "").splitlines():
        name, _sep, ports = line.strip().partition(" ")
        for port in _PUBLISHED_RE.findall(ports):
            published[int(port)] = name.strip()
    return published


def listener_overlaps(bind: str, address: str) -> bool:
    """True when a listener on ``address`` takes the port from one on ``bind``."""
    return bind in _ANY or address in _ANY or address.strip("[]") == bind.strip("[]")


def _holder(listener: Dict[str, Any]) -> str:
    names: List[Tuple[str, int]] = listener["processes"]
    who = ", ".join("%s (pid %d)" % item for item in names) or "a process ss cannot name"
    return "%s on %s:%d" % (who, listener["address"], listener["port"])


def openclaw_port_conflicts(
    instances: List[Dict[str, Any]], ss_output: str, docker_ps_output: str, bind: str
) -> List[str]:
    """One message per instance whose port is taken by something that is not its own
    container. ``instances``: resolved instances (``name``, ``port``, ``container``).
    Returns ``[]`` when every port is free or already this instance's."""
    listeners = parse_listeners(ss_output)
    published = parse_published(docker_ps_output)
    problems = []
    for instance in instances or []:
        port = instance.get("port")
        owner = published.get(port)
        if owner == instance.get("container"):
            continue
        takers = [
            ln for ln in listeners if ln["port"] == port and listener_overlaps(bind, ln["address"])
        ]
        if owner and owner.startswith("openclaw-gateway-"):
            problems.append(
                "instance %s: port %s is published by %s (another instance's container); "
                "give one of them another port" % (instance.get("name"), port, owner)
            )
        elif takers or owner:
            holder = _holder(takers[0]) if takers else "container %s" % owner
            problems.append(
                "instance %s: port %s is already in use on this host by %s; choose a free "
                "port for the instance, or stop what holds it"
                % (instance.get("name"), port, holder)
            )
    return problems


class FilterModule:
    """Port checks of the gateway role's preflight."""

    def filters(self) -> Dict[str, Any]:
        return {"openclaw_port_conflicts": openclaw_port_conflicts}

# Copyright (c) 2026 ClawDeploy maintainers
# MIT License (see LICENSE)
"""Ports for instances that were given none: from a range, stable, never one in use.

The role keeps what it allocated in a record on the host (``<root>/ports.json``, a JSON
object ``{instance name: port}``), so a cell keeps its port across runs, and a stopped
cell (which listens on nothing) keeps its port reserved. What is in use is read from the
host as for the preflight's conflict check (``filter/listeners.py``: ``ss -Hltnp`` and
``docker ps``), so a port something else listens on is never handed out even when no
record knows it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.clawdeploy.openclaw.plugins.filter.instances import (
    PORT_MAX,
    PORT_MIN,
    as_int,
)
from ansible_collections.clawdeploy.openclaw.plugins.filter.listeners import (
    listener_overlaps,
    parse_listeners,
    parse_published,
)

_RANGE_RE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
# An instance's container is this prefix + its name (filter/instances.py).
CONTAINER_PREFIX = "openclaw-gateway-"


def port_range(value: Any) -> Tuple[int, int]:
    """``"18800-18899"`` or ``[18800, 18899]`` as ``(first, last)``, both included.

    :raises ValueError: with a message saying what to give, for anything else, a range
        outside 1024-65535 or one whose first port is above its last.
    """
    bounds: Optional[Tuple[int, int]] = None
    if isinstance(value, str):
        match = _RANGE_RE.match(value)
        if match:
            bounds = (int(match.group(1)), int(match.group(2)))
    elif (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        bounds = (value[0], value[1])
    if bounds is None or not PORT_MIN <= bounds[0] <= bounds[1] <= PORT_MAX:
        raise ValueError(
            "gateway_port_range %r must be FIRST-LAST within %d-%d, such as 18800-18899"
            % (value, PORT_MIN, PORT_MAX)
        )
    return bounds


def _record(value: Any) -> Tuple[Dict[str, int], List[str]]:
    """The record as ``{name: port}`` from a mapping or the record file's JSON text
    (``""``: no record yet), and the problems of a record that is not one."""
    if isinstance(value, str):
        if not value.strip():
            return {}, []
        try:
            value = json.loads(value)
        except ValueError as exc:
            value = exc
    if value is None:
        return {}, []
    if not isinstance(value, dict) or not all(
        isinstance(port, int) and not isinstance(port, bool) for port in value.values()
    ):
        return {}, [
            "the port record (ports.json under gateway_root) is not a JSON object of instance "
            "name -> port (%s); put it back from a backup, or delete it to allocate the "
            "ports again" % (value if isinstance(value, ValueError) else type(value).__name__)
        ]
    return {str(name): port for name, port in value.items()}, []


def _taken(ss_output: str, docker_ps_output: str, bind: str) -> Dict[int, str]:
    """``{port: who holds it}`` for every port listened on (overlapping ``bind``) or
    published by a container."""
    taken = {
        listener["port"]: ", ".join(name for name, _pid in listener["processes"]) or "a process"
        for listener in parse_listeners(ss_output)
        if listener_overlaps(bind, listener["address"])
    }
    for port, container in parse_published(docker_ps_output).items():
        taken[port] = "container " + container
    return taken


def openclaw_allocate_ports(
    instances: Any,
    record: Any,
    ss_output: str,
    docker_ps_output: str,
    range_spec: Any,
    bind: str = "127.0.0.1",
) -> Dict[str, Any]:
    """Give every instance without a ``port`` one, and say what the record becomes.

    ``instances``: ``gateway_instances``-style entries (``name``, optional ``port``,
    optional ``state``: an ``absent`` one gives its port back). ``record``: the host's
    ``{name: port}`` (``{}`` on a first run). Returns ``{ports: {name: port} for every
    instance with a port, record: {name: port} of the allocated ones, problems: [...]}``.
    ``record`` may also be the record file's JSON text (``""`` when there is none).

    An instance keeps its recorded port unless an explicit port of another instance now
    takes it, or something that is not its own container (``openclaw-gateway-<name>``)
    listens on it; otherwise it gets the lowest port of the range that no instance,
    record entry, listener or published container holds. ``problems`` names the instance
    when the range is invalid or has no free port left.
    """
    old, problems = _record(record)
    try:
        first, last = port_range(range_spec)
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        return {"ports": {}, "record": old, "problems": problems}
    entries = [i for i in instances or [] if isinstance(i, dict) and i.get("name")]
    present = [i for i in entries if i.get("state") != "absent"]
    # A port that is not a number is the instance checks' to report (openclaw_instance_errors).
    explicit = {
        i["name"]: as_int(i.get("port")) for i in present if i.get("port") not in (None, "")
    }
    explicit = {name: port for name, port in explicit.items() if port is not None}
    wanted = [i["name"] for i in present if i.get("port") in (None, "")]
    taken = _taken(ss_output, docker_ps_output, bind)
    listed = {i["name"] for i in entries}
    # Recorded ports of instances this run does not list stay theirs (kept in the record).
    kept = {name: port for name, port in old.items() if name not in listed}
    new_record: Dict[str, int] = {}
    reserved = set(explicit.values()) | set(kept.values())
    # Keep what still works, first, so a later pick cannot take a kept port.
    for name in wanted:
        port = old.get(name)
        if port is None or port in reserved:
            continue
        if port in taken and taken[port] != "container " + CONTAINER_PREFIX + name:
            continue
        new_record[name] = port
        reserved.add(port)
    for name in wanted:
        if name in new_record:
            continue
        free = next(
            (p for p in range(first, last + 1) if p not in reserved and p not in taken), None
        )
        if free is None:
            problems.append(
                "instance %s: no free port left in gateway_port_range %d-%d (every port is "
                "given to an instance or in use on the host); widen the range or give %s a "
                "port" % (name, first, last, name)
            )
            continue
        new_record[name] = free
        reserved.add(free)
    ports = dict(explicit)
    ports.update(new_record)
    kept.update(new_record)
    return {"ports": ports, "record": dict(sorted(kept.items())), "problems": problems}


class FilterModule:
    """Port allocation of the gateway role."""

    def filters(self) -> Dict[str, Any]:
        return {"openclaw_allocate_ports": openclaw_allocate_ports}

# Copyright (c) 2026 ClawDeploy maintainers
# MIT License (see LICENSE)
"""Cells: one gateway instance per colleague, listed once for the whole team.

``gateway_cells`` (group_vars of all hosts) is a list of colleague entries::

    - id: alice              # the cell's instance name: 1-40 of a-z, 0-9, '-'
      display_name: 王小明    # any Unicode, shown on pages and reports (default: id)
      host: gw1              # the inventory host that runs the cell
      port: 18810            # optional: allocated from gateway_port_range when left out
      version: 2026.9.6      # optional pin (default: gateway_openclaw_version)
      memory_limit: 1g       # optional limits (defaults: the role's)
      cpus: 1.5
      pids_limit: 256
      providers: {...}       # optional, their own keys (Ansible Vault)
      default_model: stub/stub-model
      config: {...}          # optional JSON5 overrides, merged over gateway_config
      state: started         # started | stopped | absent
      purge: false           # with state absent: also delete the data (after the archive)

:func:`openclaw_cells` picks one host's entries as ``gateway_instances`` entries (the
instance model of ``filter/instances.py`` resolves them like any instance);
:func:`openclaw_cell_errors` checks the whole list against the inventory's hosts, one
message per problem, each naming the entry, the field, the value and what to give.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ansible_collections.clawdeploy.openclaw.plugins.filter.instances import (
    PORT_MAX,
    PORT_MIN,
    as_int,
    cpus_problem,
    memory_problems,
    provider_problems,
    version_problem,
)
from ansible_collections.clawdeploy.openclaw.plugins.module_utils.names import (
    INSTANCE_NAME_RULE,
    instance_name_problem,
)

CELL_STATES = ("started", "stopped", "absent")
CELL_KEYS = (
    "id",
    "display_name",
    "host",
    "port",
    "version",
    "memory_limit",
    "cpus",
    "pids_limit",
    "providers",
    "default_model",
    "config",
    "state",
    "purge",
)
# The fields a cell hands to the instance model as they are (id becomes name).
_PASSED = tuple(key for key in CELL_KEYS if key not in ("id", "host"))
DISPLAY_NAME_MAX = 80


def openclaw_cells(
    cells: Any, host: str, ports: Optional[Dict[str, Any]] = None
) -> List[Dict[str, Any]]:
    """The entries of ``cells`` placed on ``host``, as ``gateway_instances`` entries.

    Each has ``name`` (the colleague id), ``cell: true``, ``display_name`` (the id when
    none is given) and the entry's other fields except ``host``. A missing ``port`` is
    taken from ``ports`` (``{id: port}``, what ``openclaw_allocate_ports`` gave), or stays
    missing. Entries that are not mappings are left out (see :func:`openclaw_cell_errors`).
    """
    if not isinstance(cells, list):
        return []
    picked = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("host") != host:
            continue
        entry = {key: cell[key] for key in _PASSED if key in cell}
        entry["name"] = cell.get("id")
        entry["cell"] = True
        entry["display_name"] = str(cell.get("display_name") or cell.get("id"))
        if "port" not in entry and (ports or {}).get(entry["name"]) is not None:
            entry["port"] = ports[entry["name"]]
        picked.append(entry)
    return picked


def _where(index: int, cell: Dict[str, Any]) -> str:
    cell_id = cell.get("id")
    if isinstance(cell_id, str) and cell_id:
        return "gateway_cells[%d] (%s)" % (index, cell_id)
    return "gateway_cells[%d]" % index


def _display_name_problem(value: Any) -> Optional[str]:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string (any language, e.g. 王小明)"
    if len(value) > DISPLAY_NAME_MAX:
        return "is %d characters long; keep it to %d" % (len(value), DISPLAY_NAME_MAX)
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return "holds a control character (a line break or tab); use one line of text"
    return None


def _limit_problems(where: str, cell: Dict[str, Any]) -> List[str]:
    problems = []
    if "memory_limit" in cell:
        problems.extend(memory_problems(where, cell["memory_limit"]))
    if "cpus" in cell:
        problem = cpus_problem(where, cell["cpus"])
        if problem:
            problems.append(problem)
    if "pids_limit" in cell and (as_int(cell["pids_limit"]) or 0) < 16:
        problems.append(
            "%s: pids_limit %r must be an integer of at least 16" % (where, cell["pids_limit"])
        )
    return problems


def _state_problems(where: str, cell: Dict[str, Any]) -> List[str]:
    problems = []
    state = cell.get("state", "started")
    if state not in CELL_STATES:
        problems.append("%s: state %r must be one of %s" % (where, state, ", ".join(CELL_STATES)))
    purge = cell.get("purge", False)
    if not isinstance(purge, bool):
        problems.append("%s: purge %r must be true or false" % (where, purge))
    elif purge and state != "absent":
        problems.append(
            "%s: purge: true deletes the cell's data and is only taken with state: absent "
            "(got state %s)" % (where, state)
        )
    return problems


def _entry_problems(index: int, cell: Any, hosts: List[str]) -> List[str]:
    if not isinstance(cell, dict):
        return ["gateway_cells[%d] must be a mapping with id and host (got %r)" % (index, cell)]
    where = _where(index, cell)
    problems = []
    unknown = sorted(str(key) for key in cell if key not in CELL_KEYS)
    if unknown:
        problems.append(
            "%s: unknown field(s) %s; a cell takes %s"
            % (where, ", ".join(unknown), ", ".join(CELL_KEYS))
        )
    if instance_name_problem(cell.get("id")) is not None:
        problems.append("%s: id %r must be %s" % (where, cell.get("id"), INSTANCE_NAME_RULE))
    if "display_name" in cell:
        problem = _display_name_problem(cell["display_name"])
        if problem:
            problems.append("%s: display_name %s" % (where, problem))
    host = cell.get("host")
    if host not in hosts:
        problems.append(
            "%s: host %r is not in the inventory; use one of: %s"
            % (where, host, ", ".join(sorted(hosts)) or "(no hosts)")
        )
    if "port" in cell:
        port = as_int(cell["port"])
        if port is None or not PORT_MIN <= port <= PORT_MAX:
            problems.append(
                "%s: port %r must be an integer from %d to %d, or left out to allocate one"
                % (where, cell["port"], PORT_MIN, PORT_MAX)
            )
    if "version" in cell:
        problem = version_problem(cell["version"])
        if problem:
            problems.append("%s: version %r %s" % (where, cell["version"], problem))
    if "providers" in cell:
        problems.extend(provider_problems(where, cell["providers"]))
    return problems + _limit_problems(where, cell) + _state_problems(where, cell)


def _duplicate_ids(cells: List[Any]) -> List[str]:
    seen: Dict[str, List[int]] = {}
    for index, cell in enumerate(cells):
        if isinstance(cell, dict) and isinstance(cell.get("id"), str):
            seen.setdefault(cell["id"], []).append(index)
    return [
        "gateway_cells: id %s is used by entries %s; each colleague needs an id of their own"
        % (cell_id, ", ".join("#%d" % index for index in indexes))
        for cell_id, indexes in sorted(seen.items())
        if len(indexes) > 1
    ]


def _clashes(cells: List[Any], instances_by_host: Dict[str, Any]) -> List[str]:
    """A cell id that is an instance name on its host, and two explicit equal ports."""
    problems = []
    users: Dict[Any, List[str]] = {}
    for host, instances in sorted(instances_by_host.items()):
        for instance in instances or []:
            if isinstance(instance, dict) and as_int(instance.get("port")) is not None:
                users.setdefault((host, as_int(instance["port"])), []).append(
                    "instance %s" % instance.get("name")
                )
    names = {
        (host, instance.get("name"))
        for host, instances in instances_by_host.items()
        for instance in instances or []
        if isinstance(instance, dict)
    }
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("state") == "absent":
            continue
        host = cell.get("host")
        if (host, cell.get("id")) in names:
            problems.append(
                "gateway_cells: id %s is also a gateway_instances name on host %s; rename "
                "the cell or the instance" % (cell.get("id"), host)
            )
        port = as_int(cell.get("port"))
        if port is not None:
            users.setdefault((host, port), []).append("cell %s" % cell.get("id"))
    for (host, port), holders in sorted(users.items(), key=lambda item: str(item[0])):
        # Two instances on one port are openclaw_instance_errors' to report.
        if len(holders) > 1 and any(holder.startswith("cell ") for holder in holders):
            problems.append(
                "port %s on host %s is given to %s; give each its own port (or leave the "
                "cell's port out to allocate one)" % (port, host, " and ".join(holders))
            )
    return problems


def openclaw_cell_errors(
    cells: Any, hosts: Any, instances_by_host: Optional[Dict[str, Any]] = None
) -> List[str]:
    """Every problem of ``gateway_cells``, one message each, or ``[]``.

    ``hosts``: the inventory's host names (``groups['all']``). ``instances_by_host``:
    ``{host: its gateway_instances}``, so a cell cannot take an instance's name or port on
    its host. Checks each entry (known fields, id rule, display name, host, port range,
    version, providers, limits, state and purge) and then the list (duplicate ids, equal
    explicit ports on one host, naming both users of the port). Messages look like
    ``gateway_cells[2] (bob): host 'gw9' is not in the inventory; use one of: gw1, gw2``.
    """
    if cells is None:
        return []
    if not isinstance(cells, list):
        return ["gateway_cells must be a list of colleague entries (got %s)" % type(cells).__name__]
    hosts = [str(host) for host in hosts or []]
    problems = []
    for index, cell in enumerate(cells):
        problems.extend(_entry_problems(index, cell, hosts))
    problems.extend(_duplicate_ids(cells))
    problems.extend(_clashes(cells, instances_by_host or {}))
    return problems


class FilterModule:
    """Cells: one gateway instance per colleague."""

    def filters(self) -> Dict[str, Any]:
        return {"openclaw_cells": openclaw_cells, "openclaw_cell_errors": openclaw_cell_errors}

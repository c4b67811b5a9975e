# Copyright (c) 2026 ClawDeploy maintainers
# MIT License (see LICENSE)
"""The gateway role's instance model: resolve ``gateway_instances`` into derived dicts, and
check the list field by field before anything on the host changes.

A resolved instance never holds a secret: a provider's ``api_key`` is replaced by
``api_key_env``, the name of the ``.env`` variable that keeps it. Tasks may therefore loop
over resolved instances (Ansible prints a loop's items at ``-v``) and only the one
``no_log`` task that writes the keys reads them, with ``openclaw_provider_keys``.
"""

from __future__ import annotations

import datetime
import ipaddress
import math
import re
from typing import Any, Dict, List, Optional
from urllib.parse import urlparse

from ansible_collections.clawdeploy.openclaw.plugins.filter.gateway_config import (
    deep_merge,
    provider_env_name,
)
from ansible_collections.clawdeploy.openclaw.plugins.module_utils.names import (
    INSTANCE_NAME_PATTERN,
    INSTANCE_NAME_RULE,
    instance_name_problem,
)

# The one instance-name rule: it names a directory, a Compose project and a container.
# The one instance-name rule of the collection (module_utils/names.py), re-exported.
NAME_PATTERN = INSTANCE_NAME_PATTERN
# OpenClaw versions are release dates, optionally with a pre-release or build suffix.
_VERSION_RE = re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})(?:-[0-9A-Za-z.]+)?$")
# Docker's memory sizes: a number with an optional unit b, k, m or g.
_MEMORY_RE = re.compile(r"^([0-9]+)([bkmg]?)$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_DOCKER_MIN_MEMORY = 6 * 1024**2
STATES = ("started", "stopped")
PORT_MIN = 1024
PORT_MAX = 65535
# Days from here on number maintenance releases of a month (npm has 2026.6.33).
MAINTENANCE_DAY_MIN = 32


def as_int(value: Any) -> Optional[int]:
    """``value`` as an int when it is one (or a string of digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _cpus(value: Any) -> Optional[float]:
    """A CPU limit as a positive number, or None for none (0, empty, anything else)."""
    if isinstance(value, bool):
        return None
    try:
        cpus = float(value)
    except (TypeError, ValueError):
        return None
    return cpus if math.isfinite(cpus) and cpus > 0 else None


def cpus_problem(where: str, value: Any) -> Optional[str]:
    """Why ``value`` is not a CPU limit (a positive number such as 1 or 1.5), or None."""
    if _cpus(value) is None:
        return "%s: cpus %r must be a positive number of CPUs such as 1 or 1.5" % (where, value)
    return None


def _public_provider(provider_id: str, spec: Any) -> Any:
    """A provider spec without its secret: ``api_key`` becomes ``api_key_env``."""
    if not isinstance(spec, dict):
        return spec
    out = {k: v for k, v in spec.items() if k != "api_key"}
    if spec.get("api_key") or spec.get("api_key_env"):
        out["api_key_env"] = provider_env_name(provider_id)
    return out


def _resolve_one(raw: Dict[str, Any], defaults: Dict[str, Any]) -> Dict[str, Any]:
    name = str(raw.get("name", ""))
    version = str(raw.get("version") or defaults.get("version", ""))
    port = as_int(raw.get("port"))
    root = str(defaults.get("root", "/opt/openclaw-assistant"))
    directory = "%s/instances/%s" % (root, name)
    bind = str(defaults.get("bind_address", "127.0.0.1"))
    probe_host = "127.0.0.1" if bind in ("0.0.0.0", "::", "") else bind
    providers = raw.get("providers")
    if providers is None:
        providers = defaults.get("providers") or {}
    return {
        "name": name,
        "port": port if port is not None else raw.get("port"),
        "state": raw.get("state") or "started",
        "version": version,
        "image": "%s:%s" % (defaults.get("image_repository", "local/openclaw"), version),
        "dir": directory,
        "staging": directory + "/staging",
        "env_file": directory + "/.env",
        "project": "openclaw-" + name,
        "container": "openclaw-gateway-" + name,
        "history": "%s/releases/%s.json" % (root, name),
        "set_aside": "%s/set-aside/%s" % (root, name),
        "config_file": directory + "/config/openclaw_sidecar.config.json5",
        "probe_url": "http://%s:%s" % (probe_host, port),
        "url": "http://%s:%s" % (bind, port),
        "providers": {
            pid: _public_provider(pid, spec) for pid, spec in sorted(dict(providers).items())
        }
        if isinstance(providers, dict)
        else providers,
        "default_model": raw.get("default_model", defaults.get("default_model", "")) or "",
        "config": deep_merge(defaults.get("config") or {}, raw.get("config") or {}),
        "extra_hosts": list(raw.get("extra_hosts", defaults.get("extra_hosts", [])) or []),
        "memory_limit": raw.get("memory_limit") or defaults.get("memory_limit", "2g"),
        "pids_limit": raw.get("pids_limit") or defaults.get("pids_limit", 512),
        # None: no CPU limit (the compose file then has no cpus line).
        "cpus": _cpus(raw.get("cpus")) or _cpus(defaults.get("cpus")),
        # A colleague's cell (gateway_cells, filter/cells.py) or an instance of the host.
        "cell": raw.get("cell") is True,
        "display_name": str(raw.get("display_name") or name),
    }


def openclaw_instances(instances: Any, defaults: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Resolve ``gateway_instances`` (a list of dicts) with the role's defaults.

    ``defaults``: ``version, providers, default_model, config, extra_hosts, memory_limit,
    pids_limit`` (the ``gateway_*`` values an instance falls back to) and ``root,
    image_repository, bind_address``. Returns one dict per instance with ``name, port
    (int), state, version, image, dir, staging, env_file, project, container, history,
    set_aside, config_file, probe_url, url, providers (no api_key: api_key_env instead),
    default_model, config, extra_hosts, memory_limit, pids_limit, cpus (None: no limit),
    cell (true for a colleague's cell from gateway_cells), display_name (the name unless
    the entry gives one)``. ``defaults`` may also give ``cpus``. Resolving a resolved
    instance again (for example with another ``version``) gives the same derived fields.
    Never raises on bad input: ``openclaw_instance_errors`` says what is wrong.
    """
    if not isinstance(instances, list):
        return []
    return [_resolve_one(raw, defaults or {}) for raw in instances if isinstance(raw, dict)]


def openclaw_provider_keys(providers: Any) -> Dict[str, str]:
    """Map env variable name -> API key for every provider that has a key.

    For the single ``no_log`` task that writes the keys into an instance's ``.env``.
    """
    if not isinstance(providers, dict):
        return {}
    return {
        provider_env_name(pid): str(spec["api_key"])
        for pid, spec in sorted(providers.items())
        if isinstance(spec, dict) and spec.get("api_key")
    }


def version_problem(version: Any) -> Optional[str]:
    """Why ``version`` is not an OpenClaw version, or None.

    OpenClaw's npm versions are release dates ``YYYY.M.D`` with an optional suffix
    (``2026.9.6``, ``2026.7.1-beta.2``). A few maintenance releases are numbered past the
    end of their month (``2026.6.33``..``2026.6.35`` on npm), so a day of 32 or more is
    accepted with a real month; a day 1..31 must make a real date (``2026.2.30`` does not).
    """
    match = _VERSION_RE.match(str(version))
    if not match:
        return "must be a release date YYYY.M.D such as 2026.9.6"
    year, month, day = (int(g) for g in match.groups())
    if day >= MAINTENANCE_DAY_MIN and 1 <= month <= 12:
        return None
    try:
        datetime.date(year, month, day)
    except ValueError as exc:
        return "is not a real date (%s); OpenClaw versions are release dates YYYY.M.D" % exc
    return None


def _is_local(url: str) -> bool:
    """True when ``url``'s host is on this host or a private network (keys optional)."""
    host = (urlparse(str(url)).hostname or "").lower()
    if host in ("localhost", "host.docker.internal") or "." not in host:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.endswith((".local", ".internal", ".lan"))
    return address.is_loopback or address.is_private or address.is_link_local


def provider_problems(where: str, providers: Any) -> List[str]:
    """Problems of a provider mapping (``gateway_providers`` or an entry's ``providers``),
    each naming ``where``, the provider and what to give: a mapping per provider, a key
    that is not blank, a key for a remote provider unless ``api_key_required: false``."""
    if not isinstance(providers, dict):
        return ["%s: providers must be a mapping of provider id -> settings" % where]
    problems = []
    for pid, spec in sorted(providers.items()):
        if not isinstance(spec, dict):
            problems.append(
                "%s: provider %s must be a mapping (base_url, models, ...)" % (where, pid)
            )
            continue
        if "api_key" in spec:
            key = spec["api_key"]
            if not isinstance(key, str) or not key.strip():
                problems.append(
                    "%s: provider %s has an empty api_key (got %s): give the provider's key "
                    "(e.g. from a vault), or remove api_key if the provider needs none"
                    % (where, pid, "a blank string" if isinstance(key, str) else type(key).__name__)
                )
        elif spec.get("api_key_required", not _is_local(spec.get("base_url", ""))):
            problems.append(
                "%s: provider %s (%s) has no api_key; a remote provider needs one. Give "
                "api_key, or set api_key_required: false if it really needs none"
                % (where, pid, spec.get("base_url", "no base_url"))
            )
    return problems


def _field_problems(index: int, raw: Any) -> List[str]:
    if not isinstance(raw, dict):
        return [
            "gateway_instances[%d] must be a mapping with name and port (got %r)" % (index, raw)
        ]
    name = raw.get("name")
    where = (
        "instance %s" % name if isinstance(name, str) and name else "gateway_instances[%d]" % index
    )
    problems = []
    if instance_name_problem(name) is not None:
        problems.append("%s: name %r must be %s" % (where, name, INSTANCE_NAME_RULE))
    port = as_int(raw.get("port"))
    if port is None or not PORT_MIN <= port <= PORT_MAX:
        problems.append(
            "%s: port %r must be an integer from %d to %d"
            % (where, raw.get("port"), PORT_MIN, PORT_MAX)
        )
    if "version" in raw:
        problem = version_problem(raw["version"])
        if problem:
            problems.append("%s: version %r %s" % (where, raw["version"], problem))
    if raw.get("state", "started") not in STATES:
        problems.append("%s: state %r must be started or stopped" % (where, raw.get("state")))
    if "memory_limit" in raw:
        problems.extend(memory_problems(where, raw["memory_limit"]))
    if "pids_limit" in raw and (as_int(raw["pids_limit"]) or 0) < 16:
        problems.append(
            "%s: pids_limit %r must be an integer of at least 16" % (where, raw["pids_limit"])
        )
    if "cpus" in raw:
        problem = cpus_problem(where, raw["cpus"])
        if problem:
            problems.append(problem)
    if "providers" in raw:
        problems.extend(provider_problems(where, raw["providers"]))
    return problems


def memory_problems(where: str, value: Any) -> List[str]:
    """Docker's rule for a memory limit (a size of at least 6m), as a list of messages."""
    match = _MEMORY_RE.match(str(value))
    if not match:
        return ["%s: memory_limit %r must be a size such as 2g or 1536m" % (where, value)]
    size = int(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()]
    if size < _DOCKER_MIN_MEMORY:
        return ["%s: memory_limit %r is below Docker's minimum of 6m" % (where, value)]
    return []


def openclaw_instance_errors(instances: Any, defaults: Dict[str, Any]) -> List[str]:
    """Every problem of ``gateway_instances``, one message per failing field.

    Each message names the instance, the field, the value received and the rule, e.g.
    ``instance main: port 22 must be an integer from 1024 to 65535``. ``defaults`` as for
    ``openclaw_instances`` (its ``version`` and ``providers`` are checked too, since
    instances fall back to them). Returns an empty list when the list is good.
    """
    defaults = defaults or {}
    if not isinstance(instances, list) or not instances:
        return [
            "gateway_instances must list at least one instance, e.g. [{name: main, port: 18789}]"
        ]
    problems = []
    problem = version_problem(defaults.get("version", ""))
    if problem:
        problems.append("gateway_openclaw_version %r %s" % (defaults.get("version"), problem))
    problems.extend(provider_problems("gateway_providers", defaults.get("providers") or {}))
    problems.extend(memory_problems("gateway_memory_limit", defaults.get("memory_limit", "2g")))
    if defaults.get("cpus") not in (None, "", 0):
        problem = cpus_problem("gateway_cpus", defaults["cpus"])
        if problem:
            problems.append(problem.replace("gateway_cpus: cpus", "gateway_cpus"))
    for index, raw in enumerate(instances):
        problems.extend(_field_problems(index, raw))
    for field in ("name", "port"):
        seen: Dict[Any, int] = {}
        for raw in instances:
            if isinstance(raw, dict) and raw.get(field) is not None:
                value = as_int(raw[field]) if field == "port" else raw[field]
                seen[value] = seen.get(value, 0) + 1
        for value, count in sorted(seen.items(), key=lambda item: str(item[0])):
            if count > 1:
                problems.append(
                    "gateway_instances: %s %s is used by %d instances; each instance needs its own"
                    % (field, value, count)
                )
    return problems


class FilterModule:
    """The gateway role's instance model."""

    def filters(self) -> Dict[str, Any]:
        return {
            "openclaw_instances": openclaw_instances,
            "openclaw_instance_errors": openclaw_instance_errors,
            "openclaw_provider_keys": openclaw_provider_keys,
        }

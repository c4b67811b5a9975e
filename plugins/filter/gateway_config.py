# Copyright (c) 2026 ClawDeploy maintainers
# MIT License (see LICENSE)
"""Build an OpenClaw gateway configuration (a dict, rendered as JSON5) for one instance.

The config schema is OpenClaw's (``docs/gateway/configuration.md`` in the ``openclaw`` npm
package). Keys that only some versions accept are added by version (``VERSION_FRAGMENTS``):
an unknown key makes the gateway exit 78, so the config must follow the pinned version.
Provider API keys never enter the config: each is a SecretRef to an environment variable
(``provider_env_name``) that the role keeps in the instance's 0600 ``.env``.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Dict, List, Tuple

from ansible.errors import AnsibleFilterError

# Container-side listener; the host port is the compose port mapping.
CONTAINER_PORT = 18789

# (first version that accepts it, fragment merged into the config)
VERSION_FRAGMENTS: List[Tuple[Tuple[int, ...], Dict[str, Any]]] = [
    # No catalog.openclaw.ai fetch at start (offline hosts). 2026.3.x/5.x reject the key.
    ((2026, 8, 0), {"models": {"catalogRefresh": {"enabled": False}}}),
]

_VERSION_RE = re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})(?:-[0-9A-Za-z.]+)?$")
_PROVIDER_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def parse_version(version: str) -> Tuple[int, int, int]:
    """Parse an OpenClaw version (``YYYY.M.D``, optional ``-beta.N``) into a tuple.

    Raises AnsibleFilterError naming the expected shape when it does not parse.
    """
    match = _VERSION_RE.match(str(version))
    if not match:
        raise AnsibleFilterError(
            "OpenClaw version %r is not of the form YYYY.M.D (e.g. 2026.9.6)" % (version,)
        )
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def provider_env_name(provider_id: str) -> str:
    """Name of the environment variable holding a provider's API key, e.g.
    ``stub`` -> ``OPENCLAW_PROVIDER_STUB_API_KEY``."""
    return "OPENCLAW_PROVIDER_%s_API_KEY" % re.sub(r"[^A-Z0-9]", "_", provider_id.upper())


def deep_merge(base: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    """Return ``base`` updated recursively with ``extra`` (dicts merge, other values replace)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _provider(provider_id: str, spec: Dict[str, Any]) -> Dict[str, Any]:
    if not _PROVIDER_ID_RE.match(provider_id):
        raise AnsibleFilterError(
            "provider id %r: use lowercase letters, digits, '-' and '_' only" % provider_id
        )
    if not isinstance(spec, dict) or not spec.get("base_url"):
        raise AnsibleFilterError(
            "provider %r needs base_url (e.g. https://api.example.com/v1)" % provider_id
        )
    models = spec.get("models") or []
    if not models:
        raise AnsibleFilterError(
            "provider %r needs at least one model: models: [{id: ..., name: ...}]" % provider_id
        )
    out: Dict[str, Any] = {
        "baseUrl": spec["base_url"],
        "api": spec.get("api", "openai-completions"),
        "models": [
            {"id": m["id"], "name": m.get("name", m["id"])}
            if isinstance(m, dict)
            else {"id": m, "name": m}
            for m in models
        ],
    }
    # A resolved instance (filter/instances.py) carries api_key_env instead of the key.
    if spec.get("api_key") or spec.get("api_key_env"):
        out["apiKey"] = {
            "source": "env",
            "provider": "default",
            "id": provider_env_name(provider_id),
        }
    return deep_merge(out, spec.get("options") or {})


def openclaw_gateway_config(instance: Dict[str, Any]) -> Dict[str, Any]:
    """Build the gateway config for one resolved instance.

    ``instance`` keys: ``version`` (required), ``providers`` (dict id -> ``{base_url,
    api, api_key, models, options}``), ``default_model`` (``<provider>/<model id>``),
    ``config`` (dict deep-merged last, for anything else). Token auth, the OpenResponses
    endpoint on, chat completions off, no update check and LAN bind inside the container
    are always set; a cell (``cell: true``) on another host port than the container's
    allows its Control UI from that port's loopback origins. ``config`` may still override
    them deliberately.
    Raises AnsibleFilterError with what to fix on bad input.
    """
    if not isinstance(instance, dict):
        raise AnsibleFilterError("openclaw_gateway_config expects an instance dict")
    version = parse_version(instance.get("version", ""))
    config: Dict[str, Any] = {
        "gateway": {
            "mode": "local",
            "bind": "lan",
            "port": CONTAINER_PORT,
            "auth": {"mode": "token"},
            "http": {
                "endpoints": {"responses": {"enabled": True}, "chatCompletions": {"enabled": False}}
            },
        },
        "update": {"checkOnStart": False},
    }
    for since, fragment in VERSION_FRAGMENTS:
        if version >= since:
            config = deep_merge(config, fragment)
    providers = instance.get("providers") or {}
    if providers:
        config = deep_merge(
            config,
            {
                "models": {
                    "providers": {
                        pid: _provider(pid, spec) for pid, spec in sorted(providers.items())
                    }
                }
            },
        )
    default_model = instance.get("default_model") or ""
    if default_model:
        pid, _sep, model_id = default_model.partition("/")
        known = {
            m.get("id") if isinstance(m, dict) else m
            for m in (providers.get(pid) or {}).get("models") or []
        }
        if not model_id or model_id not in known:
            raise AnsibleFilterError(
                "default_model %r must be '<provider>/<model id>' naming a model of a configured "
                "provider (known: %s)"
                % (
                    default_model,
                    ", ".join(
                        "%s/%s" % (p, m.get("id") if isinstance(m, dict) else m)
                        for p, s in sorted(providers.items())
                        for m in (s or {}).get("models") or []
                    )
                    or "none",
                )
            )
        config = deep_merge(config, {"agents": {"defaults": {"model": {"primary": default_model}}}})
    port = instance.get("port")
    if instance.get("cell") and isinstance(port, int) and port != CONTAINER_PORT:
        # The gateway allows its Control UI only from the origins of its own port inside
        # the container; a cell is opened on its host port.
        origins = ["http://127.0.0.1:%d" % port, "http://localhost:%d" % port]
        config = deep_merge(config, {"gateway": {"controlUi": {"allowedOrigins": origins}}})
    return deep_merge(config, instance.get("config") or {})


def openclaw_provider_env(providers: Dict[str, Any]) -> Dict[str, str]:
    """Map provider id -> env var name for every provider that has an ``api_key`` (or,
    resolved, an ``api_key_env``)."""
    return {
        pid: provider_env_name(pid)
        for pid, spec in sorted((providers or {}).items())
        if isinstance(spec, dict) and (spec.get("api_key") or spec.get("api_key_env"))
    }


class FilterModule:
    """OpenClaw gateway configuration filters."""

    def filters(self) -> Dict[str, Any]:
        return {
            "openclaw_gateway_config": openclaw_gateway_config,
            "openclaw_provider_env": openclaw_provider_env,
        }

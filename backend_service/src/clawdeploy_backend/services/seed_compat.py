"""The seed's backend-service v0.3.1 shapes, built from this service's own state.

v0.3.1 (``openclaw-astr-assistant``, ``backend-service/app/main.py``) is what the AstrBot
plugin and operators' scripts were written against; its answers are recorded route by
route in ``research/backend-v031-responses.json`` and replayed by the contract test
(``tests/test_backend_contract.py``). Every ``/api/v1`` answer of ours carries v0.3.1's
keys with v0.3.1's types beside our own fields; this module builds those keys:

* ``status_state`` -> ``state`` of ``GET /api/v1/status``:
  ``{"service": {"name", "version", "time", "bind"}, "worker": {"queue_size", "running",
  "concurrency"}, "executors": {...}, "last_model_sync": {...} | None,
  "sidecar_probe": {"ok", "status_code", "message", "error_type"}}``.
* ``executors`` -> ``executors`` keyed by name (``codex``, ``gemini``, ``shell``), each
  ``{"available", "enabled", "bin", "path", "reason"}``; ``codex`` adds ours.
* ``sync_record`` -> a sync as v0.3.1 recorded one: ``{"imported_at", "source",
  "provider_count", "trace_id"}`` (our ``sync_runs`` row adds its own columns).
* ``pulled`` -> ``pulled`` of ``POST /api/v1/models/pull-astr``.

Times are UTC ISO 8601 with a ``Z`` (v0.3.1's ``_now_iso``).
"""

from typing import Any

from ..settings import Settings
from ..store import utc_now
from .models import SyncResult

# v0.3.1 listed executors it never ran; ours runs Codex only, so these two are never
# available (v0.3.1 showed them disabled too, with these reasons).
_NOT_RUN = {
    "gemini": "not_supported: this service runs the codex executor only",
    "shell": "not_supported: this service runs the codex executor only",
}
_SHELL_BIN = "/bin/sh"


def executors(codex: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``{"codex": {...}, "gemini": {...}, "shell": {...}}`` from ``ExecutorService.info()``.

    ``codex`` is ``codex`` (ours) plus ``bin`` (``EXECUTOR_CODEX_BIN``, the configured
    name), ``path`` (the binary found, or ``""``) and ``reason`` (``""`` when available);
    ``gemini`` shows ``EXECUTOR_GEMINI_BIN`` as its ``bin``.
    """
    entry = dict(codex)
    entry.update(
        bin=settings.executor_codex_bin,
        path=str(codex.get("binary") or ""),
        reason="" if codex.get("available") else str(codex.get("reason") or ""),
    )
    bins = {"gemini": settings.executor_gemini_bin, "shell": _SHELL_BIN}
    others = {
        name: {"available": False, "enabled": False, "bin": bins[name], "path": "", "reason": why}
        for name, why in _NOT_RUN.items()
    }
    return {"codex": entry, **others}


def sync_record(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A ``sync_runs`` row with v0.3.1's keys added (``imported_at`` = ``finished_at``,
    ``provider_count`` = ``count``, ``source`` never null); None stays None."""
    if row is None:
        return None
    return {
        **row,
        "imported_at": str(row.get("finished_at") or ""),
        "source": str(row.get("source") or ""),
        "provider_count": int(row.get("count") or 0),
        "trace_id": str(row.get("trace_id") or ""),
    }


def sidecar_probe(gateway: dict[str, Any]) -> dict[str, Any]:
    """v0.3.1's ``sidecar_probe`` from a probe result: ``status_code`` 0 when no HTTP
    answer came; ``error_type`` is our diagnosis code (``""`` when ``ok``); ``message``
    the probe's detail, or the reply when it succeeded."""
    diagnosis = str(gateway.get("diagnosis") or "")
    message = gateway.get("detail") or gateway.get("reply") or ""
    return {
        "ok": bool(gateway.get("ok")),
        "status_code": int(gateway.get("http_status") or 0),
        "message": str(message)[:300],
        "error_type": "" if diagnosis == "ok" else diagnosis,
    }


def status_state(
    *,
    service_name: str,
    version: str,
    bind: str,
    executor_info: dict[str, Any],
    executors_by_name: dict[str, Any],
    last_sync: dict[str, Any] | None,
    gateway: dict[str, Any],
) -> dict[str, Any]:
    """``state`` of ``GET /api/v1/status`` (see the module doc); ``executor_info`` is
    ``ExecutorService.info()``, ``last_sync`` the last successful ``sync_runs`` row."""
    return {
        "service": {
            "name": service_name,
            "version": version,
            "time": utc_now(),
            "bind": bind,
        },
        "worker": {
            "queue_size": int(executor_info.get("queue_depth") or 0),
            "running": bool(executor_info.get("worker_running")),
            "concurrency": int(executor_info.get("limits", {}).get("concurrency", 1)),
        },
        "executors": executors_by_name,
        "last_model_sync": sync_record(last_sync),
        "sidecar_probe": sidecar_probe(gateway),
    }


def pulled(result: SyncResult, mode: str) -> dict[str, Any]:
    """``pulled`` of a successful pull: ``{"ok", "source_mode", "source_used",
    "provider_count", "using_provider", "providers", "warnings", "error_code", "error"}``.

    ``providers`` are ``{"provider_id", "model", "provider_type", "base_url"}``;
    ``using_provider`` is the default's, or ``{"provider_id": <the requested id>, ...""}``
    when the source named a default it does not hold (as v0.3.1), or None.
    """
    fields = ("provider_id", "model", "provider_type", "base_url")
    providers = [{k: str(m.get(k) or "") for k in fields} for m in result.models]
    using = next((p for p in providers if p["provider_id"] == result.default_provider_id), None)
    if using is None and result.requested_default:
        using = dict.fromkeys(fields, "") | {"provider_id": result.requested_default}
    return {
        "ok": True,
        "source_mode": mode,
        "source_used": result.source,
        "provider_count": len(providers),
        "using_provider": using,
        "providers": providers,
        "warnings": list(result.warnings),
        "error_code": "",
        "error": "",
    }

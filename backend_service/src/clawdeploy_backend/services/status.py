"""The service's status: the gateway (through cache and circuit) and the memory guard."""

from dataclasses import dataclass
from typing import Any

from .. import gateway_probe
from .stability import GatewayMonitor, MemoryGuard, Prober


@dataclass
class ServiceStatus:
    """What ``/api/v1/status`` and ``/web/status`` show.

    ``gateway`` is a probe result (``diagnosis``, ``ok``, ``fix``, ...); ``probe_source``
    is ``live``, ``cache``, ``stale`` (older than the cache time, being refreshed in the
    background) or ``circuit``; ``probe_age_s`` is the result's age in seconds; ``circuit`` is
    ``{"state", "consecutive_failures", "retry_in_s"}``; ``memory_available_mb`` is None
    when unknown.
    """

    gateway: dict[str, Any]
    probe_source: str
    probe_age_s: float
    circuit: dict[str, Any]
    read_only: bool
    memory_available_mb: int | None


def current_status(
    monitor: GatewayMonitor, prober: Prober, guard: MemoryGuard, *, refresh: bool = False
) -> ServiceStatus:
    """Check the gateway and read available memory (cached for a second).

    Blocks only when ``monitor.would_wait(refresh=refresh)``: no probe result yet, or
    ``refresh``; otherwise it answers from the cache at once (``probe_source`` ``cache``
    or ``stale``, the latter while a background refresh runs).
    """
    outcome = monitor.check(prober, refresh=refresh)
    available = guard.available_mb()
    return ServiceStatus(
        gateway=outcome.result,
        probe_source=outcome.source,
        probe_age_s=round(outcome.age_s, 1),
        circuit=outcome.circuit,
        read_only=guard.read_only(available),
        memory_available_mb=available,
    )


def executor_status(info: dict[str, Any]) -> dict[str, Any]:
    """The ``executor`` section of the status from ``ExecutorService.info()``:
    ``{"available", "enabled", "version", "queue_depth", "running_job_id", "diagnosis",
    "fix"}``; ``diagnosis`` is ``ok`` or ``executor_not_available`` (with the runbook's fix).
    """
    code = "ok" if info["available"] else "executor_not_available"
    fix = "" if code == "ok" else str(gateway_probe.DIAGNOSES[code])
    if info.get("reason") and code != "ok":
        fix = f"{info['reason']}; {fix}"
    return {
        "available": bool(info["available"]),
        "enabled": bool(info["enabled"]),
        "version": info.get("version"),
        "queue_depth": int(info["queue_depth"]),
        "running_job_id": info.get("running_job_id"),
        "diagnosis": code,
        "fix": fix,
    }

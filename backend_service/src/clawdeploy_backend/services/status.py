"""The service's status: the gateway (through cache and circuit) and the memory guard."""

from dataclasses import dataclass
from typing import Any

from .stability import GatewayMonitor, MemoryGuard, Prober


@dataclass
class ServiceStatus:
    """What ``/api/v1/status`` and ``/web/status`` show.

    ``gateway`` is a probe result (``diagnosis``, ``ok``, ``fix``, ...); ``probe_source``
    is ``live``, ``cache`` or ``circuit``; ``circuit`` is
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
    """Check the gateway (blocking when a live probe is due) and read available memory."""
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

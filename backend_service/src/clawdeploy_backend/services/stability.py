"""The runbook's stability rules: probe cache, gateway circuit breaker, memory guard.

* A probe result is reused for ``GATEWAY_PROBE_CACHE_S`` seconds (default 10), so a busy
  page does not send a model request per hit; ``refresh=True`` skips the cache. One probe
  runs at a time: callers that waited for it take its result instead of probing again.
* ``GATEWAY_CIRCUIT_FAILURES`` (2) consecutive failed live probes (any diagnosis but
  ``ok``) open the circuit for ``GATEWAY_CIRCUIT_OPEN_S`` (60 s). While it is open no request
  goes to the gateway, not even with ``refresh``: the answer is the last failure with a
  ``detail`` saying so. After that one trial probe runs; ``ok`` closes the circuit, a
  failure opens it again.
* Available memory comes from ``MemAvailable`` in ``/proc/meminfo``. Below
  ``MEMORY_READ_ONLY_MB`` (350) the service is read-only. When the file cannot be read
  (e.g. systemd ``ProcSubset=pid``) the value is unknown and nothing is refused.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class Prober(Protocol):
    """What :class:`GatewayMonitor` needs of a prober (``GatewayProber`` or a fake)."""

    def probe(self) -> dict[str, Any]: ...


@dataclass
class ProbeOutcome:
    """A probe result and how it was obtained: ``source`` is live, cache or circuit."""

    result: dict[str, Any]
    source: str
    age_s: float
    circuit: dict[str, Any]


class GatewayMonitor:
    """Holds the probe cache and the circuit state of one gateway (thread-safe)."""

    def __init__(
        self,
        *,
        cache_s: float = 10.0,
        failures_to_open: int = 2,
        open_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        on_live_result: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._cache_s = cache_s
        self._failures_to_open = failures_to_open
        self._open_s = open_s
        self._clock = clock
        self._on_live_result = on_live_result
        self._lock = threading.Lock()
        self._last: dict[str, Any] | None = None
        self._last_at = 0.0
        self._failures = 0
        self._open_until: float | None = None
        self._probes = 0

    def circuit_state(self) -> dict[str, Any]:
        """``{"state": "open"|"closed", "consecutive_failures", "retry_in_s"}``."""
        now = self._clock()
        is_open = self._open_until is not None and now < self._open_until
        retry = round(self._open_until - now, 1) if is_open and self._open_until else None
        return {
            "state": "open" if is_open else "closed",
            "consecutive_failures": self._failures,
            "retry_in_s": retry,
        }

    def check(self, prober: Prober, *, refresh: bool = False) -> ProbeOutcome:
        """Return the gateway's status from the circuit, the cache, or a live probe."""
        seen = self._probes  # a probe finished while we waited for the lock: take its result
        with self._lock:
            now = self._clock()
            if self._open_until is not None and now < self._open_until and self._last:
                return ProbeOutcome(
                    self._from_circuit(now), "circuit", now - self._last_at, self.circuit_state()
                )
            if self._last is not None and (
                self._probes != seen or (not refresh and now - self._last_at < self._cache_s)
            ):
                return ProbeOutcome(
                    dict(self._last), "cache", now - self._last_at, self.circuit_state()
                )
            result = prober.probe()
            self._record(result)
            return ProbeOutcome(dict(result), "live", 0.0, self.circuit_state())

    def _record(self, result: dict[str, Any]) -> None:
        self._last = dict(result)
        self._last_at = self._clock()
        self._probes += 1
        if result.get("diagnosis") == "ok":
            self._failures = 0
            self._open_until = None
        else:
            self._failures += 1
            if self._failures >= self._failures_to_open:
                self._open_until = self._last_at + self._open_s
        if self._on_live_result is not None:
            self._on_live_result(result)

    def _from_circuit(self, now: float) -> dict[str, Any]:
        assert self._last is not None and self._open_until is not None
        result = dict(self._last)
        result["latency_ms"] = 0
        result["detail"] = (
            f"circuit open: {self._failures} consecutive failed probes (last: "
            f"{result.get('diagnosis')}); no request sent to the gateway; next probe in "
            f"{max(0, round(self._open_until - now))} s"
        )
        return result


def read_mem_available_mb(path: Path = Path("/proc/meminfo")) -> int | None:
    """``MemAvailable`` of ``path`` in MiB, or None when it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, _sep, rest = line.partition(":")
        if name.strip() == "MemAvailable":
            parts = rest.split()
            if parts and parts[0].isdigit():
                kib = int(parts[0])
                return kib // 1024 if len(parts) < 2 or parts[1].lower() == "kb" else None
    return None


class MemoryGuard:
    """Decides read-only mode from available memory; ``reader`` is injectable for tests."""

    def __init__(
        self,
        *,
        read_only_below_mb: int = 350,
        heavy_job_min_mb: int = 512,
        reader: Callable[[], int | None] = read_mem_available_mb,
    ) -> None:
        self.read_only_below_mb = read_only_below_mb
        self.heavy_job_min_mb = heavy_job_min_mb
        self._reader = reader

    def available_mb(self) -> int | None:
        """Available memory in MiB now, or None when unknown."""
        return self._reader()

    def read_only(self, available_mb: int | None = None) -> bool:
        """True when memory is known and below the read-only threshold."""
        value = self.available_mb() if available_mb is None else available_mb
        return value is not None and value < self.read_only_below_mb

    def heavy_jobs_allowed(self, available_mb: int | None = None) -> bool:
        """False when memory is known and below the heavy-job threshold (executor, later)."""
        value = self.available_mb() if available_mb is None else available_mb
        return value is None or value >= self.heavy_job_min_mb

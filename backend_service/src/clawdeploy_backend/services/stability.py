"""The runbook's stability rules: probe cache, gateway circuit breaker, memory guard.

Probe cache (stale-while-revalidate), in :class:`GatewayMonitor`:

* Only the very first check (no result yet) waits for a live probe. Every later check
  answers at once from the last result, with its age (``age_s``: seconds since that probe
  ended) and its ``source``:

  - ``live``: this check ran the probe and waited for it (the first check, or ``refresh``);
    ``age_s`` is 0;
  - ``cache``: the result is younger than ``GATEWAY_PROBE_CACHE_S`` (default 10 s), or
    it is the result of a probe that was under way when this check asked for a live one;
  - ``stale``: the result is older than the cache time; a refresh is under way in the
    background (this check started it, or an earlier one did) and a later check gets its
    result;
  - ``circuit``: the circuit is open (below): the last failure, no request sent.

* One probe at a time, whoever asks: a background refresh (one daemon thread) starts only
  when none is running and the last probe ended at least the cache time ago, so the gateway
  sees at most one model request per cache window whatever the load. ``refresh=True``
  (``?refresh=1``) skips the cache and waits for a live probe; when a probe is already under
  way it waits for that one and takes its result (``cache``) instead of sending another.
* ``GATEWAY_CIRCUIT_FAILURES`` (2) consecutive failed live probes (any diagnosis but
  ``ok``; background ones count alike) open the circuit for ``GATEWAY_CIRCUIT_OPEN_S``
  (60 s). While it is open no request goes to the gateway, not even with ``refresh``: the
  answer is the last failure with a ``detail`` saying so. After that one trial probe runs
  (in the background for a plain check, which answers the last failure as ``stale``
  meanwhile; waited for with ``refresh``); ``ok`` closes the circuit, a failure opens it
  again.
* A probe that raises (a bug: ``GatewayProber`` turns gateway problems into diagnoses)
  records nothing: a waiting check re-raises it, a background one is logged, and the next
  background attempt waits a cache time.
* Available memory comes from ``MemAvailable`` in ``/proc/meminfo``, read at most once a
  second (:class:`MemoryGuard` ``cache_s``). Below ``MEMORY_READ_ONLY_MB`` (350) the
  service is read-only. When the file cannot be read (e.g. systemd ``ProcSubset=pid``) the
  value is unknown and nothing is refused.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger("clawdeploy_backend.stability")

Spawn = Callable[[Callable[[], None]], None]
"""Runs a background refresh: called with a no-argument function, must return at once."""


class Prober(Protocol):
    """What :class:`GatewayMonitor` needs of a prober (``GatewayProber`` or a fake)."""

    def probe(self) -> dict[str, Any]: ...


@dataclass
class ProbeOutcome:
    """A probe result and how it was obtained.

    ``source`` is ``live``, ``cache``, ``stale`` or ``circuit`` (module docstring);
    ``age_s`` is the result's age in seconds (0 for ``live``); ``circuit`` is
    :meth:`GatewayMonitor.circuit_state`.
    """

    result: dict[str, Any]
    source: str
    age_s: float
    circuit: dict[str, Any]


def spawn_daemon_thread(target: Callable[[], None]) -> None:
    """The default :data:`Spawn`: run ``target`` in a new daemon thread ``gateway-probe``.

    Raises :class:`RuntimeError` when no thread can be started.
    """
    threading.Thread(target=target, name="gateway-probe", daemon=True).start()


class GatewayMonitor:
    """Holds the probe cache and the circuit state of one gateway (thread-safe).

    ``cache_s``, ``open_s`` are seconds of ``clock`` (``time.monotonic``; tests pass a fake
    clock). ``on_live_result`` is called once with every result a probe returned (waited
    for or background), in the thread that ran the probe, before checks waiting for that
    probe go on; its exceptions propagate to a waiting check and are logged for a
    background one. ``spawn`` starts a background refresh (default:
    :func:`spawn_daemon_thread`; tests may run it inline).
    """

    def __init__(
        self,
        *,
        cache_s: float = 10.0,
        failures_to_open: int = 2,
        open_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        on_live_result: Callable[[dict[str, Any]], None] | None = None,
        spawn: Spawn = spawn_daemon_thread,
    ) -> None:
        self._cache_s = cache_s
        self._failures_to_open = failures_to_open
        self._open_s = open_s
        self._clock = clock
        self._on_live_result = on_live_result
        self._spawn = spawn
        # Guards every field below; notified when a probe ends. Never held during a probe.
        self._cond = threading.Condition(threading.Lock())
        self._last: dict[str, Any] | None = None
        self._last_at = 0.0  # clock time the last result's probe ended
        self._tried_at: float | None = None  # clock time the last probe ended, even raising
        self._failures = 0
        self._open_until: float | None = None
        self._probes = 0  # probes that returned a result
        self._probing = False  # a probe (waited for or background) is under way

    def circuit_state(self) -> dict[str, Any]:
        """``{"state": "open"|"closed", "consecutive_failures", "retry_in_s"}``."""
        return self._circuit(self._clock())

    def _circuit(self, now: float) -> dict[str, Any]:
        is_open = self._is_open(now)
        retry = round(self._open_until - now, 1) if is_open and self._open_until else None
        return {
            "state": "open" if is_open else "closed",
            "consecutive_failures": self._failures,
            "retry_in_s": retry,
        }

    def _is_open(self, now: float) -> bool:
        return self._open_until is not None and now < self._open_until

    def probing(self) -> bool:
        """True while a probe (waited for or background) is under way."""
        with self._cond:
            return self._probing

    def would_wait(self, *, refresh: bool = False) -> bool:
        """True when :meth:`check` with this ``refresh`` may wait for a probe: there is no
        result yet, or ``refresh`` is set. Once False for ``refresh=False`` it stays False,
        so an ``async`` caller may then call :meth:`check` on the event loop (it returns at
        once) and hand it to a thread only when this is True."""
        return refresh or self._last is None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no probe is under way (at most ``timeout`` seconds; None: no limit).

        Returns False on timeout. For tests and shutdown; never needed to get a result.
        """
        with self._cond:
            return self._cond.wait_for(lambda: not self._probing, timeout)

    def check(self, prober: Prober, *, refresh: bool = False) -> ProbeOutcome:
        """Return the gateway's status from the circuit, the cache, or a live probe.

        Waits for a probe only when there is no result yet or ``refresh`` is set (and the
        circuit is closed); otherwise answers at once, starting a background refresh of a
        stale result. Raises what ``prober.probe()`` raises, when this check waited for it.
        """
        seen = self._probes  # a probe that ends while we wait for the lock serves us too
        while True:
            with self._cond:
                now = self._clock()
                outcome = self._answer(now, refresh, seen)
                if outcome is not None:
                    background = outcome.source == "stale" and self._claim_background(now)
                elif self._probing:  # wait for the probe under way, then look again
                    self._cond.wait()
                    continue
                else:
                    self._probing = True
                    background = False
            if outcome is None:
                return self._probe_now(prober)
            if background:
                self._start_background(prober)
            return outcome

    def _answer(self, now: float, refresh: bool, seen: int) -> ProbeOutcome | None:
        """The answer without a new probe, or None when this check must wait for one."""
        last = self._last
        if last is None:
            return None
        age = now - self._last_at
        if self._is_open(now):
            return ProbeOutcome(self._from_circuit(now), "circuit", age, self._circuit(now))
        if self._probes != seen or (not refresh and age < self._cache_s):
            return ProbeOutcome(dict(last), "cache", age, self._circuit(now))
        if refresh:
            return None
        return ProbeOutcome(dict(last), "stale", age, self._circuit(now))

    def _claim_background(self, now: float) -> bool:
        """Mark a background refresh as under way if one may start now (lock held)."""
        if self._probing or (self._tried_at is not None and now - self._tried_at < self._cache_s):
            return False
        self._probing = True
        return True

    def _probe_now(self, prober: Prober) -> ProbeOutcome:
        """Run the probe this check claimed and wait for it (``live``)."""
        result: dict[str, Any] | None = None
        try:
            result = prober.probe()
        finally:
            circuit = self._finish(result)
        assert result is not None
        return ProbeOutcome(dict(result), "live", 0.0, circuit)

    def _start_background(self, prober: Prober) -> None:
        try:
            self._spawn(lambda: self._refresh(prober))
        except Exception:  # no thread: try again a cache time later
            logger.exception("cannot start the background gateway probe")
            self._finish(None)

    def _refresh(self, prober: Prober) -> None:
        """The background refresh: probe, record; never raises (errors are logged)."""
        result: dict[str, Any] | None = None
        try:
            result = prober.probe()
        except Exception:
            logger.exception("the background gateway probe failed")
        finally:
            try:
                self._finish(result)
            except Exception:
                logger.exception("on_live_result failed for a background gateway probe")

    def _finish(self, result: dict[str, Any] | None) -> dict[str, Any]:
        """End the probe under way: record ``result`` (None: the probe raised), tell
        ``on_live_result``, wake the waiting checks. Returns the circuit state after it."""
        try:
            with self._cond:
                now = self._clock()
                self._tried_at = now
                if result is not None:
                    self._record(result, now)
                circuit = self._circuit(now)
            if result is not None and self._on_live_result is not None:
                self._on_live_result(result)
            return circuit
        finally:
            with self._cond:
                self._probing = False
                self._cond.notify_all()

    def _record(self, result: dict[str, Any], now: float) -> None:
        self._last = dict(result)
        self._last_at = now
        self._probes += 1
        if result.get("diagnosis") == "ok":
            self._failures = 0
            self._open_until = None
        else:
            self._failures += 1
            if self._failures >= self._failures_to_open:
                self._open_until = now + self._open_s

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
    """Decides read-only mode from available memory.

    ``reader`` returns MiB or None (unknown); it is called at most once per ``cache_s``
    seconds of ``clock`` (default 1 s of ``time.monotonic``; 0 reads on every call), so a
    busy status route does not read ``/proc/meminfo`` per request. Both are injectable for
    tests. Thread-safe: concurrent callers may both read when the value runs out, which
    is harmless.
    """

    def __init__(
        self,
        *,
        read_only_below_mb: int = 350,
        heavy_job_min_mb: int = 512,
        reader: Callable[[], int | None] = read_mem_available_mb,
        cache_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read_only_below_mb = read_only_below_mb
        self.heavy_job_min_mb = heavy_job_min_mb
        self._reader = reader
        self._cache_s = cache_s
        self._clock = clock
        self._cached: tuple[float, int | None] | None = None  # (read at, value); swapped whole

    def available_mb(self) -> int | None:
        """Available memory in MiB (at most ``cache_s`` old), or None when unknown."""
        now = self._clock()
        cached = self._cached
        if cached is not None and 0 <= now - cached[0] < self._cache_s:
            return cached[1]
        value = self._reader()
        self._cached = (now, value)
        return value

    def read_only(self, available_mb: int | None = None) -> bool:
        """True when memory is known and below the read-only threshold."""
        value = self.available_mb() if available_mb is None else available_mb
        return value is not None and value < self.read_only_below_mb

    def heavy_jobs_allowed(self, available_mb: int | None = None) -> bool:
        """False when memory is known and below the heavy-job threshold (executor, later)."""
        value = self.available_mb() if available_mb is None else available_mb
        return value is None or value >= self.heavy_job_min_mb

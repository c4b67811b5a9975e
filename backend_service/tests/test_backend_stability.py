"""The runbook's stability rules: probe cache (stale-while-revalidate), circuit breaker,
memory thresholds.

Time is a fake clock: no test sleeps. Background refreshes run in real threads (the
monitor's default) where the test is about not waiting for them, with a prober held by a
``threading.Event``; elsewhere they run inline (``spawn=run_inline``), which makes the
order of events fixed.
"""

import threading
from collections.abc import Callable
from typing import Any

import pytest

from backend_helpers import FakeProber, make_result
from clawdeploy_backend.deps import get_gateway_monitor
from clawdeploy_backend.services.stability import (
    GatewayMonitor,
    MemoryGuard,
    ProbeOutcome,
    read_mem_available_mb,
)

WAIT_S = 5.0  # upper bound for a thread to reach a point; only reached when a test fails


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class HeldProber:
    """Counts its probes (thread-safe); while ``hold`` is set, each probe waits for
    ``release``. ``entered`` is set when a probe starts."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        self.calls = 0
        self.hold = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def probe(self) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            held = self.hold
        self.entered.set()
        if held:
            assert self.release.wait(WAIT_S), "the test never released the probe"
        return dict(self.result)


def run_inline(target: Callable[[], None]) -> None:
    """A ``spawn`` that runs the background refresh at once, in the checking thread."""
    target()


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Start ``fn`` in a thread; its return value lands in the list."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    return thread, out


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def monitor(clock) -> GatewayMonitor:
    """Background refreshes in threads, as in the service."""
    return GatewayMonitor(cache_s=10, failures_to_open=2, open_s=60, clock=clock)


@pytest.fixture
def inline(clock) -> GatewayMonitor:
    """Background refreshes run inline: a check returns after its refresh ended."""
    return GatewayMonitor(cache_s=10, failures_to_open=2, open_s=60, clock=clock, spawn=run_inline)


# -- stale-while-revalidate ---------------------------------------------------------------


def test_the_first_check_waits_for_a_live_probe(monitor):
    prober = HeldProber(make_result("ok"))
    prober.hold = True
    thread, out = in_thread(lambda: monitor.check(prober))
    assert prober.entered.wait(WAIT_S)
    thread.join(0.05)
    assert thread.is_alive(), "the first check must wait: there is no result to serve"
    prober.release.set()
    thread.join(WAIT_S)
    outcome = out[0]
    assert (outcome.source, outcome.age_s, outcome.result["diagnosis"]) == ("live", 0.0, "ok")
    assert prober.calls == 1


def test_concurrent_first_checks_share_one_probe(monitor):
    prober = HeldProber(make_result("ok"))
    prober.hold = True
    started = [in_thread(lambda: monitor.check(prober)) for _caller in range(6)]
    assert prober.entered.wait(WAIT_S)
    prober.release.set()
    for thread, _out in started:
        thread.join(WAIT_S)
    assert prober.calls == 1, "callers that waited for a probe must reuse its result"
    assert sorted(out[0].source for _thread, out in started) == ["cache"] * 5 + ["live"]


def test_would_wait_tells_when_a_check_may_block(monitor, clock):
    prober = HeldProber(make_result("ok"))
    assert monitor.would_wait() and monitor.would_wait(refresh=True)
    monitor.check(prober)
    assert not monitor.would_wait()
    assert monitor.would_wait(refresh=True)
    clock.now += 100  # stale, or even behind an open circuit: a plain check never waits again
    assert not monitor.would_wait()


def test_a_fresh_result_is_served_from_the_cache_and_ages(monitor, clock):
    prober = HeldProber(make_result("ok"))
    monitor.check(prober)
    ages = []
    for step in (0.0, 4.0, 5.9):
        clock.now += step
        outcome = monitor.check(prober)
        assert outcome.source == "cache"
        ages.append(round(outcome.age_s, 1))
    assert ages == [0.0, 4.0, 9.9]
    assert prober.calls == 1
    assert not monitor.probing()


def test_a_stale_result_is_served_at_once_while_one_refresh_runs(monitor, clock):
    prober = HeldProber(make_result("ok", latency_ms=1))
    monitor.check(prober)
    prober.hold = True
    prober.entered.clear()
    prober.result = make_result("ok", latency_ms=2)
    clock.now += 10.5
    # In a thread only so that a check that wrongly waits fails the test instead of
    # hanging it: the held probe is released at the end.
    thread, out = in_thread(lambda: monitor.check(prober))
    thread.join(WAIT_S)
    assert not thread.is_alive(), "a check with a result must not wait for the refresh"
    assert prober.entered.wait(WAIT_S)  # the refresh it started is running, and held
    first = out[0]
    assert (first.source, round(first.age_s, 1), first.result["latency_ms"]) == ("stale", 10.5, 1)
    assert monitor.probing()
    clock.now += 3
    later = [monitor.check(prober) for _attempt in range(20)]
    assert {o.source for o in later} == {"stale"}
    assert {round(o.age_s, 1) for o in later} == {13.5}  # the age keeps growing
    assert prober.calls == 2, "one refresh, however many stale answers"
    prober.release.set()
    assert monitor.wait_idle(WAIT_S)
    fresh = monitor.check(prober)
    assert (fresh.source, fresh.age_s, fresh.result["latency_ms"]) == ("cache", 0.0, 2)
    assert prober.calls == 2


def test_one_probe_per_cache_window_under_concurrent_callers(monitor, clock):
    prober = HeldProber(make_result("ok"))
    monitor.check(prober)
    callers, window_s, step_s, steps = 8, 10, 2, 20  # 40 s of load
    for _step in range(steps):
        clock.now += step_s
        barrier = threading.Barrier(callers)

        def burst(barrier: threading.Barrier = barrier) -> list[ProbeOutcome]:
            barrier.wait(WAIT_S)
            return [monitor.check(prober) for _attempt in range(5)]

        started = [in_thread(burst) for _caller in range(callers)]
        for thread, _out in started:
            thread.join(WAIT_S)
            assert not thread.is_alive()
        assert monitor.wait_idle(WAIT_S)
    # Refreshes at 10, 20, 30 and 40 s after the first probe: one per window, whatever
    # the number of callers.
    assert prober.calls == 1 + steps * step_s // window_s


def test_refresh_waits_for_a_live_probe(monitor, clock):
    prober = HeldProber(make_result("ok"))
    monitor.check(prober)
    prober.hold = True
    prober.entered.clear()
    thread, out = in_thread(lambda: monitor.check(prober, refresh=True))
    assert prober.entered.wait(WAIT_S)
    thread.join(0.05)
    assert thread.is_alive(), "refresh=True waits for its probe"
    assert monitor.check(prober).source == "cache"  # others are not held up meanwhile
    prober.release.set()
    thread.join(WAIT_S)
    assert (out[0].source, out[0].age_s) == ("live", 0.0)
    assert prober.calls == 2


def test_refresh_during_a_background_refresh_takes_its_result(monitor, clock):
    prober = HeldProber(make_result("ok", latency_ms=1))
    monitor.check(prober)
    prober.hold = True
    prober.entered.clear()
    prober.result = make_result("ok", latency_ms=2)
    clock.now += 11
    assert monitor.check(prober).source == "stale"
    assert prober.entered.wait(WAIT_S)
    thread, out = in_thread(lambda: monitor.check(prober, refresh=True))
    thread.join(0.05)
    assert thread.is_alive(), "refresh=True waits for the probe under way"
    prober.release.set()
    thread.join(WAIT_S)
    assert (out[0].source, out[0].result["latency_ms"]) == ("cache", 2)
    assert prober.calls == 2, "never two probes at a time"


def test_on_live_result_sees_every_probe_waited_for_or_background(clock):
    seen: list[int] = []
    monitor = GatewayMonitor(
        cache_s=10, clock=clock, on_live_result=lambda result: seen.append(result["latency_ms"])
    )
    prober = HeldProber(make_result("ok", latency_ms=1))
    monitor.check(prober)
    prober.result = make_result("ok", latency_ms=2)
    clock.now += 10
    monitor.check(prober)
    assert monitor.wait_idle(WAIT_S)
    prober.result = make_result("ok", latency_ms=3)
    monitor.check(prober, refresh=True)
    monitor.check(prober)  # cache: no probe, no call
    assert seen == [1, 2, 3]


def test_a_raising_background_probe_keeps_the_result_and_waits_a_window(inline, clock):
    prober = FakeProber(make_result("ok"))
    inline.check(prober)
    prober.result = RuntimeError("bug in the prober")
    clock.now += 10
    outcome = inline.check(prober)  # the refresh ran inline and raised: logged, not raised
    assert (outcome.source, outcome.result["diagnosis"]) == ("stale", "ok")
    assert not inline.probing()
    clock.now += 9
    assert inline.check(prober).source == "stale"
    assert prober.calls == 2, "no new attempt within a cache time of the failed one"
    prober.result = make_result("ok", latency_ms=7)
    clock.now += 1
    inline.check(prober)
    assert prober.calls == 3
    assert inline.check(prober).result["latency_ms"] == 7


def test_a_raising_first_probe_raises_and_the_next_check_probes_again(monitor):
    prober = FakeProber(RuntimeError("bug in the prober"))
    with pytest.raises(RuntimeError):
        monitor.check(prober)
    prober.result = make_result("ok")
    assert monitor.check(prober).source == "live"
    assert prober.calls == 2


def test_no_thread_for_the_refresh_is_logged_and_retried_a_window_later(clock):
    def no_thread(target: Callable[[], None]) -> None:
        raise RuntimeError("can't start new thread")

    monitor = GatewayMonitor(cache_s=10, clock=clock, spawn=no_thread)
    prober = FakeProber(make_result("ok"))
    monitor.check(prober)
    clock.now += 10
    assert monitor.check(prober).source == "stale"
    assert not monitor.probing()
    assert prober.calls == 1


# -- circuit breaker ---------------------------------------------------------------------


def test_two_failures_open_the_circuit_for_60_s(inline, clock):
    prober = FakeProber(make_result("network_or_unreachable", detail="refused"))
    inline.check(prober)
    assert inline.circuit_state()["state"] == "closed"
    clock.now += 11
    second = inline.check(prober, refresh=True)
    assert second.source == "live"
    assert second.circuit == {"state": "open", "consecutive_failures": 2, "retry_in_s": 60.0}
    clock.now += 30
    for refresh in (False, True):  # not even ?refresh=1 sends a request
        outcome = inline.check(prober, refresh=refresh)
        assert outcome.source == "circuit"
        assert outcome.result["diagnosis"] == "network_or_unreachable"
        assert outcome.result["ok"] is False
        assert "circuit open" in outcome.result["detail"]
        assert "no request sent" in outcome.result["detail"]
        assert "next probe in 30 s" in outcome.result["detail"]
        assert round(outcome.age_s) == 30
    assert prober.calls == 2
    clock.now += 30.1  # the trial probe after 60 s, in the background
    prober.result = make_result("ok")
    trial = inline.check(prober)
    assert (trial.source, trial.result["diagnosis"]) == ("stale", "network_or_unreachable")
    assert prober.calls == 3
    assert inline.circuit_state() == {
        "state": "closed",
        "consecutive_failures": 0,
        "retry_in_s": None,
    }
    assert inline.check(prober).source == "cache"


def test_background_failures_open_the_circuit_too(inline, clock):
    prober = FakeProber(make_result("upstream_model_error"))
    inline.check(prober)
    clock.now += 10
    assert inline.check(prober).source == "stale"  # its refresh failed: the second failure
    assert inline.circuit_state()["state"] == "open"
    for _second in range(59):
        clock.now += 1
        assert inline.check(prober).source == "circuit"
    assert prober.calls == 2, "no background refresh while the circuit is open"


def test_a_failed_trial_reopens_the_circuit(inline, clock):
    prober = FakeProber(make_result("upstream_model_error"))
    inline.check(prober)
    inline.check(prober, refresh=True)
    clock.now += 61
    assert inline.check(prober).source == "stale"  # the trial ran (inline) and failed
    assert prober.calls == 3
    assert inline.circuit_state()["state"] == "open"
    clock.now += 59
    assert inline.check(prober, refresh=True).source == "circuit"
    assert prober.calls == 3


def test_a_trial_with_refresh_waits_for_it(monitor, clock):
    prober = FakeProber(make_result("auth_failed"))
    monitor.check(prober)
    monitor.check(prober, refresh=True)
    clock.now += 60
    prober.result = make_result("ok")
    assert monitor.check(prober, refresh=True).source == "live"
    assert monitor.circuit_state()["state"] == "closed"


def test_a_success_between_failures_resets_the_count(monitor):
    prober = FakeProber(make_result("auth_failed"))
    monitor.check(prober)
    prober.result = make_result("ok")
    monitor.check(prober, refresh=True)
    prober.result = make_result("auth_failed")
    monitor.check(prober, refresh=True)
    assert monitor.circuit_state() == {
        "state": "closed",
        "consecutive_failures": 1,
        "retry_in_s": None,
    }


def test_status_api_reports_the_open_circuit(app, client, auth_headers, fake_prober):
    clock = Clock()
    monitor = GatewayMonitor(cache_s=10, failures_to_open=2, open_s=60, clock=clock)
    app.dependency_overrides[get_gateway_monitor] = lambda: monitor
    fake_prober.result = make_result("network_or_unreachable")
    client.get("/api/v1/status", headers=auth_headers)
    client.get("/api/v1/status", params={"refresh": 1}, headers=auth_headers)
    body = client.get("/api/v1/status", params={"refresh": 1}, headers=auth_headers).json()
    assert fake_prober.calls == 2
    assert body["ok"] is True
    assert body["probe_source"] == "circuit"
    assert body["circuit"]["state"] == "open"
    assert body["circuit"]["consecutive_failures"] == 2
    assert body["diagnosis"] == "network_or_unreachable"
    assert "circuit open" in body["gateway"]["detail"]


def test_status_api_serves_a_stale_result_with_its_age(app, client, auth_headers, fake_prober):
    clock = Clock()
    monitor = GatewayMonitor(cache_s=10, clock=clock, spawn=run_inline)
    app.dependency_overrides[get_gateway_monitor] = lambda: monitor
    client.get("/api/v1/status", headers=auth_headers)
    clock.now += 12.34
    body = client.get("/api/v1/status", headers=auth_headers).json()
    assert (body["probe_source"], body["probe_age_s"]) == ("stale", 12.3)
    assert fake_prober.calls == 2  # the refresh it started
    body = client.get("/api/v1/status", headers=auth_headers).json()
    assert (body["probe_source"], body["probe_age_s"]) == ("cache", 0.0)


def test_status_page_shows_the_state(web_client, fake_prober, memory):
    memory.mb = 200
    text = web_client.get("/web/status").text
    assert '<dd id="circuit">closed</dd>' in text
    assert '<dd id="memory">200 MB · read-only</dd>' in text
    assert '<dd id="probe-source">live</dd>' in text
    assert "(0" not in web_client.get("/web/status").text.split('id="probe-source">')[1][:6]
    web_client.get("/web/status?refresh=1")
    assert fake_prober.calls == 2


# -- memory ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MemTotal:  4000000 kB\nMemFree:  10 kB\nMemAvailable:  2048000 kB\n", 2000),
        ("MemTotal:  4000000 kB\nMemAvailable:   358400 kB\n", 350),
        ("MemTotal:  4000000 kB\n", None),
        ("MemAvailable: lots\n", None),
    ],
)
def test_read_mem_available(tmp_path, text, expected):
    path = tmp_path / "meminfo"
    path.write_text(text)
    assert read_mem_available_mb(path) == expected


def test_unreadable_meminfo_is_unknown(tmp_path):
    assert read_mem_available_mb(tmp_path / "missing") is None


def test_real_meminfo_is_read_when_present():
    value = read_mem_available_mb()
    assert value is None or value > 0


@pytest.mark.parametrize(
    ("mb", "read_only", "heavy"),
    [
        (349, True, False),
        (350, False, False),
        (511, False, False),
        (512, False, True),
        (None, False, True),
    ],
)
def test_memory_thresholds(mb, read_only, heavy):
    guard = MemoryGuard(read_only_below_mb=350, heavy_job_min_mb=512, reader=lambda: mb)
    assert guard.read_only() is read_only
    assert guard.heavy_jobs_allowed() is heavy


def test_available_memory_is_read_at_most_once_a_second(clock):
    reads: list[float] = []
    values = iter([1000, 300, 2000])

    def reader() -> int | None:
        reads.append(clock.now)
        return next(values)

    guard = MemoryGuard(read_only_below_mb=350, reader=reader, clock=clock)
    assert [guard.available_mb() for _request in range(50)] == [1000] * 50
    clock.now += 0.75
    assert guard.read_only() is False
    clock.now += 0.25
    assert guard.available_mb() == 300 and guard.read_only() is True
    clock.now += 5
    assert guard.available_mb() == 2000
    assert reads == [1000.0, 1001.0, 1006.0]


def test_memory_cache_can_be_turned_off():
    values = iter([1000, 300])
    guard = MemoryGuard(reader=lambda: next(values), cache_s=0)
    assert (guard.available_mb(), guard.available_mb()) == (1000, 300)


def test_thresholds_are_settings(monkeypatch):
    from clawdeploy_backend.main import create_app
    from clawdeploy_backend.settings import load_settings

    monkeypatch.setenv("MEMORY_READ_ONLY_MB", "1000")
    monkeypatch.setenv("GATEWAY_PROBE_CACHE_S", "3")
    monkeypatch.setenv("GATEWAY_CIRCUIT_OPEN_S", "5")
    app = create_app(load_settings())
    assert app.state.memory_guard.read_only(999) is True
    assert app.state.memory_guard.read_only(1000) is False
    assert app.state.gateway_monitor._cache_s == 3
    assert app.state.gateway_monitor._open_s == 5

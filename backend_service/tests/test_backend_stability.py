"""The runbook's stability rules: probe cache, circuit breaker, memory thresholds."""

import threading
import time

import pytest

from backend_helpers import FakeProber, make_result
from clawdeploy_backend.deps import get_gateway_monitor
from clawdeploy_backend.services.stability import (
    GatewayMonitor,
    MemoryGuard,
    read_mem_available_mb,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def monitor(clock) -> GatewayMonitor:
    return GatewayMonitor(cache_s=10, failures_to_open=2, open_s=60, clock=clock)


def test_cache_serves_for_cache_s(monitor, clock):
    prober = FakeProber(make_result("ok"))
    assert monitor.check(prober).source == "live"
    clock.now += 9.9
    outcome = monitor.check(prober)
    assert (outcome.source, round(outcome.age_s, 1)) == ("cache", 9.9)
    assert prober.calls == 1
    clock.now += 0.2
    assert monitor.check(prober).source == "live"
    assert prober.calls == 2


def test_refresh_skips_the_cache(monitor):
    prober = FakeProber(make_result("ok"))
    monitor.check(prober)
    assert monitor.check(prober, refresh=True).source == "live"
    assert prober.calls == 2


def test_two_failures_open_the_circuit_for_60_s(monitor, clock):
    prober = FakeProber(make_result("network_or_unreachable", detail="refused"))
    monitor.check(prober)
    assert monitor.circuit_state()["state"] == "closed"
    clock.now += 11
    second = monitor.check(prober)
    assert second.source == "live"
    assert second.circuit == {"state": "open", "consecutive_failures": 2, "retry_in_s": 60.0}
    clock.now += 30
    for refresh in (False, True):  # not even ?refresh=1 sends a request
        outcome = monitor.check(prober, refresh=refresh)
        assert outcome.source == "circuit"
        assert outcome.result["diagnosis"] == "network_or_unreachable"
        assert outcome.result["ok"] is False
        assert "circuit open" in outcome.result["detail"]
        assert "no request sent" in outcome.result["detail"]
        assert "next probe in 30 s" in outcome.result["detail"]
    assert prober.calls == 2
    clock.now += 30.1  # the trial probe after 60 s
    prober.result = make_result("ok")
    assert monitor.check(prober).source == "live"
    assert monitor.circuit_state() == {
        "state": "closed",
        "consecutive_failures": 0,
        "retry_in_s": None,
    }


def test_a_failed_trial_reopens_the_circuit(monitor, clock):
    prober = FakeProber(make_result("upstream_model_error"))
    monitor.check(prober)
    monitor.check(prober, refresh=True)
    clock.now += 61
    monitor.check(prober)
    assert prober.calls == 3
    assert monitor.circuit_state()["state"] == "open"
    clock.now += 59
    assert monitor.check(prober, refresh=True).source == "circuit"


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


def test_concurrent_callers_share_one_probe():
    monitor = GatewayMonitor(cache_s=10)
    started = threading.Event()

    class SlowProber(FakeProber):
        def probe(self):
            started.set()
            time.sleep(0.2)
            return super().probe()

    prober = SlowProber(make_result("ok"))
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(monitor.check(prober, refresh=True)))
        for _attempt in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert prober.calls == 1, "callers that waited for a probe must reuse its result"
    assert sorted(r.source for r in results) == ["cache"] * 4 + ["live"]


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


def test_status_page_shows_the_state(web_client, fake_prober, memory):
    memory.mb = 200
    text = web_client.get("/web/status").text
    assert '<dd id="circuit">closed</dd>' in text
    assert '<dd id="memory">200 MB · read-only</dd>' in text
    assert '<dd id="probe-source">live</dd>' in text
    assert "(0" not in web_client.get("/web/status").text.split('id="probe-source">')[1][:6]
    web_client.get("/web/status?refresh=1")
    assert fake_prober.calls == 2


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

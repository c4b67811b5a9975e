"""GET /api/v1/status: the envelope around a live gateway diagnosis, one per taxonomy code."""

import threading

import pytest

from backend_helpers import TAXONOMY, make_result
from clawdeploy_backend import __version__, gateway_probe


def test_probe_module_knows_every_diagnosis():
    assert set(gateway_probe.DIAGNOSES) == set(TAXONOMY)
    assert all(isinstance(fix, str) and fix for fix in gateway_probe.DIAGNOSES.values())


@pytest.mark.parametrize("diagnosis", TAXONOMY)
def test_status_reports_each_diagnosis(client, auth_headers, fake_prober, diagnosis):
    fake_prober.result = make_result(diagnosis, http_status=401, latency_ms=1234, detail="d")
    response = client.get("/api/v1/status", headers=auth_headers)

    assert response.status_code == 200
    body = response.json()
    # The request succeeded even when the gateway is down: that is the diagnosis' job.
    assert body["ok"] is True
    assert body["service"] == {"name": "clawdeploy-backend", "version": __version__}
    assert body["diagnosis"] == diagnosis
    gateway = body["gateway"]
    assert gateway["diagnosis"] == diagnosis
    assert gateway["ok"] is (diagnosis == "ok")
    assert gateway["fix"] == gateway_probe.DIAGNOSES[diagnosis]
    assert gateway["http_status"] == 401
    assert gateway["latency_ms"] == 1234
    assert gateway["detail"] == "d"
    assert fake_prober.calls == 1


def test_status_body_shape(client, auth_headers, fake_prober):
    fake_prober.result = make_result("ok", failing=["discord"], attempts=3, unexpected="x")
    body = client.get("/api/v1/status", headers=auth_headers).json()
    assert set(body) == {
        "ok",
        "trace_id",
        "service",
        "diagnosis",
        "gateway",
        "probe_source",
        "probe_age_s",
        "circuit",
        "read_only",
        "memory_available_mb",
        "executor",
        "state",
    }
    assert body["probe_source"] == "live"
    assert body["circuit"] == {"state": "closed", "consecutive_failures": 0, "retry_in_s": None}
    assert body["read_only"] is False
    assert body["memory_available_mb"] == 4096
    assert body["gateway"] == {
        "diagnosis": "ok",
        "ok": True,
        "http_status": 200,
        "latency_ms": 42,
        "fix": gateway_probe.DIAGNOSES["ok"],
        "detail": "",
        "reply": "pong",
        "health": {"ok": True, "status": "live"},
        "failing": ["discord"],
        "attempts": 3,
    }


def test_requests_within_the_cache_time_share_one_probe(client, auth_headers, fake_prober):
    sources = [client.get("/api/v1/status", headers=auth_headers).json() for _attempt in range(3)]
    assert fake_prober.calls == 1
    assert [b["probe_source"] for b in sources] == ["live", "cache", "cache"]
    fresh = client.get("/api/v1/status", params={"refresh": "1"}, headers=auth_headers).json()
    assert fresh["probe_source"] == "live"
    assert fake_prober.calls == 2


# -- the status path's per-request costs (issue 11, part 3) ----------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_status_requests_after_the_first_read_no_sqlite(
    app, client, auth_headers, fake_prober, monkeypatch
):
    """Once warm, ``/api/v1/status`` opens no database connection and sends no probe (the
    executor worker's own queue polls are not counted)."""
    from clawdeploy_backend.services.executor import jobs, service

    # Keep the in-memory figures from ageing while the test runs on a slow machine.
    monkeypatch.setattr(jobs, "SUMMARY_MAX_AGE_S", 3600.0)
    monkeypatch.setattr(service, "CODEX_INFO_MAX_AGE_S", 3600.0)
    store = app.state.store
    opened: list[str] = []
    raw = store._raw_connection

    def counting_connection():
        if threading.current_thread().name != "executor-worker":
            opened.append(threading.current_thread().name)
        return raw()

    monkeypatch.setattr(store, "_raw_connection", counting_connection)
    assert client.get("/api/v1/status", headers=auth_headers).status_code == 200
    opened.clear()
    for _request in range(20):
        assert client.get("/api/v1/status", headers=auth_headers).status_code == 200
    assert opened == []
    assert fake_prober.calls == 1


def test_queue_summary_follows_every_write_at_once(tmp_path):
    from clawdeploy_backend.services.executor.jobs import FAILED, JobStore
    from clawdeploy_backend.store import Store

    store = Store(tmp_path / "state.db")
    jobs = JobStore(store, clock=_Clock())  # the clock never moves: only writes refresh it
    assert jobs.queue_summary() == (0, None)

    def add():
        return jobs.add(task="t", cwd="/tmp", level="L3", danger_mode=False, trace_id="t")

    first, second, third = add(), add(), add()
    assert jobs.queue_summary() == (3, None)
    claimed = jobs.claim_next()
    assert claimed is not None and claimed.job_id == first.job_id
    assert jobs.queue_summary() == (2, first.job_id)
    assert jobs.request_cancel(third.job_id) == "queued"
    assert jobs.queue_summary() == (1, first.job_id)
    jobs.finish(first.job_id, state=FAILED, exit_code=1, error_code="x", error="x")
    assert jobs.queue_summary() == (1, None)
    assert jobs.queue_summary() == (jobs.counts()["queued"], jobs.running_job_id())
    assert jobs.get(second.job_id).state == "queued"


def test_queue_summary_rereads_after_its_max_age(tmp_path):
    """A write by another process (another JobStore here) shows within a second."""
    from clawdeploy_backend.services.executor.jobs import SUMMARY_MAX_AGE_S, JobStore
    from clawdeploy_backend.store import Store

    clock = _Clock()
    ours = JobStore(Store(tmp_path / "state.db"), clock=clock)
    theirs = JobStore(Store(tmp_path / "state.db"))
    assert ours.queue_summary() == (0, None)
    theirs.add(task="t", cwd="/tmp", level="L3", danger_mode=False, trace_id="t")
    assert ours.queue_summary() == (0, None)
    clock.now += SUMMARY_MAX_AGE_S
    assert ours.queue_summary() == (1, None)


def test_executor_info_looks_the_binary_up_at_most_once_a_second(settings, tmp_path):
    from clawdeploy_backend.audit import AuditLog
    from clawdeploy_backend.services.executor.service import CODEX_INFO_MAX_AGE_S, ExecutorService
    from clawdeploy_backend.store import Store

    clock = _Clock()
    audit = AuditLog(settings.audit_log_path, max_bytes=1 << 20, backup_count=1)
    executor = ExecutorService(settings, Store(settings.database_path), audit, clock=clock)
    lookups: list[float] = []
    real = executor.locator.info

    def counting_info():
        lookups.append(clock.now)
        return real()

    executor.locator.info = counting_info  # type: ignore[method-assign]
    for _request in range(10):
        executor.info()
    assert lookups == [1000.0]
    executor.locator.name = str(tmp_path / "elsewhere" / "codex")  # a new name: at once
    assert executor.info()["available"] is False
    clock.now += CODEX_INFO_MAX_AGE_S
    executor.info()
    assert lookups == [1000.0, 1000.0, 1000.0 + CODEX_INFO_MAX_AGE_S]

"""GET /api/v1/status: the envelope around a live gateway diagnosis, one per taxonomy code."""

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

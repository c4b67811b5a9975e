"""/metrics (Prometheus, bearer token) and the audit log's format and rotation."""

import json

from prometheus_client.parser import text_string_to_metric_families

from backend_helpers import make_result
from clawdeploy_backend.audit import AuditLog


def _samples(text):
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_by_route_template_and_probes(client, auth_headers, fake_prober):
    client.get("/api/v1/status", headers=auth_headers)
    client.get("/api/v1/status", headers=auth_headers)  # cached: no second probe
    fake_prober.result = make_result("upstream_model_error")
    client.get("/api/v1/status", params={"refresh": 1}, headers=auth_headers)
    client.get("/api/v1/models")  # 401
    client.get("/no/such/thing")
    response = client.get("/metrics", headers=auth_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    key = "clawdeploy_backend_http_requests_total"
    assert samples[(key, (("method", "GET"), ("route", "/api/v1/status"), ("status", "200")))] == 3
    assert samples[(key, (("method", "GET"), ("route", "/api/v1/models"), ("status", "401")))] == 1
    assert samples[(key, (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1
    assert not any("/no/such/thing" in str(labels) for _value, labels in samples)
    hist = "clawdeploy_backend_http_request_duration_seconds_count"
    assert samples[(hist, (("method", "GET"), ("route", "/api/v1/status")))] == 3
    probes = "clawdeploy_backend_gateway_probes_total"
    assert samples[(probes, (("diagnosis", "ok"),))] == 1
    assert samples[(probes, (("diagnosis", "upstream_model_error"),))] == 1
    assert samples[("clawdeploy_backend_gateway_circuit_open", ())] == 0
    assert samples[("clawdeploy_backend_read_only", ())] == 0
    assert samples[("clawdeploy_backend_memory_available_bytes", ())] == 4096 * 1024 * 1024


def test_metrics_need_the_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 403


def test_each_app_has_its_own_registry(settings):
    from clawdeploy_backend.main import create_app

    assert create_app(settings).state.metrics.registry is not (
        create_app(settings).state.metrics.registry
    )


def test_audit_line_format_and_masking(tmp_path):
    secret = "s3cr3t-value-for-test"
    log = AuditLog(
        tmp_path / "logs" / "audit.jsonl", max_bytes=10_000, backup_count=2, secrets=(secret,)
    )
    log.write(
        trace_id="t1",
        action="models.pull",
        actor="api",
        outcome="ok",
        detail={"count": 2, "error": f"token {secret}", "blob": {"key": secret}},
    )
    log.close()
    path = tmp_path / "logs" / "audit.jsonl"
    assert path.stat().st_mode & 0o777 == 0o600
    [line] = path.read_text().splitlines()
    record = json.loads(line)
    assert set(record) == {"ts", "trace_id", "action", "actor", "outcome", "detail"}
    assert record["ts"].endswith("+00:00")
    assert record["detail"] == {"count": 2, "error": "token ********", "blob": "dict"}
    assert secret not in line


def test_audit_log_rotates_by_size(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=2048, backup_count=3)
    for index in range(200):
        log.write(
            trace_id=f"t{index}", action="a", actor="api", outcome="ok", detail={"pad": "x" * 50}
        )
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2", "audit.jsonl.3"]
    for path in tmp_path.iterdir():
        assert path.stat().st_size <= 2048
        for line in path.read_text().splitlines():
            json.loads(line)
    assert '"t199"' in (tmp_path / "audit.jsonl").read_text()


def test_audit_settings_reach_the_app(settings):
    from clawdeploy_backend.main import create_app

    app = create_app(
        settings.model_copy(update={"audit_log_max_bytes": 4096, "audit_log_backup_count": 7})
    )
    assert app.state.audit._max_bytes == 4096 and app.state.audit._backup_count == 7
    assert app.state.audit.path == settings.backend_log_dir / "audit.jsonl"

"""Tests of the status table rendering."""

from __future__ import annotations

from ansible_collections.clawdeploy.openclaw.plugins.filter.status_table import status_table

OK_ROW = {
    "instance": "main",
    "version": "2026.9.6",
    "port": 18789,
    "container": "running/healthy",
    "diagnosis": "ok",
    "ok": True,
    "latency_ms": 412,
    "detail": "",
    "fix": "Nothing to fix.",
    "url": "http://127.0.0.1:18789",
}
BACKEND = {
    "version": "0.1.0",
    "port": 18889,
    "unit": "active",
    "diagnosis": "ok",
    "ok": True,
    "latency_ms": 35,
    "detail": "",
    "fix": "",
    "url": "http://127.0.0.1:18889/web/status",
}


def test_table_lists_every_component_aligned_with_urls():
    lines = status_table([OK_ROW], BACKEND, "h1").splitlines()
    assert lines[0] == "host h1"
    header, gateway, backend = lines[1:4]
    assert header.split() == [
        "COMPONENT",
        "INSTANCE",
        "VERSION",
        "PORT",
        "STATE",
        "DIAGNOSIS",
        "LATENCY",
        "ROLLBACK",
        "TO",
    ]
    assert gateway.split()[:6] == ["gateway", "main", "2026.9.6", "18789", "running/healthy", "ok"]
    assert backend.split()[:6] == ["backend", "-", "0.1.0", "18889", "active", "ok"]
    assert header.index("DIAGNOSIS") == gateway.index("ok ") == backend.index("ok ")
    assert "gateway main: http://127.0.0.1:18789" in lines
    assert "backend: http://127.0.0.1:18889/web/status" in lines
    assert not any("Fix:" in line for line in lines)


def test_rows_not_ok_get_their_fix():
    bad = {
        **OK_ROW,
        "instance": "alice",
        "ok": "False",
        "diagnosis": "auth_failed",
        "detail": "HTTP 401",
        "fix": "Use the same token.",
    }
    text = status_table([OK_ROW, bad], None)
    assert "gateway alice: auth_failed (HTTP 401). Fix: Use the same token." in text
    assert "backend" not in text


def test_rollback_target_is_shown_per_instance():
    upgraded = {**OK_ROW, "previous": "2026.8.2 (20261123T184900Z-2026.8.2)"}
    lines = status_table([upgraded, {**OK_ROW, "instance": "bob"}], BACKEND).splitlines()
    header, main, bob, backend = lines[:4]
    assert main[header.index("ROLLBACK TO") :] == "2026.8.2 (20261123T184900Z-2026.8.2)"
    assert bob[header.index("ROLLBACK TO") :] == "-"
    assert backend.endswith(" -")


def test_a_cells_url_names_its_colleague():
    rows = [
        {"instance": "main", "display_name": "main", "url": "http://127.0.0.1:18789", "ok": True},
        {"instance": "li", "display_name": "李雷", "url": "http://127.0.0.1:18800", "ok": True},
    ]
    text = status_table(rows)
    assert "gateway main: http://127.0.0.1:18789" in text
    assert "gateway li (李雷): http://127.0.0.1:18800" in text

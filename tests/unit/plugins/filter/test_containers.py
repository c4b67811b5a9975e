"""Tests of reading gateway container states from docker inspect's three-field format."""

from __future__ import annotations

from ansible_collections.clawdeploy.openclaw.plugins.filter.containers import (
    openclaw_container_states,
)


def test_states_and_labels():
    out = (
        "/openclaw-gateway-main running healthy local/openclaw:2026.9.6\n"
        "/openclaw-gateway-b running starting local/openclaw:2026.8.2\n"
        "/openclaw-gateway-c exited - local/openclaw:2026.8.2\n"
        "garbage\n"
    )
    states = openclaw_container_states(out)
    assert set(states) == {"openclaw-gateway-main", "openclaw-gateway-b", "openclaw-gateway-c"}
    assert states["openclaw-gateway-main"]["label"] == "running/healthy"
    assert states["openclaw-gateway-main"]["version"] == "2026.9.6"
    assert states["openclaw-gateway-b"]["label"] == "running/starting"
    assert states["openclaw-gateway-b"]["running"] is True
    assert states["openclaw-gateway-c"] == {
        "status": "exited",
        "health": "none",
        "image": "local/openclaw:2026.8.2",
        "version": "2026.8.2",
        "running": False,
        "label": "exited",
    }
    assert openclaw_container_states("") == {}

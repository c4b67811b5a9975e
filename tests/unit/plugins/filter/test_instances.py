"""Tests of the instance model: resolved instances carry no secret, and every failing field
of gateway_instances gets its own message with the value and the rule."""

from __future__ import annotations

import json
import secrets

import pytest

from ansible_collections.clawdeploy.openclaw.plugins.filter.gateway_config import (
    openclaw_gateway_config,
)
from ansible_collections.clawdeploy.openclaw.plugins.filter.instances import (
    NAME_PATTERN,
    openclaw_instance_errors,
    openclaw_instances,
    openclaw_provider_keys,
    version_problem,
)

KEY = secrets.token_urlsafe(24)
DEFAULTS = {
    "version": "2026.9.6",
    "providers": {
        "stub": {"base_url": "http://host.docker.internal:1/v1", "api_key": KEY, "models": ["m"]}
    },
    "default_model": "stub/m",
    "config": {"a": {"b": 1}},
    "extra_hosts": [],
    "memory_limit": "2g",
    "pids_limit": 512,
    "root": "/opt/oc",
    "image_repository": "local/openclaw",
    "bind_address": "0.0.0.0",
}


def test_resolved_instance_has_every_derived_name():
    [main] = openclaw_instances([{"name": "main", "port": "18789"}], DEFAULTS)
    assert main["port"] == 18789 and main["state"] == "started"
    assert main["image"] == "local/openclaw:2026.9.6"
    assert main["dir"] == "/opt/oc/instances/main"
    assert main["env_file"] == "/opt/oc/instances/main/.env"
    assert main["staging"] == "/opt/oc/instances/main/staging"
    assert main["history"] == "/opt/oc/releases/main.json"
    assert main["set_aside"] == "/opt/oc/set-aside/main"
    assert main["config_file"] == "/opt/oc/instances/main/config/openclaw_sidecar.config.json5"
    assert (main["project"], main["container"]) == ("openclaw-main", "openclaw-gateway-main")
    assert main["probe_url"] == "http://127.0.0.1:18789"  # 0.0.0.0 is probed on loopback
    assert main["url"] == "http://0.0.0.0:18789"


def test_resolved_instances_hold_no_provider_key():
    own = secrets.token_urlsafe(24)
    raw = [
        {"name": "a", "port": 20000},
        {"name": "b", "port": 20001, "providers": {"x": {"base_url": "h", "api_key": own}}},
    ]
    resolved = openclaw_instances(raw, DEFAULTS)
    text = json.dumps(resolved)
    assert KEY not in text and own not in text
    assert resolved[0]["providers"]["stub"]["api_key_env"] == "OPENCLAW_PROVIDER_STUB_API_KEY"
    assert resolved[1]["providers"]["x"]["api_key_env"] == "OPENCLAW_PROVIDER_X_API_KEY"
    # The config built from a resolved instance still references the key by env name.
    config = openclaw_gateway_config(resolved[0])
    assert config["models"]["providers"]["stub"]["apiKey"]["id"] == "OPENCLAW_PROVIDER_STUB_API_KEY"
    assert openclaw_provider_keys(raw[1]["providers"]) == {"OPENCLAW_PROVIDER_X_API_KEY": own}


def test_resolving_a_resolved_instance_with_another_version_rederives():
    [main] = openclaw_instances(
        [{"name": "main", "port": 18789, "config": {"a": {"c": 2}}}], DEFAULTS
    )
    [again] = openclaw_instances([{**main, "version": "2026.8.2"}], DEFAULTS)
    assert again["image"] == "local/openclaw:2026.8.2"
    assert again["config"] == {"a": {"b": 1, "c": 2}}
    assert again["providers"] == main["providers"]
    assert {k: v for k, v in again.items() if k not in ("version", "image")} == {
        k: v for k, v in main.items() if k not in ("version", "image")
    }


def test_good_list_has_no_errors():
    assert openclaw_instance_errors([{"name": "main", "port": 18789}], DEFAULTS) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"name": "main", "port": 22},
            "instance main: port 22 must be an integer from 1024 to 65535",
        ),
        ({"name": "main", "port": 70000}, "instance main: port 70000 must be"),
        ({"name": "main", "port": "x"}, "instance main: port 'x' must be"),
        ({"name": "main"}, "instance main: port None must be"),
        ({"name": "Bad_Name", "port": 18789}, "name 'Bad_Name' must be 1-40 lowercase"),
        ({"name": "main", "port": 18789, "version": "2026.13.1"}, "is not a real date (month"),
        ({"name": "main", "port": 18789, "version": "2026.2.30"}, "is not a real date (day"),
        ({"name": "main", "port": 18789, "version": "latest"}, "must be a release date"),
        ({"name": "main", "port": 18789, "state": "up"}, "state 'up' must be started or stopped"),
        ({"name": "main", "port": 18789, "memory_limit": "4m"}, "below Docker's minimum of 6m"),
        ({"name": "main", "port": 18789, "memory_limit": "lots"}, "memory_limit 'lots' must be"),
        ({"name": "main", "port": 18789, "pids_limit": 2}, "pids_limit 2 must be"),
        (
            {"name": "main", "port": 18789, "providers": {"p": {"base_url": "h", "api_key": "  "}}},
            "instance main: provider p has an empty api_key (got a blank string)",
        ),
        (
            {"name": "main", "port": 18789, "providers": {"p": {"base_url": "h", "api_key": ""}}},
            "provider p has an empty api_key",
        ),
        (
            {
                "name": "main",
                "port": 18789,
                "providers": {"p": {"base_url": "https://api.x.com/v1"}},
            },
            "provider p (https://api.x.com/v1) has no api_key; a remote provider needs one",
        ),
        ("main", "gateway_instances[0] must be a mapping"),
    ],
)
def test_each_bad_field_is_named_with_its_value(raw, message):
    errors = openclaw_instance_errors([raw], DEFAULTS)
    assert any(message in e for e in errors), errors


def test_one_message_per_failing_field():
    errors = openclaw_instance_errors(
        [{"name": "main", "port": 22, "version": "2026.13.1"}], DEFAULTS
    )
    assert len(errors) == 2
    assert errors[0].startswith("instance main: port 22")
    assert errors[1].startswith("instance main: version '2026.13.1'")


def test_duplicates_and_empty_list():
    errors = openclaw_instance_errors(
        [{"name": "a", "port": 20000}, {"name": "a", "port": "20000"}], DEFAULTS
    )
    assert "gateway_instances: name a is used by 2 instances; each instance needs its own" in errors
    assert (
        "gateway_instances: port 20000 is used by 2 instances; each instance needs its own"
        in errors
    )
    assert openclaw_instance_errors([], DEFAULTS)[0].startswith("gateway_instances must list")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://localhost/v1",
        "http://10.0.0.5/v1",
        "http://ollama:11434",
    ],
)
def test_local_providers_need_no_key(url):
    raw = [{"name": "main", "port": 18789, "providers": {"p": {"base_url": url}}}]
    assert openclaw_instance_errors(raw, DEFAULTS) == []


def test_a_remote_provider_may_say_it_needs_no_key():
    spec = {"base_url": "https://api.x.com/v1", "api_key_required": False}
    raw = [{"name": "main", "port": 18789, "providers": {"p": spec}}]
    assert openclaw_instance_errors(raw, DEFAULTS) == []


def test_defaults_are_checked_too():
    bad = {**DEFAULTS, "version": "2026.0.1", "providers": {"s": {"base_url": "h", "api_key": ""}}}
    errors = openclaw_instance_errors([{"name": "main", "port": 18789}], bad)
    assert any(
        e.startswith("gateway_openclaw_version '2026.0.1' is not a real date") for e in errors
    )
    assert any(e.startswith("gateway_providers: provider s has an empty api_key") for e in errors)


@pytest.mark.parametrize(
    "version", ["2026.9.6", "2026.12.31", "2024.2.29", "2026.9.6-beta.1", "2026.6.33", "2026.7.35"]
)
def test_real_dates_and_maintenance_days_are_versions(version):
    # npm publishes openclaw 2026.6.33..35 and 2026.7.33..35: days past the month's end.
    assert version_problem(version) is None


@pytest.mark.parametrize("version", ["2026.13.33", "2026.0.40", "2026.2.30", "2025.2.29"])
def test_a_maintenance_day_needs_a_real_month(version):
    assert "is not a real date" in version_problem(version)


def test_the_name_rule_is_the_release_history_rule():
    import re

    from ansible_collections.clawdeploy.openclaw.plugins.module_utils import release

    for name in ("main", "a", "alice-2", "x" * 40):
        assert re.match(NAME_PATTERN, name)
        release.validate_instance(name)
    for name in ("-a", "a-", "A", "x" * 41):
        assert not re.match(NAME_PATTERN, name)


def test_cpus_cell_and_display_name_are_resolved():
    [main, cell] = openclaw_instances(
        [
            {"name": "main", "port": 18789},
            {"name": "li", "port": 18800, "cell": True, "display_name": "李雷", "cpus": "1.5"},
        ],
        DEFAULTS,
    )
    assert (main["cpus"], main["cell"], main["display_name"]) == (None, False, "main")
    assert (cell["cpus"], cell["cell"], cell["display_name"]) == (1.5, True, "李雷")
    [limited] = openclaw_instances([{"name": "main", "port": 18789}], {**DEFAULTS, "cpus": 2})
    assert limited["cpus"] == 2.0
    [unlimited] = openclaw_instances([{"name": "main", "port": 18789}], {**DEFAULTS, "cpus": 0})
    assert unlimited["cpus"] is None


@pytest.mark.parametrize("cpus", [0, -1, "lots", True, float("inf")])
def test_a_cpu_limit_must_be_a_positive_number(cpus):
    errors = openclaw_instance_errors([{"name": "main", "port": 18789, "cpus": cpus}], DEFAULTS)
    assert errors == [
        "instance main: cpus %r must be a positive number of CPUs such as 1 or 1.5" % cpus
    ]
    errors = openclaw_instance_errors([{"name": "main", "port": 18789}], {**DEFAULTS, "cpus": cpus})
    expected = (
        []
        if cpus == 0
        else ["gateway_cpus %r must be a positive number of CPUs such as 1 or 1.5" % cpus]
    )
    assert errors == expected

"""Tests of the OpenClaw config builder (version-aware keys, providers, secrets by reference)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.clawdeploy.openclaw.plugins.filter.gateway_config import (
    openclaw_gateway_config,
    openclaw_provider_env,
    parse_version,
)

STUB = {
    "base_url": "http://host.docker.internal:18790/v1",
    "api_key": "sk-test",
    "models": [{"id": "stub-model", "name": "Stub Model"}],
}


def build(**kw):
    return openclaw_gateway_config({"version": "2026.9.6", **kw})


def test_base_config_has_token_auth_responses_on_and_no_update_check():
    config = build()
    assert config["gateway"]["mode"] == "local"
    assert config["gateway"]["bind"] == "lan"
    assert config["gateway"]["auth"] == {"mode": "token"}
    assert config["gateway"]["http"]["endpoints"]["responses"]["enabled"] is True
    assert config["gateway"]["http"]["endpoints"]["chatCompletions"]["enabled"] is False
    assert config["update"]["checkOnStart"] is False


@pytest.mark.parametrize(
    ("version", "has_catalog_key"),
    [
        ("2026.3.24", False),
        ("2026.5.18", False),
        ("2026.8.2", True),
        ("2026.9.6", True),
        ("2026.12.1", True),
    ],
)
def test_catalog_refresh_key_follows_the_version(version, has_catalog_key):
    config = openclaw_gateway_config({"version": version})
    assert ("catalogRefresh" in config.get("models", {})) is has_catalog_key


def test_provider_key_is_a_secret_ref_never_the_value():
    config = build(providers={"stub": STUB}, default_model="stub/stub-model")
    provider = config["models"]["providers"]["stub"]
    assert provider["apiKey"] == {
        "source": "env",
        "provider": "default",
        "id": "OPENCLAW_PROVIDER_STUB_API_KEY",
    }
    assert "sk-test" not in repr(config)
    assert provider["api"] == "openai-completions"
    assert config["agents"]["defaults"]["model"]["primary"] == "stub/stub-model"


def test_provider_without_key_has_no_api_key_field():
    provider = build(providers={"local": {**STUB, "api_key": ""}})["models"]["providers"]["local"]
    assert "apiKey" not in provider


def test_overrides_merge_deeply_and_last():
    config = build(
        config={
            "gateway": {"http": {"endpoints": {"chatCompletions": {"enabled": True}}}},
            "logging": {"level": "debug"},
        }
    )
    assert config["gateway"]["http"]["endpoints"]["chatCompletions"]["enabled"] is True
    assert config["gateway"]["http"]["endpoints"]["responses"]["enabled"] is True
    assert config["logging"] == {"level": "debug"}


def test_provider_options_merge_into_the_provider():
    config = build(
        providers={"stub": {**STUB, "options": {"request": {"allowPrivateNetwork": True}}}}
    )
    assert config["models"]["providers"]["stub"]["request"] == {"allowPrivateNetwork": True}


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        ({"version": "latest"}, "YYYY.M.D"),
        ({"version": "2026.9.6", "providers": {"stub": {"models": [{"id": "m"}]}}}, "base_url"),
        (
            {"version": "2026.9.6", "providers": {"stub": {"base_url": "http://x/v1"}}},
            "at least one model",
        ),
        ({"version": "2026.9.6", "providers": {"Bad Id": STUB}}, "lowercase"),
        (
            {"version": "2026.9.6", "providers": {"stub": STUB}, "default_model": "stub/nope"},
            "stub/stub-model",
        ),
        ({"version": "2026.9.6", "default_model": "gpt"}, "known: none"),
    ],
)
def test_bad_input_names_what_to_fix(instance, message):
    with pytest.raises(AnsibleFilterError, match=message):
        openclaw_gateway_config(instance)


def test_provider_env_names():
    assert openclaw_provider_env(
        {"stub": STUB, "my-llm": {**STUB}, "nokey": {**STUB, "api_key": None}}
    ) == {"my-llm": "OPENCLAW_PROVIDER_MY_LLM_API_KEY", "stub": "OPENCLAW_PROVIDER_STUB_API_KEY"}


def test_parse_version():
    assert parse_version("2026.9.6") == (2026, 9, 6)
    assert parse_version("2026.9.1-beta.1") == (2026, 9, 1)


def test_a_cell_allows_its_control_ui_from_its_host_port_only():
    cell = openclaw_gateway_config({"version": "2026.9.6", "cell": True, "port": 18800})
    assert cell["gateway"]["controlUi"]["allowedOrigins"] == [
        "http://127.0.0.1:18800",
        "http://localhost:18800",
    ]
    # The classic instance (and a cell on the container's own port) keep OpenClaw's default.
    for instance in ({"port": 18800}, {"cell": True, "port": 18789}):
        config = openclaw_gateway_config({"version": "2026.9.6", **instance})
        assert "controlUi" not in config["gateway"]

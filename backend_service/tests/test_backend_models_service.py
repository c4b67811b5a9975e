"""services/models.py: the AstrBot cmd_config.json and plugin export parsers, source modes,
and every error code, against the fixture files in fixtures/astr/."""

import json
import shutil
from pathlib import Path

import pytest

from clawdeploy_backend.services.models import (
    ModelSyncService,
    SyncError,
    parse_cmd_config,
    parse_plugin_export,
)
from clawdeploy_backend.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "astr"


def _load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8-sig"))


def _by_id(result):
    return {m["provider_id"]: m for m in result.models}


def test_realistic_cmd_config():
    result = parse_cmd_config(_load("cmd_config.json"))
    models = _by_id(result)
    assert list(models) == ["gpt-4o-mini", "deepseek-chat", "gemini-flash"]
    assert models["gpt-4o-mini"] == {
        "provider_id": "gpt-4o-mini",
        "model": "gpt-4o-mini",
        "provider_type": "openai_chat_completion",
        "base_url": "https://api.openai.example/v1",
        "enabled": True,
        "is_default": False,
    }
    # model from model_config.model; the api_base's query (a key) is dropped
    assert models["deepseek-chat"]["model"] == "deepseek-chat"
    assert models["deepseek-chat"]["base_url"] == "https://api.deepseek.example/v1"
    assert models["gemini-flash"]["provider_type"] == "googlegenai_chat_completion"
    assert result.default_provider_id == "deepseek-chat"
    assert [m["provider_id"] for m in result.models if m["is_default"]] == ["deepseek-chat"]
    assert result.warnings == []


def test_bom_prefixed_file_is_read(tmp_path):
    assert (FIXTURES / "cmd_config_bom.json").read_bytes().startswith(b"\xef\xbb\xbf")
    service = ModelSyncService(
        Store(tmp_path / "s.db"), "cmd_config_only", FIXTURES / "cmd_config_bom.json", None
    )
    result = service.pull()
    assert len(result.models) == 3
    assert result.default_provider_id == "deepseek-chat"


def test_disabled_and_legacy_providers():
    models = _by_id(parse_cmd_config(_load("cmd_config_disabled.json")))
    assert models["legacy-openai"]["enabled"] is True
    assert models["legacy-openai"]["is_default"] is True
    # user info in the URL (a key) is dropped
    assert models["legacy-openai"]["base_url"] == "https://api.openai.example/v1"
    assert models["legacy-openai"]["model"] == "gpt-4.1"
    assert models["old-claude"]["enabled"] is False
    assert models["old-claude"]["provider_type"] == "anthropic_chat_completion"
    assert models["ollama-local"] == {
        "provider_id": "ollama-local",
        "model": "qwen2.5:7b",
        "provider_type": "openai_chat_completion",
        "base_url": "http://127.0.0.1:11434/v1",
        "enabled": False,
        "is_default": False,
    }


def test_dangling_provider_source_id_falls_back_with_warnings():
    result = parse_cmd_config(_load("cmd_config_dangling_source.json"))
    models = _by_id(result)
    assert list(models) == ["ok-provider", "orphan"]
    assert models["ok-provider"]["base_url"] == "https://api.real.example/v1"
    assert models["orphan"]["base_url"] == "https://fallback.example/v1"
    assert models["orphan"]["provider_type"] == "openai_chat_completion"
    text = " | ".join(result.warnings)
    assert "deleted_source" in text
    assert "provider[2] has no id" in text and "provider[3] has no id" in text
    assert "no-such-provider" in text
    assert result.default_provider_id is None


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("cmd_config_root_list.json", "astr_config_parse_failed"),
        ("cmd_config_root_string.json", "astr_config_parse_failed"),
        ("cmd_config_provider_not_list.json", "astr_config_parse_failed"),
        ("cmd_config_empty_providers.json", "astr_provider_empty"),
    ],
)
def test_cmd_config_shape_errors(name, code):
    with pytest.raises(SyncError) as caught:
        parse_cmd_config(_load(name))
    assert caught.value.error_code == code


def test_plugin_export():
    result = parse_plugin_export(_load("plugin_export.json"))
    models = _by_id(result)
    assert list(models) == ["gpt-4o-mini", "deepseek-chat", "claude"]
    assert result.default_provider_id == "deepseek-chat"
    assert models["claude"] == {
        "provider_id": "claude",
        "model": "claude-sonnet",
        "provider_type": "anthropic_chat_completion",
        "base_url": "https://api.anthropic.example",
        "enabled": False,
        "is_default": False,
    }


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ([], "plugin_export_parse_failed"),
        ("x", "plugin_export_parse_failed"),
        ({}, "plugin_export_parse_failed"),
        ({"providers": {"a": 1}}, "plugin_export_parse_failed"),
        ({"providers": []}, "astr_provider_empty"),
        ({"providers": [{"model": "no-id"}, 3]}, "astr_provider_empty"),
    ],
)
def test_plugin_export_errors(data, code):
    with pytest.raises(SyncError) as caught:
        parse_plugin_export(data)
    assert caught.value.error_code == code


def test_using_provider_as_object_and_duplicates():
    result = parse_plugin_export(
        {
            "providers": [{"id": "a", "model": "1"}, {"id": "a", "model": "2"}, {"id": "b"}],
            "using_provider": {"id": "b"},
        }
    )
    assert [(m["provider_id"], m["model"]) for m in result.models] == [("a", "2"), ("b", "")]
    assert result.default_provider_id == "b"
    assert any("twice" in w for w in result.warnings)


def _service(tmp_path, mode, cmd=None, export=None):
    astr = tmp_path / "astr"
    astr.mkdir(exist_ok=True)
    cmd_path, export_path = astr / "cmd_config.json", astr / "export.json"
    if cmd:
        shutil.copy(FIXTURES / cmd, cmd_path)
    if export:
        shutil.copy(FIXTURES / export, export_path)
    return ModelSyncService(Store(tmp_path / "s.db"), mode, cmd_path, export_path)


def test_default_mode_prefers_cmd_config(tmp_path):
    service = _service(tmp_path, "cmd_config_then_export", "cmd_config.json", "plugin_export.json")
    assert service.pull().source == "cmd_config"
    assert {m.source for m in service.store.list_models()} == {"cmd_config"}


@pytest.mark.parametrize(
    "cmd", [None, "cmd_config_truncated.json", "cmd_config_empty_providers.json"]
)
def test_default_mode_falls_back_to_the_export(tmp_path, cmd):
    service = _service(tmp_path, "cmd_config_then_export", cmd, "plugin_export.json")
    result = service.pull()
    assert result.source == "plugin_export"
    assert len(service.store.list_models()) == 3


@pytest.mark.parametrize(
    ("mode", "cmd", "export", "code"),
    [
        ("cmd_config_only", None, "plugin_export.json", "astr_config_not_found"),
        ("cmd_config_only", "cmd_config_truncated.json", None, "astr_config_parse_failed"),
        ("cmd_config_only", "cmd_config_empty_providers.json", None, "astr_provider_empty"),
        ("plugin_export_only", "cmd_config.json", None, "plugin_export_not_found"),
        ("plugin_export_only", None, "plugin_export_root_list.json", "plugin_export_parse_failed"),
        ("cmd_config_then_export", None, None, "pull_all_sources_failed"),
    ],
)
def test_pull_error_codes(tmp_path, mode, cmd, export, code):
    service = _service(tmp_path, mode, cmd, export)
    service.store.replace_models([{"provider_id": "kept"}], "import")
    with pytest.raises(SyncError) as caught:
        service.pull()
    assert caught.value.error_code == code
    # a failed pull changes nothing
    assert [m.provider_id for m in service.store.list_models()] == ["kept"]


def test_all_sources_failed_lists_each_attempt(tmp_path):
    service = _service(tmp_path, "cmd_config_then_export", "cmd_config_root_list.json", None)
    with pytest.raises(SyncError) as caught:
        service.pull()
    assert caught.value.attempts == [
        {
            "source": "cmd_config",
            "error_code": "astr_config_parse_failed",
            "error": "cmd_config.json: the root is not an object",
        },
        {
            "source": "plugin_export",
            "error_code": "plugin_export_not_found",
            "error": caught.value.attempts[1]["error"],
        },
    ]


def test_plugin_export_path_unset(tmp_path):
    service = ModelSyncService(Store(tmp_path / "s.db"), "plugin_export_only", tmp_path, None)
    with pytest.raises(SyncError) as caught:
        service.pull()
    assert caught.value.error_code == "plugin_export_not_found"


def test_parse_error_message_does_not_quote_the_file(tmp_path):
    secret_line = '{"provider": [{"id": "a", "key": "sk-quoted-in-error?"'
    path = tmp_path / "cmd_config.json"
    path.write_text(secret_line)
    service = ModelSyncService(Store(tmp_path / "s.db"), "cmd_config_only", path, None)
    with pytest.raises(SyncError) as caught:
        service.pull()
    assert "sk-quoted" not in caught.value.error


def test_non_utf8_file_is_a_parse_error(tmp_path):
    path = tmp_path / "cmd_config.json"
    path.write_bytes(b'{"provider": "\xff\xfe"}')
    service = ModelSyncService(Store(tmp_path / "s.db"), "cmd_config_only", path, None)
    with pytest.raises(SyncError) as caught:
        service.pull()
    assert caught.value.error_code == "astr_config_parse_failed"

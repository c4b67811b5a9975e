"""Model sync from AstrBot: provider *metadata* only, never a key (no HTTP in here).

Sources, in the order ``ASTR_PULL_SOURCE_MODE`` gives:

* AstrBot's ``data/cmd_config.json`` (``ASTR_CMD_CONFIG_PATH``), read as ``utf-8-sig`` (the
  file often starts with a BOM): providers in ``provider[]`` (``id``, ``enable``, ``model``
  or ``model_config.model``); ``provider_source_id`` points into ``provider_sources[]`` for
  ``type`` and ``api_base`` (a dangling id falls back to the provider's own fields, with a
  warning); the default is ``provider_settings.default_provider_id``.
* The plugin's export JSON (``ASTR_PLUGIN_EXPORT_PATH``, or the body of
  ``POST /api/v1/models/import-astr``): ``providers[]`` (``provider_id``/``id``, ``model``,
  ``provider_type``/``type``, ``base_url``/``api_base``, ``enabled``/``enable``) and
  ``using_provider`` (an id, or an object with one) for the default.

Modes: ``cmd_config_then_export`` (default; the export is tried when cmd_config fails),
``cmd_config_only``, ``plugin_export_only``. With ``require_enabled``
(``ASTR_PULL_REQUIRE_ENABLED_PROVIDER``, the seed's knob, on by default) a pull keeps only the
providers AstrBot has enabled and says so in its warnings (``only_enabled_provider=true``,
as the seed); a source left with none counts as ``astr_provider_empty``. An import keeps
what the body lists. Failures raise :class:`SyncError` with one of
``astr_config_not_found``, ``astr_config_parse_failed``, ``astr_provider_empty``,
``plugin_export_not_found``, ``plugin_export_parse_failed``, ``pull_all_sources_failed``.

Only ``provider_id``, ``model``, ``provider_type``, ``base_url`` (without user info, query
or fragment, where keys like ``?key=`` hide), ``enabled`` and ``is_default`` are ever read
out of an entry; ``key``, ``api_key``, ``keys`` and everything else are never touched.
"""

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..redact import display_url
from ..store import Store

SOURCE_CMD_CONFIG = "cmd_config"
SOURCE_PLUGIN_EXPORT = "plugin_export"
SOURCE_IMPORT = "import"
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_FIELD_CHARS = 512
ONLY_ENABLED_WARNING = "only_enabled_provider=true"
_SOURCE_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class SyncError(Exception):
    """A sync failed: ``error_code`` (see module doc), ``error`` (what to fix).

    ``attempts`` lists ``{"source", "error_code", "error"}`` of each source tried (for
    ``pull_all_sources_failed``). Messages name files, never their contents.
    """

    def __init__(self, error_code: str, error: str, attempts: list[dict[str, str]] | None = None):
        super().__init__(error)
        self.error_code = error_code
        self.error = error
        self.attempts = attempts or []


@dataclass
class SyncResult:
    """A successful sync: where from, what was stored, and warnings about skipped data.

    ``requested_default`` is the default provider id the source named (``""`` if none),
    even when it is not among ``models`` (then ``default_provider_id`` is None).
    """

    source: str
    models: list[dict[str, Any]]
    default_provider_id: str | None
    warnings: list[str] = field(default_factory=list)
    requested_default: str = ""


def _text(value: Any) -> str:
    """A metadata string: strings and numbers only, stripped and bounded."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value).strip()[:MAX_FIELD_CHARS]


def _base_url(value: Any) -> str:
    text = _text(value)
    if not text:
        return ""
    try:
        return display_url(text) if "://" in text else text.split("?", 1)[0].split("#", 1)[0]
    except ValueError:
        return ""


def _flag(value: Any, default: bool = True) -> bool:
    return value if isinstance(value, bool) else default


def _read_json(path: Path | None, missing_code: str, parse_code: str, what: str) -> Any:
    if path is None:
        raise SyncError(missing_code, f"{what}: no path configured")
    try:
        if not path.is_file():
            raise SyncError(missing_code, f"{what} not found at {path}; check the path setting")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SyncError(parse_code, f"{what} at {path} is larger than {MAX_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SyncError(missing_code, f"{what} at {path} cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SyncError(parse_code, f"{what} at {path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # Position only: the message of a decode error may quote the file (and a key).
        raise SyncError(
            parse_code, f"{what} at {path} is not valid JSON (line {exc.lineno})"
        ) from None


def parse_cmd_config(data: Any) -> SyncResult:
    """Extract provider metadata from a parsed ``cmd_config.json``.

    Raises :class:`SyncError` ``astr_config_parse_failed`` (root or ``provider`` of the
    wrong type) or ``astr_provider_empty`` (no provider with an id).
    """
    if not isinstance(data, dict):
        raise SyncError("astr_config_parse_failed", "cmd_config.json: the root is not an object")
    providers = data.get("provider", [])
    if not isinstance(providers, list):
        raise SyncError("astr_config_parse_failed", "cmd_config.json: 'provider' is not a list")
    sources_raw = data.get("provider_sources", [])
    sources = {
        _text(s.get("id")): s
        for s in (sources_raw if isinstance(sources_raw, list) else [])
        if isinstance(s, dict) and _text(s.get("id"))
    }
    settings = data.get("provider_settings")
    wanted_default = (
        _text(settings.get("default_provider_id")) if isinstance(settings, dict) else ""
    )
    warnings: list[str] = []
    models: list[dict[str, Any]] = []
    for index, entry in enumerate(providers):
        provider_id = _text(entry.get("id")) if isinstance(entry, dict) else ""
        if not provider_id:
            warnings.append(f"provider[{index}] has no id; skipped")
            continue
        source: dict[str, Any] = {}
        source_id = _text(entry.get("provider_source_id"))
        if source_id:
            if source_id in sources:
                source = sources[source_id]
            else:
                warnings.append(
                    f"provider {provider_id}: provider_source_id {source_id} is not in "
                    "provider_sources; used the provider's own type and api_base"
                )
        model_config = entry.get("model_config")
        model = _text(entry.get("model")) or (
            _text(model_config.get("model")) if isinstance(model_config, dict) else ""
        )
        models.append(
            {
                "provider_id": provider_id,
                "model": model,
                "provider_type": _text(source.get("type")) or _text(entry.get("type")),
                "base_url": _base_url(source.get("api_base") or entry.get("api_base")),
                "enabled": _flag(entry.get("enable")),
            }
        )
    return _finish(SOURCE_CMD_CONFIG, models, wanted_default, warnings, "cmd_config.json")


def parse_plugin_export(data: Any, source: str = SOURCE_PLUGIN_EXPORT) -> SyncResult:
    """Extract provider metadata from the plugin's export (a file or an import body).

    Raises :class:`SyncError` ``plugin_export_parse_failed`` (wrong shape) or
    ``astr_provider_empty``.
    """
    if not isinstance(data, dict):
        raise SyncError("plugin_export_parse_failed", "plugin export: the root is not an object")
    providers = data.get("providers")
    if not isinstance(providers, list):
        raise SyncError("plugin_export_parse_failed", "plugin export: 'providers' is not a list")
    using = data.get("using_provider")
    if isinstance(using, dict):
        using = using.get("provider_id") or using.get("id")
    warnings: list[str] = []
    models: list[dict[str, Any]] = []
    for index, entry in enumerate(providers):
        if not isinstance(entry, dict):
            warnings.append(f"providers[{index}] is not an object; skipped")
            continue
        provider_id = _text(entry.get("provider_id")) or _text(entry.get("id"))
        if not provider_id:
            warnings.append(f"providers[{index}] has no provider_id; skipped")
            continue
        enabled = entry.get("enabled", entry.get("enable"))
        models.append(
            {
                "provider_id": provider_id,
                "model": _text(entry.get("model")),
                "provider_type": _text(entry.get("provider_type")) or _text(entry.get("type")),
                "base_url": _base_url(entry.get("base_url") or entry.get("api_base")),
                "enabled": _flag(enabled),
            }
        )
    return _finish(source, models, _text(using), warnings, "plugin export")


def _finish(
    source: str, models: list[dict[str, Any]], wanted_default: str, warnings: list[str], what: str
) -> SyncResult:
    if not models:
        raise SyncError("astr_provider_empty", f"{what}: no provider with an id to import")
    seen: dict[str, dict[str, Any]] = {}
    for model in models:
        if model["provider_id"] in seen:
            warnings.append(f"provider {model['provider_id']} appears twice; kept the last")
        seen[model["provider_id"]] = model
    default = wanted_default if wanted_default in seen else None
    if wanted_default and default is None:
        warnings.append(f"default provider {wanted_default} is not among the providers")
    for model in seen.values():
        model["is_default"] = model["provider_id"] == default
    return SyncResult(source, list(seen.values()), default, warnings, wanted_default)


def only_enabled(result: SyncResult) -> SyncResult:
    """``result`` with its disabled providers left out and :data:`ONLY_ENABLED_WARNING` first
    in its warnings (then one naming the skipped ones). Raises :class:`SyncError`
    ``astr_provider_empty`` when none is enabled."""
    kept = [m for m in result.models if m.get("enabled", True)]
    skipped = [str(m["provider_id"]) for m in result.models if not m.get("enabled", True)]
    if not kept:
        raise SyncError(
            "astr_provider_empty",
            f"{result.source}: no enabled provider to import (ASTR_PULL_REQUIRE_ENABLED_PROVIDER "
            "is true: enable one in AstrBot, or set it to false)",
        )
    warnings = [ONLY_ENABLED_WARNING, *result.warnings]
    if skipped:
        warnings.append(f"skipped {len(skipped)} disabled provider(s): {', '.join(skipped)}")
    default = result.default_provider_id
    if default is not None and default in skipped:
        warnings.append(f"default provider {default} is disabled")
        default = None
    return replace(result, models=kept, default_provider_id=default, warnings=warnings)


class ModelSyncService:
    """Pulls or imports provider metadata into the :class:`~..store.Store`.

    ``require_enabled``: a pull keeps only enabled providers (:func:`only_enabled`); the
    app passes ``ASTR_PULL_REQUIRE_ENABLED_PROVIDER`` (true by default).
    """

    def __init__(
        self,
        store: Store,
        mode: str,
        cmd_config_path: Path,
        plugin_export_path: Path | None,
        *,
        require_enabled: bool = False,
    ) -> None:
        self.store = store
        self.mode = mode
        self.cmd_config_path = cmd_config_path
        self.plugin_export_path = plugin_export_path
        self.require_enabled = require_enabled

    def _from_cmd_config(self) -> SyncResult:
        data = _read_json(
            self.cmd_config_path,
            "astr_config_not_found",
            "astr_config_parse_failed",
            "AstrBot cmd_config.json (ASTR_CMD_CONFIG_PATH)",
        )
        return parse_cmd_config(data)

    def _from_export(self) -> SyncResult:
        data = _read_json(
            self.plugin_export_path,
            "plugin_export_not_found",
            "plugin_export_parse_failed",
            "plugin export (ASTR_PLUGIN_EXPORT_PATH)",
        )
        return parse_plugin_export(data)

    def pull(self) -> SyncResult:
        """Read the sources in the configured order; store the first that succeeds.

        Raises :class:`SyncError`: the source's own code in a ``*_only`` mode, else
        ``pull_all_sources_failed`` with every attempt in ``attempts``.
        """
        cmd_config = (SOURCE_CMD_CONFIG, self._from_cmd_config)
        export = (SOURCE_PLUGIN_EXPORT, self._from_export)
        readers = {
            "cmd_config_only": [cmd_config],
            "plugin_export_only": [export],
        }.get(self.mode, [cmd_config, export])
        attempts: list[dict[str, str]] = []
        for source, reader in readers:
            try:
                result = reader()
                if self.require_enabled:
                    result = only_enabled(result)
            except SyncError as exc:
                attempts.append(
                    {"source": source, "error_code": exc.error_code, "error": exc.error}
                )
                continue
            self.store.replace_models(result.models, result.source)
            return result
        if len(attempts) == 1:
            raise SyncError(attempts[0]["error_code"], attempts[0]["error"], attempts)
        summary = "; ".join(f"{a['error_code']}: {a['error']}" for a in attempts)
        raise SyncError("pull_all_sources_failed", f"no source could be read ({summary})", attempts)

    def import_export(self, data: Any) -> SyncResult:
        """Store the plugin export given as ``data`` (an import-astr request body).

        The result's ``source`` is the body's ``source`` (v0.3.1's field, e.g.
        ``plugin_push``) when it is a plain name (``[A-Za-z0-9_.:-]``, at most 64), else
        ``import``.
        """
        named = data.get("source") if isinstance(data, dict) else None
        source = named if isinstance(named, str) and _SOURCE_NAME_RE.fullmatch(named) else None
        result = parse_plugin_export(data, source or SOURCE_IMPORT)
        self.store.replace_models(result.models, result.source)
        return result

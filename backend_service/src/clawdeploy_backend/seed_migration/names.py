"""The seed's names: the table of its ``.env`` names, reading that ``.env``, mapping it to ours.

:data:`SEED_NAMES` is the one table (the code, the report and the README's table,
:func:`markdown_table`, all come from it): each seed name, our name for it, its kind
(:data:`SETTING`, :data:`SECRET`, :data:`DEPLOYMENT`, :data:`DATABASE`, :data:`REFUSED`,
:data:`OTHER`), the seed's default and a note. :func:`read_seed_env` reads the seed's
``.env``, :func:`map_settings` sorts its values into the report's ``migrated`` /
``not_migrated`` / ``ignored_unknown`` / ``env``, and :func:`render_env` writes the
carried-over settings as an env file. Also :class:`MigrationError`, which every part of the
command raises, and where the seed installs its files.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from ..redact import display_url, mask_secrets
from ..settings import Settings, seed_bool

SEED_ROOT = "/root/openclaw-assistant-backend"
SEED_ENV_FILE = f"{SEED_ROOT}/.env"
SEED_DB_PATH = f"{SEED_ROOT}/data/backend_state.db"
SECRET_SHOWN = "(secret, adopted by the role)"
MAX_ENV_BYTES = 1024 * 1024
SHOWN_MAX = 200

# Kinds of SEED_NAMES entries.
SETTING = "setting"  # carried over under our name
SECRET = "secret"  # a token: adopted by the roles, never shown nor written
DEPLOYMENT = "deployment"  # where and how the service runs: the deployment decides
DATABASE = "database"  # the seed's database: imported, ours keeps its own file
REFUSED = "refused"  # seed behaviour ours refuses
OTHER = "other"  # not the backend-service's

SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL")
# What an env file line may carry bare; spaces too, inside double quotes. Anything else
# (quotes, backslashes, $, control characters) is not carried over.
_BARE = re.compile(r"[A-Za-z0-9_./:,@%+=~-]*")
_QUOTABLE = re.compile(r"[A-Za-z0-9_./:,@%+=~ #-]*")
_HOME = re.compile(r"^/(root|home)(/|$)")


@dataclass(frozen=True)
class SeedName:
    """One name of the seed's ``.env``: ``ours`` (our variable, or None), ``kind`` (see
    the constants above), the seed's default, and a note for the report and the docs."""

    seed: str
    ours: str | None
    kind: str
    seed_default: str
    note: str


# The mapping, in the seed's order of importance. One row per seed name:
# (seed, ours, kind, the seed's default, note).
# fmt: off
SEED_NAMES: tuple[SeedName, ...] = tuple(SeedName(*row) for row in (
    ("BACKEND_HOST", "BACKEND_HOST", DEPLOYMENT, "127.0.0.1",
     "the role sets it from backend_service_host"),
    ("BACKEND_PORT", "BACKEND_PORT", DEPLOYMENT, "18889",
     "the role sets it from backend_service_port (the AstrBot plugin's backend_api_url must "
     "match)"),
    ("BACKEND_API_TOKEN", "BACKEND_API_TOKEN", SECRET, "",
     "by the role, on its first run (backend_service_adopt_env_files)"),
    ("BACKEND_DB_PATH", "BACKEND_DB_PATH", DATABASE, SEED_DB_PATH,
     "its models and last sync go into ours; ours keeps its own file "
     "(BACKEND_DATA_DIR/backend_state.db)"),
    ("BACKEND_LOG_DIR", "BACKEND_LOG_DIR", DEPLOYMENT, f"{SEED_ROOT}/logs/backend",
     "the role sets backend_service_root/logs, the one log directory its unit may write"),
    ("BACKEND_AUDIT_PATH", "BACKEND_AUDIT_PATH", DEPLOYMENT,
     f"{SEED_ROOT}/logs/backend/audit.jsonl",
     "ours writes BACKEND_LOG_DIR/audit.jsonl"),
    ("OPENCLAW_GATEWAY_URL", "OPENCLAW_GATEWAY_URL", DEPLOYMENT, "http://127.0.0.1:18789",
     "the role sets it from backend_service_gateway_url (the gateway it deploys)"),
    ("OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_GATEWAY_TOKEN", SECRET, "",
     "by the gateway role (gateway_adopt_env_files); ours reads it from the gateway's "
     ".env"),
    ("BACKEND_REQUEST_TIMEOUT_SECONDS", "GATEWAY_PROBE_TIMEOUT_S", SETTING, "15",
     "seconds for each request to the gateway"),
    ("ASTRBOT_CMD_CONFIG_PATH", "ASTR_CMD_CONFIG_PATH", SETTING,
     "/root/AstrBot/data/cmd_config.json", ""),
    ("ASTRBOT_PLUGIN_EXPORT_PATH", "ASTR_PLUGIN_EXPORT_PATH", SETTING,
     "/root/AstrBot/data/plugin_data/astrbot_plugin_openclaw_assistant/"
     "astr_provider_export.json", ""),
    ("ASTR_PULL_SOURCE_MODE", "ASTR_PULL_SOURCE_MODE", SETTING, "cmd_config_then_export", ""),
    ("ASTR_PULL_REQUIRE_ENABLED_PROVIDER", "ASTR_PULL_REQUIRE_ENABLED_PROVIDER", SETTING,
     "true", "a pull keeps enabled providers only; the seed's 开/关 become true/false"),
    ("EXECUTOR_CODEX_BIN", "EXECUTOR_CODEX_BIN", SETTING, "codex",
     "the role's own Codex CLI wins when it installs one"),
    ("EXECUTOR_GEMINI_BIN", "EXECUTOR_GEMINI_BIN", SETTING, "gemini",
     "shown only: the gemini executor is disabled, as in the seed"),
    ("EXECUTOR_TIMEOUT_SECONDS", "EXECUTOR_TIMEOUT_S", SETTING, "180", ""),
    ("EXECUTOR_MAX_TASK_CHARS", "EXECUTOR_MAX_TASK_CHARS", SETTING, "8000", ""),
    ("EXECUTOR_ALLOW_GLOBAL_WORKDIR", "EXECUTOR_ALLOW_ANY_WORKDIR", REFUSED, "true",
     "ours refuses any working directory outside EXECUTOR_ALLOWED_WORKDIRS "
     "(deny-by-default); opting out takes EXECUTOR_ALLOW_ANY_WORKDIR=true under our own name"),
    ("EXECUTOR_ALLOWED_WORKDIRS", "EXECUTOR_ALLOWED_WORKDIRS", DEPLOYMENT,
     "/root/AstrBot,/root/openclaw-assistant-backend,...",
     "the role sets it from backend_service_executor_workdirs (it creates them and lets its "
     "unit write there; /root is hidden from the unit)"),
    ("OPENCLAW_VERSION", None, OTHER, "2026.2.9",
     "the sidecar's version; the gateway role pins its own (gateway_openclaw_version)"),
))
# fmt: on
BY_SEED = {entry.seed: entry for entry in SEED_NAMES}

_KIND_TEXT = {
    SETTING: "carried over",
    SECRET: "adopted, never shown",
    DEPLOYMENT: "not carried over",
    DATABASE: "imported once",
    REFUSED: "refused",
    OTHER: "ignored",
}


class MigrationError(Exception):
    """A run that cannot go on: ``exit_code`` (see :mod:`.cli`) and what to fix."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def is_secret_name(name: str) -> bool:
    """True for a name whose value is never shown (``*TOKEN*``, ``*KEY*``, ``*SECRET*``...)."""
    return bool(SECRET_NAME.search(name.upper()))


def markdown_table() -> str:
    """The mapping table of README.md ("Moving from the seed's service"), from SEED_NAMES."""
    lines = [
        "| seed name | ours | seed default | migration |",
        "|---|---|---|---|",
    ]
    for entry in SEED_NAMES:
        ours = f"`{entry.ours}`" if entry.ours else "-"
        default = f"`{entry.seed_default}`" if entry.seed_default else "-"
        note = _KIND_TEXT[entry.kind] + (f": {entry.note}" if entry.note else "")
        lines.append(f"| `{entry.seed}` | {ours} | {default} | {note} |")
    return "\n".join(lines) + "\n"


# -- the seed's .env ----------------------------------------------------------------------


def read_seed_env(path: Path) -> dict[str, str]:
    """The ``KEY=VALUE`` lines of the seed's ``.env`` (quotes removed, no ``${}`` expansion).

    Raises :class:`MigrationError` (exit 3) when it is missing, unreadable, too large or
    not UTF-8.
    """
    try:
        if not path.is_file():
            raise MigrationError(3, f"the seed's env file {path} does not exist")
        if path.stat().st_size > MAX_ENV_BYTES:
            raise MigrationError(3, f"the seed's env file {path} is larger than 1 MiB")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise MigrationError(
            3, f"the seed's env file {path} cannot be read ({exc.strerror})"
        ) from None
    except UnicodeDecodeError:
        raise MigrationError(3, f"the seed's env file {path} is not UTF-8 text") from None
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {key: (value or "").strip() for key, value in values.items() if key}


class _GivenOnly(Settings):
    """:class:`Settings` from the given values alone (no environment, no env file)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _validated(ours: str, value: str) -> str:
    """``value`` as ours accepts it for ``ours`` (booleans as ``true``/``false``).

    Raises ValueError with pydantic's message (never the value).
    """
    field = ours.lower()
    try:
        parsed = getattr(_GivenOnly(**{field: value}), field)
    except ValidationError as exc:
        messages = [
            str(err["msg"]) for err in exc.errors(include_input=False) if err["loc"][:1] == (field,)
        ]
        raise ValueError("; ".join(messages) or "invalid") from None
    if isinstance(parsed, bool):
        return "true" if parsed else "false"
    return value


def _env_line(key: str, value: str) -> str | None:
    """``KEY=value`` (double-quoted when it holds spaces or ``#``), or None when the value
    has characters an env file would not carry safely."""
    if _BARE.fullmatch(value):
        return f"{key}={value}"
    if _QUOTABLE.fullmatch(value):
        return f'{key}="{value}"'
    return None


def _shown(name: str, value: str, secrets: list[str]) -> str:
    """What the report shows of a value: never a secret, URLs without user info or query."""
    if is_secret_name(name):
        return SECRET_SHOWN
    text = str(mask_secrets(value, secrets))
    if "://" in text:
        try:
            text = display_url(text)
        except ValueError:
            text = "(not a valid URL)"
    return text if len(text) <= SHOWN_MAX else text[:SHOWN_MAX] + "..."


def map_settings(values: dict[str, str]) -> dict[str, Any]:
    """Sort the seed's ``values`` into ``migrated``, ``not_migrated``, ``ignored_unknown``
    and ``env`` (our name -> the value to write), in the order of :data:`SEED_NAMES`."""
    secrets = [v for k, v in values.items() if is_secret_name(k) and len(v) >= 4]
    migrated: list[dict[str, Any]] = []
    not_migrated: list[dict[str, Any]] = []
    env: dict[str, str] = {}
    lines: list[str] = []

    def refuse(entry: SeedName, value: str, why: str) -> None:
        shown = _shown(entry.seed, value, secrets) if value else "(blank)"
        not_migrated.append({"seed": entry.seed, "ours": entry.ours, "value": shown, "why": why})

    for entry in SEED_NAMES:
        if entry.seed not in values:
            if entry.kind == REFUSED:  # the seed ran with its default: say ours does not
                refuse(
                    entry, entry.seed_default, f"the seed's default (not in its .env); {entry.note}"
                )
            continue
        value = values[entry.seed]
        if entry.kind == SECRET:
            if value:
                migrated.append(
                    {
                        "seed": entry.seed,
                        "ours": entry.ours,
                        "value": SECRET_SHOWN,
                        "note": entry.note,
                    }
                )
            else:
                refuse(entry, "", "blank in the seed's .env: nothing to adopt")
        elif entry.kind == REFUSED:
            # Anything but a clear "no" asks for what ours refuses.
            why = entry.note if seed_bool(value) is not False else "nothing to carry: ours is false"
            refuse(entry, value, why)
        elif entry.kind == SETTING:
            assert entry.ours is not None
            if not value:
                refuse(entry, "", "blank in the seed's .env (the seed used its default)")
                continue
            try:
                ours_value = _validated(entry.ours, value)
            except ValueError as exc:
                refuse(entry, value, f"not valid for ours ({exc}); set {entry.ours} yourself")
                continue
            line = _env_line(entry.ours, ours_value)
            if line is None:
                refuse(entry, value, "holds quotes, backslashes, $ or control characters")
                continue
            note = entry.note
            if _HOME.match(ours_value):
                note = (note + "; " if note else "") + (
                    "a home directory: the role's unit (ProtectHome=yes, its own user) cannot "
                    "read it; move the file or set the path in backend_service_extra_settings"
                )
            migrated.append(
                {
                    "seed": entry.seed,
                    "ours": entry.ours,
                    "value": _shown(entry.seed, ours_value, secrets),
                    "note": note,
                }
            )
            env[entry.ours] = ours_value
            lines.append(line)
        else:  # DEPLOYMENT, DATABASE, OTHER
            refuse(entry, value, entry.note)
    unknown = sorted(k for k in values if k not in BY_SEED)
    return {
        "migrated": migrated,
        "not_migrated": not_migrated,
        "ignored_unknown": unknown,
        "env": env,
        "env_file_text": render_env(lines),
    }


def render_env(lines: list[str]) -> str:
    """The env file of the carried-over settings (no secret is ever among them)."""
    header = [
        "# Settings carried over from the seed's .env by clawdeploy-backend-migrate-seed.",
        "# Listed before settings.env in the unit: the role's own settings win.",
    ]
    return "\n".join(header + lines) + "\n"

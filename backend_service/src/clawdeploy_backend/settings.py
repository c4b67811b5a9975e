"""Settings of backend-service, read from the environment and an optional env file.

The env file's path comes from ``BACKEND_ENV_FILE`` (as in the seed service, whose ``.env``
also holds the gateway's keys: unknown keys are ignored). Precedence, highest first:
arguments given to :class:`Settings`, environment variables, the env file, the defaults.

Environment names are the field names in upper case (``BACKEND_API_TOKEN``,
``OPENCLAW_GATEWAY_URL``, ...). Tokens are :class:`~pydantic.SecretStr`, so they never show
in a ``repr`` or a log line; an empty token counts as unset.

The seed service's own names (v0.3.1) are accepted too where ours differ (:data:`SEED_ALIASES`,
e.g. ``BACKEND_REQUEST_TIMEOUT_SECONDS`` for ``GATEWAY_PROBE_TIMEOUT_S``; the whole mapping is
``seed_migration.SEED_NAMES``). Within one source ours wins when both names are set; a
higher source wins over a lower one whatever the name (a seed name in the environment beats
our name in the env file). ``EXECUTOR_ALLOW_GLOBAL_WORKDIR`` is not one of them: any
working directory needs ``EXECUTOR_ALLOW_ANY_WORKDIR`` under our own name.
"""

import json
import os
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_FILE_VAR = "BACKEND_ENV_FILE"
MIB = 1024 * 1024

# Variables the executor never hands to its child process, whatever EXECUTOR_PASS_ENV says.
EXECUTOR_NEVER_PASSED = frozenset({"BACKEND_API_TOKEN", "OPENCLAW_GATEWAY_TOKEN"})

PullSourceMode = Literal["cmd_config_then_export", "cmd_config_only", "plugin_export_only"]

# Our field -> the seed's (v0.3.1) environment name for it, where the two differ.
SEED_ALIASES = {
    "gateway_probe_timeout_s": "BACKEND_REQUEST_TIMEOUT_SECONDS",
    "astr_cmd_config_path": "ASTRBOT_CMD_CONFIG_PATH",
    "astr_plugin_export_path": "ASTRBOT_PLUGIN_EXPORT_PATH",
    "executor_timeout_s": "EXECUTOR_TIMEOUT_SECONDS",
}
# The seed's words for a boolean, beside pydantic's own (1/0, true/false, yes/no, on/off).
SEED_TRUE = frozenset({"1", "true", "yes", "on", "开"})
SEED_FALSE = frozenset({"0", "false", "no", "off", "关"})


def seed_bool(value: object) -> object:
    """The seed's boolean words (``开`` / ``关`` too) as a bool; anything else unchanged."""
    if isinstance(value, str):
        word = value.strip().strip("'\"").strip().lower()
        if word in SEED_TRUE:
            return True
        if word in SEED_FALSE:
            return False
    return value


def _seed_alias(field: str) -> AliasChoices:
    """Ours first (it wins within a source), then the seed's name."""
    return AliasChoices(field, SEED_ALIASES[field].lower())


class SettingsFileError(ValueError):
    """``BACKEND_ENV_FILE`` names a file that cannot be read."""


class Settings(BaseSettings):
    """Every knob of backend-service; see README.md for the table of variables."""

    model_config = SettingsConfigDict(
        env_file=None,
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    backend_api_token: SecretStr | None = None
    backend_host: str = "127.0.0.1"
    backend_port: int = Field(default=18889, ge=1, le=65535)
    openclaw_gateway_url: str = "http://127.0.0.1:18789"
    openclaw_gateway_token: SecretStr | None = None
    gateway_probe_timeout_s: float = Field(
        default=20.0, gt=0, le=600, validation_alias=_seed_alias("gateway_probe_timeout_s")
    )
    gateway_agent_model: str = Field(default="openclaw", min_length=1)
    # Stability rules of the runbook: cache, circuit breaker, memory guard.
    gateway_probe_cache_s: float = Field(default=10.0, ge=0, le=3600)
    gateway_circuit_failures: int = Field(default=2, ge=1, le=100)
    gateway_circuit_open_s: float = Field(default=60.0, ge=0, le=3600)
    memory_read_only_mb: int = Field(default=350, ge=0)
    memory_heavy_job_min_mb: int = Field(default=512, ge=0)
    # Storage and logs (the role writes BACKEND_DATA_DIR / BACKEND_LOG_DIR).
    backend_data_dir: Path = Path("./data")
    backend_log_dir: Path = Path("./logs")
    # The seed's BACKEND_DB_PATH / BACKEND_AUDIT_PATH: a file of its own instead of
    # <BACKEND_DATA_DIR>/backend_state.db and <BACKEND_LOG_DIR>/audit.jsonl. The seed's
    # own database is refused (store.py): import it with clawdeploy-backend-migrate-seed.
    backend_db_path: Path | None = None
    backend_audit_path: Path | None = None
    audit_log_max_bytes: int = Field(default=5 * MIB, ge=1024)
    audit_log_backup_count: int = Field(default=5, ge=1, le=100)
    # HTTP hardening.
    backend_max_body_bytes: int = Field(default=MIB, ge=1024, le=256 * MIB)
    web_session_ttl_s: int = Field(default=8 * 3600, ge=60, le=30 * 86400)
    web_cookie_secure: bool = False
    # Model sync from AstrBot.
    astr_pull_source_mode: PullSourceMode = "cmd_config_then_export"
    astr_cmd_config_path: Path = Field(
        default=Path("/AstrBot/data/cmd_config.json"),
        validation_alias=_seed_alias("astr_cmd_config_path"),
    )
    astr_plugin_export_path: Path | None = Field(
        default=None, validation_alias=_seed_alias("astr_plugin_export_path")
    )
    # A pull keeps only the providers AstrBot has enabled (the seed's knob, same name).
    astr_pull_require_enabled_provider: bool = True
    # Codex executor (services/executor/); working directories are deny-by-default.
    executor_enabled: bool = True
    executor_codex_bin: str = Field(default="codex", min_length=1)
    executor_allowed_workdirs: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    executor_allow_any_workdir: bool = False
    executor_default_workdir: Path | None = None
    executor_allow_danger_mode: bool = False
    executor_timeout_s: float = Field(
        default=900.0, gt=0, le=86400, validation_alias=_seed_alias("executor_timeout_s")
    )
    executor_kill_grace_s: float = Field(default=5.0, ge=0, le=300)
    executor_max_task_chars: int = Field(default=8000, ge=1, le=1_000_000)
    executor_output_max_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * MIB)
    executor_queue_max: int = Field(default=20, ge=1, le=10_000)
    executor_codex_home: Path | None = None
    executor_pass_env: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The seed's gemini executor is disabled (v1.1_disabled); its binary is only shown.
    executor_gemini_bin: str = Field(default="gemini", min_length=1)

    @field_validator("backend_api_token", "openclaw_gateway_token", mode="before")
    @classmethod
    def _blank_token_is_unset(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("openclaw_gateway_url")
    @classmethod
    def _gateway_root_url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.port == 0:  # .port itself raises ValueError on a non-numeric port
            raise ValueError("port must be 1-65535")
        # The gateway authenticates by bearer token; credentials or a query in the URL
        # would be shown on the status page and break the probe's path joining.
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not contain user info; the token goes in OPENCLAW_GATEWAY_TOKEN")
        if parts.query or parts.fragment:
            raise ValueError("must not contain a query or fragment")
        return value.rstrip("/")

    @field_validator("astr_pull_require_enabled_provider", mode="before")
    @classmethod
    def _seed_bool(cls, value: object) -> object:
        return seed_bool(value)

    @field_validator(
        "astr_plugin_export_path", "backend_db_path", "backend_audit_path", mode="before"
    )
    @classmethod
    def _blank_path_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("executor_allowed_workdirs", "executor_pass_env", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept a JSON list or a comma/colon separated string (``/srv/a,/srv/b``)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in re.split(r"[,:]", text) if item.strip()]
        return value

    @field_validator("executor_allowed_workdirs")
    @classmethod
    def _absolute_dirs(cls, value: list[Path]) -> list[Path]:
        for path in value:
            if not path.is_absolute():
                raise ValueError(f"{path} is not an absolute path")
        return value

    @field_validator("executor_default_workdir", "executor_codex_home", mode="before")
    @classmethod
    def _blank_dir_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("executor_default_workdir", "executor_codex_home")
    @classmethod
    def _absolute_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError(f"{value} is not an absolute path")
        return value

    @field_validator("executor_pass_env")
    @classmethod
    def _no_service_tokens(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if name.upper() in EXECUTOR_NEVER_PASSED:
                raise ValueError(f"{name} is the service's own token; it never goes to codex")
        return value

    @property
    def executor_home(self) -> Path:
        """``CODEX_HOME`` of the jobs: ``EXECUTOR_CODEX_HOME`` or ``<data dir>/codex_home``."""
        if self.executor_codex_home is not None:
            return self.executor_codex_home
        return self.backend_data_dir.absolute() / "codex_home"

    @property
    def database_path(self) -> Path:
        """``BACKEND_DB_PATH``, else ``<BACKEND_DATA_DIR>/backend_state.db``."""
        if self.backend_db_path is not None:
            return self.backend_db_path
        return self.backend_data_dir / "backend_state.db"

    @property
    def audit_log_path(self) -> Path:
        """``BACKEND_AUDIT_PATH``, else ``<BACKEND_LOG_DIR>/audit.jsonl``."""
        if self.backend_audit_path is not None:
            return self.backend_audit_path
        return self.backend_log_dir / "audit.jsonl"


def load_settings() -> Settings:
    """Build :class:`Settings` from the process environment and ``BACKEND_ENV_FILE``.

    Raises :class:`SettingsFileError` when ``BACKEND_ENV_FILE`` is set but is not a
    readable file (a typo there would otherwise silently drop every setting in it), and
    :class:`pydantic.ValidationError` when a value is invalid.
    """
    env_file = os.environ.get(ENV_FILE_VAR, "").strip()
    if not env_file:
        return Settings()
    path = Path(env_file)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise SettingsFileError(
            f"{ENV_FILE_VAR}={env_file} is not a readable file; "
            f"fix the path or unset {ENV_FILE_VAR}"
        )
    return Settings(_env_file=path)

"""Settings of the connector, from the environment and 0600 env files.

Environment names are ``CONNECTOR_`` + the field name in upper case
(``CONNECTOR_RELAY_URL``, ``CONNECTOR_CONCURRENCY``, ...). ``CONNECTOR_ENV_FILE`` names a
dotenv file (it holds the client token, and in ``ws`` mode may hold the signing key) and
``CONNECTOR_GATEWAY_ENV_FILE`` the gateway instance's ``.env``, whose
``OPENCLAW_GATEWAY_TOKEN`` is the gateway token (the key the gateway itself reads:
OpenClaw docs ``help/environment.md``); both must be 0600 or 0400 (:mod:`..envfile`).
Times are seconds (floats).
"""

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..envfile import SettingsFileError, env_file_from, private_file, read_value

ENV_FILE_VAR = "CONNECTOR_ENV_FILE"
GATEWAY_TOKEN_KEY = "OPENCLAW_GATEWAY_TOKEN"
# OpenClaw accepts "openclaw", "openclaw/<agentId>" or "openclaw:<agentId>" and answers
# 400 "Invalid `model`" to anything else (docs gateway/openai-http-api.md; observed in
# /work/shared/research/openclaw-facts.md Q1). Agent ids: [a-z0-9][a-z0-9_-]{0,63}.
MODEL_RE = re.compile(r"openclaw(?:[/:][a-z0-9][a-z0-9_-]{0,63})?", re.IGNORECASE)
DEFAULT_ERROR_REPLY = (
    "Sorry, this message could not be processed. Please rephrase it or try again later."
)

__all__ = ["ConnectorSettings", "SettingsFileError", "load_connector_settings"]


def _blank_is_none(value: object) -> object:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str) and not value.strip():
        return None
    return value


class ConnectorSettings(BaseSettings):
    """Every knob of the connector; README.md ("Connector") lists them with their defaults."""

    model_config = SettingsConfigDict(env_prefix="CONNECTOR_", extra="ignore", case_sensitive=False)

    relay_url: str = "http://127.0.0.1:9876"
    client_token: SecretStr | None = None
    # How messages come: long-polls (the default) or pushed on the relay's /ws, which a
    # signing key (with the client id) opens by a signed hello instead of the bearer token.
    transport: Literal["poll", "ws"] = "poll"
    client_id: str | None = Field(default=None, max_length=64, pattern=r"^[\x21-\x7e]+$")
    signing_key: SecretStr | None = None
    gateway_url: str = "http://127.0.0.1:18789"
    gateway_token: SecretStr | None = None
    gateway_env_file: str | None = None
    agent_model: str = "openclaw"
    # Long-poll: the relay answers after at most min(wait, RELAY_POLL_MAX_WAIT_S).
    poll_wait_s: float = Field(default=20.0, ge=0, le=120)
    # While every worker is busy (a slow gateway), no poll runs: a heartbeat this often keeps
    # the client connected on the relay (below RELAY_STALE_AFTER_S), so its conversations
    # do not fail over while it is working on them.
    heartbeat_s: float = Field(default=10.0, gt=0, le=300)
    relay_timeout_s: float = Field(default=15.0, gt=0, le=300)
    # OpenClaw answers a dead provider with 502/408 only after ~75 s of its own retries.
    gateway_timeout_s: float = Field(default=300.0, gt=0, le=3600)
    backoff_initial_s: float = Field(default=0.5, gt=0, le=60)
    backoff_max_s: float = Field(default=30.0, gt=0, le=3600)
    auth_retry_s: float = Field(default=60.0, gt=0, le=3600)
    concurrency: int = Field(default=1, ge=1, le=64)
    shutdown_grace_s: float = Field(default=10.0, ge=0, le=600)
    max_reply_chars: int = Field(default=16_000, ge=100, le=1_000_000)
    error_reply: str = Field(default=DEFAULT_ERROR_REPLY, min_length=1, max_length=2000)
    empty_reply: str = Field(default="(no reply)", min_length=1, max_length=2000)
    log_level: str = Field(default="INFO", pattern=r"(?i)^(debug|info|warning|error)$")

    @field_validator(
        "client_token",
        "gateway_token",
        "gateway_env_file",
        "signing_key",
        "client_id",
        mode="before",
    )
    @classmethod
    def _blank_token_is_unset(cls, value: object) -> object:
        return _blank_is_none(value)

    @field_validator("relay_url", "gateway_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#@]+(/[^\s?#]*)?", value):
            raise ValueError(
                "must be an http:// or https:// URL without user:password@, query or fragment "
                "(tokens go in their own settings)"
            )
        return value

    @field_validator("agent_model")
    @classmethod
    def _openclaw_model(cls, value: str) -> str:
        if not MODEL_RE.fullmatch(value.strip()):
            raise ValueError("must be 'openclaw', 'openclaw/<agentId>' or 'openclaw:<agentId>'")
        return value.strip()

    @model_validator(mode="after")
    def _consistent(self) -> "ConnectorSettings":
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(
                "CONNECTOR_BACKOFF_MAX_S must not be below CONNECTOR_BACKOFF_INITIAL_S"
            )
        if self.gateway_token is not None and self.gateway_env_file is not None:
            raise ValueError("set CONNECTOR_GATEWAY_ENV_FILE or CONNECTOR_GATEWAY_TOKEN, not both")
        if self.signing_key is not None and self.transport != "ws":
            raise ValueError("CONNECTOR_SIGNING_KEY is for CONNECTOR_TRANSPORT=ws")
        if self.signing_key is not None and self.client_id is None:
            raise ValueError("CONNECTOR_SIGNING_KEY needs CONNECTOR_CLIENT_ID (its clientId)")
        return self


def load_connector_settings() -> ConnectorSettings:
    """Build :class:`ConnectorSettings` from the environment and its env files.

    Reads the file named by ``CONNECTOR_ENV_FILE`` (if set), then, when
    ``CONNECTOR_GATEWAY_ENV_FILE`` is set, takes ``OPENCLAW_GATEWAY_TOKEN`` from that file
    as the gateway token. Raises :class:`SettingsFileError` when a file is missing,
    unreadable, readable by group/others, or has no ``OPENCLAW_GATEWAY_TOKEN``, and
    :class:`pydantic.ValidationError` when a value is invalid.
    """
    path = env_file_from(ENV_FILE_VAR, "the client token")
    settings = ConnectorSettings() if path is None else ConnectorSettings(_env_file=path)  # type: ignore[call-arg]
    if settings.gateway_env_file is None:
        return settings
    gateway_env = private_file(
        settings.gateway_env_file, "CONNECTOR_GATEWAY_ENV_FILE", "the gateway token"
    )
    token = read_value(gateway_env, GATEWAY_TOKEN_KEY)
    if token is None:
        raise SettingsFileError(
            f"CONNECTOR_GATEWAY_ENV_FILE={settings.gateway_env_file} has no {GATEWAY_TOKEN_KEY}; "
            "name the gateway instance's .env file"
        )
    return settings.model_copy(update={"gateway_token": SecretStr(token)})

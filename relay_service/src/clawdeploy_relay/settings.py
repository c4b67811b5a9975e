"""Settings of the relay, from the environment and a 0600 env file.

Environment names are ``RELAY_`` + the field name in upper case (``RELAY_ADMIN_TOKEN``,
``RELAY_STALE_AFTER_S``, ...). The env file's path comes from ``RELAY_ENV_FILE``; it holds
the admin token, so :func:`load_settings` refuses it when group or others may read it.
Times are seconds (floats); sizes are bytes or characters as named. The admin token, the
signing secret and the database URL (it may hold a password) are
:class:`~pydantic.SecretStr`, and no
validation error shows an input value.
"""

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .envfile import SettingsFileError, env_file_from

ENV_FILE_VAR = "RELAY_ENV_FILE"
DATABASE_SCHEMES = ("sqlite:///", "postgresql+psycopg://", "postgresql://")
__all__ = ["ENV_FILE_VAR", "Settings", "SettingsFileError", "load_settings"]


class Settings(BaseSettings):
    """Every knob of the relay; README.md lists them with their defaults."""

    model_config = SettingsConfigDict(
        env_prefix="RELAY_", extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    admin_token: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=9876, ge=1, le=65535)
    # sqlite:///<path> (one node) or postgresql+psycopg://user:password@host:port/db (shared
    # by several nodes); a SecretStr because the URL may carry the password.
    database_url: SecretStr = SecretStr("sqlite:///./data/relay.db")
    # Client states (seed: stale after 30 s without a poll, disconnected after 5 min).
    stale_after_s: float = Field(default=30.0, gt=0)
    disconnected_after_s: float = Field(default=300.0, gt=0)
    # Conversations: idle after no activity, expired (and deleted) after the TTL.
    idle_after_s: float = Field(default=300.0, gt=0)
    conversation_ttl_s: float = Field(default=86400.0, gt=0)
    # Delivery: a polled message not acked within the lease is delivered again.
    lease_s: float = Field(default=60.0, gt=0, le=3600)
    poll_max_wait_s: float = Field(default=25.0, ge=0, le=120)
    poll_batch: int = Field(default=100, ge=1, le=1000)
    outbox_batch: int = Field(default=500, ge=1, le=5000)
    sweep_interval_s: float = Field(default=1.0, gt=0, le=60)
    # PostgreSQL: how often each node looks for due work of its waiting clients besides
    # LISTEN/NOTIFY, so a lost notification only delays a long-poll.
    notify_fallback_s: float = Field(default=5.0, gt=0, le=300)
    # Limits: request bodies, message text, and token-bucket rates (per second, burst).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    max_text_chars: int = Field(default=16_000, ge=1, le=1_000_000)
    client_rate_per_s: float = Field(default=50.0, gt=0)
    client_burst: int = Field(default=100, ge=1)
    user_rate_per_s: float = Field(default=2.0, gt=0)
    user_burst: int = Field(default=10, ge=1)
    # WebSocket signed hello (README "WebSocket"): the server secret every client's signing
    # key is derived from (unset: no signing keys, bearer only), the clock-skew window and
    # how long an upgrade without a bearer token may take to send its hello.
    signing_secret: SecretStr | None = None
    ws_hello_skew_s: float = Field(default=60.0, gt=0, le=600)
    ws_hello_timeout_s: float = Field(default=5.0, gt=0, le=60)

    @field_validator("admin_token", "signing_secret", mode="before")
    @classmethod
    def _blank_token_is_unset(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("admin_token", "signing_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (openssl rand -hex 32)")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if not url.startswith(DATABASE_SCHEMES):
            raise ValueError(
                "must start with sqlite:/// or postgresql+psycopg:// "
                "(postgresql+psycopg://user:password@host:port/database)"
            )
        return value

    @model_validator(mode="after")
    def _ordered_timings(self) -> "Settings":
        if self.disconnected_after_s <= self.stale_after_s:
            raise ValueError("RELAY_DISCONNECTED_AFTER_S must be greater than RELAY_STALE_AFTER_S")
        if self.poll_max_wait_s >= self.stale_after_s:
            raise ValueError("RELAY_POLL_MAX_WAIT_S must be below RELAY_STALE_AFTER_S")
        return self


def load_settings() -> Settings:
    """Build :class:`Settings` from the environment and the file named by ``RELAY_ENV_FILE``.

    Raises :class:`SettingsFileError` when the file is missing, unreadable, or has any
    group/other permission bit (it must be 0600 or 0400), and
    :class:`pydantic.ValidationError` when a value is invalid.
    """
    path = env_file_from(ENV_FILE_VAR, "the admin token")
    if path is None:
        return Settings()
    return Settings(_env_file=path)  # type: ignore[call-arg]

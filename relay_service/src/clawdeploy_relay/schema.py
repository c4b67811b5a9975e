"""The relay's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

Times are float seconds since the epoch. ``messages.seq`` orders everything (per
conversation and in the outbox). Inbound messages (``direction='in'``) go ``pending`` →
``leased`` (``leased_to``, ``lease_until``) → ``acked``; replies (``direction='out'``) are
``sent``. ``(idem_scope, idem_key)`` is unique, which makes retried posts idempotent.
``messages.seq`` is a 64-bit ``BIGSERIAL`` on PostgreSQL (32 bits would run out after
about two weeks at 2,000 messages a second) and SQLite's ``INTEGER PRIMARY KEY`` (its rowid,
64 bits already).
"""

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

clients = Table(
    "clients",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
)

integrations = Table(
    "integrations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("integration_id", String(64), ForeignKey("integrations.id"), nullable=False),
    Column("user_id", String(200), nullable=False),
    Column("client_id", String(64), ForeignKey("clients.id"), nullable=True),
    Column("status", String(16), nullable=False),  # created | active
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("integration_id", "user_id", name="uq_conversation_user"),
    Index("ix_conversations_client", "client_id"),
)

messages = Table(
    "messages",
    metadata,
    Column(
        "seq",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("id", String(64), nullable=False, unique=True),
    Column("conversation_id", String(64), ForeignKey("conversations.id"), nullable=False),
    Column("direction", String(3), nullable=False),  # in | out
    Column("sender", String(200), nullable=False),
    Column("recipient", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("client_id", String(64), nullable=True),  # out: the client that sent it
    Column("created_at", Float, nullable=False),
    Column("state", String(8), nullable=False),  # pending | leased | acked | sent
    Column("leased_to", String(64), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("delivery_count", Integer, nullable=False, default=0),
    Column("first_delivered_at", Float, nullable=True),
    Column("idem_scope", String(80), nullable=True),
    Column("idem_key", String(200), nullable=True),
    UniqueConstraint("idem_scope", "idem_key", name="uq_message_idempotency"),
    Index("ix_messages_conversation", "conversation_id", "seq"),
    Index("ix_messages_state", "direction", "state"),
)

# Version 3 (the WebSocket's signed hello, README "WebSocket"): a client's signing key is
# derived from RELAY_SIGNING_SECRET and this salt, never stored; a new salt rotates it.
client_signing_keys = Table(
    "client_signing_keys",
    metadata,
    Column("client_id", String(64), ForeignKey("clients.id"), primary_key=True),
    Column("salt", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)

# Nonces of accepted signed hellos, kept until their hello's time leaves the skew window
# (a replay inside the window is refused, on every node sharing the database).
hello_nonces = Table(
    "hello_nonces",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False),
    Index("ix_hello_nonces_expires", "expires_at"),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("applied_at", Float, nullable=False),
)

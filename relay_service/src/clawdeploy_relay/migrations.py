"""Versioned migrations: a ``schema_version`` table and an ordered list of steps.

Chosen over Alembic for this first slice (one schema version, no autogenerate needed); the
steps are plain SQLAlchemy Core, so they run on SQLite and PostgreSQL alike (the types of
:mod:`.schema` map to both: ``messages.seq`` is SQLite's ``INTEGER PRIMARY KEY`` rowid and
PostgreSQL's ``BIGSERIAL``, times are floats — ``REAL`` / ``double precision`` seconds —
and the index names are unique in the database, as PostgreSQL wants). Rule for the next
change: append a step ``(4, name, fn)``; never edit an applied step. Step 1 creates the
tables of :mod:`.schema` as they are at version 1 — when a later step alters a table,
freeze step 1's table definitions here first.

On PostgreSQL, where several relay nodes may start at once, :func:`migrate` first takes a
transaction-level advisory lock (:data:`PG_MIGRATION_LOCK`): the first node migrates, the
others wait for its commit and then find nothing left to do. PostgreSQL's DDL is
transactional, so a failed step leaves the database as it was.
"""

import time
from collections.abc import Callable

from sqlalchemy import Connection, func, inspect, select

from . import schema

Step = tuple[int, str, Callable[[Connection], None]]


def _initial(conn: Connection) -> None:
    tables = [schema.clients, schema.integrations, schema.conversations, schema.messages]
    schema.metadata.create_all(conn, tables=tables)


DEFAULT_INTEGRATION = "default"
# Not a hex SHA-256, so no presented token can ever hash to it.
_NO_TOKEN = "none:" + DEFAULT_INTEGRATION


def _default_integration(conn: Connection) -> None:
    # Inbound posted with the admin token (the seed's tokenless /inbound) lands here.
    conn.execute(
        schema.integrations.insert().values(
            id=DEFAULT_INTEGRATION,
            name="default (admin token)",
            token_hash=_NO_TOKEN,
            created_at=time.time(),
        )
    )


def _signed_hello(conn: Connection) -> None:
    # New tables only (nothing altered): signing-key salts and the hello nonces seen.
    schema.metadata.create_all(conn, tables=[schema.client_signing_keys, schema.hello_nonces])


STEPS: list[Step] = [
    (1, "initial tables", _initial),
    (2, "default integration for admin-posted inbound", _default_integration),
    (3, "websocket signed hello: signing-key salts, hello nonces", _signed_hello),
]
LATEST = STEPS[-1][0]


def current_version(conn: Connection) -> int:
    """Return the highest applied version (0 on an empty database)."""
    if not inspect(conn).has_table("schema_version"):
        return 0
    found = conn.execute(select(schema.schema_version.c.version)).scalars().all()
    return max(found, default=0)


# pg_advisory_xact_lock's key for migrations (a 64-bit constant: "clawdply" in ASCII).
PG_MIGRATION_LOCK = int.from_bytes(b"clawdply", "big") & 0x7FFF_FFFF_FFFF_FFFF


def migrate(conn: Connection) -> list[int]:
    """Apply every step above the current version, in order, in the caller's transaction.

    Returns the versions applied (empty when up to date). Raises :class:`RuntimeError` when
    the database is newer than this code (a downgrade would lose data). On PostgreSQL it
    waits for a node migrating concurrently (advisory lock, released at commit).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(PG_MIGRATION_LOCK)))
    schema.schema_version.create(conn, checkfirst=True)
    version = current_version(conn)
    if version > LATEST:
        raise RuntimeError(f"database schema is version {version}; this relay knows {LATEST}")
    applied = []
    for number, name, step in STEPS:
        if number > version:
            step(conn)
            conn.execute(
                schema.schema_version.insert().values(
                    version=number, name=name, applied_at=time.time()
                )
            )
            applied.append(number)
    return applied

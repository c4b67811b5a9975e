"""PostgreSQL for the relay's tests: a fresh database for each test that asks for one.

``RELAY_TEST_DATABASE_URL`` names a server and a role allowed to create databases
(``scripts/postgres.sh url`` prints one: the throwaway cluster's superuser). Unset, the
tests run on SQLite only. The URL holds a password: nothing here prints it, and the
database URLs handed to tests carry it only to connect.
"""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from clawdeploy_relay.engines import libpq_params

ENV_VAR = "RELAY_TEST_DATABASE_URL"
LOCK_TIMEOUT = "10s"


def admin_url_from_env() -> URL | None:
    """The server of ``RELAY_TEST_DATABASE_URL``, or None when unset.

    :raises ValueError: the variable is set but is not a ``postgresql+psycopg://`` URL.
    """
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return None
    url = make_url(raw)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"{ENV_VAR} must be a postgresql+psycopg:// URL")
    return url.set(drivername="postgresql+psycopg")


class PgServer:
    """Creates and drops uniquely named databases on one server (one admin connection)."""

    def __init__(self, admin_url: URL) -> None:
        self.admin_url = admin_url
        self._conn: psycopg.Connection | None = None

    def _admin(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(**libpq_params(self.admin_url), autocommit=True)
        return self._conn

    def execute(self, query: sql.Composable, *params: object) -> list[tuple[object, ...]]:
        """Run one statement on the admin connection; return its rows (if any)."""
        cursor = self._admin().execute(query, params or None)
        return cursor.fetchall() if cursor.description else []

    def create(self) -> str:
        """Create an empty database; return its URL (with the password, for connecting).

        Its sessions give up waiting for a row lock after :data:`LOCK_TIMEOUT`.
        """
        name = f"relay_test_{secrets.token_hex(6)}"
        self.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        # A test that waits on its own lock fails after this instead of hanging.
        self.execute(
            sql.SQL("ALTER DATABASE {} SET lock_timeout = {}").format(
                sql.Identifier(name), sql.Literal(LOCK_TIMEOUT)
            )
        )
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        """Drop a database made by :meth:`create`, ending any session still on it."""
        name = make_url(url).database
        assert name and name.startswith("relay_test_"), "only drops databases it made"
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        self.execute(query)

    @contextmanager
    def fresh(self) -> Iterator[str]:
        """A new database's URL for the ``with`` block; dropped after it."""
        url = self.create()
        try:
            yield url
        finally:
            self.drop(url)

    def close(self) -> None:
        """Close the admin connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

"""One SQLAlchemy engine per backend: SQLite (one node) or PostgreSQL (several nodes).

* SQLite: WAL, ``synchronous=FULL`` (a committed message survives a crash before the HTTP
  answer goes out), foreign keys on, 10 s busy timeout.
* PostgreSQL (psycopg 3): ``READ COMMITTED``, the isolation level ``SELECT … FOR UPDATE
  SKIP LOCKED`` queues are built for (under ``REPEATABLE READ`` a claim of a row changed
  since the snapshot fails instead of skipping it); the store takes row locks where a
  decision must not race (see :mod:`.store`), and :mod:`.retry` re-runs the few
  transactions a concurrent node makes fail. A pool of 10 + 20 connections per node, 10 s
  to connect; connections are checked before use (a restarted server costs no request),
  and SQLAlchemy errors leave out statement parameters (message texts, token hashes).

No function here logs or returns the URL's password, except :func:`libpq_params`, whose
result is for ``psycopg.connect`` only.
"""

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
# Per node: up to pool + overflow concurrent transactions (poll, inbound, sweep, ...).
PG_POOL_SIZE = 10
PG_MAX_OVERFLOW = 20
PG_CONNECT_TIMEOUT_S = 10  # an unreachable server fails a request, it does not hang it


def backend_of(url: URL) -> str:
    """``"sqlite"`` or ``"postgresql"`` for a relay database URL.

    :raises ValueError: another backend, or PostgreSQL with a driver other than psycopg.
    """
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == SQLITE:
        return SQLITE
    if backend == POSTGRESQL and driver == "psycopg":
        return POSTGRESQL
    raise ValueError(
        "RELAY_DATABASE_URL: use sqlite:///<path> or "
        "postgresql+psycopg://user:password@host:port/database"
    )


def normalise(url: URL) -> URL:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy's default would be psycopg2)."""
    if url.drivername == POSTGRESQL:
        return url.set(drivername="postgresql+psycopg")
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create(url: URL) -> Engine:
    """A new engine for ``url`` (the SQLite file's directory is created).

    :raises ValueError: as :func:`backend_of`.
    """
    if backend_of(url) == SQLITE:
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
        isolation_level="READ COMMITTED",
        pool_pre_ping=True,
        pool_size=PG_POOL_SIZE,
        max_overflow=PG_MAX_OVERFLOW,
        hide_parameters=True,
    )


def libpq_params(url: URL) -> dict[str, str]:
    """Keyword arguments for ``psycopg.connect`` reaching the same PostgreSQL database.

    ``{host, port, dbname, user, password}`` as given, plus the URL's query parameters
    (``host=/run/postgresql`` for a unix socket, ``sslmode``, ...). Holds the password:
    never log it.
    """
    params: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "dbname": url.database,
        "user": url.username,
        "password": url.password,
    }
    for key, value in url.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    return {key: str(value) for key, value in params.items() if value is not None}

"""SQLite state of backend-service: ``<BACKEND_DATA_DIR>/backend_state.db``.

WAL mode (readers never block the writer), ``busy_timeout`` so a second writer waits
instead of failing, and a schema version in ``PRAGMA user_version`` with an ordered list of
forward migrations (:data:`MIGRATIONS`). :meth:`Store.open` applies the missing ones, each
in its own transaction together with its version bump, so a crash never leaves a
half-migrated schema; running it again is a no-op. A database newer than this code is
refused (:class:`StoreError`) rather than guessed at, and so is one at version 0 that
already has tables: someone else's, such as the seed service's ``backend_state.db``
(``BACKEND_DB_PATH`` pointing at it), which is left untouched (not even switched to WAL);
``clawdeploy-backend-migrate-seed`` imports that one.

Each operation opens its own short-lived connection, which makes the store safe to use
from FastAPI's threadpool without a shared connection. An executor adds its tables with a
new migration appended to :data:`MIGRATIONS` (never by editing an old one).

Nothing secret is stored: models hold provider metadata only; web sessions are kept as the
SHA-256 of the cookie value, so a copy of the database does not log anyone in.
"""

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .schemas import ModelInfo

BUSY_TIMEOUT_MS = 5000
_UNREAD: Any = object()  # Store._last_ok_sync before the first read

MIGRATIONS: tuple[str, ...] = (
    # 1: provider metadata, sync history, key/value meta, web sessions.
    """
    CREATE TABLE models (
        provider_id   TEXT PRIMARY KEY,
        model         TEXT NOT NULL DEFAULT '',
        provider_type TEXT NOT NULL DEFAULT '',
        base_url      TEXT NOT NULL DEFAULT '',
        enabled       INTEGER NOT NULL DEFAULT 1,
        is_default    INTEGER NOT NULL DEFAULT 0,
        source        TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    );
    CREATE TABLE sync_runs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        trace_id    TEXT NOT NULL,
        actor       TEXT NOT NULL,
        action      TEXT NOT NULL,
        source      TEXT,
        outcome     TEXT NOT NULL,
        error_code  TEXT,
        count       INTEGER NOT NULL DEFAULT 0,
        finished_at TEXT NOT NULL
    );
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE web_sessions (
        id_hash    TEXT PRIMARY KEY,
        csrf_token TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
    """,
    # 2: executor jobs (services/executor/jobs.py). ``seq`` orders the queue; ``task`` is
    # emptied when a job ends, only its hash and length stay.
    """
    CREATE TABLE executor_jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL, task TEXT NOT NULL, task_sha256 TEXT NOT NULL,
        task_chars INTEGER NOT NULL, cwd TEXT NOT NULL, level TEXT NOT NULL,
        danger_mode INTEGER NOT NULL DEFAULT 0, trace_id TEXT NOT NULL,
        created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, duration_s REAL,
        exit_code INTEGER, error_code TEXT, error TEXT,
        stdout_tail TEXT NOT NULL DEFAULT '', stderr_tail TEXT NOT NULL DEFAULT '',
        output_truncated INTEGER NOT NULL DEFAULT 0, cancel_requested INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX executor_jobs_state ON executor_jobs (state, seq);
    """,
)

MODEL_FIELDS = ("provider_id", "model", "provider_type", "base_url", "enabled", "is_default")


class StoreError(RuntimeError):
    """The database cannot be opened or migrated; the message says what to fix."""


def utc_now() -> str:
    """The current time as ISO 8601 UTC with seconds (``2026-11-23T17:00:00Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode = WAL``, retried: SQLite answers "database is locked" at once
    (no busy handler) while another connection is creating the same new database."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _refuse_foreign(conn: sqlite3.Connection, path: Path) -> None:
    """Raise :class:`StoreError` when ``path`` holds tables but no schema version of ours."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            # One statement, one snapshot: another process may be creating our schema.
            version, names = conn.execute(
                "SELECT (SELECT user_version FROM pragma_user_version), "
                "(SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
                "WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name))"
            ).fetchone()
            tables = str(names).split(",") if names else []
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    if int(version) == 0 and tables:
        seed = {"model_snapshots", "sync_events"} <= set(tables)
        what = "the seed service's database" if seed else "not a clawdeploy-backend database"
        raise StoreError(
            f"{path} is {what} (tables {', '.join(tables)}, no schema version); it is left "
            "untouched. Give this service a file of its own (BACKEND_DATA_DIR or "
            "BACKEND_DB_PATH)"
            + ("; import the seed's models with clawdeploy-backend-migrate-seed" if seed else "")
        )


class Store:
    """The service's SQLite database at ``path``; call :meth:`open` once before use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._opened = False
        self._open_lock = threading.Lock()
        self._last_ok_sync: dict[str, Any] | None = _UNREAD

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """Yield a connection in a transaction: committed on success, rolled back on error."""
        if not self._opened:
            self.open()
        conn = self._raw_connection()
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def _raw_connection(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.isolation_level = "DEFERRED"
        return conn

    def open(self) -> int:
        """Create the file if needed, switch to WAL, apply missing migrations.

        Returns the schema version. Raises :class:`StoreError` when the directory is not
        writable or the database is newer than this code.
        """
        with self._open_lock:
            return self._open()

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._raw_connection()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the database {self.path}: {exc}; check BACKEND_DATA_DIR and "
                "that the service user may write there"
            ) from exc
        try:
            _refuse_foreign(conn, self.path)
            _switch_to_wal(conn)
            version = self._migrate(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot migrate the database {self.path}: {exc}") from exc
        finally:
            conn.close()
        self.path.chmod(0o600)
        self._opened = True
        return version

    def _migrate(self, conn: sqlite3.Connection) -> int:
        conn.isolation_level = None  # explicit BEGIN/COMMIT below
        while True:
            # Read the version inside the write lock, so two processes starting at once
            # never apply the same migration twice.
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if version > len(MIGRATIONS):
                    raise StoreError(
                        f"the database {self.path} has schema version {version}, newer than "
                        f"this backend-service knows ({len(MIGRATIONS)}); upgrade the service "
                        "or restore the database from before the upgrade"
                    )
                if version == len(MIGRATIONS):
                    conn.execute("COMMIT")
                    return version
                for statement in filter(str.strip, MIGRATIONS[version].split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        """``PRAGMA user_version`` of the database."""
        with self.connect() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    # -- models ---------------------------------------------------------------------------

    def replace_models(self, models: Sequence[dict[str, Any]], source: str) -> int:
        """Replace every stored model by ``models`` (dicts with :data:`MODEL_FIELDS`).

        Only those fields are read, whatever else a dict holds. Returns the count stored.
        """
        now = utc_now()
        rows = [
            (
                str(m["provider_id"]),
                str(m.get("model") or ""),
                str(m.get("provider_type") or ""),
                str(m.get("base_url") or ""),
                int(bool(m.get("enabled", True))),
                int(bool(m.get("is_default", False))),
                source,
                now,
            )
            for m in models
        ]
        with self.connect() as conn:
            conn.execute("DELETE FROM models")
            conn.executemany(
                "INSERT INTO models (provider_id, model, provider_type, base_url, enabled, "
                "is_default, source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def list_models(self) -> list[ModelInfo]:
        """Every stored model (metadata only), the default first, then by provider_id."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT * FROM models ORDER BY is_default DESC, provider_id"
            ).fetchall()
        # SQLite's 0/1 become bools through ModelInfo's field types.
        return [ModelInfo(**dict(r)) for r in rows]

    def record_sync(
        self,
        *,
        trace_id: str,
        actor: str,
        action: str,
        source: str | None,
        outcome: str,
        error_code: str | None,
        count: int,
    ) -> None:
        """Append one row to ``sync_runs`` (a pull or an import, success or not)."""
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO sync_runs (trace_id, actor, action, source, outcome, error_code, "
                "count, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (trace_id, actor, action, source, outcome, error_code, count, utc_now()),
            )
        self._last_ok_sync = _UNREAD

    def last_sync(self) -> dict[str, Any] | None:
        """The latest ``sync_runs`` row as a dict, or None."""
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM sync_runs ORDER BY id DESC LIMIT 1").fetchone()
        return dict(row) if row is not None else None

    def last_successful_sync(self) -> dict[str, Any] | None:
        """The latest ``sync_runs`` row with outcome ``ok`` as a dict, or None.

        Kept in memory after the first read and refreshed by :meth:`record_sync`, so the
        status path reads no SQLite (rows written by another process show after a restart).
        """
        cached = self._last_ok_sync
        if cached is not _UNREAD:
            return dict(cached) if cached is not None else None
        with self.connect() as conn:
            row = conn.execute(
                "SELECT * FROM sync_runs WHERE outcome = 'ok' ORDER BY id DESC LIMIT 1"
            ).fetchone()
        self._last_ok_sync = dict(row) if row is not None else None
        return self.last_successful_sync()

    # -- web sessions ---------------------------------------------------------------------

    def add_session(self, id_hash: str, csrf_token: str, ttl_s: float) -> None:
        """Store a web session (by the hash of its id) and drop expired ones."""
        now = time.time()
        with self.connect() as conn:
            conn.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT INTO web_sessions (id_hash, csrf_token, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (id_hash, csrf_token, now, now + ttl_s),
            )

    def get_session_csrf(self, id_hash: str) -> str | None:
        """The CSRF token of a live session, or None when unknown or expired."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT csrf_token FROM web_sessions WHERE id_hash = ? AND expires_at > ?",
                (id_hash, time.time()),
            ).fetchone()
        return str(row["csrf_token"]) if row is not None else None

    def reset_sessions_on_token_change(self, token_fingerprint: str) -> bool:
        """Drop every web session when the API token changed since the last start.

        ``token_fingerprint`` is a hash of the token (never the token); kept in ``meta``.
        Returns True when sessions were dropped.
        """
        with self.connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'web_token_fp'").fetchone()
            if row is not None and row["value"] == token_fingerprint:
                return False
            conn.execute("DELETE FROM web_sessions")
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('web_token_fp', ?)",
                (token_fingerprint,),
            )
            return row is not None

    def delete_session(self, id_hash: str) -> None:
        """Forget a web session (logout)."""
        with self.connect() as conn:
            conn.execute("DELETE FROM web_sessions WHERE id_hash = ?", (id_hash,))

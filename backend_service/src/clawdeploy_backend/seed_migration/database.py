"""The seed's database: read from a copy (:func:`read_seed_db`), imported into ours once.

:data:`SEED_TABLES` are the seed's tables and the columns read from them;
:func:`read_seed_db` reads them from a temporary copy of the file (with its ``-wal`` /
``-journal``), so not even SQLite's recovery touches the original. :func:`migrate_database`
makes the ``database`` part of the report: it inspects ours (from a copy too) and, unless
``check``, writes the seed's models, its last sync as a ``sync_runs`` row (actor
:data:`ACTOR`) and the marker :data:`MARKER_KEY` in ``meta``, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..redact import display_url
from ..store import BUSY_TIMEOUT_MS, Store, StoreError, utc_now
from .names import MigrationError

MARKER_KEY = "seed_migrated_at"
ACTOR = "seed_migration"
MAX_TEXT = 512

# The seed's tables and the columns read from them.
SEED_TABLES = {
    "model_snapshots": (
        "id",
        "provider_id",
        "model",
        "provider_type",
        "base_url",
        "imported_at",
        "source",
        "trace_id",
    ),
    "sync_events": ("id", "imported_at", "source", "provider_count", "trace_id"),
}


# -- the databases -------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _snapshot(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to a copy of ``path`` (with its ``-wal`` / ``-journal``) in a temporary
    directory, so reading never changes the original, not even through recovery."""
    with tempfile.TemporaryDirectory(prefix="clawdeploy-seed-") as tmp:
        copy = Path(tmp) / "copy.db"
        shutil.copyfile(path, copy)
        for suffix in ("-wal", "-journal"):
            side = Path(f"{path}{suffix}")
            if side.is_file():
                shutil.copyfile(side, Path(f"{copy}{suffix}"))
        conn = sqlite3.connect(copy)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value).strip()[:MAX_TEXT]


def _clean_url(value: Any) -> str:
    text = _text(value)
    if "://" not in text:
        return text.split("?", 1)[0].split("#", 1)[0]
    try:
        return display_url(text)
    except ValueError:
        return ""


def read_seed_db(path: Path) -> dict[str, Any]:
    """``{"models": [...], "last_sync": {...} | None, "jobs": n, "sha256"}`` of the seed's
    database at ``path``. Raises :class:`MigrationError` (exit 4) when it is not SQLite or
    lacks the seed's tables or columns."""
    try:
        sha256 = _sha256(path)
        with _snapshot(path) as conn:
            tables = {
                str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            missing = sorted(set(SEED_TABLES) - tables)
            if missing:
                found = ", ".join(sorted(t for t in tables if not t.startswith("sqlite_")))
                raise MigrationError(
                    4,
                    f"{path} is not the seed's backend_state.db: no table {', '.join(missing)} "
                    f"(it has: {found or 'no tables'}); give the right file with --seed-db "
                    "(the role: backend_service_seed_db)",
                )
            for table, columns in SEED_TABLES.items():
                have = {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}
                lacking = [c for c in columns if c not in have]
                if lacking:
                    raise MigrationError(
                        4,
                        f"{path} is not the seed's backend_state.db: table {table} has no "
                        f"column {', '.join(lacking)}",
                    )
            rows = conn.execute(
                "SELECT provider_id, model, provider_type, base_url, imported_at, source, "
                "trace_id FROM model_snapshots ORDER BY id"
            ).fetchall()
            last = conn.execute(
                "SELECT imported_at, source, provider_count, trace_id FROM sync_events "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
            jobs = (
                int(conn.execute("SELECT COUNT(*) FROM executor_jobs").fetchone()[0])
                if "executor_jobs" in tables
                else 0
            )
    except sqlite3.DatabaseError as exc:
        raise MigrationError(
            4,
            f"{path} is not a usable SQLite database ({exc}); give the seed's with --seed-db "
            "(the role: backend_service_seed_db)",
        ) from None
    except OSError as exc:
        raise MigrationError(
            4, f"the seed's database {path} cannot be read ({exc.strerror})"
        ) from None
    models: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for row in rows:
        provider_id = _text(row["provider_id"])
        if not provider_id:
            warnings.append("a model_snapshots row has no provider_id; skipped")
            continue
        if provider_id in models:
            warnings.append(f"provider {provider_id} appears twice; kept the last")
        models[provider_id] = {
            "provider_id": provider_id,
            "model": _text(row["model"]),
            "provider_type": _text(row["provider_type"]),
            "base_url": _clean_url(row["base_url"]),
            "source": _text(row["source"]) or "seed",
            "imported_at": _text(row["imported_at"]) or utc_now(),
        }
    last_sync = None
    if last is not None:
        try:
            count = int(last["provider_count"])
        except (TypeError, ValueError):
            count = 0
        last_sync = {
            "imported_at": _text(last["imported_at"]) or utc_now(),
            "source": _text(last["source"]),
            "provider_count": count,
            "trace_id": _text(last["trace_id"]),
        }
    return {
        "models": list(models.values()),
        "last_sync": last_sync,
        "jobs": jobs,
        "sha256": sha256,
        "warnings": warnings,
    }


def _ours_state(path: Path) -> tuple[dict[str, Any] | None, int]:
    """(the marker, or None; how many models) of our database, read from a copy."""
    if not path.exists():
        return None, 0
    try:
        with _snapshot(path) as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = {
                str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if version == 0 and tables - {"sqlite_sequence"}:
                raise MigrationError(
                    5, f"our database {path} is not a clawdeploy-backend database; check --db"
                )
            if not {"meta", "models"} <= tables:
                return None, 0
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (MARKER_KEY,)).fetchone()
            count = int(conn.execute("SELECT COUNT(*) FROM models").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise MigrationError(5, f"our database {path} cannot be read ({exc})") from None
    except OSError as exc:
        raise MigrationError(5, f"our database {path} cannot be read ({exc.strerror})") from None
    return (_marker(row[0]) if row is not None else None), count


def _marker(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"at": text}
    return value if isinstance(value, dict) else {"at": str(value)}


def _import(db: Path, seed_db: Path, seed: dict[str, Any]) -> tuple[str, int]:
    """Write the seed's models, last sync and the marker in one transaction.

    Returns (status, our model count): ``imported``, or ``already_imported`` / ``skipped``
    when another run or a pull got there first (checked again under the write lock).
    """
    try:
        Store(db).open()
        conn = sqlite3.connect(db, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except (StoreError, sqlite3.Error) as exc:
        raise MigrationError(5, str(exc)) from None
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM meta WHERE key = ?", (MARKER_KEY,)).fetchone():
                conn.execute("ROLLBACK")
                return "already_imported", 0
            count = int(conn.execute("SELECT COUNT(*) FROM models").fetchone()[0])
            if count:
                conn.execute("ROLLBACK")
                return "skipped", count
            conn.executemany(
                "INSERT INTO models (provider_id, model, provider_type, base_url, enabled, "
                "is_default, source, updated_at) VALUES (?, ?, ?, ?, 1, 0, ?, ?)",
                [
                    (
                        m["provider_id"],
                        m["model"],
                        m["provider_type"],
                        m["base_url"],
                        m["source"],
                        m["imported_at"],
                    )
                    for m in seed["models"]
                ],
            )
            last = seed["last_sync"]
            if last is not None:
                conn.execute(
                    "INSERT INTO sync_runs (trace_id, actor, action, source, outcome, "
                    "error_code, count, finished_at) VALUES (?, ?, 'import', ?, 'ok', NULL, ?, ?)",
                    (
                        last["trace_id"] or "seed",
                        ACTOR,
                        last["source"] or None,
                        last["provider_count"],
                        last["imported_at"],
                    ),
                )
            marker = {
                "at": utc_now(),
                "seed_db": str(seed_db),
                "sha256": seed["sha256"],
                "models": len(seed["models"]),
                "last_sync_trace_id": last["trace_id"] if last else None,
            }
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)", (MARKER_KEY, json.dumps(marker))
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise MigrationError(5, f"cannot write our database {db}: {exc}") from None
    finally:
        conn.close()
    return "imported", len(seed["models"])


def migrate_database(db: Path, seed_db: Path, *, check: bool = False) -> dict[str, Any]:
    """The ``database`` part of the report; imports unless ``check`` (see the package doc)."""
    report: dict[str, Any] = {
        "seed_db": str(seed_db),
        "path": str(db),
        "status": "",
        "models": 0,
        "provider_ids": [],
        "last_sync": None,
        "seed_jobs_not_imported": 0,
        "message": "",
        "warnings": [],
    }
    marker, ours = _ours_state(db)
    if marker is not None:
        report.update(status="already_imported", marker=marker, models=int(marker.get("models", 0)))
        report["message"] = f"already imported on {marker.get('at', '?')}; nothing done"
        if seed_db.is_file() and marker.get("sha256") not in (None, _safe_sha256(seed_db)):
            report["message"] += " (the seed's database changed since; not imported again)"
        return report
    if not seed_db.exists():
        report.update(status="no_seed_db", message=f"no seed database at {seed_db}")
        return report
    seed = read_seed_db(seed_db)
    report.update(
        sha256=seed["sha256"],
        last_sync=seed["last_sync"],
        seed_jobs_not_imported=seed["jobs"],
        warnings=seed["warnings"],
    )
    if ours:
        report.update(status="skipped", message=f"skipped: ours already has {ours} models")
        return report
    ids = [m["provider_id"] for m in seed["models"]]
    if check:
        report.update(status="would_import", models=len(ids), provider_ids=ids)
        report["message"] = f"would import {len(ids)} models and the last sync (check mode)"
        return report
    status, count = _import(db, seed_db, seed)
    if status == "skipped":
        report.update(status=status, message=f"skipped: ours already has {count} models")
    elif status == "already_imported":
        report.update(status=status, message="already imported by another run; nothing done")
    else:
        report.update(status=status, models=count, provider_ids=ids)
        report["message"] = f"imported {count} models and the last sync"
    if seed["jobs"]:
        report["message"] += f"; the seed's {seed['jobs']} executor jobs are not imported"
    return report


def _safe_sha256(path: Path) -> str | None:
    try:
        return _sha256(path)
    except OSError:
        return None

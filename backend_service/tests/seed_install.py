"""The state a seed install leaves: backend-service v0.3.1's ``backend_state.db``.

Its exact schema (``model_snapshots``, ``sync_events``, ``executor_jobs``) with two models,
two syncs (the last: ``SEED_SYNCS[-1]``) and a finished job, values as v0.3.1 recorded them
(``research/backend-v031-responses.json``). Used by test_backend_seed_migration.py and run
on the Molecule host by tests/playbooks/prepare-test-host.yml
(``python3 seed_install.py /root/openclaw-assistant-backend/data/backend_state.db``), so
standard library only.
"""

import sqlite3
import sys
from pathlib import Path

SEED_SCHEMA = """
CREATE TABLE model_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id TEXT NOT NULL,
    model TEXT NOT NULL,
    provider_type TEXT NOT NULL DEFAULT '',
    base_url TEXT NOT NULL DEFAULT '',
    imported_at TEXT NOT NULL,
    source TEXT NOT NULL,
    trace_id TEXT NOT NULL
);
CREATE TABLE sync_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    imported_at TEXT NOT NULL,
    source TEXT NOT NULL,
    provider_count INTEGER NOT NULL,
    trace_id TEXT NOT NULL
);
CREATE TABLE executor_jobs (
    job_id TEXT PRIMARY KEY,
    state TEXT,
    executor TEXT,
    task TEXT,
    cwd TEXT,
    permission_level TEXT,
    allow_danger INTEGER,
    created_at TEXT,
    started_at TEXT,
    finished_at TEXT,
    result_text TEXT,
    error_code TEXT,
    error TEXT,
    trace_id TEXT
);
"""

SEED_MODELS = [
    {
        "provider_id": "gemini-flash",
        "model": "gemini-2.5-flash",
        "provider_type": "chat_completion",
        "base_url": "https://generativelanguage.example/",
        "imported_at": "2026-12-02T15:08:07Z",
        "source": "web_pull_cmd_config",
        "trace_id": "f068059540be",
    },
    {
        "provider_id": "gpt-4o-mini",
        "model": "gpt-4o-mini",
        "provider_type": "chat_completion",
        "base_url": "https://api.openai.example/v1",
        "imported_at": "2026-12-02T15:08:07Z",
        "source": "web_pull_cmd_config",
        "trace_id": "f068059540be",
    },
]

SEED_SYNCS = [
    {
        "imported_at": "2026-12-02T14:56:46Z",
        "source": "plugin_push",
        "provider_count": 1,
        "trace_id": "ef080f6b953b",
    },
    {
        "imported_at": "2026-12-02T15:08:07Z",
        "source": "web_pull_cmd_config",
        "provider_count": 2,
        "trace_id": "f068059540be",
    },
]

SEED_JOBS = [
    {
        "job_id": "ffcada36d16b4b91",
        "state": "succeeded",
        "executor": "codex",
        "task": "say hi",
        "cwd": "/tmp",
        "permission_level": "L3",
        "allow_danger": 0,
        "created_at": "2026-12-02T15:08:07Z",
        "started_at": "2026-12-02T15:08:07Z",
        "finished_at": "2026-12-02T15:08:19Z",
        "result_text": "hi",
        "error_code": "",
        "error": "",
        "trace_id": "48d0db93d681",
    },
]


def _insert(conn: sqlite3.Connection, table: str, row: dict) -> None:
    columns = ", ".join(row)
    marks = ", ".join("?" * len(row))
    conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))


def make_seed_db(path, models=None, syncs=None, jobs=None) -> Path:
    """Create the seed's database at ``path`` (which must not exist) with these rows
    (None: :data:`SEED_MODELS`, :data:`SEED_SYNCS`, :data:`SEED_JOBS`)."""
    models = SEED_MODELS if models is None else models
    syncs = SEED_SYNCS if syncs is None else syncs
    jobs = SEED_JOBS if jobs is None else jobs
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists already")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executescript(SEED_SCHEMA)
            for table, rows in (
                ("model_snapshots", models),
                ("sync_events", syncs),
                ("executor_jobs", jobs),
            ):
                for row in rows:
                    _insert(conn, table, row)
    finally:
        conn.close()
    return path


if __name__ == "__main__":
    make_seed_db(sys.argv[1])
    Path(sys.argv[1]).chmod(0o600)

"""store.py: WAL, schema version with forward migrations, busy timeout, sessions, no secrets."""

import sqlite3
import threading

import pytest

from clawdeploy_backend import store as store_module
from clawdeploy_backend.store import MIGRATIONS, Store, StoreError


def _pragma(path, name):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def test_open_creates_a_wal_database_at_the_latest_version(tmp_path):
    db = tmp_path / "deep" / "dir" / "backend_state.db"
    store = Store(db)
    assert store.open() == len(MIGRATIONS)
    assert db.is_file()
    assert db.stat().st_mode & 0o777 == 0o600
    assert _pragma(db, "journal_mode") == "wal"
    assert _pragma(db, "user_version") == len(MIGRATIONS)
    assert store.schema_version() == len(MIGRATIONS)


def test_busy_timeout_is_set_on_each_connection(tmp_path):
    store = Store(tmp_path / "s.db")
    with store.connect() as conn:
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == store_module.BUSY_TIMEOUT_MS


def test_open_is_idempotent_and_keeps_data(tmp_path):
    db = tmp_path / "s.db"
    Store(db).replace_models([{"provider_id": "a", "model": "m"}], "import")
    assert Store(db).open() == len(MIGRATIONS)
    assert [m.provider_id for m in Store(db).list_models()] == ["a"]


def test_migrations_apply_forward_in_order(tmp_path, monkeypatch):
    db = tmp_path / "s.db"
    Store(db).open()
    extra = "CREATE TABLE later_table (id TEXT PRIMARY KEY); INSERT INTO meta VALUES ('k', 'v')"
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, extra))
    assert Store(db).open() == len(MIGRATIONS) + 1
    assert _pragma(db, "user_version") == len(MIGRATIONS) + 1
    with Store(db).connect() as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='k'").fetchone()[0] == "v"


def test_a_failing_migration_leaves_the_previous_version(tmp_path, monkeypatch):
    db = tmp_path / "s.db"
    Store(db).open()
    broken = "CREATE TABLE half_done (x); THIS IS NOT SQL"
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, broken))
    with pytest.raises(StoreError):
        Store(db).open()
    assert _pragma(db, "user_version") == len(MIGRATIONS)
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "half_done" not in tables, "the migration's transaction was not rolled back"


def test_a_newer_database_is_refused(tmp_path):
    db = tmp_path / "s.db"
    Store(db).open()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this backend-service"):
        Store(db).open()


def test_unwritable_directory_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="BACKEND_DATA_DIR"):
        Store(blocker / "sub" / "s.db").open()


def test_concurrent_first_use_migrates_once(tmp_path):
    db = tmp_path / "s.db"
    errors: list[BaseException] = []

    def use() -> None:
        try:
            Store(db).list_models()
        except BaseException as exc:  # noqa: BLE001 - collected for the assert
            errors.append(exc)

    threads = [threading.Thread(target=use) for _thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _pragma(db, "user_version") == len(MIGRATIONS)


def test_replace_models_reads_only_metadata_fields(tmp_path):
    store = Store(tmp_path / "s.db")
    n = store.replace_models(
        [
            {"provider_id": "b", "model": "mb", "enabled": False, "api_key": "zz-not-stored"},
            {"provider_id": "a", "model": "ma", "is_default": True, "base_url": "https://x/v1"},
        ],
        "import",
    )
    assert n == 2
    rows = store.list_models()
    assert [r.provider_id for r in rows] == ["a", "b"]  # the default first
    assert rows[0].is_default and rows[0].base_url == "https://x/v1"
    assert rows[1].enabled is False
    assert b"zz-not-stored" not in (tmp_path / "s.db").read_bytes()
    store.replace_models([{"provider_id": "c"}], "pull")
    assert [r.provider_id for r in store.list_models()] == ["c"]


def test_sessions_expire_and_are_deleted(tmp_path, monkeypatch):
    store = Store(tmp_path / "s.db")
    store.add_session("h1", "csrf1", ttl_s=60)
    assert store.get_session_csrf("h1") == "csrf1"
    assert store.get_session_csrf("other") is None
    store.delete_session("h1")
    assert store.get_session_csrf("h1") is None
    store.add_session("h2", "csrf2", ttl_s=60)
    now = store_module.time.time()
    monkeypatch.setattr(store_module.time, "time", lambda: now + 61)
    assert store.get_session_csrf("h2") is None


def test_sync_runs_are_recorded(tmp_path):
    store = Store(tmp_path / "s.db")
    assert store.last_sync() is None
    store.record_sync(
        trace_id="t1",
        actor="api",
        action="pull",
        source=None,
        outcome="failed",
        error_code="astr_config_not_found",
        count=0,
    )
    store.record_sync(
        trace_id="t2",
        actor="web",
        action="pull",
        source="cmd_config",
        outcome="ok",
        error_code=None,
        count=3,
    )
    last = store.last_sync()
    assert last["trace_id"] == "t2" and last["count"] == 3 and last["actor"] == "web"

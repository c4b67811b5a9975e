"""the seed_migration package (clawdeploy-backend-migrate-seed) and the seed's names in Settings.

A seed install as backend-service v0.3.1 leaves it: its ``.env`` with every name it reads
(tokens generated per test) and its ``backend_state.db`` (seed_install.py: the exact
schema, two models, two syncs, a job). The migration must import the models and the last
sync once, sort every name into the right bucket, never print a token, leave the seed's
files byte for byte as they were, and refuse what is not the seed's database."""

import hashlib
import json
import os
import pwd
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from clawdeploy_backend import seed_migration
from clawdeploy_backend.main import create_app
from clawdeploy_backend.seed_migration import (
    MARKER_KEY,
    SECRET_SHOWN,
    SEED_NAMES,
    SETTING,
    main,
    migrate,
)
from clawdeploy_backend.services.models import (
    ONLY_ENABLED_WARNING,
    ModelSyncService,
    SyncError,
    only_enabled,
    parse_cmd_config,
)
from clawdeploy_backend.settings import SEED_ALIASES, Settings
from clawdeploy_backend.store import Store, StoreError
from seed_install import SEED_MODELS, SEED_SYNCS, make_seed_db

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "astr"

MIGRATED = [
    "BACKEND_API_TOKEN",
    "OPENCLAW_GATEWAY_TOKEN",
    "BACKEND_REQUEST_TIMEOUT_SECONDS",
    "ASTRBOT_CMD_CONFIG_PATH",
    "ASTRBOT_PLUGIN_EXPORT_PATH",
    "ASTR_PULL_SOURCE_MODE",
    "ASTR_PULL_REQUIRE_ENABLED_PROVIDER",
    "EXECUTOR_CODEX_BIN",
    "EXECUTOR_GEMINI_BIN",
    "EXECUTOR_TIMEOUT_SECONDS",
    "EXECUTOR_MAX_TASK_CHARS",
]
NOT_MIGRATED = [
    "BACKEND_HOST",
    "BACKEND_PORT",
    "BACKEND_DB_PATH",
    "BACKEND_LOG_DIR",
    "BACKEND_AUDIT_PATH",
    "OPENCLAW_GATEWAY_URL",
    "EXECUTOR_ALLOW_GLOBAL_WORKDIR",
    "EXECUTOR_ALLOWED_WORKDIRS",
    "OPENCLAW_VERSION",
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Seed:
    """A seed install under ``tmp_path/seed`` and our data directory ``tmp_path/ours``."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "seed"
        self.db = self.root / "data" / "backend_state.db"
        self.env_file = self.root / ".env"
        self.data_dir = tmp_path / "ours"
        self.ours_db = self.data_dir / "backend_state.db"
        self.api_token = secrets.token_urlsafe(32)
        self.gateway_token = secrets.token_urlsafe(32)
        self.provider_key = "sk-" + secrets.token_urlsafe(24)
        make_seed_db(self.db)
        self.write_env()

    @property
    def secrets(self) -> list[str]:
        return [self.api_token, self.gateway_token, self.provider_key]

    def write_env(self, **overrides: str) -> None:
        """Every name the seed reads (quoted, commented, its 开 for true), and two more."""
        lines = {
            "OPENCLAW_GATEWAY_TOKEN": self.gateway_token,
            "OPENCLAW_VERSION": "2026.2.9",
            "BACKEND_API_TOKEN": f'"{self.api_token}"',
            "BACKEND_HOST": "127.0.0.1",
            "BACKEND_PORT": "18889",
            "BACKEND_DB_PATH": str(self.db),
            "BACKEND_LOG_DIR": f"{self.root}/logs/backend",
            "BACKEND_AUDIT_PATH": f"{self.root}/logs/backend/audit.jsonl",
            "OPENCLAW_GATEWAY_URL": "http://127.0.0.1:18789",
            "BACKEND_REQUEST_TIMEOUT_SECONDS": "17",
            "ASTRBOT_CMD_CONFIG_PATH": "'/root/AstrBot/data/cmd_config.json'",
            "ASTRBOT_PLUGIN_EXPORT_PATH": "/srv/astrbot/data/export.json",
            "ASTR_PULL_SOURCE_MODE": "cmd_config_then_export",
            "ASTR_PULL_REQUIRE_ENABLED_PROVIDER": "开",
            "EXECUTOR_CODEX_BIN": "codex",
            "EXECUTOR_GEMINI_BIN": "gemini",
            "EXECUTOR_TIMEOUT_SECONDS": "170",
            "EXECUTOR_MAX_TASK_CHARS": '"8000"',
            "EXECUTOR_ALLOW_GLOBAL_WORKDIR": "true",
            "EXECUTOR_ALLOWED_WORKDIRS": "/root/AstrBot,/root/openclaw-assistant-backend",
            "OPENAI_API_KEY": self.provider_key,
            "SIDECAR_EXTRA": "x",
        }
        lines.update(overrides)
        text = "# the seed's .env, edited by hand\n\n"
        text += "".join(f"{key}={value}\n" for key, value in lines.items() if value is not None)
        self.root.mkdir(parents=True, exist_ok=True)
        self.env_file.write_text(text, encoding="utf-8")
        self.env_file.chmod(0o600)

    def files(self) -> dict[str, str]:
        """sha256 of every file under the seed's root (nothing may appear or change)."""
        return {str(p): _sha256(p) for p in sorted(self.root.rglob("*")) if p.is_file()}

    def run(self, **kwargs):
        return migrate(self.env_file, self.ours_db, **kwargs)

    def argv(self, *extra: str) -> list[str]:
        return ["--env-file", str(self.env_file), "--data-dir", str(self.data_dir), *extra]


@pytest.fixture
def seed(tmp_path: Path) -> Seed:
    return Seed(tmp_path)


def _cli(seed: Seed, *extra: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "clawdeploy_backend.seed_migration", *seed.argv(*extra)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _assert_no_secret(seed: Seed, *texts: str) -> None:
    for text in texts:
        for value in seed.secrets:
            assert value not in text


# -- the database --------------------------------------------------------------------------


def test_models_and_last_sync_are_imported_as_the_seed_had_them(seed):
    before = seed.files()
    report = seed.run()

    database = report["database"]
    assert database["status"] == "imported" and report["changed"] is True
    assert database["models"] == 2
    assert database["provider_ids"] == [m["provider_id"] for m in SEED_MODELS]
    assert database["last_sync"] == SEED_SYNCS[-1]
    assert database["seed_jobs_not_imported"] == 1
    store = Store(seed.ours_db)
    models = {m.provider_id: m for m in store.list_models()}
    assert set(models) == {m["provider_id"] for m in SEED_MODELS}
    for expected in SEED_MODELS:
        got = models[expected["provider_id"]]
        assert (got.model, got.provider_type, got.base_url, got.source) == (
            expected["model"],
            expected["provider_type"],
            expected["base_url"],
            expected["source"],
        )
        assert got.enabled is True and got.is_default is False
        assert got.updated_at == expected["imported_at"]
    last = store.last_sync()
    assert last is not None
    assert {k: last[k] for k in ("trace_id", "actor", "action", "source", "outcome", "count")} == {
        "trace_id": SEED_SYNCS[-1]["trace_id"],
        "actor": "seed_migration",
        "action": "import",
        "source": SEED_SYNCS[-1]["source"],
        "outcome": "ok",
        "count": SEED_SYNCS[-1]["provider_count"],
    }
    assert last["finished_at"] == SEED_SYNCS[-1]["imported_at"]
    assert store.last_successful_sync()["trace_id"] == SEED_SYNCS[-1]["trace_id"]
    with store.connect() as conn:
        marker = json.loads(
            conn.execute("SELECT value FROM meta WHERE key = ?", (MARKER_KEY,)).fetchone()[0]
        )
    assert marker["seed_db"] == str(seed.db)
    assert marker["sha256"] == _sha256(seed.db)
    assert marker["models"] == 2
    # the seed's files: byte for byte the same, and nothing new beside them (-wal, -journal)
    assert seed.files() == before


def test_a_second_run_says_already_imported_and_changes_nothing(seed):
    seed.run()
    ours_before = _sha256(seed.ours_db)
    rows_before = [m.model_dump() for m in Store(seed.ours_db).list_models()]

    report = seed.run()

    assert report["database"]["status"] == "already_imported"
    assert report["changed"] is False
    assert "already imported" in report["database"]["message"]
    assert report["database"]["marker"]["sha256"] == _sha256(seed.db)
    assert _sha256(seed.ours_db) == ours_before
    assert [m.model_dump() for m in Store(seed.ours_db).list_models()] == rows_before
    with Store(seed.ours_db).connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM sync_runs").fetchone()[0] == 1


def test_ours_with_models_of_its_own_is_not_overwritten(seed):
    store = Store(seed.ours_db)
    store.replace_models([{"provider_id": "ours-1"}, {"provider_id": "ours-2"}], "cmd_config")

    report = seed.run()

    assert report["database"]["status"] == "skipped"
    assert report["database"]["message"] == "skipped: ours already has 2 models"
    assert report["changed"] is False
    assert [m.provider_id for m in store.list_models()] == ["ours-1", "ours-2"]
    with store.connect() as conn:
        assert (
            conn.execute("SELECT COUNT(*) FROM meta WHERE key = ?", (MARKER_KEY,)).fetchone()[0]
            == 0
        )
        assert conn.execute("SELECT COUNT(*) FROM sync_runs").fetchone()[0] == 0


def test_check_mode_writes_nothing(seed, tmp_path):
    before = seed.files()
    env_out = tmp_path / "seed.env"

    report = seed.run(check=True, write_env=env_out)

    assert report["database"]["status"] == "would_import"
    assert report["database"]["models"] == 2
    assert report["changed"] is True and report["env_file"]["changed"] is True
    assert not seed.data_dir.exists()
    assert not env_out.exists()
    assert seed.files() == before


def test_no_seed_database(seed):
    seed.db.unlink()
    report = seed.run()
    assert report["database"]["status"] == "no_seed_db"
    assert report["changed"] is False
    assert not seed.ours_db.exists()


def test_seed_db_comes_from_the_env_file_unless_given(seed, tmp_path):
    moved = tmp_path / "elsewhere" / "state.db"
    moved.parent.mkdir()
    seed.db.rename(moved)
    seed.write_env(BACKEND_DB_PATH=str(moved))
    assert seed.run(check=True)["database"]["seed_db"] == str(moved)
    given = seed.run(check=True, seed_db=tmp_path / "none.db")["database"]
    assert (given["seed_db"], given["status"]) == (str(tmp_path / "none.db"), "no_seed_db")


def _corrupt(path: Path) -> None:
    path.unlink()
    path.write_bytes(b"not a database at all, " + secrets.token_bytes(64))


def _foreign(path: Path) -> None:
    path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE something_else (id INTEGER)")
    conn.commit()
    conn.close()


def _old_columns(path: Path) -> None:
    path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE model_snapshots (id INTEGER, provider_id TEXT)")
    conn.execute(
        "CREATE TABLE sync_events (id INTEGER, imported_at TEXT, source TEXT, "
        "provider_count INTEGER, trace_id TEXT)"
    )
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_corrupt, "is not a usable SQLite database"),
        (_foreign, "is not the seed's backend_state.db: no table model_snapshots, sync_events"),
        (_old_columns, "table model_snapshots has no column model, provider_type"),
    ],
)
def test_what_is_not_the_seeds_database_is_a_clear_error(seed, capsys, spoil, message):
    spoil(seed.db)
    before = seed.files()

    assert main(seed.argv("--json")) == 4

    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err and str(seed.db) in captured.err
    assert not seed.data_dir.exists(), "nothing may be written"
    assert seed.files() == before


def test_ours_and_the_seeds_database_being_one_file_is_refused(seed, capsys):
    assert main(["--env-file", str(seed.env_file), "--db", str(seed.db)]) == 2
    assert "same file" in capsys.readouterr().err


def test_a_missing_env_file_is_exit_3(seed, capsys):
    seed.env_file.unlink()
    assert main(seed.argv()) == 3
    assert "does not exist" in capsys.readouterr().err


def test_the_store_refuses_to_open_the_seeds_database(seed):
    before = _sha256(seed.db)
    with pytest.raises(StoreError, match="the seed service's database.*migrate-seed"):
        Store(seed.db).open()
    assert _sha256(seed.db) == before
    assert not Path(f"{seed.db}-wal").exists()


def test_owner_is_given_the_new_database(seed, capsys):
    me = pwd.getpwuid(os.getuid()).pw_name
    seed.run(owner=me)
    assert seed.ours_db.stat().st_uid == os.getuid()
    assert main(seed.argv("--owner", "no-such-user-here")) == 5
    assert "no such user" in capsys.readouterr().err


# -- the settings --------------------------------------------------------------------------


def _by_seed(items: list[dict]) -> dict[str, dict]:
    return {item["seed"]: item for item in items}


def test_every_name_lands_in_its_bucket(seed):
    report = seed.run()

    assert [i["seed"] for i in report["migrated"]] == MIGRATED
    assert [i["seed"] for i in report["not_migrated"]] == NOT_MIGRATED
    assert report["ignored_unknown"] == ["OPENAI_API_KEY", "SIDECAR_EXTRA"]
    migrated = _by_seed(report["migrated"])
    assert migrated["BACKEND_API_TOKEN"]["value"] == SECRET_SHOWN
    assert migrated["OPENCLAW_GATEWAY_TOKEN"]["value"] == SECRET_SHOWN
    assert migrated["BACKEND_REQUEST_TIMEOUT_SECONDS"]["ours"] == "GATEWAY_PROBE_TIMEOUT_S"
    assert migrated["ASTR_PULL_REQUIRE_ENABLED_PROVIDER"]["value"] == "true"
    assert "home directory" in migrated["ASTRBOT_CMD_CONFIG_PATH"]["note"]
    refused = _by_seed(report["not_migrated"])["EXECUTOR_ALLOW_GLOBAL_WORKDIR"]
    assert refused["value"] == "true"
    assert "EXECUTOR_ALLOW_ANY_WORKDIR" in refused["why"]
    assert report["env"] == {
        "GATEWAY_PROBE_TIMEOUT_S": "17",
        "ASTR_CMD_CONFIG_PATH": "/root/AstrBot/data/cmd_config.json",
        "ASTR_PLUGIN_EXPORT_PATH": "/srv/astrbot/data/export.json",
        "ASTR_PULL_SOURCE_MODE": "cmd_config_then_export",
        "ASTR_PULL_REQUIRE_ENABLED_PROVIDER": "true",
        "EXECUTOR_CODEX_BIN": "codex",
        "EXECUTOR_GEMINI_BIN": "gemini",
        "EXECUTOR_TIMEOUT_S": "170",
        "EXECUTOR_MAX_TASK_CHARS": "8000",
    }
    assert "EXECUTOR_ALLOW_ANY_WORKDIR" not in report["env_file_text"]
    _assert_no_secret(seed, json.dumps(report))


def test_the_global_workdir_default_is_reported_when_the_env_does_not_set_it(seed):
    seed.write_env(EXECUTOR_ALLOW_GLOBAL_WORKDIR=None)
    refused = _by_seed(seed.run(check=True)["not_migrated"])["EXECUTOR_ALLOW_GLOBAL_WORKDIR"]
    assert refused["value"] == "true" and refused["why"].startswith("the seed's default")


@pytest.mark.parametrize("word", ["false", "0", "关", "off"])
def test_a_global_workdir_turned_off_has_nothing_to_carry(seed, word):
    seed.write_env(EXECUTOR_ALLOW_GLOBAL_WORKDIR=word)
    refused = _by_seed(seed.run(check=True)["not_migrated"])["EXECUTOR_ALLOW_GLOBAL_WORKDIR"]
    assert refused["why"] == "nothing to carry: ours is false"


def test_invalid_or_unsafe_values_are_not_carried(seed):
    seed.write_env(
        BACKEND_REQUEST_TIMEOUT_SECONDS="soon",
        EXECUTOR_TIMEOUT_SECONDS="0",
        EXECUTOR_GEMINI_BIN='"gem$ini"',
        ASTRBOT_PLUGIN_EXPORT_PATH="",
    )
    report = seed.run(check=True)
    refused = _by_seed(report["not_migrated"])
    assert "not valid for ours" in refused["BACKEND_REQUEST_TIMEOUT_SECONDS"]["why"]
    assert (
        "set GATEWAY_PROBE_TIMEOUT_S yourself" in refused["BACKEND_REQUEST_TIMEOUT_SECONDS"]["why"]
    )
    assert "greater than 0" in refused["EXECUTOR_TIMEOUT_SECONDS"]["why"]
    assert "$" in refused["EXECUTOR_GEMINI_BIN"]["why"]
    assert refused["ASTRBOT_PLUGIN_EXPORT_PATH"]["value"] == "(blank)"
    for name in ("GATEWAY_PROBE_TIMEOUT_S", "EXECUTOR_TIMEOUT_S", "EXECUTOR_GEMINI_BIN"):
        assert name not in report["env"]


def test_urls_are_shown_without_credentials(seed):
    password = secrets.token_urlsafe(12)
    seed.write_env(OPENCLAW_GATEWAY_URL=f"http://admin:{password}@127.0.0.1:18789/?t={password}")
    report = seed.run(check=True)
    shown = _by_seed(report["not_migrated"])["OPENCLAW_GATEWAY_URL"]["value"]
    assert shown == "http://127.0.0.1:18789/"
    assert password not in json.dumps(report)


def test_the_written_env_file_is_read_by_ours(seed, tmp_path):
    env_out = tmp_path / "seed.env"
    report = seed.run(write_env=env_out)
    assert report["env_file"] == {"path": str(env_out), "changed": True}
    assert env_out.stat().st_mode & 0o777 == 0o644
    assert env_out.read_text() == report["env_file_text"]
    _assert_no_secret(seed, env_out.read_text())
    settings = Settings(_env_file=env_out)
    assert settings.gateway_probe_timeout_s == 17
    assert settings.executor_timeout_s == 170
    assert settings.astr_pull_require_enabled_provider is True
    assert settings.astr_plugin_export_path == Path("/srv/astrbot/data/export.json")
    assert settings.executor_allow_any_workdir is False
    # again: the same file, not rewritten
    mtime = env_out.stat().st_mtime_ns
    assert seed.run(write_env=env_out)["env_file"]["changed"] is False
    assert env_out.stat().st_mtime_ns == mtime


def test_cli_json_report_and_no_token_on_any_stream(seed, tmp_path):
    before = seed.files()
    env_out = tmp_path / "seed.env"

    first = _cli(seed, "--json", "--write-env", str(env_out))

    assert first.returncode == 0, first.stderr
    _assert_no_secret(seed, first.stdout, first.stderr)
    report = json.loads(first.stdout)
    assert report["database"]["status"] == "imported" and report["changed"] is True
    assert [i["seed"] for i in report["migrated"]] == MIGRATED
    ours_before = _sha256(seed.ours_db)

    second = _cli(seed, "--json", "--write-env", str(env_out))

    assert second.returncode == 0, second.stderr
    _assert_no_secret(seed, second.stdout, second.stderr)
    again = json.loads(second.stdout)
    assert again["database"]["status"] == "already_imported" and again["changed"] is False
    assert _sha256(seed.ours_db) == ours_before
    assert seed.files() == before


def test_cli_text_report_and_check(seed):
    done = _cli(seed, "--check")
    assert done.returncode == 0, done.stderr
    _assert_no_secret(seed, done.stdout, done.stderr)
    assert "BACKEND_REQUEST_TIMEOUT_SECONDS -> GATEWAY_PROBE_TIMEOUT_S = 17" in done.stdout
    assert "EXECUTOR_ALLOW_GLOBAL_WORKDIR = true: ours refuses" in done.stdout
    assert "database: would_import" in done.stdout
    assert not seed.data_dir.exists()


def test_cli_corrupt_seed_db_exit_code(seed):
    _corrupt(seed.db)
    done = _cli(seed, "--json")
    assert done.returncode == 4
    assert done.stdout == "" and "not a usable SQLite database" in done.stderr
    _assert_no_secret(seed, done.stderr)


# -- the mapping table, the aliases in Settings --------------------------------------------


def test_the_table_and_the_aliases_agree():
    fields = Settings.model_fields
    for entry in SEED_NAMES:
        if entry.kind != SETTING:
            continue
        field = entry.ours.lower()
        assert field in fields, entry
        if entry.seed != entry.ours:
            assert SEED_ALIASES[field] == entry.seed
            assert entry.seed.lower() in fields[field].validation_alias.choices
    renamed = {e.ours.lower(): e.seed for e in SEED_NAMES if e.kind == SETTING and e.seed != e.ours}
    assert renamed == SEED_ALIASES


def test_the_readme_shows_the_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert seed_migration.markdown_table() in readme


@pytest.mark.parametrize(
    ("seed_name", "field", "value", "expected"),
    [
        ("BACKEND_REQUEST_TIMEOUT_SECONDS", "gateway_probe_timeout_s", "17", 17.0),
        ("ASTRBOT_CMD_CONFIG_PATH", "astr_cmd_config_path", "/a/cmd.json", Path("/a/cmd.json")),
        ("ASTRBOT_PLUGIN_EXPORT_PATH", "astr_plugin_export_path", "/a/x.json", Path("/a/x.json")),
        ("EXECUTOR_TIMEOUT_SECONDS", "executor_timeout_s", "170", 170.0),
        ("BACKEND_LOG_DIR", "backend_log_dir", "/var/log/b", Path("/var/log/b")),
        ("ASTR_PULL_REQUIRE_ENABLED_PROVIDER", "astr_pull_require_enabled_provider", "关", False),
        ("ASTR_PULL_REQUIRE_ENABLED_PROVIDER", "astr_pull_require_enabled_provider", "no", False),
        ("EXECUTOR_GEMINI_BIN", "executor_gemini_bin", "/opt/gemini", "/opt/gemini"),
    ],
)
def test_a_seed_name_alone_sets_our_field(monkeypatch, seed_name, field, value, expected):
    monkeypatch.setenv(seed_name, value)
    assert getattr(Settings(), field) == expected


@pytest.mark.parametrize("field", sorted(SEED_ALIASES))
def test_ours_wins_over_the_seed_name_in_the_same_source(monkeypatch, tmp_path, field):
    ours, seed_name = field.upper(), SEED_ALIASES[field]
    values = {
        "gateway_probe_timeout_s": ("30", "17", 30.0),
        "astr_cmd_config_path": ("/ours.json", "/seed.json", Path("/ours.json")),
        "astr_plugin_export_path": ("/ours.json", "/seed.json", Path("/ours.json")),
        "executor_timeout_s": ("300", "170", 300.0),
    }
    mine, theirs, expected = values[field]
    monkeypatch.setenv(seed_name, theirs)
    monkeypatch.setenv(ours, mine)
    assert getattr(Settings(), field) == expected
    monkeypatch.delenv(seed_name)
    monkeypatch.delenv(ours)
    env_file = tmp_path / "both.env"
    env_file.write_text(f"{seed_name}={theirs}\n{ours}={mine}\n")
    assert getattr(Settings(_env_file=env_file), field) == expected


def test_a_higher_source_wins_whatever_the_name(monkeypatch, tmp_path):
    env_file = tmp_path / "file.env"
    env_file.write_text("GATEWAY_PROBE_TIMEOUT_S=30\n")
    monkeypatch.setenv("BACKEND_REQUEST_TIMEOUT_SECONDS", "17")
    assert Settings(_env_file=env_file).gateway_probe_timeout_s == 17
    assert Settings(gateway_probe_timeout_s=5, _env_file=env_file).gateway_probe_timeout_s == 5


def test_the_global_workdir_is_not_an_alias(monkeypatch):
    monkeypatch.setenv("EXECUTOR_ALLOW_GLOBAL_WORKDIR", "true")
    assert Settings().executor_allow_any_workdir is False


def test_db_and_audit_paths_of_the_seed(monkeypatch, tmp_path):
    monkeypatch.setenv("BACKEND_DATA_DIR", str(tmp_path / "data"))
    settings = Settings()
    assert settings.database_path == tmp_path / "data" / "backend_state.db"
    assert settings.audit_log_path == Path("./logs/audit.jsonl")
    monkeypatch.setenv("BACKEND_DB_PATH", str(tmp_path / "elsewhere.db"))
    monkeypatch.setenv("BACKEND_AUDIT_PATH", str(tmp_path / "audit" / "a.jsonl"))
    settings = Settings()
    assert settings.database_path == tmp_path / "elsewhere.db"
    assert settings.audit_log_path == tmp_path / "audit" / "a.jsonl"
    monkeypatch.setenv("BACKEND_DB_PATH", " ")
    assert Settings().database_path == tmp_path / "data" / "backend_state.db"


# -- ASTR_PULL_REQUIRE_ENABLED_PROVIDER in the pull ------------------------------------------


def test_only_enabled_providers_are_pulled(tmp_path):
    path = tmp_path / "cmd_config.json"
    path.write_bytes((FIXTURES / "cmd_config_disabled.json").read_bytes())
    service = ModelSyncService(
        Store(tmp_path / "s.db"), "cmd_config_only", path, None, require_enabled=True
    )
    result = service.pull()
    assert result.warnings[0] == ONLY_ENABLED_WARNING
    assert {m["provider_id"] for m in result.models} == {"legacy-openai"}
    assert any("old-claude" in w and "ollama-local" in w for w in result.warnings)
    assert [m.provider_id for m in service.store.list_models()] == ["legacy-openai"]
    everything = ModelSyncService(Store(tmp_path / "all.db"), "cmd_config_only", path, None)
    assert len(everything.pull().models) == 3
    assert ONLY_ENABLED_WARNING not in everything.pull().warnings


def test_a_source_without_an_enabled_provider_is_empty():
    data = {"provider": [{"id": "off", "enable": False, "model": "m"}]}
    with pytest.raises(SyncError) as caught:
        only_enabled(parse_cmd_config(data))
    assert caught.value.error_code == "astr_provider_empty"
    assert "ASTR_PULL_REQUIRE_ENABLED_PROVIDER" in caught.value.error


def test_a_disabled_default_is_no_default():
    data = {
        "provider": [{"id": "a", "enable": False}, {"id": "b"}],
        "provider_settings": {"default_provider_id": "a"},
    }
    result = only_enabled(parse_cmd_config(data))
    assert result.default_provider_id is None
    assert "default provider a is disabled" in result.warnings


def test_the_app_honours_the_setting(settings):
    assert create_app(settings).state.model_sync.require_enabled is True
    off = settings.model_copy(update={"astr_pull_require_enabled_provider": False})
    assert create_app(off).state.model_sync.require_enabled is False

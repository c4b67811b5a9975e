"""``clawdeploy-backend-migrate-seed``: move a seed install to this service, once.

The seed is openclaw-astr-assistant's backend-service v0.3.1. Its settings are in
``/root/openclaw-assistant-backend/.env`` under its own names, its state in
``backend_state.db`` (SQLite: ``model_snapshots``, the current models; ``sync_events``, one
row per sync; ``executor_jobs``). This command:

* maps each name of the seed's ``.env`` through :data:`~.names.SEED_NAMES` (one table: the code,
  the report and the README's table, :func:`~.names.markdown_table`, all come from it). Plain
  settings are carried over under our name (``--write-env``, or ``env`` / ``env_file_text``
  in the report, which the role writes to ``seed.env``); tokens are never shown nor
  written (the roles adopt them); what the deployment decides (host, port, directories)
  and what ours refuses (``EXECUTOR_ALLOW_GLOBAL_WORKDIR``) is listed as not migrated,
  with why. Names not in the table are listed by name only.
* imports the seed's models and its last sync into our database, once: the models of
  ``model_snapshots`` (enabled, not default, ``source`` and ``imported_at`` kept) and the
  latest ``sync_events`` row as a ``sync_runs`` row (actor ``seed_migration``, action
  ``import``, outcome ``ok``, ``count`` = ``provider_count``, ``trace_id`` kept,
  ``finished_at`` = the seed's ``imported_at``), with the marker ``seed_migrated_at`` in
  ``meta`` (the seed file's path and SHA-256), all in one transaction. A second run finds
  the marker and changes nothing (``already_imported``); when ours already holds models
  that did not come from the seed nothing is imported (``skipped``).

The seed's files are only read, and from a copy: the database (with its ``-wal`` /
``-journal``) is copied to a temporary directory first, so not even SQLite's recovery
touches the original. ``--check`` writes nothing at all (ours is inspected from a copy too).

The modules: :mod:`.names` (the seed's names table, reading its ``.env``, mapping it to
ours), :mod:`.database` (reading the seed's database, importing it into ours) and
:mod:`.cli` (the command: :func:`~.cli.migrate`, its summary, the options and the exit
codes). Their public names are re-exported here; the console script and ``python -m
clawdeploy_backend.seed_migration`` (``__main__.py``) run :func:`~.cli.main`.
"""

from __future__ import annotations

from .cli import main, migrate, summary
from .database import (
    ACTOR,
    MARKER_KEY,
    MAX_TEXT,
    SEED_TABLES,
    migrate_database,
    read_seed_db,
)
from .names import (
    BY_SEED,
    DATABASE,
    DEPLOYMENT,
    MAX_ENV_BYTES,
    OTHER,
    REFUSED,
    SECRET,
    SECRET_NAME,
    SECRET_SHOWN,
    SEED_DB_PATH,
    SEED_ENV_FILE,
    SEED_NAMES,
    SEED_ROOT,
    SETTING,
    SHOWN_MAX,
    MigrationError,
    SeedName,
    is_secret_name,
    map_settings,
    markdown_table,
    read_seed_env,
    render_env,
)

__all__ = [
    "ACTOR",
    "BY_SEED",
    "DATABASE",
    "DEPLOYMENT",
    "MARKER_KEY",
    "MAX_ENV_BYTES",
    "MAX_TEXT",
    "OTHER",
    "REFUSED",
    "SECRET",
    "SECRET_NAME",
    "SECRET_SHOWN",
    "SEED_DB_PATH",
    "SEED_ENV_FILE",
    "SEED_NAMES",
    "SEED_ROOT",
    "SEED_TABLES",
    "SETTING",
    "SHOWN_MAX",
    "MigrationError",
    "SeedName",
    "is_secret_name",
    "main",
    "map_settings",
    "markdown_table",
    "migrate",
    "migrate_database",
    "read_seed_db",
    "read_seed_env",
    "render_env",
    "summary",
]

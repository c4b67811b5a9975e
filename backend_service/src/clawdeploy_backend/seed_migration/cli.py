"""The command: :func:`migrate` (the whole run, its report), :func:`summary`, :func:`main`.

Usage::

    clawdeploy-backend-migrate-seed --env-file /root/openclaw-assistant-backend/.env \\
        --data-dir /opt/openclaw-assistant/backend-service/data [--seed-db PATH] [--db PATH]
        [--owner USER[:GROUP]] [--write-env PATH] [--check] [--json]

Exit codes: 0 done, whatever the database status (``imported``, ``already_imported``,
``skipped``, ``no_seed_db``; ``would_import`` with ``--check``); 1 an unexpected error;
2 usage (bad arguments, ours and the seed's database the same file); 3 the seed's ``.env``
cannot be read; 4 the seed's database is not usable (not SQLite, not the seed's schema);
5 ours cannot be opened or written (nor ``--write-env`` / ``--owner``). Messages go to
stderr and never hold a value of the ``.env``.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import sys
import traceback
from pathlib import Path
from typing import Any

from .database import migrate_database
from .names import SEED_DB_PATH, SEED_ENV_FILE, MigrationError, map_settings, read_seed_env

# -- files ---------------------------------------------------------------------------------


def _chown(db: Path, owner: str) -> None:
    """Give our database files (``-wal``/``-shm`` too) to ``owner`` (``user[:group]``),
    those that are not its already (a run as root creates them as root's)."""
    user, _sep, group = owner.partition(":")
    try:
        uid = pwd.getpwnam(user).pw_uid
        gid = grp.getgrnam(group).gr_gid if group else pwd.getpwnam(user).pw_gid
    except KeyError:
        raise MigrationError(5, f"--owner {owner}: no such user or group") from None
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        try:
            info = path.stat()
            if (info.st_uid, info.st_gid) != (uid, gid):
                os.chown(path, uid, gid)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise MigrationError(5, f"cannot give {path} to {owner} ({exc.strerror})") from None


def _write_env(path: Path, text: str, *, check: bool) -> bool:
    """Write ``text`` to ``path`` (0644, atomically) unless it is there already. Returns
    whether it changed (or would, with ``check``)."""
    try:
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return False
        if check:
            return True
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise MigrationError(5, f"cannot write {path} ({exc.strerror})") from None
    return True


# -- the command ---------------------------------------------------------------------------


def migrate(
    env_file: Path,
    db: Path,
    *,
    seed_db: Path | None = None,
    check: bool = False,
    write_env: Path | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """Run the migration; returns the report (see the package doc and README.md).

    Raises :class:`MigrationError`.
    """
    values = read_seed_env(env_file)
    report: dict[str, Any] = {"seed_env_file": str(env_file), "check": check}
    report.update(map_settings(values))
    if seed_db is None:
        seed_db = Path(values.get("BACKEND_DB_PATH") or SEED_DB_PATH)
    if seed_db.exists() and db.exists() and seed_db.resolve() == db.resolve():
        raise MigrationError(
            2, f"our database and the seed's are the same file ({db}); give ours its own"
        )
    report["database"] = migrate_database(db, seed_db, check=check)
    changed = report["database"]["status"] in ("imported", "would_import")
    if owner and not check:
        _chown(db, owner)
    if write_env is not None:
        env_changed = _write_env(write_env, report["env_file_text"], check=check)
        report["env_file"] = {"path": str(write_env), "changed": env_changed}
        changed = changed or env_changed
    report["changed"] = changed
    report["summary"] = summary(report)
    return report


def summary(report: dict[str, Any]) -> list[str]:
    """The report as lines for people (the text output; ``summary`` in the JSON)."""
    lines = ["migrated:"]
    lines += [f"  {i['seed']} -> {i['ours']} = {i['value']}" for i in report["migrated"]]
    lines.append("not migrated:")
    lines += [f"  {i['seed']} = {i['value']}: {i['why']}" for i in report["not_migrated"]]
    if report["ignored_unknown"]:
        lines.append("ignored (unknown here): " + ", ".join(report["ignored_unknown"]))
    database = report["database"]
    lines.append(f"database: {database['status']}: {database['message']}")
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clawdeploy-backend-migrate-seed",
        description="Carry a seed install's settings over and import its models once.",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        default=Path(SEED_ENV_FILE),
        help=f"the seed's .env (default {SEED_ENV_FILE})",
    )
    parser.add_argument(
        "--seed-db",
        type=Path,
        default=None,
        help="the seed's backend_state.db (default: BACKEND_DB_PATH of the "
        f".env, else {SEED_DB_PATH})",
    )
    ours = parser.add_mutually_exclusive_group(required=True)
    ours.add_argument("--data-dir", type=Path, help="our BACKEND_DATA_DIR")
    ours.add_argument("--db", type=Path, help="our database file (instead of --data-dir)")
    parser.add_argument("--owner", help="USER[:GROUP] to give our database to after an import")
    parser.add_argument(
        "--write-env",
        type=Path,
        default=None,
        help="write the carried-over settings to this env file (0644)",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; say what would be done"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console script; see the module doc for the options and exit codes."""
    args = _parser().parse_args(argv)
    db = args.db if args.db is not None else args.data_dir / "backend_state.db"
    try:
        report = migrate(
            args.env_file,
            db,
            seed_db=args.seed_db,
            check=args.check,
            write_env=args.write_env,
            owner=args.owner,
        )
    except MigrationError as exc:
        print(f"clawdeploy-backend-migrate-seed: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - reported without its message, then exit 1
        # Where only: a message could quote a value of the seed's .env.
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        print(
            f"clawdeploy-backend-migrate-seed: unexpected {type(exc).__name__} at "
            f"{Path(frame.filename).name}:{frame.lineno}; please report it",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print("\n".join(report["summary"]))
    return 0

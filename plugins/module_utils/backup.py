# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)
"""Taking a backup of one gateway instance directory: archive names, retention, create.

Archives are ``<dest_dir>/<instance>-<UTC YYYYmmddTHHMMSSZ>[-N].tar.gz`` (``-2``, ``-3``...
when the name exists), mode 0600, in the format of ``archive.py``; ``keep`` prunes the
oldest of an instance's archives. Set-aside directories (where a switch or a restore
moves the state it replaces) are ``<set_aside_dir>/<UTC YYYYmmddTHHMMSSZ>[-N]``.
Pure standard library, Python 3.8+, POSIX only.
"""

from __future__ import annotations

import datetime
import os
import re
import stat
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import fileops, names
from ansible_collections.clawdeploy.openclaw.plugins.module_utils.archive import (
    BackupError,
    build_manifest,
    excluded,
    normalize_exclude,
    read_openclaw_version,
    scan,
    validate_instance,
    write_archive,
)

DEST_DIR_MODE = 0o700

ARCHIVE_RE_TEMPLATE = r"%s-(?P<stamp>[0-9]{8}T[0-9]{6}Z)(?:-(?P<n>[0-9]+))?\.tar\.gz\Z"


def archive_basename(instance: str, now: datetime.datetime, counter: int = 1) -> str:
    """``<instance>-<YYYYmmddTHHMMSSZ>[-<counter>].tar.gz`` (no suffix for counter 1)."""
    suffix = "" if counter <= 1 else "-%d" % counter
    return "%s-%s%s.tar.gz" % (instance, names.utc_stamp(now), suffix)


def archive_path(dest_dir: str, instance: str, now: datetime.datetime) -> str:
    """The first unused archive name in ``dest_dir`` for ``instance`` at ``now``."""
    counter = 1
    while True:
        path = os.path.join(dest_dir, archive_basename(instance, now, counter))
        if not os.path.lexists(path):
            return path
        counter += 1


def list_archives(dest_dir: str, instance: str) -> List[str]:
    """Archives of ``instance`` in ``dest_dir`` (regular files named as this module names
    them), oldest first by the time in their name. A missing directory has none."""
    pattern = re.compile(ARCHIVE_RE_TEMPLATE % re.escape(instance))
    found = []
    try:
        names = os.listdir(dest_dir)
    except FileNotFoundError:
        return []
    for name in names:
        match = pattern.match(name)
        if not match:
            continue
        path = os.path.join(dest_dir, name)
        if not stat.S_ISREG(os.lstat(path).st_mode):
            continue
        found.append(((match.group("stamp"), int(match.group("n") or 1)), path))
    return [path for _key, path in sorted(found)]


def retention(archives: List[str], keep: int, newest: str) -> List[str]:
    """Which of ``archives`` (oldest first) to remove to keep the newest ``keep``.

    ``keep`` 0 keeps all. ``newest`` (the archive just written) is never returned.
    """
    if keep <= 0:
        return []
    others = [path for path in archives if path != newest]
    # the new archive counts as one of the kept ones
    excess = len(others) + 1 - keep
    return others[:excess] if excess > 0 else []


def ensure_dir(path: str, mode: int, what: str) -> bool:
    """Create directory ``path`` with ``mode`` when missing; its parent must exist.

    Returns True when it was created. Raises BackupError naming ``what`` otherwise.
    """
    if os.path.isdir(path):
        return False
    if os.path.lexists(path):
        raise BackupError("%s %s exists but is not a directory" % (what, path))
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise BackupError(
            "the parent directory %s of %s %s does not exist; create it first"
            % (parent, what, path)
        )
    os.mkdir(path, mode)
    os.chmod(path, mode)  # mkdir's mode is filtered by the umask
    return True


def _check_create(
    src: str, dest_dir: str, instance: str, exclude: Iterable[str], keep: int
) -> List[str]:
    """Validate create()'s arguments; return the normalized excludes (with ``dest_dir``
    when it lies inside ``src``). Raises BackupError."""
    validate_instance(instance)
    if keep < 0:
        raise BackupError("keep must be 0 (keep all archives) or more, got %d" % keep)
    if not os.path.isdir(src):
        raise BackupError("src %s is not a directory (the instance directory to archive)" % src)
    excludes = normalize_exclude(exclude)
    inside = fileops.inside(dest_dir, src)
    if inside == ".":
        raise BackupError("dest_dir %s is src itself; write archives elsewhere" % dest_dir)
    if inside is not None and not excluded(inside, excludes):
        excludes.append(inside)
    if os.path.lexists(dest_dir) and not os.path.isdir(dest_dir):
        raise BackupError("dest_dir %s exists but is not a directory" % dest_dir)
    return excludes


def _write_and_prune(
    result: Dict[str, Any], src: str, dest_dir: str, now: datetime.datetime
) -> None:
    """Write the planned archive ``result["path"]`` and remove ``result["pruned"]``;
    fills in ``sha256`` and ``bytes``. Raises BackupError."""
    path = result["path"]
    try:
        ensure_dir(dest_dir, DEST_DIR_MODE, "dest_dir")
    except OSError as exc:
        raise BackupError(
            "cannot create dest_dir %s: %s" % (dest_dir, exc.strerror or exc)
        ) from exc
    timestamp = (now - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds()
    try:
        result["sha256"], result["bytes"] = write_archive(path, src, result["manifest"], timestamp)
    except OSError as exc:
        raise BackupError("cannot write archive %s: %s" % (path, exc.strerror or exc)) from exc
    for old in result["pruned"]:
        try:
            os.unlink(old)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise BackupError(
                "archive %s was written, but removing the old archive %s failed: %s"
                % (path, old, exc.strerror or exc)
            ) from exc


def create(
    src: str,
    dest_dir: str,
    instance: str,
    exclude: Iterable[str] = (),
    label: Optional[str] = None,
    keep: int = 0,
    check_mode: bool = False,
    now: Optional[datetime.datetime] = None,
) -> Dict[str, Any]:
    """Archive the instance directory ``src`` into ``dest_dir``; prune old archives.

    Returns ``{"path", "sha256", "files", "bytes", "manifest", "pruned", "skipped",
    "archives_before", "archives_after"}``: the archive's path, its sha256 and size in
    bytes (both None in check mode), the number of regular files in it, the full
    manifest, removed archive paths, what could not be archived, and this instance's
    archives in ``dest_dir`` before and after (oldest first). In check mode nothing is
    written and no checksum is computed; ``path`` is the name that would be used.

    ``dest_dir`` is created (mode 0700) when missing; its parent must exist. When it
    lies inside ``src`` it is left out of the archive. Raises BackupError.
    """
    excludes = _check_create(src, dest_dir, instance, exclude, keep)
    now = now or names.utcnow()
    entries, skipped = scan(src, excludes, checksums=not check_mode)
    before = list_archives(dest_dir, instance)
    path = archive_path(dest_dir, instance, now)
    after = sorted(before + [path], key=_archive_key)
    pruned = retention(after, keep, path)
    result: Dict[str, Any] = dict(
        path=path,
        sha256=None,
        files=sum(1 for entry in entries if entry["type"] == "file"),
        bytes=None,
        manifest=build_manifest(instance, now, entries, read_openclaw_version(src), label),
        pruned=pruned,
        skipped=skipped,
        archives_before=before,
        archives_after=[p for p in after if p not in pruned],
    )
    if not check_mode:
        _write_and_prune(result, src, dest_dir, now)
    return result


def _archive_key(path: str) -> Tuple[str, int]:
    match = re.search(r"-([0-9]{8}T[0-9]{6}Z)(?:-([0-9]+))?\.tar\.gz\Z", path)
    if not match:
        return ("", 0)
    return (match.group(1), int(match.group(2) or 1))


def set_aside_path(set_aside_dir: str, now: datetime.datetime) -> str:
    """The first unused ``<set_aside_dir>/<YYYYmmddTHHMMSSZ>[-N]`` for ``now``."""
    base = os.path.join(set_aside_dir, names.utc_stamp(now))
    candidate = base
    counter = 1
    while os.path.lexists(candidate):
        counter += 1
        candidate = "%s-%d" % (base, counter)
    return candidate

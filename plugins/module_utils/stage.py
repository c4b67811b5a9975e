# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)
"""Applying a backup archive (``archive.py``) to an instance directory: compare, extract, stage.

A restore is staged while the gateway still runs: the archive is verified, compared with
the instance directory (:func:`differences`) and, when they differ, extracted into a
staging directory (:func:`stage`); the switch (``switch.py``) then renames the staged
top-level entries into the instance directory while the gateway is stopped.
Pure standard library, Python 3.8+, POSIX only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from ansible_collections.clawdeploy.openclaw.plugins.module_utils.archive import (
    CHUNK,
    PREFIX,
    READ_ERRORS,
    BackupError,
    Difference,
    Entry,
    Manifest,
    describe_stat,
    file_sha256,
    group_name,
    is_root,
    member_type,
    open_archive,
    resolve_gid,
    resolve_uid,
    unsafe_reason,
    user_name,
    validate_instance,
    verified,
)

SET_ASIDE_MODE = 0o700
RESTORE_DIR_MODE = 0o750
_RESTORE_ERRORS = (BackupError,) + READ_ERRORS


def top_level(entries: Iterable[Entry]) -> List[str]:
    """The first path components of ``entries`` (what a restore replaces), sorted."""
    return sorted({entry["path"].split("/", 1)[0] for entry in entries})


def _kind(st: os.stat_result) -> str:
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    return describe_stat(st)


def _snapshot(dest: str, names: Iterable[str]) -> Dict[str, os.stat_result]:
    """``lstat`` of ``dest/<name>`` and everything below it, by relative path; links
    are not followed, missing names are left out."""
    found: Dict[str, os.stat_result] = {}

    def walk(full: str, relpath: str) -> None:
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return
        found[relpath] = st
        if stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(full)):
                walk(os.path.join(full, name), relpath + "/" + name)

    for name in names:
        walk(os.path.join(dest, name), name)
    return found


def _owner_text(uid: int, gid: int) -> str:
    return "%s:%s" % (user_name(uid) or uid, group_name(gid) or gid)


# (type, mode, owner, size, sha256, link target); None where it does not apply
State = Tuple[str, Optional[str], Optional[str], Optional[int], Optional[str], Optional[str]]


def _expected_state(entry: Entry, as_root: bool) -> State:
    kind = entry["type"]
    owner = None
    if as_root:
        owner = _owner_text(
            resolve_uid(entry.get("user"), entry["uid"]),
            resolve_gid(entry.get("group"), entry["gid"]),
        )
    return (
        kind,
        None if kind == "symlink" else entry["mode"].zfill(4),
        owner,
        entry.get("size") if kind == "file" else None,
        entry.get("sha256") if kind == "file" else None,
        entry.get("target") if kind == "symlink" else None,
    )


def _actual_state(full: str, st: os.stat_result, as_root: bool, want: Optional[State]) -> State:
    kind = _kind(st)
    size = st.st_size if kind == "file" else None
    sha = None
    if kind == "file" and want is not None and want[0] == "file" and want[3] == size:
        sha = file_sha256(full)[0]  # only worth reading when the size matches
    return (
        kind,
        None if kind == "symlink" else "%04o" % stat.S_IMODE(st.st_mode),
        _owner_text(st.st_uid, st.st_gid) if as_root else None,
        size,
        sha,
        os.readlink(full) if kind == "symlink" else None,
    )


def describe_state(state: State) -> str:
    """One line for diff output: type, mode, owner, size, a sha256 prefix, link target."""
    kind, mode, owner, size, sha, target = state
    parts = [kind]
    if mode is not None:
        parts.append(mode)
    if owner is not None:
        parts.append(owner)
    if size is not None:
        parts.append("%d bytes" % size)
    if sha is not None:
        parts.append("sha256:%s" % sha[:12])
    if target is not None:
        parts.append("-> %s" % target)
    return " ".join(parts)


def differences(
    dest: str, entries: List[Entry], as_root: Optional[bool] = None
) -> List[Difference]:
    """How the instance directory ``dest`` differs from the manifest ``entries``.

    Compares type, sha256 and size (files), link target (symbolic links), mode (not for
    links) and, when ``as_root`` (default: running as root), the owner with user and
    group names resolved on this host (numeric ids when a name does not exist here).
    Only the top-level names the archive holds are looked at; anything below them that
    is not in ``entries`` is a difference too. Returns ``(path, before, after)`` tuples
    sorted by path, ``before``/``after`` being :func:`describe_state` lines or None for
    absent; an empty list means a restore would change nothing.
    """
    if as_root is None:
        as_root = is_root()
    wanted = {entry["path"]: _expected_state(entry, as_root) for entry in entries}
    present = _snapshot(dest, top_level(entries)) if os.path.isdir(dest) else {}
    result: List[Difference] = []
    for relpath in sorted(set(wanted) | set(present)):
        want = wanted.get(relpath)
        st = present.get(relpath)
        full = os.path.join(dest, *relpath.split("/"))
        have = _actual_state(full, st, as_root, want) if st is not None else None
        if have != want:
            result.append(
                (
                    relpath,
                    describe_state(have) if have is not None else None,
                    describe_state(want) if want is not None else None,
                )
            )
    return result


def _changed_since_verify(path: str, relpath: str) -> BackupError:
    return BackupError(
        "archive %s changed since it was verified (member %s); refusing to continue"
        % (path, relpath)
    )


def _real_dir(path: str, refusal: str) -> None:
    """Create the directory ``path`` (0700) when missing; BackupError(``refusal``) when
    something that is not a directory (a symbolic link included) is there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        os.mkdir(path, 0o700)
        return
    if not stat.S_ISDIR(st.st_mode):
        raise BackupError(refusal)


def _prepare_parent(dest: str, relpath: str, checked: Set[str]) -> str:
    """Full path for ``relpath`` under ``dest`` after making sure each parent below
    ``dest`` is a real directory (created 0700 when missing), never a symbolic link."""
    parts = relpath.split("/")
    current = dest
    for depth, part in enumerate(parts[:-1]):
        current = os.path.join(current, part)
        key = "/".join(parts[: depth + 1])
        if key in checked:
            continue
        _real_dir(
            current,
            "refusing to restore %s: %s is not a directory (a symbolic link?)" % (relpath, current),
        )
        checked.add(key)
    return os.path.join(current, parts[-1])


def _set_times(full: str, mtime: float, follow: bool = True) -> None:
    if not follow and os.utime not in os.supports_follow_symlinks:
        return
    os.utime(full, (mtime, mtime), follow_symlinks=follow)


def _write_file(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    full: str,
    mode: int,
    owner: Optional[Tuple[int, int]],
) -> str:
    """Create ``full`` (never through a link, never over an existing name) with the
    content of ``member``, then its ``owner`` (uid, gid) when given, then ``mode``.
    Returns the sha256 hex digest of what was written."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(full, flags, 0o600), "wb") as out:
        digest = hashlib.sha256()
        handle = tar.extractfile(member)
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        if owner is not None:
            os.fchown(out.fileno(), *owner)
        os.fchmod(out.fileno(), mode)  # after chown, which clears set-id bits
    return digest.hexdigest()


def extract(path: str, dest: str, manifest: Manifest, as_root: Optional[bool] = None) -> int:
    """Write the members of the (verified) archive ``path`` into the directory ``dest``.

    Modes are restored exactly; owners (when ``as_root``, default: running as root) by
    user/group name when the name exists on this host, else by number; modification
    times too. Nothing is written through a symbolic link; directories get their mode
    after their content. Files are checked against ``manifest`` while they are written.
    Returns the number of entries written. Raises BackupError (or OSError).
    """
    if as_root is None:
        as_root = is_root()
    entries = {entry["path"]: entry for entry in manifest["entries"]}
    dirs: List[Tuple[str, Entry, float]] = []
    checked: Set[str] = set()
    count = 0
    tar = open_archive(path)
    with tar:
        members = iter(tar)
        next(members, None)  # manifest.json
        for member in members:
            relpath = member.name[len(PREFIX) + 1 :]
            entry = entries.get(relpath) if member.name.startswith(PREFIX + "/") else None
            if entry is None or unsafe_reason(relpath) or member_type(member) != entry["type"]:
                raise _changed_since_verify(path, member.name)
            full = _prepare_parent(dest, relpath, checked)
            uid = resolve_uid(entry.get("user"), entry["uid"])
            gid = resolve_gid(entry.get("group"), entry["gid"])
            mode = int(entry["mode"], 8)
            if entry["type"] == "dir":
                _real_dir(full, "refusing to restore %s: it already exists" % relpath)
                checked.add(relpath)
                dirs.append((full, entry, member.mtime))
            elif entry["type"] == "symlink":
                os.symlink(member.linkname, full)
                if as_root:
                    os.lchown(full, uid, gid)
                _set_times(full, member.mtime, follow=False)
            else:
                owner = (uid, gid) if as_root else None
                if _write_file(tar, member, full, mode, owner) != entry["sha256"]:
                    raise _changed_since_verify(path, member.name)
                _set_times(full, member.mtime)
            count += 1
    for full, entry, mtime in reversed(dirs):
        if as_root:
            os.lchown(
                full,
                resolve_uid(entry.get("user"), entry["uid"]),
                resolve_gid(entry.get("group"), entry["gid"]),
            )
        os.chmod(full, int(entry["mode"], 8))
        _set_times(full, mtime)
    return count


def stage(
    path: str,
    dest: str,
    staging: str,
    instance: str,
    check_mode: bool = False,
) -> Dict[str, Any]:
    """Verify the archive ``path`` and extract it into ``staging``, unless ``dest`` matches it.

    The fast half of a restore, done while the gateway still runs: the switch
    (``module_utils/switch.py``) later renames the staged top-level entries into the
    instance directory ``dest``. ``staging`` must be absent (a leftover one is an error:
    it may hold what an interrupted run staged); it is created with mode 0700, its parent
    (created 0750 when missing, like ``dest``) must be on the file system of ``dest``.
    When ``dest`` already holds exactly the archived entries (:func:`differences` is
    empty) nothing is extracted.

    Returns the :func:`verify` result plus ``changed``, ``staged`` (``staging``, or None
    when nothing was staged), ``restored`` (entries written, or that would be in check
    mode) and ``differences``. Raises BackupError (ArchiveMismatch before anything is
    written).
    """
    validate_instance(instance)
    result = verified(path, instance)
    manifest = result["manifest"]
    as_root = is_root()
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise BackupError("dest %s exists but is not a directory" % dest)
    diffs = differences(dest, manifest["entries"], as_root)
    result.update(changed=bool(diffs), staged=None, restored=0, differences=diffs)
    if not diffs:
        return result
    if os.path.lexists(staging):
        raise BackupError(
            "the staging directory %s already exists (left by an interrupted run?); look at "
            "it, move it away, then run again" % staging
        )
    result.update(staged=staging, restored=len(manifest["entries"]))
    if check_mode:
        return result
    try:
        parent = os.path.dirname(os.path.abspath(staging))
        for directory in (dest, parent):
            if not os.path.isdir(directory):
                os.makedirs(directory, RESTORE_DIR_MODE)
                os.chmod(directory, RESTORE_DIR_MODE)
        os.mkdir(staging, SET_ASIDE_MODE)
        os.chmod(staging, SET_ASIDE_MODE)
    except OSError as exc:
        raise BackupError("cannot create the staging directory %s: %s" % (staging, exc)) from exc
    try:
        result["restored"] = extract(path, staging, manifest, as_root)
    except _RESTORE_ERRORS as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupError("staging %s into %s failed: %s" % (path, staging, exc)) from exc
    return result

# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)
"""A copy of a directory tree taken while it is written, made exact once the writer stopped.

The quiesced snapshot of a gateway's state must be taken while the gateway is stopped
(SQLite files are never copied live), but copying gigabytes of workspace then would make
the downtime grow with the state. So the copy is made in two passes, the way rsync-based
migrations do it:

1. :func:`precopy`, while the gateway still runs: record every entry's type and change
   time (``st_ctime_ns``, which every write, chmod, chown and rename updates and which
   user space cannot set), then copy the tree. What changes during the copy may be copied
   torn; that is repaired by the second pass.
2. :func:`resync`, once the gateway has stopped: compare the tree with the record and
   copy again only what changed, appeared or is missing in the copy; remove from the copy
   what is gone; then give every directory its mode, owner and times. The result is the
   stopped tree: same types, contents, link targets, modes, owners (when run as root) and
   modification times.

Pure standard library, Python 3.8+, POSIX.
"""

from __future__ import annotations

import os
import shutil
import stat
from typing import Callable, Dict, List, Optional, Tuple

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import fileops

# relative path ("" for the top) -> (file type bits, st_ctime_ns, st_size)
Index = Dict[str, Tuple[int, int, int]]
Copier = Callable[[str, str], None]


def _walk(root: str) -> Dict[str, os.stat_result]:
    """Every entry below and including ``root``, by relative path; links not followed."""
    found = {"": os.lstat(root)}
    if not stat.S_ISDIR(found[""].st_mode):
        return found
    pending = [("", root)]
    while pending:
        rel, directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue  # removed while we walk (only while the writer runs)
        for entry in entries:
            child = entry.name if not rel else rel + "/" + entry.name
            try:
                found[child] = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(found[child].st_mode):
                pending.append((child, entry.path))
    return found


def _key(st: os.stat_result) -> Tuple[int, int, int]:
    return (stat.S_IFMT(st.st_mode), st.st_ctime_ns, st.st_size)


def index(root: str) -> Index:
    """The record :func:`resync` compares against: type, change time and size per entry."""
    return {rel: _key(st) for rel, st in _walk(root).items()}


def precopy(source: str, target: str, copier: Copier) -> Tuple[Index, Optional[str]]:
    """Record ``source`` then copy it to the new path ``target`` with ``copier``.

    Returns ``(index, problem)``: the record for :func:`resync`, and the copier's error
    text when it failed (a tree changing under the copy makes ``cp`` complain about
    vanished files; whatever is missing or torn is copied again by :func:`resync`), else
    None. Raises OSError when ``source`` cannot be read at all.
    """
    record = index(source)
    try:
        copier(source, target)
    except Exception as exc:  # noqa: BLE001 - repaired or re-raised by resync
        return record, str(exc)
    return record, None


def _path(root: str, rel: str) -> str:
    return os.path.join(root, *rel.split("/")) if rel else root


def _copy_entry(src: str, dst: str, st: os.stat_result, as_root: bool, copier: Copier) -> None:
    if stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
        if as_root:
            os.chown(dst, st.st_uid, st.st_gid)
        os.chmod(dst, stat.S_IMODE(st.st_mode))  # after chown, which clears set-id bits
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
        if as_root:
            os.lchown(dst, st.st_uid, st.st_gid)
    else:  # FIFOs, sockets, devices: what cp -a does with them
        copier(src, dst)


def resync(source: str, target: str, record: Index, copier: Copier) -> Dict[str, int]:
    """Make ``target`` an exact copy of ``source`` again, given the :func:`precopy` record.

    Call it when nothing writes to ``source`` any more. Returns ``{"copied": n,
    "removed": n}`` (entries written again, entries removed from the copy). Raises
    OSError (the caller undoes the whole switch then).
    """
    as_root = os.geteuid() == 0
    now = _walk(source)
    have = _walk(target) if os.path.lexists(target) else {}
    removed = 0
    for rel in sorted(have, reverse=True):  # children before their directory
        st = now.get(rel)
        gone = st is None or stat.S_IFMT(st.st_mode) != stat.S_IFMT(have[rel].st_mode)
        if gone and os.path.lexists(_path(target, rel)):  # not if its directory went first
            fileops.remove(_path(target, rel))
            removed += 1
    copied = 0
    dirs: List[Tuple[str, os.stat_result]] = []
    for rel in sorted(now):  # a directory before what it holds
        st, dst = now[rel], _path(target, rel)
        if stat.S_ISDIR(st.st_mode):
            if not os.path.lexists(dst):
                os.mkdir(dst, 0o700)
                copied += 1
            dirs.append((dst, st))
            continue
        if record.get(rel) == _key(st) and os.path.lexists(dst):
            continue  # unchanged since it was copied
        if os.path.lexists(dst):
            os.unlink(dst)
        _copy_entry(_path(source, rel), dst, st, as_root, copier)
        copied += 1
    for dst, st in reversed(dirs):  # deepest first: setting times must come last
        if as_root:
            os.lchown(dst, st.st_uid, st.st_gid)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    return dict(copied=copied, removed=removed)

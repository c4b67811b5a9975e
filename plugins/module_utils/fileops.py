# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)
"""File operations shared by the modules' module_utils (standard library, Python 3.8+)."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from typing import BinaryIO, Iterator, Optional, Tuple


def fsync_dir(directory: str) -> None:
    """Flush ``directory``'s entries to disk, so a rename into it survives a crash.

    Best effort: a directory that cannot be opened or synced (some filesystems refuse
    fsync on directories) is left as it is; no error is raised.
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove(path: str) -> None:
    """Remove ``path``: a directory with everything below it, anything else unlinked.

    Links are never followed. Raises OSError (FileNotFoundError when it is absent).
    """
    if stat.S_ISDIR(os.lstat(path).st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def inside(path: str, directory: str) -> Optional[str]:
    """``path`` relative to ``directory`` when it is inside it (``"."`` when it is it).

    Both are resolved first (symlinks followed), so a link cannot hide an escape.
    Returns None when ``path`` is outside ``directory``.
    """
    real_path = os.path.realpath(path)
    real_dir = os.path.realpath(directory)
    if real_path == real_dir:
        return "."
    if real_path.startswith(real_dir.rstrip("/") + "/"):
        return os.path.relpath(real_path, real_dir).replace(os.sep, "/")
    return None


@contextlib.contextmanager
def atomic_file(
    path: str, mode: int = 0o600, owner: Optional[Tuple[int, int]] = None
) -> Iterator[BinaryIO]:
    """Open a binary handle whose content replaces ``path`` atomically on success.

    A temporary file in the same directory is created 0600, given ``owner`` (a (uid, gid)
    pair, when given) and ``mode`` before any data is written, and on a clean exit of the
    ``with`` block flushed to disk, renamed over ``path`` and the directory synced:
    readers see the old or the new content, never a partial one, and a crash keeps one of
    the two. On an exception (re-raised) the temporary file is removed and ``path`` is
    untouched. Raises OSError.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(
        prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            if owner is not None:
                os.fchown(handle.fileno(), *owner)
            os.fchmod(handle.fileno(), mode)  # after chown, which clears set-id bits
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
    fsync_dir(directory)


def atomic_write(
    path: str, data: bytes, mode: int = 0o600, owner: Optional[Tuple[int, int]] = None
) -> None:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path, mode, owner) as handle:
        handle.write(data)

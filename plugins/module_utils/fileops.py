# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)
"""File operations shared by the modules' module_utils (standard library, Python 3.8+)."""

from __future__ import annotations

import os
import shutil
import stat


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

# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)
"""The switch of one gateway instance directory between two sets of files.

A version change (upgrade, rollback, restore) replaces some top-level entries of an
instance directory (for example ``/opt/openclaw-assistant/instances/main``: ``.env``,
``config``, ``data``, ``openclaw_sidecar.compose.yml``) while the gateway is stopped.
Everything that can be prepared is prepared before (the caller stages the new entries in a
directory on the same file system, for example ``<instance>/staging/next``), so that the
time the gateway is down holds only what must happen while it is stopped:

1. stop the gateway container (when it runs);
2. move each live entry that a staged entry replaces into ``aside`` (a rename; nothing is
   deleted) and, with ``snapshot``, copy every other entry there too, so ``aside`` holds
   the whole stopped instance (a quiesced copy: SQLite files are never copied live). The
   bulk of that copy is made before step 1 while the gateway serves, and only what
   changed since is copied again here (``mirror.py``);
3. rename each staged entry into the instance directory (the emptied ``staged``
   directory is removed);
4. start the gateway (``docker compose up``).

When step 2 or 3 fails, the moves made so far are undone in reverse order, the copies
removed, and a gateway that ran is started again as it was; :class:`SwitchError` says so
(``undone=True``). When step 4 fails, the instance is left switched and ``aside`` holds
what it replaced (``undone=False``): the caller switches back from it.

Docker is reached through a :class:`Runtime` the caller provides (the module runs the
Docker CLI, unit tests a recording fake). Pure standard library, Python 3.8+, POSIX.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import fileops, mirror

ASIDE_MODE = 0o700


class SwitchError(Exception):
    """The switch failed. ``undone`` tells whether the instance is back as it was."""

    def __init__(self, message: str, undone: bool, aside: Optional[str] = None):
        super().__init__(message)
        self.undone = undone
        self.aside = aside


class Runtime:
    """What the switch needs from the container engine (overridden by the caller)."""

    def running(self) -> bool:
        """True when the instance's gateway container exists and runs."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the gateway container (graceful, with the caller's timeout)."""
        raise NotImplementedError

    def start_again(self) -> None:
        """Start the stopped container as it was (after an undone switch)."""
        raise NotImplementedError

    def up(self) -> None:
        """Create or recreate and start the instance from its (new) files."""
        raise NotImplementedError

    def copy(self, source: str, target: str) -> None:
        """Copy ``source`` to the new path ``target`` with modes, owners and times."""
        raise NotImplementedError


def _names(directory: str, exclude: Iterable[str]) -> List[str]:
    skip = set(exclude)
    return sorted(name for name in os.listdir(directory) if name not in skip)


def _inside(path: str, directory: str) -> bool:
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def plan(
    live: str,
    aside: str,
    staged: Optional[str] = None,
    snapshot: bool = False,
    exclude: Iterable[str] = (),
    check_parent: bool = True,
) -> Dict[str, List[str]]:
    """What a switch of the instance directory ``live`` would do, checked before it starts.

    Returns ``{"put_live": [...], "move_aside": [...], "copy": [...]}``: the top-level
    names of ``staged`` that go live, the live names they replace (moved into ``aside``),
    and, with ``snapshot``, the other live names that are copied into ``aside``. Names in
    ``exclude`` (for example ``staging``) are never touched. Raises SwitchError (with
    ``undone=True``: nothing was touched) with what to fix; ``check_parent=False`` skips
    the check that the parent of ``aside`` exists (check mode, when it would be made).
    """
    exclude = list(exclude)
    if not os.path.isdir(live):
        raise SwitchError("the instance directory %s does not exist" % live, undone=True)
    if os.path.lexists(aside):
        raise SwitchError(
            "%s already exists (left by an interrupted switch?); look at it, move it away, "
            "then run again" % aside,
            undone=True,
        )
    parent = os.path.dirname(os.path.abspath(aside))
    if check_parent and not os.path.isdir(parent):
        raise SwitchError("the parent directory %s of %s does not exist" % (parent, aside), True)
    put_live: List[str] = []
    if staged is not None:
        if not os.path.isdir(staged):
            raise SwitchError("the staged directory %s does not exist" % staged, undone=True)
        put_live = _names(staged, exclude)
        if not put_live:
            raise SwitchError("the staged directory %s is empty" % staged, undone=True)
        if os.stat(staged).st_dev != os.stat(live).st_dev:
            raise SwitchError(
                "the staged directory %s is not on the file system of %s; stage inside the "
                "instance directory so the switch is a rename" % (staged, live),
                undone=True,
            )
    present = _names(live, exclude)
    move_aside = [name for name in put_live if name in present]
    copy = [name for name in present if name not in put_live] if snapshot else []
    for name in move_aside + copy:
        for path, what in ((aside, "aside"), (staged, "staged")):
            if path is not None and _inside(path, os.path.join(live, name)):
                raise SwitchError(
                    "%s directory %s lies inside %s, which the switch moves or copies; "
                    "exclude %s or use another directory" % (what, path, name, name),
                    undone=True,
                )
    return dict(put_live=put_live, move_aside=move_aside, copy=copy)


def _rename(old: str, new: str) -> None:
    if os.path.lexists(new):
        raise OSError("%s already exists" % new)
    os.rename(old, new)


class _Clock:
    def __init__(self) -> None:
        self.timings: Dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.timings[name] = round(now - self._last, 3)
        self._last = now


def _undo(
    aside: str,
    journal: List[Tuple[str, str, str]],
    runtime: Runtime,
    was_running: bool,
) -> List[str]:
    """Reverse ``journal`` (("move"|"copy", source, target), ...); returns what failed."""
    problems: List[str] = []
    for action, source, target in reversed(journal):
        try:
            if action == "move":
                _rename(old=target, new=source)
            elif os.path.lexists(target):
                fileops.remove(target)
        except OSError as exc:
            problems.append("%s %s back: %s" % (action, target, exc))
    try:
        if os.path.isdir(aside) and not os.listdir(aside):
            os.rmdir(aside)
    except OSError:
        pass
    if was_running and not problems:
        try:
            runtime.start_again()
        except Exception as exc:  # noqa: BLE001 - reported, never raised over the first error
            problems.append("start the previous release again: %s" % exc)
    return problems


def switch(
    live: str,
    aside: str,
    runtime: Runtime,
    staged: Optional[str] = None,
    snapshot: bool = False,
    exclude: Iterable[str] = (),
    start: bool = True,
    after_start: Optional[Callable[[], Any]] = None,
) -> Dict[str, Any]:
    """Switch the instance directory ``live`` (see the module docstring for the steps).

    ``aside`` (a new directory, mode 0700) receives the live entries that ``staged``'s
    top-level entries replace and, with ``snapshot``, copies of every other entry (not
    ``exclude``). ``start`` starts the gateway afterwards (``runtime.up()``);
    ``after_start`` runs once it was started (for example: archive ``aside`` while the new
    gateway boots) and its return value is returned as ``after_start``.

    Returns ``{"was_running": bool, "started": bool, "aside": str, "put_live": [...],
    "move_aside": [...], "copy": [...], "after_start": Any, "precopy_problems": [str],
    "timings": {"precopy", "stop", "files", "start", "after_start": seconds}, "window":
    seconds}``, where ``window`` is the time from the stop request to the return of
    ``runtime.up()`` (the gateway is down at least that long, plus its own start) and
    ``precopy_problems`` what the copy made while the gateway served complained about
    (repaired after the stop). Raises SwitchError.
    """
    todo = plan(live, aside, staged, snapshot, exclude)
    clock = _Clock()
    journal: List[Tuple[str, str, str]] = []
    records: Dict[str, mirror.Index] = {}
    precopy_problems: List[str] = []
    try:
        os.mkdir(aside, ASIDE_MODE)
        os.chmod(aside, ASIDE_MODE)
        # While the gateway still serves: the bulk of the snapshot (mirror.py).
        for name in todo["copy"]:
            # Journaled first: a copy that failed half-way is removed by the undo too.
            journal.append(("copy", os.path.join(live, name), os.path.join(aside, name)))
            records[name], problem = mirror.precopy(journal[-1][1], journal[-1][2], runtime.copy)
            if problem:
                precopy_problems.append(problem)
    except Exception as exc:  # noqa: BLE001 - nothing stopped yet
        problems = _undo(aside, journal, runtime, was_running=False)
        raise SwitchError(
            "copying %s before the switch failed (%s)%s; nothing was changed"
            % (
                live,
                exc,
                " and could not be cleaned up: %s" % "; ".join(problems) if problems else "",
            ),
            undone=not problems,
            aside=aside,
        ) from exc
    clock.lap("precopy")
    was_running = runtime.running()
    if was_running:
        try:
            runtime.stop()
        except Exception as exc:  # noqa: BLE001 - any engine error ends the switch here
            _undo(aside, journal, runtime, was_running=False)
            raise SwitchError("stopping the gateway failed: %s" % exc, undone=True) from exc
    clock.lap("stop")
    try:
        for name in todo["move_aside"]:
            step = ("move", os.path.join(live, name), os.path.join(aside, name))
            _rename(step[1], step[2])
            journal.append(step)
        for name in todo["copy"]:  # the gateway has stopped: now the copy is made exact
            source, target = os.path.join(live, name), os.path.join(aside, name)
            mirror.resync(source, target, records[name], runtime.copy)
        for name in todo["put_live"]:
            step = ("move", os.path.join(staged or "", name), os.path.join(live, name))
            _rename(step[1], step[2])
            journal.append(step)
        if staged is not None and not os.listdir(staged):
            os.rmdir(staged)  # emptied: it must not block the next switch
        fileops.fsync_dir(live)
        fileops.fsync_dir(aside)
    except Exception as exc:  # noqa: BLE001 - undone, then reported
        problems = _undo(aside, journal, runtime, was_running)
        if problems:
            raise SwitchError(
                "the switch of %s failed (%s) and could NOT be fully undone: %s. The entries "
                "already moved are in %s" % (live, exc, "; ".join(problems), aside),
                undone=False,
                aside=aside,
            ) from exc
        again = " and the gateway was started again" if was_running else ""
        raise SwitchError(
            "the switch of %s failed (%s); nothing was changed%s" % (live, exc, again),
            undone=True,
        ) from exc
    clock.lap("files")
    started = False
    if start:
        try:
            runtime.up()
        except Exception as exc:  # noqa: BLE001 - the caller switches back from aside
            raise SwitchError(
                "the switched instance %s did not start: %s. What it replaced is in %s"
                % (live, exc, aside),
                undone=False,
                aside=aside,
            ) from exc
        started = True
    clock.lap("start")
    window = round(sum(v for k, v in clock.timings.items() if k != "precopy"), 3)
    extra = None
    if after_start is not None:
        try:
            extra = after_start()
        except Exception as exc:  # noqa: BLE001 - switched and started; aside is kept
            raise SwitchError(
                "%s was switched and started, but the step after the start failed: %s. The "
                "stopped instance it replaced is in %s" % (live, exc, aside),
                undone=False,
                aside=aside,
            ) from exc
        clock.lap("after_start")
    return dict(
        precopy_problems=precopy_problems,
        was_running=was_running,
        started=started,
        aside=aside,
        after_start=extra,
        timings=clock.timings,
        window=window,
        **todo,
    )

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
2. move each live entry that a staged entry replaces into ``set_aside_dir`` (a rename; nothing
   is deleted) and, with ``snapshot``, copy every other entry there too, so it holds
   the whole stopped instance (a quiesced copy: SQLite files are never copied live). The
   bulk of that copy is made before step 1 while the gateway serves, and only what
   changed since is copied again here (``mirror.py``);
3. rename each staged entry into the instance directory (the emptied ``staged``
   directory is removed);
4. start the gateway (``docker compose up``).

When step 2 or 3 fails, the moves made so far are undone in reverse order, the copies
removed, and a gateway that ran is started again as it was; :class:`SwitchError` says so
(``undone=True``). When step 4 fails, the instance is left switched and ``set_aside_dir`` holds
what it replaced (``undone=False``): the caller switches back from it.

Docker is reached through a :class:`Runtime` the caller provides (the module runs the
Docker CLI, unit tests a recording fake). Pure standard library, Python 3.8+, POSIX.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import fileops, mirror

SET_ASIDE_MODE = 0o700


class SwitchError(Exception):
    """The switch failed. ``undone`` tells whether the instance is back as it was;
    ``set_aside_dir`` (or None) holds what was already moved out of the instance."""

    def __init__(self, message: str, undone: bool, set_aside_dir: Optional[str] = None):
        super().__init__(message)
        self.undone = undone
        self.set_aside_dir = set_aside_dir


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


def plan(
    live: str,
    set_aside_dir: str,
    staged: Optional[str] = None,
    snapshot: bool = False,
    exclude: Iterable[str] = (),
    check_parent: bool = True,
) -> Dict[str, List[str]]:
    """What a switch of the instance directory ``live`` would do, checked before it starts.

    Returns ``{"put_live": [...], "move_aside": [...], "copy": [...]}``: the top-level
    names of ``staged`` that go live, the live names they replace (moved into
    ``set_aside_dir``), and, with ``snapshot``, the other live names that are copied into
    ``set_aside_dir``. Names in ``exclude`` (for example ``staging``) are never touched.
    Raises SwitchError (with ``undone=True``: nothing was touched) with what to fix;
    ``check_parent=False`` skips the check that the parent of ``set_aside_dir`` exists
    (check mode, when it would be made).
    """
    exclude = list(exclude)
    if not os.path.isdir(live):
        raise SwitchError("the instance directory %s does not exist" % live, undone=True)
    if os.path.lexists(set_aside_dir):
        raise SwitchError(
            "%s already exists (left by an interrupted switch?); look at it, move it away, "
            "then run again" % set_aside_dir,
            undone=True,
        )
    parent = os.path.dirname(os.path.abspath(set_aside_dir))
    if check_parent and not os.path.isdir(parent):
        raise SwitchError(
            "the parent directory %s of %s does not exist" % (parent, set_aside_dir), True
        )
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
        for path, what in ((set_aside_dir, "aside"), (staged, "staged")):
            if path is not None and fileops.inside(path, os.path.join(live, name)) is not None:
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
    set_aside_dir: str,
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
        if os.path.isdir(set_aside_dir) and not os.listdir(set_aside_dir):
            os.rmdir(set_aside_dir)
    except OSError:
        pass
    if was_running and not problems:
        try:
            runtime.start_again()
        except Exception as exc:  # noqa: BLE001 - reported, never raised over the first error
            problems.append("start the previous release again: %s" % exc)
    return problems


def _precopy(
    live: str,
    set_aside_dir: str,
    runtime: Runtime,
    todo: Dict[str, List[str]],
    journal: List[Tuple[str, str, str]],
) -> Tuple[Dict[str, mirror.Index], List[str]]:
    """Make ``set_aside_dir`` and, while the gateway still serves, the bulk copy of the
    snapshot (``mirror.py``). Returns (copy records by name, precopy problems).
    Raises SwitchError; on failure what was made is removed again."""
    records: Dict[str, mirror.Index] = {}
    problems: List[str] = []
    try:
        os.mkdir(set_aside_dir, SET_ASIDE_MODE)
        os.chmod(set_aside_dir, SET_ASIDE_MODE)
        for name in todo["copy"]:
            # Journaled first: a copy that failed half-way is removed by the undo too.
            journal.append(("copy", os.path.join(live, name), os.path.join(set_aside_dir, name)))
            records[name], problem = mirror.precopy(journal[-1][1], journal[-1][2], runtime.copy)
            if problem:
                problems.append(problem)
    except Exception as exc:  # noqa: BLE001 - nothing stopped yet
        left = _undo(set_aside_dir, journal, runtime, was_running=False)
        raise SwitchError(
            "copying %s before the switch failed (%s)%s; nothing was changed"
            % (live, exc, " and could not be cleaned up: %s" % "; ".join(left) if left else ""),
            undone=not left,
            set_aside_dir=set_aside_dir,
        ) from exc
    return records, problems


def _swap_files(
    live: str,
    set_aside_dir: str,
    staged: Optional[str],
    todo: Dict[str, List[str]],
    records: Dict[str, mirror.Index],
    journal: List[Tuple[str, str, str]],
    runtime: Runtime,
) -> None:
    """With the gateway stopped: move the replaced entries aside, make the snapshot copy
    exact, rename the staged entries live. Raises OSError (the caller undoes)."""
    for name in todo["move_aside"]:
        step = ("move", os.path.join(live, name), os.path.join(set_aside_dir, name))
        _rename(step[1], step[2])
        journal.append(step)
    for name in todo["copy"]:  # the gateway has stopped: now the copy is made exact
        source, target = os.path.join(live, name), os.path.join(set_aside_dir, name)
        mirror.resync(source, target, records[name], runtime.copy)
    for name in todo["put_live"]:
        step = ("move", os.path.join(staged or "", name), os.path.join(live, name))
        _rename(step[1], step[2])
        journal.append(step)
    if staged is not None and not os.listdir(staged):
        os.rmdir(staged)  # emptied: it must not block the next switch
    fileops.fsync_dir(live)
    fileops.fsync_dir(set_aside_dir)


def _swap_or_undo(
    live: str,
    set_aside_dir: str,
    journal: List[Tuple[str, str, str]],
    runtime: Runtime,
    was_running: bool,
    swap: Callable[[], None],
) -> None:
    """``swap()`` (:func:`_swap_files`); on failure undo ``journal`` and raise SwitchError."""
    try:
        swap()
    except Exception as exc:  # noqa: BLE001 - undone, then reported
        problems = _undo(set_aside_dir, journal, runtime, was_running)
        if problems:
            raise SwitchError(
                "the switch of %s failed (%s) and could NOT be fully undone: %s. The entries "
                "already moved are in %s" % (live, exc, "; ".join(problems), set_aside_dir),
                undone=False,
                set_aside_dir=set_aside_dir,
            ) from exc
        again = " and the gateway was started again" if was_running else ""
        raise SwitchError(
            "the switch of %s failed (%s); nothing was changed%s" % (live, exc, again),
            undone=True,
        ) from exc


def _run_after_start(live: str, set_aside_dir: str, after_start: Callable[[], Any]) -> Any:
    """``after_start()``; a failure is a SwitchError that keeps ``set_aside_dir``."""
    try:
        return after_start()
    except Exception as exc:  # noqa: BLE001 - switched and started; the set-aside is kept
        raise SwitchError(
            "%s was switched and started, but the step after the start failed: %s. The "
            "stopped instance it replaced is in %s" % (live, exc, set_aside_dir),
            undone=False,
            set_aside_dir=set_aside_dir,
        ) from exc


def switch(
    live: str,
    set_aside_dir: str,
    runtime: Runtime,
    staged: Optional[str] = None,
    snapshot: bool = False,
    exclude: Iterable[str] = (),
    start: bool = True,
    after_start: Optional[Callable[[], Any]] = None,
) -> Dict[str, Any]:
    """Switch the instance directory ``live`` (see the module docstring for the steps).

    ``set_aside_dir`` (a new directory, mode 0700) receives the live entries that
    ``staged``'s top-level entries replace and, with ``snapshot``, copies of every other
    entry (not ``exclude``). ``start`` starts the gateway afterwards (``runtime.up()``);
    ``after_start`` runs once it was started (for example: archive ``set_aside_dir``
    while the new gateway boots) and its return value is returned as ``after_start``.

    Returns ``{"was_running": bool, "started": bool, "set_aside_dir": str, "put_live":
    [...], "move_aside": [...], "copy": [...], "after_start": Any, "precopy_problems":
    [str], "timings": {"precopy", "stop", "files", "start", "after_start": seconds},
    "window": seconds}``, where ``window`` is the time from the stop request to the
    return of ``runtime.up()`` (the gateway is down at least that long, plus its own
    start) and ``precopy_problems`` what the copy made while the gateway served
    complained about (repaired after the stop). Raises SwitchError.
    """
    todo = plan(live, set_aside_dir, staged, snapshot, exclude)
    clock = _Clock()
    journal: List[Tuple[str, str, str]] = []
    records, precopy_problems = _precopy(live, set_aside_dir, runtime, todo, journal)
    clock.lap("precopy")
    was_running = runtime.running()
    if was_running:
        try:
            runtime.stop()
        except Exception as exc:  # noqa: BLE001 - any engine error ends the switch here
            _undo(set_aside_dir, journal, runtime, was_running=False)
            raise SwitchError("stopping the gateway failed: %s" % exc, undone=True) from exc
    clock.lap("stop")
    _swap_or_undo(
        live,
        set_aside_dir,
        journal,
        runtime,
        was_running,
        lambda: _swap_files(live, set_aside_dir, staged, todo, records, journal, runtime),
    )
    clock.lap("files")
    started = False
    if start:
        try:
            runtime.up()
        except Exception as exc:  # noqa: BLE001 - the caller switches back from the set-aside
            raise SwitchError(
                "the switched instance %s did not start: %s. What it replaced is in %s"
                % (live, exc, set_aside_dir),
                undone=False,
                set_aside_dir=set_aside_dir,
            ) from exc
        started = True
    clock.lap("start")
    window = round(sum(v for k, v in clock.timings.items() if k != "precopy"), 3)
    extra = None
    if after_start is not None:
        extra = _run_after_start(live, set_aside_dir, after_start)
        clock.lap("after_start")
    return dict(
        precopy_problems=precopy_problems,
        was_running=was_running,
        started=started,
        set_aside_dir=set_aside_dir,
        after_start=extra,
        timings=clock.timings,
        window=window,
        **todo,
    )

"""What the executor allows: permission levels, working directories, the codex binary.

* Levels ``L0``..``L4``: a job needs ``L3``; danger mode (``--sandbox danger-full-access``
  instead of ``workspace-write``) needs ``L4`` and ``EXECUTOR_ALLOW_DANGER_MODE=true``.
* Working directories are deny-by-default: a ``cwd`` must be absolute, resolve (symlinks,
  ``..``) to an existing directory, and that real path must lie inside the real path of one
  of ``EXECUTOR_ALLOWED_WORKDIRS``; ``EXECUTOR_ALLOW_ANY_WORKDIR=true`` lifts the allowlist.
* The binary (``EXECUTOR_CODEX_BIN``, a name looked up on ``PATH`` or an absolute path) is
  available when it is found, executable, and answers ``--version`` within 5 s.
"""

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...settings import EXECUTOR_NEVER_PASSED, Settings
from ..stability import MemoryGuard

EXECUTOR_NAME = "codex"
LEVELS = ("L0", "L1", "L2", "L3", "L4")
SUBMIT_MIN_LEVEL = 3
DANGER_MIN_LEVEL = 4
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_VERSION_RE = re.compile(r"\d+\.\d+(?:\.\d+)?(?:[-+.][0-9A-Za-z.]+)?")


class ExecutorError(Exception):
    """A job request the executor refuses: HTTP ``status``, ``error_code``, ``error``."""

    def __init__(self, status: int, error_code: str, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error_code = error_code
        self.error = error


def level_number(level: str) -> int:
    """``"L3"`` -> 3 (levels are validated by the request schema)."""
    return LEVELS.index(level)


def check_level(level: str, danger_mode: bool, danger_allowed: bool) -> None:
    """Raise 403 ``permission_deny`` unless ``level`` may submit (and use danger mode)."""
    number = level_number(level)
    if number < SUBMIT_MIN_LEVEL:
        raise ExecutorError(
            403, "permission_deny", f"level {level} may not run jobs; L3 or higher is needed"
        )
    if danger_mode and number < DANGER_MIN_LEVEL:
        raise ExecutorError(403, "permission_deny", f"danger mode needs level L4, not {level}")
    if danger_mode and not danger_allowed:
        raise ExecutorError(
            403,
            "permission_deny",
            "danger mode is disabled on this server (EXECUTOR_ALLOW_DANGER_MODE=false)",
        )


def resolve_workdir(
    cwd: str | None, *, allowed: Sequence[Path], allow_any: bool, default: Path | None
) -> Path:
    """Return the real path of ``cwd`` (or of ``default`` when ``cwd`` is empty).

    Raises 400 ``invalid_cwd`` (missing, relative, not resolvable, not a directory) or
    403 ``workdir_not_allowed`` (outside every allowed directory).
    """
    raw = (cwd or "").strip() or (str(default) if default is not None else "")
    if not raw:
        raise ExecutorError(
            400, "invalid_cwd", "cwd is required (no EXECUTOR_DEFAULT_WORKDIR is set)"
        )
    if "\x00" in raw or not os.path.isabs(raw):
        raise ExecutorError(400, "invalid_cwd", "cwd must be an absolute path")
    try:
        real = Path(os.path.realpath(raw, strict=True))
    except (OSError, ValueError):
        raise ExecutorError(
            400, "invalid_cwd", "cwd does not exist or cannot be resolved"
        ) from None
    if not real.is_dir():
        raise ExecutorError(400, "invalid_cwd", "cwd is not a directory")
    if allow_any:
        return real
    for root in allowed:
        try:
            root_real = Path(os.path.realpath(root, strict=True))
        except (OSError, ValueError):
            continue  # a missing allowed directory allows nothing
        if real == root_real or real.is_relative_to(root_real):
            return real
    raise ExecutorError(
        403,
        "workdir_not_allowed",
        "cwd is not inside a directory of EXECUTOR_ALLOWED_WORKDIRS (after resolving symlinks)",
    )


def child_env(s: Settings) -> dict[str, str]:
    """The environment of a job: ``PATH``, ``HOME`` = ``CODEX_HOME`` = the executor home,
    ``LANG``, ``TZ`` / ``TMPDIR`` when set, and ``EXECUTOR_PASS_ENV`` (never the tokens)."""
    home = str(s.executor_home)
    env = {"PATH": os.environ.get("PATH") or DEFAULT_PATH, "HOME": home, "CODEX_HOME": home}
    env["LANG"] = os.environ.get("LANG") or "C.UTF-8"
    for name in ("TZ", "TMPDIR", *s.executor_pass_env):
        if name in os.environ and name.upper() not in EXECUTOR_NEVER_PASSED:
            env[name] = os.environ[name]
    return env


def limits(s: Settings) -> dict[str, Any]:
    """The limits jobs run under, as ``GET /api/v1/executors`` shows them."""
    return {
        "concurrency": 1,
        "timeout_s": s.executor_timeout_s,
        "max_task_chars": s.executor_max_task_chars,
        "output_max_bytes": s.executor_output_max_bytes,
        "queue_max": s.executor_queue_max,
        "submit_min_level": LEVELS[SUBMIT_MIN_LEVEL],
        "danger_min_level": LEVELS[DANGER_MIN_LEVEL],
        "danger_mode_allowed": s.executor_allow_danger_mode,
        "allow_any_workdir": s.executor_allow_any_workdir,
        "allowed_workdirs": [str(p) for p in s.executor_allowed_workdirs],
        "memory_min_mb": s.memory_heavy_job_min_mb,
    }


@dataclass(frozen=True)
class CodexInfo:
    """``available``; ``binary`` (absolute path or None); ``version`` ("0.169.0" or None);
    ``version_text`` (first line of ``--version``); ``reason`` why it is not available."""

    available: bool
    binary: str | None
    version: str | None
    version_text: str | None
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict."""
        return dict(self.__dict__)


class CodexLocator:
    """Finds the codex binary and its version; the version is cached per binary file."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env
        self._lock = threading.Lock()
        self._cache: tuple[tuple[str, int, int], CodexInfo] | None = None

    def find(self) -> str | None:
        """The binary's absolute path, or None."""
        if os.sep in self.name:
            path = self.name if os.path.isabs(self.name) else None
            return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None
        return shutil.which(self.name, path=self.env.get("PATH", DEFAULT_PATH))

    def info(self) -> CodexInfo:
        """Probe the binary (cheap when it did not change since the last call)."""
        binary = self.find()
        if binary is None:
            return CodexInfo(
                False, None, None, None, f"{self.name} not found (EXECUTOR_CODEX_BIN, PATH)"
            )
        try:
            stat = os.stat(binary)
        except OSError:
            return CodexInfo(False, binary, None, None, f"{binary} cannot be read")
        key = (binary, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
            info = self._version(binary)
            self._cache = (key, info)
            return info

    def _version(self, binary: str) -> CodexInfo:
        try:
            done = subprocess.run(
                [binary, "--version"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return CodexInfo(False, binary, None, None, f"{binary} --version failed: {exc}")
        text = done.stdout.decode("utf-8", "replace").strip().splitlines()
        first = text[0][:200] if text else ""
        if done.returncode != 0:
            return CodexInfo(
                False, binary, None, first or None, f"{binary} --version exited {done.returncode}"
            )
        match = _VERSION_RE.search(first)
        return CodexInfo(True, binary, match.group(0) if match else None, first or None, None)


def check_executor_name(name: str) -> None:
    """Raise 400 ``executor_not_available`` unless ``name`` is ``codex`` (any case).

    The seed's v0.3.1 request field ``executor`` named ``codex``, ``gemini`` (disabled
    there) or another; this service runs Codex only, and never another executor in its
    place.
    """
    wanted = name.strip().lower() or EXECUTOR_NAME
    if wanted != EXECUTOR_NAME:
        shown = repr(wanted) if re.fullmatch(r"[a-z0-9_.-]{1,32}", wanted) else "given"
        raise ExecutorError(
            400,
            "executor_not_available",
            f"the executor {shown} is not available here; this service runs 'codex' only",
        )


def check_submit(
    s: Settings,
    info: dict[str, Any],
    guard: MemoryGuard,
    task: str | None,
    cwd: str | None,
    level: str,
    danger_mode: bool,
    executor: str = "codex",
) -> Path:
    """Check a job request in the documented order; return the real working directory.

    ``info`` is ``ExecutorService.info()``. Raises :class:`ExecutorError`:
    403 ``permission_deny``, 400 ``executor_not_available`` (an executor other than
    codex), 400 ``missing_task``, 422 ``invalid_request`` (NUL in the task), 400
    ``task_too_large``, 400 ``invalid_cwd``, 403 ``workdir_not_allowed``, 503
    ``executor_not_available``, ``read_only_mode``, ``executor_busy_low_memory``, 429
    ``executor_queue_full``. The 400s are the seed's v0.3.1 statuses.
    """
    check_level(level, danger_mode, s.executor_allow_danger_mode)
    check_executor_name(executor)
    if task is None or not task.strip():
        raise ExecutorError(400, "missing_task", "task is required and must not be blank")
    if "\x00" in task:
        raise ExecutorError(422, "invalid_request", "task must not contain NUL characters")
    if len(task) > s.executor_max_task_chars:
        raise ExecutorError(
            400,
            "task_too_large",
            f"task has {len(task)} characters; the limit is {s.executor_max_task_chars} "
            "(EXECUTOR_MAX_TASK_CHARS)",
        )
    real = resolve_workdir(
        cwd,
        allowed=s.executor_allowed_workdirs,
        allow_any=s.executor_allow_any_workdir,
        default=s.executor_default_workdir,
    )
    if not info["available"]:
        raise ExecutorError(503, "executor_not_available", str(info["reason"]))
    available = guard.available_mb()
    if guard.read_only(available):
        raise ExecutorError(
            503, "read_only_mode", f"read-only mode: {available} MB of memory available"
        )
    if not guard.heavy_jobs_allowed(available):
        raise ExecutorError(
            503,
            "executor_busy_low_memory",
            f"{available} MB of memory available, below {guard.heavy_job_min_mb} MB "
            "(MEMORY_HEAVY_JOB_MIN_MB); retry later",
        )
    if info["queue_depth"] >= s.executor_queue_max:
        raise ExecutorError(
            429, "executor_queue_full", f"{info['queue_depth']} jobs are already queued"
        )
    return real

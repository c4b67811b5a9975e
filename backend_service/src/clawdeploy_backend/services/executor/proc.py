"""Run one executor process in its own process group, with a timeout, cancel and a tail.

The child is started with ``start_new_session=True``: it leads a new session and process
group, so everything it starts (codex's native binary, the shells it runs, their children)
is in that group unless it leaves it on purpose. Timeout and cancel send ``SIGTERM`` to the
whole group, wait ``kill_grace_s``, then ``SIGKILL`` the group; after a normal exit the
group is ``SIGKILL``ed too, so a job leaves nothing behind. stdin is ``/dev/null`` (codex
would otherwise wait for piped input). Only the last ``limit_bytes`` of stdout and of
stderr are kept.
"""

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .jobs import CANCELED as JOB_CANCELED
from .jobs import FAILED, SUCCEEDED

EXITED, TIMEOUT, CANCELED, SPAWN_FAILED = "exited", "timeout", "canceled", "spawn_failed"


@dataclass(frozen=True)
class ProcResult:
    """How a run ended: ``outcome`` is exited, timeout, canceled or spawn_failed.

    ``exit_code`` is the child's status (negative: killed by that signal; None when it
    never started); ``stdout`` / ``stderr`` are tails decoded as UTF-8 (not masked yet);
    ``truncated`` is true when either lost its beginning; ``error`` explains a spawn failure.
    """

    outcome: str
    exit_code: int | None
    stdout: str
    stderr: str
    truncated: bool
    duration_s: float
    error: str | None = None


class TailBuffer:
    """Keeps the last ``limit`` bytes fed to it (thread-confined: one reader each)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def feed(self, chunk: bytes) -> None:
        """Append ``chunk``, dropping the oldest bytes beyond the limit."""
        self.data += chunk
        if len(self.data) > self.limit:
            del self.data[: len(self.data) - self.limit]
            self.truncated = True

    def text(self) -> str:
        """The tail as text (invalid UTF-8 replaced)."""
        return self.data.decode("utf-8", errors="replace")


def _drain(stream: object, buffer: TailBuffer) -> None:
    fd = stream.fileno()  # type: ignore[attr-defined]
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        buffer.feed(chunk)


def kill_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; False when the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def _stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the group, wait ``grace_s`` for the leader, then SIGKILL the group."""
    kill_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    kill_group(proc.pid, signal.SIGKILL)
    proc.wait()


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout_s: float,
    kill_grace_s: float,
    limit_bytes: int,
    should_cancel: Callable[[], bool],
    poll_s: float = 0.05,
) -> ProcResult:
    """Run ``argv`` to its end, its timeout, or a cancel (``should_cancel()`` turning true).

    Never raises for the child's behaviour; a child that cannot be started gives
    ``outcome="spawn_failed"`` with ``error``.
    """
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        return ProcResult(
            SPAWN_FAILED, None, "", "", False, 0.0, f"cannot start {argv[0]}: {exc.strerror}"
        )
    out, err = TailBuffer(limit_bytes), TailBuffer(limit_bytes)
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    outcome = EXITED
    deadline = start + timeout_s
    while proc.poll() is None:
        if should_cancel():
            outcome = CANCELED
        elif time.monotonic() >= deadline:
            outcome = TIMEOUT
        if outcome != EXITED:
            _stop(proc, kill_grace_s)
            break
        time.sleep(poll_s)
    # Whatever the leader left running in its group goes too (it would hold the pipes).
    kill_group(proc.pid, signal.SIGKILL)
    for reader, stream in zip(readers, (proc.stdout, proc.stderr), strict=True):
        reader.join(timeout=2.0)
        if stream is not None and not reader.is_alive():  # else a runaway still holds it
            stream.close()
    return ProcResult(
        outcome,
        proc.returncode,
        out.text(),
        err.text(),
        out.truncated or err.truncated,
        round(time.monotonic() - start, 3),
    )


def classify(
    result: ProcResult, user_canceled: bool, timeout_s: float
) -> tuple[str, str | None, str | None]:
    """``(job state, error_code, error)`` for a run's result.

    spawn_failed -> ``executor_not_available``; timeout -> ``executor_timeout``; canceled
    by a user -> ``canceled`` / ``canceled_by_user``, by the service stopping ->
    ``executor_interrupted``; a nonzero exit -> ``executor_nonzero_exit``.
    """
    if result.outcome == SPAWN_FAILED:
        return FAILED, "executor_not_available", result.error
    if result.outcome == TIMEOUT:
        return FAILED, "executor_timeout", f"killed after {timeout_s} s (EXECUTOR_TIMEOUT_S)"
    if result.outcome == CANCELED and user_canceled:
        return JOB_CANCELED, "canceled_by_user", "canceled while running"
    if result.outcome == CANCELED:
        return FAILED, "executor_interrupted", "the service stopped while the job ran"
    if result.exit_code != 0:
        return FAILED, "executor_nonzero_exit", f"codex exited with status {result.exit_code}"
    return SUCCEEDED, None, None

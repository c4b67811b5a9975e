"""Executor jobs in SQLite (table ``executor_jobs``, migration 2 of ``store.MIGRATIONS``).

A job's life: ``queued`` -> ``running`` -> ``succeeded`` | ``failed`` | ``canceled``; a
queued job may also go straight to ``canceled``. Every transition is a guarded UPDATE
(``WHERE state = ...``), so the worker and a cancel request never overwrite each other.
The task text is kept only while the job may still run; when the job ends it is emptied
and only ``task_sha256`` / ``task_chars`` stay.

:meth:`JobStore.queue_summary` (queue depth and running job, on the status path) is kept
in memory: read from SQLite again only after a write of this :class:`JobStore` or when it
is :data:`SUMMARY_MAX_AGE_S` old (a write by another process shows within that time).
"""

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from pydantic import ConfigDict

from ...store import Store, utc_now
from .schemas import JobFields

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "canceled",
)
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED)
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELED})
SUMMARY_MAX_AGE_S = 1.0


class Job(JobFields):
    """One row of ``executor_jobs``: the fields of :class:`~.schemas.JobFields`
    plus ``seq`` (queue order) and ``task``; :meth:`public` is what the API shows."""

    model_config = ConfigDict(frozen=True)

    seq: int
    task: str

    def public(self, queue_position: int | None = None) -> dict[str, Any]:
        """The :class:`~.schemas.JobFields` of this job (never ``seq`` or the
        task text), plus ``queue_position`` (1 = next)."""
        data = {name: getattr(self, name) for name in JobFields.model_fields}
        data["queue_position"] = queue_position
        return data


def task_digest(task: str) -> str:
    """SHA-256 hex of the task text (what the audit log and the API show of it)."""
    return hashlib.sha256(task.encode("utf-8")).hexdigest()


def _job(row: Any) -> Job:
    # SQLite's 0/1 become bools by the fields' types (pydantic's lax mode).
    return Job.model_validate(dict(row))


class JobStore:
    """The queries of the executor on the service's :class:`~...store.Store`.

    ``clock`` (seconds, ``time.monotonic``) only ages the :meth:`queue_summary` cache.
    """

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._clock = clock
        self._generation = 0  # bumped after every committed write of this JobStore
        self._generation_lock = threading.Lock()
        # (generation, read at, (queued, running job id)); replaced whole, never mutated
        self._summary: tuple[int, float, tuple[int, str | None]] | None = None

    def _changed(self) -> None:
        """Note a committed write: the next :meth:`queue_summary` reads the database."""
        with self._generation_lock:
            self._generation += 1

    def queue_summary(self) -> tuple[int, str | None]:
        """``(number of queued jobs, id of the running job or None)``, as
        ``counts()[QUEUED]`` and :meth:`running_job_id` would answer, without a database
        read unless a write happened since the last one (or it is
        :data:`SUMMARY_MAX_AGE_S` old)."""
        generation = self._generation  # read before the query: a later write invalidates it
        now = self._clock()
        cached = self._summary
        if cached is not None:
            cached_generation, read_at, summary = cached
            if cached_generation == generation and 0 <= now - read_at < SUMMARY_MAX_AGE_S:
                return summary
        with self.store.connect() as conn:
            queued = conn.execute(
                "SELECT COUNT(*) FROM executor_jobs WHERE state = ?", (QUEUED,)
            ).fetchone()[0]
            row = conn.execute(
                "SELECT job_id FROM executor_jobs WHERE state = ? LIMIT 1", (RUNNING,)
            ).fetchone()
        summary = (int(queued), str(row["job_id"]) if row is not None else None)
        self._summary = (generation, now, summary)
        return summary

    def add(self, *, task: str, cwd: str, level: str, danger_mode: bool, trace_id: str) -> Job:
        """Insert a ``queued`` job and return it."""
        job_id = uuid.uuid4().hex
        with self.store.connect() as conn:
            conn.execute(
                "INSERT INTO executor_jobs (job_id, state, task, task_sha256, task_chars, cwd, "
                "level, danger_mode, trace_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    QUEUED,
                    task,
                    task_digest(task),
                    len(task),
                    cwd,
                    level,
                    int(danger_mode),
                    trace_id,
                    utc_now(),
                ),
            )
        self._changed()
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        with self.store.connect() as conn:
            row = conn.execute("SELECT * FROM executor_jobs WHERE job_id = ?", (job_id,)).fetchone()
        return _job(row) if row is not None else None

    def queue_position(self, job: Job) -> int | None:
        """1 for the next queued job, 2 for the one after...; None when not queued."""
        if job.state != QUEUED:
            return None
        with self.store.connect() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM executor_jobs WHERE state = ? AND seq <= ?",
                (QUEUED, job.seq),
            ).fetchone()
        return int(row[0]) or None  # 0: claimed by the worker since it was read

    def counts(self) -> dict[str, int]:
        """``{state: number of jobs}`` for every state (0 when none)."""
        with self.store.connect() as conn:
            rows = conn.execute(
                "SELECT state, COUNT(*) AS n FROM executor_jobs GROUP BY state"
            ).fetchall()
        found = {str(r["state"]): int(r["n"]) for r in rows}
        return {state: found.get(state, 0) for state in STATES}

    def running_job_id(self) -> str | None:
        """The id of the running job, if any."""
        with self.store.connect() as conn:
            row = conn.execute(
                "SELECT job_id FROM executor_jobs WHERE state = ? LIMIT 1", (RUNNING,)
            ).fetchone()
        return str(row["job_id"]) if row is not None else None

    def claim_next(self) -> Job | None:
        """Move the oldest queued job to ``running`` and return it (None: queue empty)."""
        # Each transaction starts with its write (or only reads): a read that later turns
        # into a write could fail with SQLITE_BUSY in WAL mode when a submit commits between.
        for _attempt in range(10):
            with self.store.connect() as conn:
                row = conn.execute(
                    "SELECT job_id FROM executor_jobs WHERE state = ? ORDER BY seq LIMIT 1",
                    (QUEUED,),
                ).fetchone()
            if row is None:
                return None
            with self.store.connect() as conn:
                claimed = conn.execute(
                    "UPDATE executor_jobs SET state = ?, started_at = ? "
                    "WHERE job_id = ? AND state = ?",
                    (RUNNING, utc_now(), row["job_id"], QUEUED),
                ).rowcount
            if claimed:
                self._changed()
                return self.get(str(row["job_id"]))
        return None  # canceled under our feet again and again; the next poll retries

    def request_cancel(self, job_id: str) -> str | None:
        """Cancel a queued job at once, or flag a running one; returns its state before
        (None: no such job)."""
        with self.store.connect() as conn:
            canceled = conn.execute(
                "UPDATE executor_jobs SET state = ?, task = '', finished_at = ?, "
                "error_code = 'canceled_by_user', error = ?, cancel_requested = 1 "
                "WHERE job_id = ? AND state = ?",
                (CANCELED, utc_now(), "canceled before it started", job_id, QUEUED),
            ).rowcount
        if canceled:
            self._changed()
            return QUEUED
        with self.store.connect() as conn:
            if conn.execute(
                "UPDATE executor_jobs SET cancel_requested = 1 WHERE job_id = ? AND state = ?",
                (job_id, RUNNING),
            ).rowcount:
                return RUNNING
        job = self.get(job_id)
        return job.state if job is not None else None

    def finish(
        self,
        job_id: str,
        *,
        state: str,
        exit_code: int | None,
        error_code: str | None,
        error: str | None,
        stdout_tail: str = "",
        stderr_tail: str = "",
        output_truncated: bool = False,
        duration_s: float | None = None,
    ) -> None:
        """Move a running job to a terminal ``state`` with its result; empties the task."""
        assert state in TERMINAL
        with self.store.connect() as conn:
            conn.execute(
                "UPDATE executor_jobs SET state = ?, task = '', finished_at = ?, exit_code = ?, "
                "error_code = ?, error = ?, stdout_tail = ?, stderr_tail = ?, "
                "output_truncated = ?, duration_s = ? WHERE job_id = ? AND state = ?",
                (
                    state,
                    utc_now(),
                    exit_code,
                    error_code,
                    error,
                    stdout_tail,
                    stderr_tail,
                    int(output_truncated),
                    duration_s,
                    job_id,
                    RUNNING,
                ),
            )
        self._changed()

    def interrupt_running(self, error: str) -> list[Job]:
        """Fail every ``running`` job with ``executor_interrupted`` (service restart)."""
        with self.store.connect() as conn:
            rows = conn.execute(
                "SELECT job_id FROM executor_jobs WHERE state = ?", (RUNNING,)
            ).fetchall()
        ids = [str(r["job_id"]) for r in rows]
        for job_id in ids:
            self.finish(
                job_id, state=FAILED, exit_code=None, error_code="executor_interrupted", error=error
            )
        return [job for job in (self.get(i) for i in ids) if job is not None]

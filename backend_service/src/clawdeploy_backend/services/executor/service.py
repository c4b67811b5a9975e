"""The Codex executor: a durable queue run by one worker thread (concurrency 1).

A job runs ``<codex> exec --skip-git-repo-check --cd <real cwd> --sandbox workspace-write
-- <task>`` (``danger-full-access`` in danger mode; ``--`` so a task starting with ``-`` is
never read as an option). Error codes (``ExecutorError`` on submit, ``error_code`` of a
finished job): ``permission_deny``, ``missing_task``, ``task_too_large``, ``invalid_cwd``,
``workdir_not_allowed``, ``executor_not_available``, ``read_only_mode``,
``executor_busy_low_memory``, ``executor_queue_full``, ``job_not_found``,
``job_already_finished``, ``executor_timeout``, ``executor_nonzero_exit``,
``canceled_by_user``, ``executor_interrupted`` (running when the service stopped).

The child's environment is minimal: ``PATH``, ``HOME`` = ``CODEX_HOME`` =
:attr:`Settings.executor_home`, ``LANG``, ``TZ``/``TMPDIR`` if set, and the variables named
in ``EXECUTOR_PASS_ENV`` (never the service's tokens). Output tails are masked.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ...audit import AuditLog
from ...metrics import Metrics
from ...redact import mask_text
from ...settings import Settings
from ...store import Store
from ..stability import MemoryGuard
from .jobs import FAILED, QUEUED, TERMINAL, Job, JobStore
from .policy import (
    CodexInfo,
    CodexLocator,
    ExecutorError,
    check_submit,
    child_env,
    limits,
    resolve_workdir,
)
from .proc import classify, run_process

logger = logging.getLogger("clawdeploy_backend.executor")
_MASK_MARGIN = 4096  # bytes kept beyond the cap, so a secret cut at the start is masked whole
CODEX_INFO_MAX_AGE_S = 1.0  # info() looks the binary up (PATH, stat) at most this often


class ExecutorService:
    """Submit, inspect and cancel jobs; :meth:`start` / :meth:`stop` the worker thread.

    ``clock`` (seconds, ``time.monotonic``) ages what :meth:`info` keeps in memory.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        audit: AuditLog,
        metrics: Metrics | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.jobs = JobStore(store, clock)
        self.audit = audit
        self.metrics = metrics
        self.env = child_env(settings)
        self.locator = CodexLocator(settings.executor_codex_bin, self.env)
        self._codex: tuple[float, str, CodexInfo] | None = None  # (looked up at, name, info)
        tokens = (settings.backend_api_token, settings.openclaw_gateway_token)
        self._secrets = [t.get_secret_value() for t in tokens if t is not None]
        self._secrets += [v for k, v in self.env.items() if k in settings.executor_pass_env]
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._cancel = threading.Event()  # set: kill the job in self._current
        self._current: str | None = None
        self._current_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Fail jobs left ``running`` by a previous process, then start the worker (when
        ``EXECUTOR_ENABLED``)."""
        with self._lock:
            if self._thread is not None:
                return
            for job in self.jobs.interrupt_running("the service stopped while the job ran"):
                self._finished(job)
            if not self.settings.executor_enabled:
                return  # queued jobs wait for an enabled executor
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="executor-worker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the worker; a running job is killed and fails with ``executor_interrupted``.

        Queued jobs stay queued for the next start.
        """
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout=self.settings.executor_kill_grace_s + 10)

    # -- API -----------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """``{"name", "enabled", "available", "binary", "version", "version_text", "reason",
        "queue_depth", "running_job_id", "worker_running", "limits": {...}}``.

        Cheap enough for every status request: the binary's lookup is at most
        :data:`CODEX_INFO_MAX_AGE_S` old and the queue figures come from
        :meth:`~.jobs.JobStore.queue_summary` (no SQLite read unless a job changed).
        """
        codex = self._codex_info().as_dict()
        if not self.settings.executor_enabled:
            codex.update(available=False, reason="the executor is disabled (EXECUTOR_ENABLED)")
        s = self.settings
        queue_depth, running_job_id = self.jobs.queue_summary()  # no SQLite read when cached
        return {
            "name": "codex",
            "enabled": s.executor_enabled,
            **codex,
            "queue_depth": queue_depth,
            "running_job_id": running_job_id,
            "worker_running": self._thread is not None and self._thread.is_alive(),
            "limits": limits(s),
        }

    def _codex_info(self) -> CodexInfo:
        """``locator.info()``, looked up again when :data:`CODEX_INFO_MAX_AGE_S` old or
        when ``locator.name`` changed (a PATH search and a stat per call otherwise)."""
        now = self._clock()
        name = self.locator.name
        cached = self._codex
        if cached is not None:
            looked_up_at, cached_name, info = cached
            if cached_name == name and 0 <= now - looked_up_at < CODEX_INFO_MAX_AGE_S:
                return info
        info = self.locator.info()
        self._codex = (now, name, info)
        return info

    def submit(
        self,
        *,
        task: str | None,
        cwd: str | None,
        level: str,
        danger_mode: bool,
        trace_id: str,
        guard: MemoryGuard,
        executor: str = "codex",
    ) -> Job:
        """Queue a job, or raise :class:`ExecutorError`; both are audited (task hash only).

        ``executor`` is the request's executor name (only ``codex`` is accepted)."""
        detail: dict[str, Any] = {"level": level, "danger_mode": danger_mode}
        detail["cwd"] = cwd[:300] if cwd else cwd
        try:
            real = check_submit(
                self.settings, self.info(), guard, task, cwd, level, danger_mode, executor
            )
        except ExecutorError as exc:
            self._audit(trace_id, "executor.submit", "api", exc.error_code, detail)
            raise
        assert task is not None
        job = self.jobs.add(
            task=task, cwd=str(real), level=level, danger_mode=danger_mode, trace_id=trace_id
        )
        detail.update(job_id=job.job_id, task_sha256=job.task_sha256, task_chars=job.task_chars)
        self._audit(trace_id, "executor.submit", "api", "ok", detail)
        self._wake.set()
        return job

    def get(self, job_id: str) -> Job:
        """The job, or 404 ``job_not_found``."""
        job = self.jobs.get(job_id)
        if job is None:
            raise ExecutorError(404, "job_not_found", "no job with this job_id")
        return job

    def cancel(self, job_id: str, trace_id: str, wait_s: float | None = None) -> Job:
        """Cancel a queued or running job; waits (up to the kill grace + 2 s) for the kill.

        Raises 404 ``job_not_found``, 409 ``job_already_finished``.
        """
        before = self.jobs.request_cancel(job_id)
        if before is None:
            raise ExecutorError(404, "job_not_found", "no job with this job_id")
        if before in TERMINAL:
            detail = {"job_id": job_id, "was": before}
            self._audit(trace_id, "executor.cancel", "api", "job_already_finished", detail)
            raise ExecutorError(409, "job_already_finished", f"the job already {before}")
        self._audit(trace_id, "executor.cancel", "api", "ok", {"job_id": job_id, "was": before})
        if before == QUEUED:
            job = self.get(job_id)
            self._finished(job)
            return job
        with self._current_lock:
            if self._current == job_id:
                self._cancel.set()
        limit = self.settings.executor_kill_grace_s + 2 if wait_s is None else wait_s
        deadline = time.monotonic() + limit
        job = self.get(job_id)
        while job.state not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.05)
            job = self.get(job_id)
        return job

    # -- worker ----------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                job = self.jobs.claim_next()
            except Exception:  # keep the worker alive through a transient database error
                logger.exception("executor: cannot read the queue")
                job = None
            if job is None:
                self._wake.wait(timeout=1.0)
                continue
            with self._current_lock:
                self._current = job.job_id
                self._cancel.clear()
            # A cancel that came between the claim and now only set the database flag.
            fresh = self.jobs.get(job.job_id)
            if fresh is not None and fresh.cancel_requested:
                self._cancel.set()
            try:
                self._run(job)
            except Exception:
                logger.exception("executor: job %s crashed", job.job_id)
                self._fail_quietly(job)
            finally:
                with self._current_lock:
                    self._current = None
                    self._cancel.clear()

    def _run(self, job: Job) -> None:
        s = self.settings
        try:
            real = resolve_workdir(
                job.cwd,
                allowed=s.executor_allowed_workdirs,
                allow_any=s.executor_allow_any_workdir,
                default=None,
            )
        except ExecutorError as exc:  # the directory changed since the job was queued
            self._end(job, FAILED, None, exc.error_code, exc.error)
            return
        binary = self.locator.find()
        if binary is None or not s.executor_enabled:
            self._end(job, FAILED, None, "executor_not_available", "codex is not available")
            return
        s.executor_home.mkdir(mode=0o700, parents=True, exist_ok=True)
        sandbox = "danger-full-access" if job.danger_mode else "workspace-write"
        argv = [binary, "exec", "--skip-git-repo-check", "--cd", str(real)]
        argv += ["--sandbox", sandbox, "--", job.task]
        result = run_process(
            argv,
            cwd=real,
            env=self.env,
            timeout_s=s.executor_timeout_s,
            kill_grace_s=s.executor_kill_grace_s,
            limit_bytes=s.executor_output_max_bytes + _MASK_MARGIN,
            should_cancel=lambda: self._cancel.is_set() or self._stopping.is_set(),
        )
        (out, cut_out), (err, cut_err) = self._mask(result.stdout), self._mask(result.stderr)
        user_canceled = self._cancel.is_set()
        state, code, message = classify(result, user_canceled, s.executor_timeout_s)
        output = (out, err, result.truncated or cut_out or cut_err)
        self._end(job, state, result.exit_code, code, message, output, result.duration_s)

    def _fail_quietly(self, job: Job) -> None:
        try:
            message = "internal error; see the service log (journalctl)"
            self._end(job, FAILED, None, "internal_error", message)
        except Exception:  # the worker must survive; the job stays running until restart
            logger.exception("executor: cannot record the failure of job %s", job.job_id)

    def _mask(self, text: str) -> tuple[str, bool]:
        """``(masked text cut to EXECUTOR_OUTPUT_MAX_BYTES, whether it was cut)``."""
        masked = mask_text(text, self._secrets)
        data = masked.encode("utf-8")
        cap = self.settings.executor_output_max_bytes
        if len(data) <= cap:
            return masked, False
        return data[-cap:].decode("utf-8", errors="ignore"), True

    def _end(
        self,
        job: Job,
        state: str,
        exit_code: int | None,
        code: str | None,
        error: str | None,
        output: tuple[str, str, bool] = ("", "", False),
        duration_s: float | None = None,
    ) -> None:
        """Finish ``job`` (``output`` = masked stdout tail, stderr tail, truncated)."""
        self.jobs.finish(
            job.job_id,
            state=state,
            exit_code=exit_code,
            error_code=code,
            error=error,
            stdout_tail=output[0],
            stderr_tail=output[1],
            output_truncated=output[2],
            duration_s=duration_s,
        )
        done = self.jobs.get(job.job_id)
        if done is not None and done.state in TERMINAL:
            self._finished(done)

    def _finished(self, job: Job) -> None:
        outcome = job.error_code or job.state
        detail = {"job_id": job.job_id, "state": job.state, "exit_code": job.exit_code}
        detail.update(task_sha256=job.task_sha256, duration_s=job.duration_s)
        self._audit(job.trace_id, "executor.finish", "executor", outcome, detail)
        if self.metrics is not None:
            self.metrics.executor_finished.labels(outcome=outcome).inc()

    def _audit(
        self, trace_id: str, action: str, actor: str, outcome: str, detail: dict[str, Any]
    ) -> None:
        try:
            self.audit.write(
                trace_id=trace_id, action=action, actor=actor, outcome=outcome, detail=detail
            )
        except OSError:
            logger.exception("executor: cannot write the audit log")

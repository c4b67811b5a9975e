"""Request and response bodies of the executor routes (``routers/executor.py``).

A job request is ``{"task", "cwd", "level", "danger_mode"}``; the aliases ``prompt``
(task), ``workdir`` / ``working_dir`` (cwd), ``permission_level`` (level) and ``danger``
(danger_mode) are accepted too. ``level`` is ``"L0"``..``"L4"`` (also ``0``..``4``,
``"l3"``, ``"3"``).
"""

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from ...schemas import Envelope, ErrorEnvelope

Level = Literal["L0", "L1", "L2", "L3", "L4"]


class JobRequest(BaseModel):
    """Body of ``POST /api/v1/executor/jobs``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    task: str | None = Field(
        default=None,
        validation_alias=AliasChoices("task", "prompt"),
        description="the instructions for codex (alias: prompt); blank -> missing_task",
        examples=["list the files of this directory"],
    )
    cwd: str | None = Field(
        default=None,
        validation_alias=AliasChoices("cwd", "workdir", "working_dir"),
        description="absolute working directory inside EXECUTOR_ALLOWED_WORKDIRS "
        "(aliases: workdir, working_dir); empty -> EXECUTOR_DEFAULT_WORKDIR",
        examples=["/opt/openclaw-assistant/instances/main/data/openclaw_workspace"],
    )
    level: Level = Field(
        default="L0",
        validation_alias=AliasChoices("level", "permission_level"),
        description="permission level of the caller (alias: permission_level); jobs need "
        "L3, danger mode L4",
    )
    danger_mode: bool = Field(
        default=False,
        validation_alias=AliasChoices("danger_mode", "danger"),
        description="run with --sandbox danger-full-access (alias: danger); needs L4 and "
        "EXECUTOR_ALLOW_DANGER_MODE=true",
    )

    @field_validator("level", mode="before")
    @classmethod
    def _normalise_level(cls, value: object) -> object:
        if isinstance(value, bool):
            return value  # rejected by the Literal
        if isinstance(value, int) and 0 <= value <= 4:
            return f"L{value}"
        if isinstance(value, str):
            text = value.strip().upper()
            return f"L{text}" if text in {"0", "1", "2", "3", "4"} else text
        return value


class ExecutorLimits(BaseModel):
    """The limits a job runs under (settings ``EXECUTOR_*``, ``MEMORY_HEAVY_JOB_MIN_MB``)."""

    concurrency: int
    timeout_s: float
    max_task_chars: int
    output_max_bytes: int
    queue_max: int
    submit_min_level: str
    danger_min_level: str
    danger_mode_allowed: bool
    allow_any_workdir: bool
    allowed_workdirs: list[str]
    memory_min_mb: int


class ExecutorInfo(BaseModel):
    """One executor: ``available`` = enabled and the binary answers ``--version``."""

    name: str
    enabled: bool
    available: bool
    binary: str | None
    version: str | None
    version_text: str | None
    reason: str | None
    queue_depth: int
    running_job_id: str | None
    worker_running: bool
    limits: ExecutorLimits


class ExecutorsResponse(Envelope):
    """Body of ``GET /api/v1/executors``; ``diagnosis`` is ``ok`` or
    ``executor_not_available``."""

    available: bool
    diagnosis: str
    executors: list[ExecutorInfo]


class JobFields(BaseModel):
    """The columns of ``executor_jobs`` that the API shows: every one but ``seq`` and the
    task text (:class:`~.jobs.Job` adds those two).

    The one list of a job's fields: the stored row and :class:`JobInfo` both derive from
    it, so a new column is added here (and by a new migration in ``store.MIGRATIONS``).
    """

    job_id: str
    state: str
    task_sha256: str
    task_chars: int
    cwd: str
    level: str
    danger_mode: bool
    trace_id: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    exit_code: int | None
    error_code: str | None
    error: str | None
    stdout_tail: str
    stderr_tail: str
    output_truncated: bool
    cancel_requested: bool


class JobInfo(JobFields):
    """A job as the API shows it: never the task text, only its SHA-256 and length.

    ``state``: queued, running, succeeded, failed, canceled. ``error_code`` when it did
    not succeed; ``stdout_tail`` / ``stderr_tail`` are the masked ends of its output.
    """

    queue_position: int | None


class JobResponse(Envelope):
    """Body of a job route: ``{"ok", "trace_id", "job": {...}}``."""

    job: JobInfo


class JobErrorEnvelope(ErrorEnvelope):
    """An error about an existing job (409 ``job_already_finished``) carries the job."""

    job: JobInfo | None = None

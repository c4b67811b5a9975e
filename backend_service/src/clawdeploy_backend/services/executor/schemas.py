"""Request and response bodies of the executor routes (``routers/executor.py``).

A job request is ``{"task", "cwd", "level", "danger_mode", "executor"}``; the aliases
``prompt`` (task), ``workdir`` / ``working_dir`` (cwd), ``permission_level`` (level) and
``danger`` / ``allow_danger`` (danger_mode) are accepted too. ``level`` is ``"L0"``..``"L4"``
(also ``0``..``4``, ``"l3"``, ``"3"``).

Wire compatibility with the seed's backend-service v0.3.1 (its request fields are
``executor``, ``task``, ``cwd``, ``permission_level``, ``allow_danger``): a job as shown
here carries v0.3.1's keys beside ours (``executor``, ``task``, ``permission_level``,
``allow_danger``, ``result_text``, and ``error_code`` / ``error`` as ``""`` when there is
none), and a submit answer repeats ``job_id`` and ``state`` at the top, as v0.3.1's did.
``task`` is always ``""``: this service never shows a task's text, only ``task_sha256``.
"""

from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    field_validator,
)

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
        validation_alias=AliasChoices("danger_mode", "danger", "allow_danger"),
        description="run with --sandbox danger-full-access (aliases: danger, allow_danger); "
        "needs L4 and EXECUTOR_ALLOW_DANGER_MODE=true",
    )
    executor: str = Field(
        default="codex",
        max_length=64,
        description="the executor to run the job (v0.3.1's field); only codex is available, "
        "anything else is refused with 400 executor_not_available",
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


class ExecutorEntry(BaseModel):
    """One executor as v0.3.1 showed it: ``bin`` (the configured name), ``path`` (the
    binary found, or ``""``), ``reason`` (why it is not available, or ``""``)."""

    available: bool
    enabled: bool
    bin: str
    path: str
    reason: str


class ExecutorInfo(ExecutorEntry):
    """The Codex executor: ``available`` = enabled and the binary answers ``--version``;
    v0.3.1's keys plus ours (``binary`` is ``path`` or null)."""

    name: str
    binary: str | None
    version: str | None
    version_text: str | None
    queue_depth: int
    running_job_id: str | None
    worker_running: bool
    limits: ExecutorLimits


class ExecutorsResponse(Envelope):
    """Body of ``GET /api/v1/executors``; ``diagnosis`` is ``ok`` or
    ``executor_not_available``. ``executors`` is keyed by name as in v0.3.1: ``codex``
    (ours, with its version, queue and limits), ``gemini`` and ``shell`` (never available
    here; v0.3.1 listed them disabled too)."""

    available: bool
    diagnosis: str
    executors: dict[str, ExecutorInfo | ExecutorEntry]


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
    not succeed (``""`` otherwise); ``stdout_tail`` / ``stderr_tail`` are the masked ends
    of its output, ``result_text`` the two joined (v0.3.1's field).
    """

    error_code: str = ""
    error: str = ""
    queue_position: int | None

    @field_validator("error_code", "error", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return "" if value is None else value

    @computed_field  # type: ignore[prop-decorator]
    @property
    def executor(self) -> str:
        """Always ``codex`` (v0.3.1's field)."""
        return "codex"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def task(self) -> str:
        """Always ``""``: the task's text is never shown (v0.3.1 echoed it)."""
        return ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def permission_level(self) -> str:
        """``level`` under v0.3.1's name."""
        return self.level

    @computed_field  # type: ignore[prop-decorator]
    @property
    def allow_danger(self) -> bool:
        """``danger_mode`` under v0.3.1's name."""
        return self.danger_mode

    @computed_field  # type: ignore[prop-decorator]
    @property
    def result_text(self) -> str:
        """The masked output: ``stdout_tail``, then ``stderr_tail`` on a new line."""
        if self.stderr_tail:
            return (
                f"{self.stdout_tail}\n{self.stderr_tail}" if self.stdout_tail else self.stderr_tail
            )
        return self.stdout_tail


class JobResponse(Envelope):
    """Body of a job route: ``{"ok", "trace_id", "job_id", "state", "job": {...}}``
    (``job_id`` and ``state`` repeat the job's, as v0.3.1's submit answer had them)."""

    job_id: str
    state: str
    job: JobInfo


class JobErrorEnvelope(ErrorEnvelope):
    """An error about an existing job (409 ``job_already_finished``) carries the job."""

    job: JobInfo | None = None

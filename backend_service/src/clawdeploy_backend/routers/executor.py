"""``/api/v1/executors`` and ``/api/v1/executor/jobs``: the Codex executor (bearer auth).

Errors are envelopes; the codes and statuses are listed on each route and in README.md.
The job routes are sync: FastAPI runs them in its threadpool, and cancel may wait a few
seconds for the process group to die.
"""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request

from ..auth.bearer import require_api_token
from ..deps import get_executor, get_memory_guard, get_settings
from ..envelope import ApiError, get_trace_id
from ..errors import error_responses
from ..services import seed_compat
from ..services.executor.jobs import Job
from ..services.executor.policy import ExecutorError
from ..services.executor.schemas import (
    ExecutorInfo,
    ExecutorsResponse,
    JobInfo,
    JobRequest,
    JobResponse,
)
from ..services.executor.service import ExecutorService
from ..services.stability import MemoryGuard
from ..settings import Settings

_JOB_ID = Path(description="the job_id returned on submit", max_length=64)

router = APIRouter(
    prefix="/api/v1",
    tags=["executor"],
    dependencies=[Depends(require_api_token)],
    responses=error_responses("bearer"),
)


def _job_response(request: Request, service: ExecutorService, job: Job) -> JobResponse:
    job = service.jobs.get(job.job_id) or job  # the worker may have moved it on already
    info = JobInfo.model_validate(job.public(service.jobs.queue_position(job)))
    return JobResponse(
        trace_id=get_trace_id(request), job_id=info.job_id, state=info.state, job=info
    )


def _api_error(exc: ExecutorError, job: Job | None = None) -> ApiError:
    extra = {"job": job.public()} if job is not None else None
    return ApiError(exc.status, exc.error_code, exc.error, extra=extra)


@router.get("/executors", response_model=ExecutorsResponse)
def executors(
    request: Request,
    service: Annotated[ExecutorService, Depends(get_executor)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> ExecutorsResponse:
    """The executors keyed by name (v0.3.1's shape): ``codex`` with enabled, binary found
    and its version, queue depth, limits; ``gemini`` and ``shell`` never available here.

    ``diagnosis`` is ``executor_not_available`` when codex cannot take jobs (its
    ``reason`` says why: disabled, binary not found, ``--version`` failing).
    """
    by_name = seed_compat.executors(service.info(), settings)
    codex = ExecutorInfo.model_validate(by_name["codex"])
    return ExecutorsResponse(
        trace_id=get_trace_id(request),
        available=codex.available,
        diagnosis="ok" if codex.available else "executor_not_available",
        executors={**by_name, "codex": codex},
    )


@router.post("/executor/jobs", response_model=JobResponse, responses=error_responses("job_submit"))
def submit_job(
    request: Request,
    service: Annotated[ExecutorService, Depends(get_executor)],
    guard: Annotated[MemoryGuard, Depends(get_memory_guard)],
    body: Annotated[JobRequest, Body()],
) -> JobResponse:
    """Queue a ``codex exec`` job; it runs when the jobs before it are done (one at a time).

    Checked in this order: 403 ``permission_deny`` (level below L3; danger mode below L4
    or disabled), 400 ``executor_not_available`` (``executor`` other than codex), 400
    ``missing_task``, 400 ``task_too_large``, 400 ``invalid_cwd``, 403
    ``workdir_not_allowed``, 503 ``executor_not_available``, 503 ``read_only_mode`` /
    ``executor_busy_low_memory``, 429 ``executor_queue_full``. The answer's ``job`` has
    ``state`` ``queued`` and its ``queue_position``; poll ``GET .../jobs/{job_id}``.
    """
    try:
        job = service.submit(
            task=body.task,
            cwd=body.cwd,
            level=body.level,
            danger_mode=body.danger_mode,
            trace_id=get_trace_id(request),
            guard=guard,
            executor=body.executor,
        )
    except ExecutorError as exc:
        raise _api_error(exc) from None
    return _job_response(request, service, job)


@router.get(
    "/executor/jobs/{job_id}",
    response_model=JobResponse,
    responses=error_responses("job", 404),
)
def get_job(
    request: Request,
    service: Annotated[ExecutorService, Depends(get_executor)],
    job_id: Annotated[str, _JOB_ID],
) -> JobResponse:
    """A job's state and, once it ended, its exit code, error code and masked output."""
    try:
        job = service.get(job_id)
    except ExecutorError as exc:
        raise _api_error(exc) from None
    return _job_response(request, service, job)


@router.post(
    "/executor/jobs/{job_id}/cancel",
    response_model=JobResponse,
    responses=error_responses("job"),
)
def cancel_job(
    request: Request,
    service: Annotated[ExecutorService, Depends(get_executor)],
    job_id: Annotated[str, _JOB_ID],
) -> JobResponse:
    """Cancel a job: a queued one at once, a running one by killing its process group
    (SIGTERM, then SIGKILL after ``EXECUTOR_KILL_GRACE_S``). The job ends ``canceled``
    with ``error_code`` ``canceled_by_user``. 409 ``job_already_finished`` otherwise."""
    trace_id = get_trace_id(request)
    try:
        job = service.cancel(job_id, trace_id)
    except ExecutorError as exc:
        current = service.jobs.get(job_id) if exc.error_code == "job_already_finished" else None
        raise _api_error(exc, current) from None
    return _job_response(request, service, job)

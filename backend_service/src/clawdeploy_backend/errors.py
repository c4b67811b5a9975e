"""The error responses the routes declare in OpenAPI: one table, which the routers pick from.

:data:`ERROR_RESPONSES` groups them by what answers them, each group by HTTP status, each
entry the envelope model (:class:`~.schemas.ErrorEnvelope` or a subclass) and a description
naming its ``error_code`` s: ``bearer`` (:mod:`.auth.bearer`, on the ``/api/v1`` routers),
``model_sync`` (import and pull), ``job_submit`` and ``job`` (an existing job). A route's
entry replaces its router's for the same status, so it names the router's codes too (e.g.
``auth_not_configured`` under 503). The envelopes themselves are built by :mod:`.envelope`.
"""

from typing import Any

from .schemas import ErrorEnvelope, SyncErrorEnvelope
from .services.executor.schemas import JobErrorEnvelope

Responses = dict[int | str, dict[str, Any]]
"""The type of FastAPI's ``responses=`` argument."""

ERROR_RESPONSES: dict[str, dict[int, dict[str, Any]]] = {
    "bearer": {
        401: {"model": ErrorEnvelope, "description": "missing bearer token (auth_failed)"},
        403: {"model": ErrorEnvelope, "description": "wrong bearer token (auth_failed)"},
        503: {
            "model": ErrorEnvelope,
            "description": "no token on the server (auth_not_configured)",
        },
    },
    "model_sync": {
        404: {"model": SyncErrorEnvelope, "description": "a source file is missing"},
        422: {"model": SyncErrorEnvelope, "description": "a source cannot be parsed or is empty"},
        503: {"model": ErrorEnvelope, "description": "read_only_mode or auth_not_configured"},
    },
    "job_submit": {
        400: {
            "model": ErrorEnvelope,
            "description": "missing_task, task_too_large, invalid_cwd, executor_not_available "
            "(an executor other than codex); v0.3.1's statuses",
        },
        403: {"model": ErrorEnvelope, "description": "permission_deny, workdir_not_allowed"},
        413: {"model": ErrorEnvelope, "description": "request_too_large (the body)"},
        422: {"model": ErrorEnvelope, "description": "invalid_request"},
        429: {"model": ErrorEnvelope, "description": "executor_queue_full"},
        503: {
            "model": ErrorEnvelope,
            "description": "executor_not_available, executor_busy_low_memory, read_only_mode, "
            "auth_not_configured",
        },
    },
    "job": {
        404: {"model": ErrorEnvelope, "description": "job_not_found"},
        409: {"model": JobErrorEnvelope, "description": "job_already_finished"},
    },
}


def error_responses(group: str, *statuses: int) -> Responses:
    """``responses=`` for a router or route: the entries of ``group`` in
    :data:`ERROR_RESPONSES`, only those of ``statuses`` (in that order) when given.

    Each call returns new dicts, so FastAPI never shares one between routes. Raises
    :class:`KeyError` for an unknown group or a status the group lacks.
    """
    entries = ERROR_RESPONSES[group]
    return {status: dict(entries[status]) for status in statuses or entries}

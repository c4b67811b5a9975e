"""``/api/v1/*``: the JSON API; every route here requires the backend's bearer token.

Auth errors are envelopes with ``error_code`` ``auth_failed`` (401 missing token, 403
wrong token) or ``auth_not_configured`` (503); see :mod:`..auth.bearer`. Writing routes
answer 503 ``read_only_mode`` while memory is low.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from .. import SERVICE_NAME, __version__
from ..audit import AuditLog
from ..auth.bearer import require_api_token
from ..deps import (
    get_audit,
    get_executor,
    get_gateway_monitor,
    get_gateway_prober,
    get_memory_guard,
    get_model_sync,
    get_settings,
    require_writable,
)
from ..envelope import ApiError, get_trace_id
from ..errors import error_responses
from ..schemas import (
    GatewayProbeResult,
    ModelsResponse,
    ServiceInfo,
    StatusResponse,
    SyncResponse,
)
from ..services import seed_compat
from ..services.executor.service import ExecutorService
from ..services.gateway import GatewayProber
from ..services.models import ModelSyncService, SyncError
from ..services.stability import GatewayMonitor, MemoryGuard
from ..services.status import current_status, executor_status
from ..services.sync_actions import SYNC_ERROR_STATUS, audited_sync
from ..settings import Settings

_EXPORT_EXAMPLE = {
    "providers": [
        {
            "provider_id": "openai_main",
            "model": "gpt-4o-mini",
            "provider_type": "openai_chat_completion",
            "base_url": "https://api.example.invalid/v1",
        }
    ],
    "using_provider": "openai_main",
}

SyncServiceDep = Annotated[ModelSyncService, Depends(get_model_sync)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]

router = APIRouter(
    prefix="/api/v1",
    tags=["api"],
    dependencies=[Depends(require_api_token)],
    responses=error_responses("bearer"),
)


@router.get("/status", response_model=StatusResponse)
async def status(
    request: Request,
    prober: Annotated[GatewayProber, Depends(get_gateway_prober)],
    monitor: Annotated[GatewayMonitor, Depends(get_gateway_monitor)],
    guard: Annotated[MemoryGuard, Depends(get_memory_guard)],
    executor: Annotated[ExecutorService, Depends(get_executor)],
    settings: SettingsDep,
    sync: SyncServiceDep,
    refresh: Annotated[bool, Query(description="skip the probe cache (not the circuit)")] = False,
) -> StatusResponse:
    """Report the gateway's diagnosis and the service's state, at once from the cache.

    Only the very first check and ``?refresh=1`` wait for a live probe, and those run in
    the threadpool; every other answer is built on the event loop from the cached probe
    (refreshed in the background once it is ``GATEWAY_PROBE_CACHE_S`` old:
    ``probe_source`` ``stale``, ``probe_age_s`` its age) and cached service figures.
    ``ok`` is true whenever the check ran; the gateway's health is in ``diagnosis`` and
    ``gateway.ok``; the executor has its own ``executor.diagnosis`` (``ok`` or
    ``executor_not_available``), which never changes the gateway's. ``state`` is the
    seed's v0.3.1 status answer, built from the same check.
    """
    args = (get_trace_id(request), prober, monitor, guard, executor, settings, sync, refresh)
    if monitor.would_wait(refresh=refresh):
        return await run_in_threadpool(_status_body, *args)
    return _status_body(*args)


def _status_body(
    trace_id: str,
    prober: GatewayProber,
    monitor: GatewayMonitor,
    guard: MemoryGuard,
    executor: ExecutorService,
    settings: Settings,
    sync: ModelSyncService,
    refresh: bool,
) -> StatusResponse:
    """The body of ``GET /api/v1/status``; blocks only when ``monitor.would_wait``."""
    state = current_status(monitor, prober, guard, refresh=refresh)
    gateway = GatewayProbeResult.model_validate(state.gateway)
    info = executor.info()
    seed_state = seed_compat.status_state(
        service_name=SERVICE_NAME,
        version=__version__,
        bind=f"{settings.backend_host}:{settings.backend_port}",
        executor_info=info,
        executors_by_name=seed_compat.executors(info, settings),
        last_sync=sync.store.last_successful_sync(),
        gateway=state.gateway,
    )
    return StatusResponse.model_validate(
        {
            "trace_id": trace_id,
            "service": ServiceInfo(name=SERVICE_NAME, version=__version__),
            "diagnosis": gateway.diagnosis,
            "gateway": gateway,
            "probe_source": state.probe_source,
            "probe_age_s": state.probe_age_s,
            "circuit": state.circuit,
            "read_only": state.read_only,
            "memory_available_mb": state.memory_available_mb,
            "executor": executor_status(info),
            "state": seed_state,
        }
    )


@router.get("/models", response_model=ModelsResponse)
def list_models(request: Request, service: SyncServiceDep) -> ModelsResponse:
    """List the stored provider metadata (no keys), the last successful sync
    (``last_sync``, v0.3.1's) and the last attempt (``last_attempt``, failed or not)."""
    rows = service.store.list_models()
    default = next((r.provider_id for r in rows if r.is_default), None)
    last_ok = seed_compat.sync_record(service.store.last_successful_sync())
    return ModelsResponse.model_validate(
        {
            "trace_id": get_trace_id(request),
            "count": len(rows),
            "default_provider_id": default,
            "models": rows,
            "last_sync": last_ok,
            "last_attempt": service.store.last_sync(),
        }
    )


_SYNC_ROUTE: dict[str, Any] = {
    "response_model": SyncResponse,
    "responses": error_responses("model_sync"),
    "dependencies": [Depends(require_writable)],
}


def _sync(
    request: Request, service: ModelSyncService, audit: AuditLog, action: str, body: Any = None
) -> SyncResponse:
    """Run ``action`` (``"pull"`` / ``"import"`` with ``body``) as the API: audited as actor
    ``api`` (:func:`~..services.sync_actions.audited_sync`), answered as a
    :class:`SyncResponse` with the stored rows of the synced models.

    Raises :class:`~..envelope.ApiError` with the :class:`SyncError`'s code, its status
    from ``SYNC_ERROR_STATUS`` (422 when unlisted) and ``attempts``.
    """
    try:
        result = audited_sync(
            service, audit, action=action, trace_id=get_trace_id(request), actor="api", body=body
        )
    except SyncError as exc:
        raise ApiError(
            SYNC_ERROR_STATUS.get(exc.error_code, 422),
            exc.error_code,
            exc.error,
            extra={"attempts": exc.attempts},
        ) from None
    stored = {r.provider_id: r for r in service.store.list_models()}
    pull = action == "pull"
    return SyncResponse.model_validate(
        {
            "trace_id": get_trace_id(request),
            "source": result.source,
            "count": len(result.models),
            "default_provider_id": result.default_provider_id,
            "warnings": result.warnings,
            "models": [stored[m["provider_id"]] for m in result.models],
            "imported": seed_compat.sync_record(service.store.last_successful_sync()),
            "pulled": seed_compat.pulled(result, service.mode) if pull else None,
            "source_mode": service.mode if pull else None,
        }
    )


@router.post("/models/import-astr", **_SYNC_ROUTE)
def import_astr(
    request: Request,
    service: SyncServiceDep,
    audit: AuditDep,
    export: Annotated[dict[str, Any], Body(examples=[_EXPORT_EXAMPLE])],
) -> SyncResponse:
    """Replace the stored models by the plugin's export JSON given as the body.

    Errors: 422 ``plugin_export_parse_failed`` (no ``providers`` list),
    ``astr_provider_empty``; 503 ``read_only_mode``. Keys in the body are ignored.
    """
    return _sync(request, service, audit, "import", export)


@router.post("/models/pull-astr", **_SYNC_ROUTE)
def pull_astr(request: Request, service: SyncServiceDep, audit: AuditDep) -> SyncResponse:
    """Pull from AstrBot's files in the order of ``ASTR_PULL_SOURCE_MODE``.

    Errors: 404 ``astr_config_not_found`` / ``plugin_export_not_found``; 422
    ``astr_config_parse_failed``, ``plugin_export_parse_failed``, ``astr_provider_empty``,
    ``pull_all_sources_failed`` (with ``attempts``); 503 ``read_only_mode``.
    """
    return _sync(request, service, audit, "pull")

"""``/web/status`` and ``/web/models``: server-rendered pages (Jinja2, no JavaScript).

Every page and action needs a login (:mod:`..auth.web_session`): without a session a GET or
POST is redirected (303) to ``/web/login``. POSTs need the session's CSRF token. Pages never
show a token or a key: the gateway URL is shown without user info or query, models are
metadata.
"""

from datetime import datetime, timezone
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from .. import SERVICE_NAME, __version__
from ..audit import AuditLog
from ..auth.web_session import SessionDep, check_csrf, read_form
from ..deps import (
    get_audit,
    get_gateway_monitor,
    get_gateway_prober,
    get_memory_guard,
    get_model_sync,
    get_templates,
)
from ..envelope import get_trace_id
from ..redact import display_url
from ..schemas import GatewayProbeResult
from ..services.gateway import GatewayProber
from ..services.models import ModelSyncService, SyncError
from ..services.stability import GatewayMonitor, MemoryGuard
from ..services.status import current_status
from ..services.sync_actions import audited_sync

router = APIRouter(prefix="/web", tags=["web"], include_in_schema=False)

# What the banner of /web/models says for each result of a pull; anything else is ignored.
PULL_BANNERS = {
    "ok": "Pulled {count} provider(s) from AstrBot.",
    "read_only_mode": "Refused: the service is read-only while available memory is low.",
    "astr_config_not_found": "AstrBot's cmd_config.json was not found (ASTR_CMD_CONFIG_PATH).",
    "astr_config_parse_failed": "AstrBot's cmd_config.json could not be parsed.",
    "astr_provider_empty": "The source holds no provider to import.",
    "plugin_export_not_found": "The plugin export was not found (ASTR_PLUGIN_EXPORT_PATH).",
    "plugin_export_parse_failed": "The plugin export could not be parsed.",
    "pull_all_sources_failed": "No source could be read: neither cmd_config.json nor the export.",
}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@router.get("/status", response_class=HTMLResponse)
def status_page(
    request: Request,
    session: SessionDep,
    prober: Annotated[GatewayProber, Depends(get_gateway_prober)],
    monitor: Annotated[GatewayMonitor, Depends(get_gateway_monitor)],
    guard: Annotated[MemoryGuard, Depends(get_memory_guard)],
    templates: Annotated[Jinja2Templates, Depends(get_templates)],
    refresh: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    """Render the gateway's diagnosis, fix, HTTP status, latency and the service state."""
    state = current_status(monitor, prober, guard, refresh=refresh)
    context = {
        "gateway": GatewayProbeResult.model_validate(state.gateway),
        "state": state,
        "gateway_url": display_url(prober.base_url),
        "service_name": SERVICE_NAME,
        "version": __version__,
        "trace_id": get_trace_id(request),
        "checked_at": _now(),
        "csrf_token": session.csrf_token,
    }
    return templates.TemplateResponse(request, "status.html", context)


@router.get("/models", response_class=HTMLResponse)
def models_page(
    request: Request,
    session: SessionDep,
    service: Annotated[ModelSyncService, Depends(get_model_sync)],
    templates: Annotated[Jinja2Templates, Depends(get_templates)],
    pull: Annotated[str | None, Query(max_length=64)] = None,
    count: Annotated[int, Query(ge=0, le=100000)] = 0,
) -> HTMLResponse:
    """Render the stored models and a one-click pull button with the last result's banner."""
    banner = None
    if pull in PULL_BANNERS:
        banner = {"ok": pull == "ok", "code": pull, "text": PULL_BANNERS[pull].format(count=count)}
    context = {
        "models": service.store.list_models(),
        "last_sync": service.store.last_sync(),
        "mode": service.mode,
        "banner": banner,
        "service_name": SERVICE_NAME,
        "version": __version__,
        "trace_id": get_trace_id(request),
        "csrf_token": session.csrf_token,
    }
    return templates.TemplateResponse(request, "models.html", context)


@router.post("/models/pull-astr")
async def pull_from_page(
    request: Request,
    session: SessionDep,
    service: Annotated[ModelSyncService, Depends(get_model_sync)],
    audit: Annotated[AuditLog, Depends(get_audit)],
    guard: Annotated[MemoryGuard, Depends(get_memory_guard)],
) -> RedirectResponse:
    """Pull (as ``POST /api/v1/models/pull-astr``), then 303 back to the page with a banner."""
    check_csrf(session, await read_form(request))
    if guard.read_only():
        query = {"pull": "read_only_mode"}
    else:
        try:
            result = await run_in_threadpool(
                audited_sync,
                service,
                audit,
                action="pull",
                trace_id=get_trace_id(request),
                actor="web",
            )
            query = {"pull": "ok", "count": str(len(result.models))}
        except SyncError as exc:
            query = {"pull": exc.error_code}
    return RedirectResponse(f"/web/models?{urlencode(query)}", status_code=303)

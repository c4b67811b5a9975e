"""``/web/*``: server-rendered HTML pages (Jinja2, no JavaScript).

No login yet (a later change adds one); so a page shows nothing secret: no token, and the
gateway URL without user info or query string.
"""

from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from .. import SERVICE_NAME, __version__
from ..deps import get_gateway_prober, get_templates
from ..envelope import get_trace_id
from ..redact import display_url
from ..schemas import GatewayProbeResult
from ..services.gateway import GatewayProber

router = APIRouter(prefix="/web", tags=["web"], include_in_schema=False)

# The pages carry inline CSS only: no script, no remote resource, no framing.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.get("/status", response_class=HTMLResponse)
def status_page(
    request: Request,
    prober: Annotated[GatewayProber, Depends(get_gateway_prober)],
    templates: Annotated[Jinja2Templates, Depends(get_templates)],
) -> HTMLResponse:
    """Probe the gateway now and render its diagnosis, fix, HTTP status and latency."""
    gateway = GatewayProbeResult.model_validate(prober.probe())
    context = {
        "gateway": gateway,
        "gateway_url": display_url(prober.base_url),
        "service_name": SERVICE_NAME,
        "version": __version__,
        "trace_id": get_trace_id(request),
        "checked_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    return templates.TemplateResponse(request, "status.html", context, headers=PAGE_HEADERS)

"""``GET /healthz``: is backend-service itself up (no auth, no gateway call)."""

from fastapi import APIRouter, Request

from .. import SERVICE_NAME, __version__
from ..envelope import get_trace_id
from ..schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
def healthz(request: Request) -> HealthResponse:
    """Return ``{"ok": true, "trace_id", "service": "clawdeploy-backend", "version"}``."""
    return HealthResponse(trace_id=get_trace_id(request), service=SERVICE_NAME, version=__version__)

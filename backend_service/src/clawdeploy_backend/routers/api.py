"""``/api/v1/*``: the JSON API; every route here requires the backend's bearer token.

Auth errors are envelopes with ``error_code`` ``auth_failed`` (401 missing token, 403
wrong token) or ``auth_not_configured`` (503); see :mod:`..security`.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from .. import SERVICE_NAME, __version__
from ..deps import get_gateway_prober
from ..envelope import get_trace_id
from ..schemas import ErrorEnvelope, GatewayProbeResult, ServiceInfo, StatusResponse
from ..security import require_api_token
from ..services.gateway import GatewayProber

_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorEnvelope, "description": "missing bearer token (auth_failed)"},
    403: {"model": ErrorEnvelope, "description": "wrong bearer token (auth_failed)"},
    503: {"model": ErrorEnvelope, "description": "no token on the server (auth_not_configured)"},
}

router = APIRouter(
    prefix="/api/v1",
    tags=["api"],
    dependencies=[Depends(require_api_token)],
    responses=_AUTH_ERRORS,
)


@router.get("/status", response_model=StatusResponse)
def status(
    request: Request,
    prober: Annotated[GatewayProber, Depends(get_gateway_prober)],
) -> StatusResponse:
    """Probe the gateway now and report it with this service's name and version.

    A sync route: FastAPI runs it in its threadpool, so the blocking probe does not stall
    the event loop. ``ok`` is true whenever the probe ran; the gateway's health is in
    ``diagnosis`` and ``gateway.ok``.
    """
    gateway = GatewayProbeResult.model_validate(prober.probe())
    return StatusResponse(
        trace_id=get_trace_id(request),
        service=ServiceInfo(name=SERVICE_NAME, version=__version__),
        diagnosis=gateway.diagnosis,
        gateway=gateway,
    )

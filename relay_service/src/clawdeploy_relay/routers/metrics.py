"""``GET /metrics`` (admin token): the app's Prometheus registry in the text format.

What each metric means is in :mod:`..metrics` and README.md. The gauges are computed from
the store at this request (two queries); the body is Prometheus' text exposition format
(``prometheus_client.CONTENT_TYPE_LATEST``). Scrape it with the admin token as a bearer
token (Prometheus' ``authorization: {credentials_file: …}``).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..auth import AdminDep
from ..deps import get_metrics
from ..metrics import RelayMetrics
from .params import AUTH_ERRORS

router = APIRouter(tags=["admin"])
# The errors are JSON envelopes. Listed by reference, not by model: FastAPI would list a
# model under the route's own media type (text/plain).
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": spec["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
    for status, spec in AUTH_ERRORS.items()
}


class MetricsResponse(Response):
    """A Prometheus text exposition body."""

    media_type = CONTENT_TYPE_LATEST


@router.get("/metrics", response_class=MetricsResponse, responses=ERRORS)
def metrics(
    _admin: AdminDep, relay_metrics: Annotated[RelayMetrics, Depends(get_metrics)]
) -> MetricsResponse:
    """Counters, the delivery latency histogram, and gauges read from the store now."""
    return MetricsResponse(generate_latest(relay_metrics.registry))

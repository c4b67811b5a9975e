"""``GET /metrics``: Prometheus text format, behind the same bearer token as ``/api``.

The token is required because the labels reveal which routes are used and how the
gateway fares; Prometheus sends it with ``authorization: {credentials: ...}`` in its
scrape config. The gauges (circuit, read-only, memory, executor queue and jobs) are set at scrape
time.
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..auth.bearer import require_api_token
from ..deps import get_executor, get_gateway_monitor, get_memory_guard, get_metrics
from ..metrics import Metrics
from ..services.executor.jobs import QUEUED
from ..services.executor.service import ExecutorService
from ..services.stability import GatewayMonitor, MemoryGuard

router = APIRouter(tags=["metrics"], dependencies=[Depends(require_api_token)])


@router.get("/metrics", response_class=Response)
def metrics(
    collectors: Annotated[Metrics, Depends(get_metrics)],
    monitor: Annotated[GatewayMonitor, Depends(get_gateway_monitor)],
    guard: Annotated[MemoryGuard, Depends(get_memory_guard)],
    executor: Annotated[ExecutorService, Depends(get_executor)],
) -> Response:
    """Return every metric of this app in the Prometheus text exposition format."""
    available = guard.available_mb()
    collectors.circuit_open.set(1 if monitor.circuit_state()["state"] == "open" else 0)
    collectors.read_only.set(1 if guard.read_only(available) else 0)
    collectors.memory_available.set(-1 if available is None else available * 1024 * 1024)
    counts = executor.jobs.counts()
    for state, number in counts.items():
        collectors.executor_jobs.labels(state=state).set(number)
    collectors.executor_queue_depth.set(counts[QUEUED])
    collectors.executor_available.set(1 if executor.info()["available"] else 0)
    return Response(generate_latest(collectors.registry), media_type=CONTENT_TYPE_LATEST)

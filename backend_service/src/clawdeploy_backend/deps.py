"""FastAPI dependencies that hand routes the objects :func:`~.main.create_app` built.

Everything lives on ``app.state``, so each app (and each test) has its own; tests replace
any of these with ``app.dependency_overrides``.
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from .audit import AuditLog
from .envelope import ApiError
from .metrics import Metrics
from .services.executor import ExecutorService
from .services.gateway import GatewayProber
from .services.models import ModelSyncService
from .services.stability import GatewayMonitor, MemoryGuard
from .settings import Settings
from .store import Store


def get_settings(request: Request) -> Settings:
    """Return the app's :class:`~.settings.Settings`."""
    settings: Settings = request.app.state.settings
    return settings


def get_gateway_prober(request: Request) -> GatewayProber:
    """Return the app's :class:`~.services.gateway.GatewayProber`."""
    prober: GatewayProber = request.app.state.gateway_prober
    return prober


def get_templates(request: Request) -> Jinja2Templates:
    """Return the app's Jinja2 templates (``clawdeploy_backend/templates``)."""
    templates: Jinja2Templates = request.app.state.templates
    return templates


def get_store(request: Request) -> Store:
    """Return the app's SQLite :class:`~.store.Store`."""
    store: Store = request.app.state.store
    return store


def get_audit(request: Request) -> AuditLog:
    """Return the app's :class:`~.audit.AuditLog`."""
    audit: AuditLog = request.app.state.audit
    return audit


def get_model_sync(request: Request) -> ModelSyncService:
    """Return the app's :class:`~.services.models.ModelSyncService`."""
    service: ModelSyncService = request.app.state.model_sync
    return service


def get_gateway_monitor(request: Request) -> GatewayMonitor:
    """Return the app's probe cache and circuit breaker."""
    monitor: GatewayMonitor = request.app.state.gateway_monitor
    return monitor


def get_memory_guard(request: Request) -> MemoryGuard:
    """Return the app's :class:`~.services.stability.MemoryGuard`."""
    guard: MemoryGuard = request.app.state.memory_guard
    return guard


def get_executor(request: Request) -> ExecutorService:
    """Return the app's :class:`~.services.executor.ExecutorService`."""
    executor: ExecutorService = request.app.state.executor
    return executor


def get_metrics(request: Request) -> Metrics:
    """Return the app's Prometheus :class:`~.metrics.Metrics`."""
    metrics: Metrics = request.app.state.metrics
    return metrics


def require_writable(guard: Annotated[MemoryGuard, Depends(get_memory_guard)]) -> None:
    """Refuse a writing action in read-only mode: 503 ``read_only_mode``."""
    available = guard.available_mb()
    if guard.read_only(available):
        raise ApiError(
            503,
            "read_only_mode",
            f"read-only mode: {available} MB of memory available, below "
            f"{guard.read_only_below_mb} MB (MEMORY_READ_ONLY_MB); free memory and retry",
        )

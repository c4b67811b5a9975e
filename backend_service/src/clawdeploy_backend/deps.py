"""FastAPI dependencies that hand routes the objects :func:`~.main.create_app` built.

Everything lives on ``app.state``, so each app (and each test) has its own; tests replace
any of these with ``app.dependency_overrides`` (each getter is its own function, so each
can be overridden alone).
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from .audit import AuditLog
from .envelope import ApiError
from .metrics import Metrics
from .services.executor.service import ExecutorService
from .services.gateway import GatewayProber
from .services.models import ModelSyncService
from .services.stability import GatewayMonitor, MemoryGuard
from .settings import Settings
from .store import Store

T = TypeVar("T")


def state_getter(attr: str, kind: type[T], doc: str) -> Callable[[Request], Awaitable[T]]:
    """Return a dependency ``(request) -> request.app.state.<attr>`` typed as ``kind``.

    ``kind`` only types the result (for ``Annotated[kind, Depends(...)]`` and type
    checkers); the value is not checked at run time, so a test may put a fake there. The
    getter is named ``get_<attr>`` and documented with ``doc``. A missing attribute raises
    :class:`AttributeError` (a 500 ``internal_error``).

    The getter is ``async`` because it only reads an attribute: FastAPI runs a plain
    ``def`` dependency in its threadpool, one thread hop per dependency and request.
    """

    async def getter(request: Request) -> T:
        value: T = getattr(request.app.state, attr)
        return value

    getter.__name__ = getter.__qualname__ = f"get_{attr}"
    getter.__doc__ = doc
    return getter


get_settings = state_getter("settings", Settings, "The app's :class:`~.settings.Settings`.")
get_gateway_prober = state_getter(
    "gateway_prober", GatewayProber, "The app's :class:`~.services.gateway.GatewayProber`."
)
get_templates = state_getter(
    "templates", Jinja2Templates, "The app's Jinja2 templates (``clawdeploy_backend/templates``)."
)
get_store = state_getter("store", Store, "The app's SQLite :class:`~.store.Store`.")
get_audit = state_getter("audit", AuditLog, "The app's :class:`~.audit.AuditLog`.")
get_model_sync = state_getter(
    "model_sync", ModelSyncService, "The app's :class:`~.services.models.ModelSyncService`."
)
get_gateway_monitor = state_getter(
    "gateway_monitor", GatewayMonitor, "The app's probe cache and circuit breaker."
)
get_memory_guard = state_getter(
    "memory_guard", MemoryGuard, "The app's :class:`~.services.stability.MemoryGuard`."
)
get_executor = state_getter(
    "executor",
    ExecutorService,
    "The app's :class:`~.services.executor.service.ExecutorService`.",
)
get_metrics = state_getter("metrics", Metrics, "The app's Prometheus :class:`~.metrics.Metrics`.")


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

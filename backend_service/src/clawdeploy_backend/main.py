"""The application factory: ``create_app()`` builds a fresh, fully wired FastAPI app.

Nothing happens at import time; uvicorn calls the factory (``factory=True``) and tests
call it with their own :class:`~.settings.Settings`. The database is opened and migrated
when the app starts (lifespan), or on first use when a test skips the lifespan.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates

from . import __version__, envelope
from .audit import AuditLog
from .auth import web_session
from .metrics import Metrics, MetricsMiddleware
from .middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from .routers import api, executor, health, metrics, web, web_login
from .services.executor.service import ExecutorService
from .services.gateway import GatewayProber
from .services.models import ModelSyncService
from .services.stability import GatewayMonitor, MemoryGuard
from .settings import Settings, load_settings
from .store import Store

TEMPLATES_DIR = Path(__file__).parent / "templates"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.store.open()  # fail at start, with a message, when the database is unusable
    app.state.store.reset_sessions_on_token_change(
        web_session.token_fingerprint(app.state.settings)
    )
    app.state.executor.start()  # fails leftover running jobs, then runs the queue
    try:
        yield
    finally:
        app.state.executor.stop()
        app.state.audit.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Return the backend-service app for ``settings`` (default: :func:`load_settings`).

    Raises what :func:`~.settings.load_settings` raises when the settings are invalid.
    """
    settings = settings if settings is not None else load_settings()
    app = FastAPI(
        title="ClawDeploy backend-service",
        version=__version__,
        docs_url=None,  # the interactive docs pull scripts from a CDN; the schema is enough
        redoc_url=None,
        lifespan=_lifespan,
    )
    secrets = tuple(
        s.get_secret_value()
        for s in (settings.backend_api_token, settings.openclaw_gateway_token)
        if s is not None
    )
    store = Store(settings.database_path)
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = Metrics()
    app.state.audit = AuditLog(
        settings.audit_log_path,
        max_bytes=settings.audit_log_max_bytes,
        backup_count=settings.audit_log_backup_count,
        secrets=secrets,
    )
    app.state.gateway_prober = GatewayProber.from_settings(settings)
    app.state.gateway_monitor = GatewayMonitor(
        cache_s=settings.gateway_probe_cache_s,
        failures_to_open=settings.gateway_circuit_failures,
        open_s=settings.gateway_circuit_open_s,
        on_live_result=app.state.metrics.count_probe,
    )
    app.state.memory_guard = MemoryGuard(
        read_only_below_mb=settings.memory_read_only_mb,
        heavy_job_min_mb=settings.memory_heavy_job_min_mb,
    )
    app.state.model_sync = ModelSyncService(
        store,
        settings.astr_pull_source_mode,
        settings.astr_cmd_config_path,
        settings.astr_plugin_export_path,
        require_enabled=settings.astr_pull_require_enabled_provider,
    )
    app.state.executor = ExecutorService(settings, store, app.state.audit, app.state.metrics)
    app.state.templates = Jinja2Templates(directory=TEMPLATES_DIR)
    # Added innermost first: the trace id middleware (in envelope.install) is outermost.
    app.add_middleware(BodyLimitMiddleware, limit=settings.backend_max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    envelope.install(app)
    web_session.install(app)
    for module in (health, api, executor, metrics, web_login, web):
        app.include_router(module.router)
    return app

"""The application factory: ``create_app()`` builds a fresh, fully wired FastAPI app.

Nothing happens at import time; uvicorn calls the factory (``factory=True``) and tests
call it with their own :class:`~.settings.Settings`.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates

from . import __version__, envelope
from .routers import api, health, web
from .services.gateway import GatewayProber
from .settings import Settings, load_settings

TEMPLATES_DIR = Path(__file__).parent / "templates"


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
    )
    app.state.settings = settings
    app.state.gateway_prober = GatewayProber.from_settings(settings)
    app.state.templates = Jinja2Templates(directory=TEMPLATES_DIR)
    envelope.install(app)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(web.router)
    return app

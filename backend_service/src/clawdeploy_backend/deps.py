"""FastAPI dependencies that hand routes the objects :func:`~.main.create_app` built.

Everything lives on ``app.state``, so each app (and each test) has its own; tests replace
any of these with ``app.dependency_overrides``.
"""

from fastapi import Request
from fastapi.templating import Jinja2Templates

from .services.gateway import GatewayProber
from .settings import Settings


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

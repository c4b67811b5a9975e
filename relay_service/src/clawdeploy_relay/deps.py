"""FastAPI dependencies that hand routes the objects :func:`~.main.create_app` built.

Everything lives on ``app.state``, so each app (and each test) has its own; each getter is
its own function, so a test can override one alone with ``app.dependency_overrides``.
The getters are ``async`` (no I/O): FastAPI would run a plain function in its threadpool,
a thread hop per dependency and request.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request

from .envelope import get_trace_id
from .metrics import RelayMetrics
from .services.notifier import Notifier
from .services.overview import Overview
from .services.principals import Principals
from .services.ratelimit import RateLimiter
from .services.relay import RelayService
from .settings import Settings

T = TypeVar("T")


def state_getter(attr: str, kind: type[T], doc: str) -> Callable[[Request], Awaitable[T]]:
    """Return a dependency ``(request) -> request.app.state.<attr>`` named ``get_<attr>``.

    ``kind`` types the result only; a missing attribute is an AttributeError (500).
    """

    async def getter(request: Request) -> T:
        value: T = getattr(request.app.state, attr)
        return value

    getter.__name__ = getter.__qualname__ = f"get_{attr}"
    getter.__doc__ = doc
    return getter


get_settings = state_getter("settings", Settings, "The app's :class:`~.settings.Settings`.")
get_relay = state_getter("relay", RelayService, "The app's delivery service.")
get_principals = state_getter("principals", Principals, "Tokens, clients, integrations.")
get_overview = state_getter("overview", Overview, "Counts and admin views.")
get_notifier = state_getter("notifier", Notifier, "Long-poll wake-ups.")
get_metrics = state_getter("metrics", RelayMetrics, "Prometheus registry and instruments.")
get_client_limiter = state_getter("client_limiter", RateLimiter, "Per-client request rate.")
get_user_limiter = state_getter("user_limiter", RateLimiter, "Per-user inbound rate.")


def ok(request: Request, **body: Any) -> dict[str, Any]:
    """A success body: ``{"ok": true, "trace_id": …, **body}``."""
    return {"ok": True, "trace_id": get_trace_id(request), **body}

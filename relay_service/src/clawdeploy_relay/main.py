"""The application factory :func:`create_app`, and :func:`main`, the console entry point.

Nothing happens at import time: uvicorn calls the factory (``factory=True``) and tests
call it with their own settings, clock and random generator. The lifespan opens (and
migrates) the store and runs the background sweep and, on PostgreSQL, the LISTEN/NOTIFY
wake-up listener (:mod:`.services.wake_listener`); without the lifespan (a test client
used without ``with``) the store opens on first use and nothing sweeps or listens.
"""

import asyncio
import functools
import logging
import random
import resource
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from . import SERVICE_NAME, __version__, envelope
from .clock import Clock, system_clock
from .metrics import RelayMetrics, StoreGauges
from .middleware import ApiHeadersMiddleware, BodyLimitMiddleware
from .routers import (
    clients,
    conversations,
    health,
    inbound,
    integrations,
    metrics,
    outbox,
    poll,
    send,
    signing,
    stream,
    ws,
)
from .services.notifier import Notifier
from .services.overview import Overview
from .services.principals import Principals
from .services.ratelimit import RateLimiter
from .services.relay import RelayService
from .services.signing import SigningKeys
from .services.streams import StreamBuffer
from .services.sweeper import run_sweeper
from .services.wake_listener import WakeListener
from .settings import Settings, SettingsFileError, load_settings
from .store import Store
from .ws.session import Sockets

logger = logging.getLogger("clawdeploy_relay")
LISTEN_WAIT_S = 10.0
ROUTERS = (
    health,
    clients,
    signing,
    integrations,
    conversations,
    inbound,
    poll,
    send,
    outbox,
    stream,
    metrics,
    ws,
)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    state.store.open()  # fail at start, with SQLAlchemy's message, when the file is unusable
    tasks = [
        asyncio.create_task(
            run_sweeper(state.relay, state.notifier, state.settings.sweep_interval_s)
        )
    ]
    if state.wake_listener is not None:
        tasks.append(asyncio.create_task(state.wake_listener.run()))
        await _until_listening(state.wake_listener)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
        state.store.close()


async def _until_listening(listener: WakeListener) -> None:
    """Serve once LISTEN is on (other nodes' wake-ups reach us from then on), or after
    ``LISTEN_WAIT_S`` without: the listener keeps trying and the fallback covers."""
    try:
        await asyncio.wait_for(listener.listening.wait(), LISTEN_WAIT_S)
    except TimeoutError:
        logger.warning("wake-up listener not connected after %.0f s; serving", LISTEN_WAIT_S)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock = system_clock,
    rng: random.Random | None = None,
) -> FastAPI:
    """Return the relay app for ``settings`` (default: :func:`~.settings.load_settings`).

    ``clock`` (seconds since the epoch) drives leases, client and conversation states and
    rate limits; ``rng`` breaks ties between equally busy clients. Raises what
    :func:`~.settings.load_settings` raises when the settings are invalid.
    """
    settings = settings if settings is not None else load_settings()
    app = FastAPI(
        title="ClawDeploy relay",
        version=__version__,
        docs_url=None,  # the interactive docs pull scripts from a CDN; /openapi.json is enough
        redoc_url=None,
        lifespan=_lifespan,
    )
    store = Store(settings.database_url.get_secret_value())
    relay_metrics = RelayMetrics()
    relay = RelayService(
        store, settings, clock, rng if rng is not None else random.Random(), relay_metrics
    )
    relay_metrics.registry.register(StoreGauges(relay))
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    state = app.state
    state.settings = settings
    state.store = store
    state.relay = relay
    state.principals = Principals(store, clock, admin)
    secret = settings.signing_secret.get_secret_value() if settings.signing_secret else None
    state.signing = SigningKeys(store, clock, secret, settings.ws_hello_skew_s)
    state.streams = StreamBuffer(clock, settings.lease_s, settings.max_text_chars)
    state.sockets = Sockets()
    state.overview = Overview(relay)
    state.notifier = Notifier()
    state.wake_listener = (
        WakeListener(
            store.libpq_params(),
            state.notifier,
            store.node_id,
            settings.notify_fallback_s,
            relay.due_clients,
        )
        if store.shared
        else None
    )
    state.metrics = relay_metrics
    state.client_limiter = RateLimiter(settings.client_rate_per_s, settings.client_burst, clock)
    state.user_limiter = RateLimiter(settings.user_rate_per_s, settings.user_burst, clock)
    # Added innermost first: the trace id middleware (in envelope.install) is outermost.
    app.add_middleware(
        BodyLimitMiddleware, limit=settings.max_body_bytes, on_refused=relay_metrics.refused
    )
    app.add_middleware(ApiHeadersMiddleware)
    envelope.install(app, on_error=relay_metrics.error)
    for module in ROUTERS:
        app.include_router(module.router)
    return app


def raise_open_files() -> int:
    """Raise this process's soft ``RLIMIT_NOFILE`` to its hard limit; return the new soft
    limit. Each long-poll and WebSocket holds a socket: under systemd's default soft limit
    (1024) a relay could not hold more than about a thousand waiting clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _fail(message: str) -> int:
    print(f"{SERVICE_NAME}: {message}", file=sys.stderr)
    return 2


def main() -> int:
    """``clawdeploy-relay``: load the settings, then serve with uvicorn until stopped.

    Returns 2 (after a message on stderr, never a value) when the settings are invalid or
    ``RELAY_ADMIN_TOKEN`` is unset — without it no client could ever be registered.
    """
    try:
        settings = load_settings()
    except SettingsFileError as exc:
        return _fail(str(exc))
    except ValidationError as exc:
        for err in exc.errors(include_input=False):
            where = ".".join(str(p) for p in err["loc"]).upper() or "settings"
            _fail(f"invalid RELAY_{where}: {err['msg']}")
        return 2
    if settings.admin_token is None:
        return _fail(
            "RELAY_ADMIN_TOKEN is not set; put RELAY_ADMIN_TOKEN=$(openssl rand -hex 32) in a "
            "0600 file and name it with RELAY_ENV_FILE"
        )
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logger.info("open files limit %d (one per waiting client)", raise_open_files())
    uvicorn.run(
        functools.partial(create_app, settings),
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=1,  # the notifier and rate limits live in this process
        # 5,000 clients reconnecting at once after a restart: the kernel caps it too
        # (net.core.somaxconn, 4096 on current kernels).
        backlog=4096,
        server_header=False,
        access_log=True,  # paths and queries only: tokens travel in headers
        timeout_graceful_shutdown=int(settings.poll_max_wait_s) + 5,
        # wsproto: uvicorn's websockets (sans-I/O) protocol logs an error after every
        # refused upgrade; wsproto answers the denial envelope cleanly.
        ws="wsproto",
        ws_max_size=settings.max_body_bytes,  # a larger frame closes the socket (1009)
    )
    return 0

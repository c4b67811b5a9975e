"""The connector's main loop: long-poll the relay, hand messages out, stop cleanly.

It polls (``GET /poll?wait=CONNECTOR_POLL_WAIT_S&ack=explicit``) only when it can start
work at once: a worker is free (:class:`~.dispatch.Dispatcher`) and the gateway answers
(:class:`~.ask.Gate`). So a busy or failing gateway takes no new messages (beyond what a
long-poll already under way brings), and their leases stay with the relay, not in this
process. A relay that cannot be
reached (or answers 5xx/429) is polled again after a backoff with jitter; one that
refuses the client token every ``CONNECTOR_AUTH_RETRY_S``.

Stopping (:meth:`Connector.request_stop`, SIGTERM): the long-poll is cancelled, queued
messages are left un-acked, messages being handled get ``CONNECTOR_SHUTDOWN_GRACE_S`` to
finish (one waiting to retry is abandoned at once), then are cancelled. Nothing un-acked
is lost: the relay delivers it again when its lease (``RELAY_LEASE_S``) runs out.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeVar

from .ask import Asker, Gate
from .deliver import Deliverer, relay_retry_delay
from .dispatch import Dispatcher
from .errors import RelayError
from .gateway import GatewayClient
from .handler import MessageHandler
from .logs import log
from .relay_client import RelayClient
from .settings import ConnectorSettings
from .stop import AbandonedError, Stop

T = TypeVar("T")


class _InterruptedError(Exception):
    """Something the caller waits for happened first (a stop)."""


async def _race(work: Awaitable[T], *interrupts: Callable[[], Awaitable[Any]]) -> T:
    """The result of ``work``; cancel it and raise :class:`_InterruptedError` as soon as
    one of the ``interrupts`` (coroutine functions) returns first."""
    task = asyncio.ensure_future(work)
    others = [asyncio.ensure_future(interrupt()) for interrupt in interrupts]
    try:
        await asyncio.wait({task, *others}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        raise _InterruptedError
    finally:
        pending = [t for t in (task, *others) if not t.done()]
        for left in pending:
            left.cancel()
        # gather(return_exceptions=True) absorbs the children's cancellation, not ours.
        await asyncio.gather(*pending, return_exceptions=True)


class Connector:
    """One gateway's bridge to the relay.

    :param settings: the connector's settings (tokens resolved).
    :param relay: the relay client (injectable for tests).
    :param gateway: the gateway client (injectable for tests).
    :param rng: jitter source.
    """

    def __init__(
        self,
        settings: ConnectorSettings,
        relay: RelayClient,
        gateway: GatewayClient,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.relay = relay
        self.gateway = gateway
        self.rng = rng if rng is not None else random.Random()
        self.stop = Stop()

    @classmethod
    def from_settings(cls, settings: ConnectorSettings) -> "Connector":
        """Build the clients from ``settings``.

        :raises ValueError: the client or gateway token is unset.
        """
        if settings.client_token is None or settings.gateway_token is None:
            raise ValueError("the client token and the gateway token must be set")
        relay = RelayClient(
            settings.relay_url, settings.client_token.get_secret_value(), settings.relay_timeout_s
        )
        gateway = GatewayClient(
            settings.gateway_url,
            settings.gateway_token.get_secret_value(),
            settings.agent_model,
            settings.gateway_timeout_s,
        )
        return cls(settings, relay, gateway)

    def request_stop(self) -> None:
        """Stop (call from the connector's event loop, e.g. a signal handler)."""
        if not self.stop.is_set():
            log(logging.INFO, "stopping")
        self.stop.set()

    def _secrets(self) -> list[str | None]:
        s = self.settings
        return [
            t.get_secret_value() if t is not None else None
            for t in (s.client_token, s.gateway_token)
        ]

    async def run(self) -> None:
        """Poll and answer until :meth:`request_stop`; then shut down (see the module doc)."""
        s = self.settings
        wake = asyncio.Event()
        gate = Gate(wake.set)
        asker = Asker(s, self.gateway, gate, self.stop, self.rng, self._secrets())
        handler = MessageHandler(asker, Deliverer(s, self.relay, self.stop, self.rng))
        dispatcher = Dispatcher(handler.handle, s.concurrency, self.stop, wake.set)
        log(
            logging.INFO,
            "started",
            relay_url=s.relay_url,
            gateway_url=s.gateway_url,
            agent_model=s.agent_model,
            concurrency=s.concurrency,
        )
        try:
            await self._poll_loop(wake, gate, dispatcher)
        finally:
            self.stop.set()
            held = dispatcher.held()
            await dispatcher.shutdown(s.shutdown_grace_s)
            log(logging.INFO, "stopped", held_at_stop=held)

    async def _poll_loop(self, wake: asyncio.Event, gate: Gate, dispatcher: Dispatcher) -> None:
        s = self.settings
        failures = 0
        while not self.stop.is_set():
            wake.clear()
            if not (gate.is_open() and dispatcher.has_room()):
                with suppress(_InterruptedError):
                    await _race(wake.wait(), self.stop.wait)
                continue
            try:
                # A long-poll runs to its end even if the gate closes meanwhile: the relay
                # would still lease what arrives to the request we gave up (until the lease
                # ran out). Only a stop cuts it short.
                messages = await _race(self.relay.poll(s.poll_wait_s), self.stop.wait)
            except _InterruptedError:
                return
            except RelayError as exc:
                failures += 1
                try:
                    await self.stop.sleep(relay_retry_delay(s, exc, failures, self.rng))
                except AbandonedError:
                    return
                continue
            if failures:
                log(logging.INFO, "relay reachable again", failed_polls=failures)
                failures = 0
            dispatcher.offer(messages)

    async def aclose(self) -> None:
        """Close both HTTP clients."""
        await self.relay.aclose()
        await self.gateway.aclose()

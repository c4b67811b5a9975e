"""The connector's main loop: long-poll the relay, hand messages out, stop cleanly.

It polls (``GET /poll?wait=CONNECTOR_POLL_WAIT_S&ack=explicit``) only when it can start
work at once: a worker is free (:class:`~.dispatch.Dispatcher`) and the gateway answers
(:class:`~.ask.Gate`). So a busy or failing gateway takes no new messages (beyond what a
long-poll already under way brings), and their leases stay with the relay, not in this
process. While every worker is busy it sends a heartbeat (``GET /poll?max=0``) every
``CONNECTOR_HEARTBEAT_S``, so the relay keeps it connected through a long gateway call;
while the gateway fails it sends nothing, so the relay sees it go stale. A relay that cannot be
reached (or answers 5xx/429) is polled again after a backoff with jitter; one that
refuses the client token every ``CONNECTOR_AUTH_RETRY_S``.

With ``CONNECTOR_TRANSPORT=ws`` it holds the relay's ``/ws`` instead
(:class:`~.ws_client.WsRelayClient`): the relay pushes messages (leased as by an explicit
poll) and ``cancel`` frames, and replies and acks go back as frames. The socket is held
only while the gateway answers (the gate is open): it is closed when the gateway fails,
so the relay sees the client go stale exactly as when it stops polling, and opened again
when the gateway answers. A socket that cannot be opened or drops is opened again after
the same backoff as a failed poll. Pushes are not held back while every worker is busy:
they wait in the dispatcher's queues (their leases may run out meanwhile; the redelivery
of a message held here is ignored and its reply acks it all the same).

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
from .relay_client import InboundMessage, RelayClient
from .settings import ConnectorSettings
from .stop import AbandonedError, Stop
from .ws_client import WsRelayClient

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
        relay: RelayClient | WsRelayClient,
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
        if settings.gateway_token is None:
            raise ValueError("the gateway token must be set")
        relay = build_relay(settings)
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
            for t in (s.client_token, s.gateway_token, s.signing_key)
        ]

    async def run(self) -> None:
        """Poll and answer until :meth:`request_stop`; then shut down (see the module doc)."""
        s = self.settings
        wake = asyncio.Event()
        gate = Gate(wake.set)
        asker = Asker(s, self.gateway, gate, self.stop, self.rng, self._secrets())
        dispatcher = Dispatcher(self._handle_later, s.concurrency, self.stop, wake.set)
        handler = MessageHandler(
            asker, Deliverer(s, self.relay, self.stop, self.rng), dispatcher.cancelled
        )
        self._handler = handler
        log(
            logging.INFO,
            "started",
            relay_url=s.relay_url,
            gateway_url=s.gateway_url,
            agent_model=s.agent_model,
            concurrency=s.concurrency,
            transport=s.transport,
        )
        try:
            if isinstance(self.relay, WsRelayClient):
                await self._ws_loop(self.relay, wake, gate, dispatcher)
            else:
                await self._poll_loop(self.relay, wake, gate, dispatcher)
        finally:
            self.stop.set()
            held = dispatcher.held()
            await dispatcher.shutdown(s.shutdown_grace_s)
            log(logging.INFO, "stopped", held_at_stop=held)

    async def _handle_later(self, message: InboundMessage) -> str:
        return await self._handler.handle(message)

    async def _poll_loop(
        self, relay: RelayClient, wake: asyncio.Event, gate: Gate, dispatcher: Dispatcher
    ) -> None:
        s = self.settings
        failures = 0
        while not self.stop.is_set():
            wake.clear()
            if not gate.is_open():  # the gateway fails: the relay shall see us go stale
                with suppress(_InterruptedError):
                    await _race(wake.wait(), self.stop.wait)
                continue
            if not dispatcher.has_room():  # busy: take nothing, but stay connected
                await self._heartbeat_until(relay, wake)
                continue
            try:
                # A long-poll runs to its end even if the gate closes meanwhile: the relay
                # would still lease what arrives to the request we gave up (until the lease
                # ran out). Only a stop cuts it short.
                messages = await _race(relay.poll(s.poll_wait_s), self.stop.wait)
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

    async def _heartbeat_until(self, relay: RelayClient, wake: asyncio.Event) -> None:
        """Wait for ``wake`` (room for work, or the gate changed) or a stop, sending the
        relay a heartbeat every ``CONNECTOR_HEARTBEAT_S`` meanwhile. A failed heartbeat is
        logged; the next one (or the next poll) tries again."""
        while not self.stop.is_set():
            try:
                await asyncio.wait_for(
                    _race(wake.wait(), self.stop.wait), self.settings.heartbeat_s
                )
                return  # woken
            except _InterruptedError:
                return  # stopping
            except TimeoutError:
                pass
            try:
                await relay.heartbeat()
            except RelayError as exc:
                log(logging.WARNING, "heartbeat failed", error=exc.detail)

    async def _ws_loop(
        self, relay: WsRelayClient, wake: asyncio.Event, gate: Gate, dispatcher: Dispatcher
    ) -> None:
        """Hold ``/ws`` while the gateway answers; reconnect with backoff (module doc)."""
        s = self.settings
        failures = 0

        async def gate_closed() -> None:
            while gate.is_open():
                wake.clear()
                await wake.wait()

        def on_cancel(message_id: str, conversation_id: str) -> None:
            state = dispatcher.cancel(message_id)
            log(
                logging.INFO,
                "cancel",
                message_id=message_id,
                conversation_id=conversation_id,
                state=state,
            )

        while not self.stop.is_set():
            wake.clear()
            if not gate.is_open():
                with suppress(_InterruptedError):
                    await _race(wake.wait(), self.stop.wait)
                continue
            try:
                try:
                    await _race(relay.connect(), self.stop.wait)
                    if failures:
                        log(logging.INFO, "relay reachable again", failed_connects=failures)
                        failures = 0
                    log(logging.INFO, "websocket open", signed_hello=relay.signed)
                    await _race(
                        relay.serve(dispatcher.offer, on_cancel), self.stop.wait, gate_closed
                    )
                finally:
                    await relay.disconnect()
            except _InterruptedError:
                if self.stop.is_set():
                    return
                log(logging.INFO, "websocket closed: the gateway is failing")
                continue
            except RelayError as exc:
                failures += 1
                try:
                    await self.stop.sleep(relay_retry_delay(s, exc, failures, self.rng))
                except AbandonedError:
                    return

    async def aclose(self) -> None:
        """Close both clients."""
        await self.relay.aclose()
        await self.gateway.aclose()


def build_relay(settings: ConnectorSettings) -> RelayClient | WsRelayClient:
    """The relay transport ``settings`` ask for (``CONNECTOR_TRANSPORT``).

    :raises ValueError: no client token (nor, for ``ws``, a signing key).
    """
    token = settings.client_token.get_secret_value() if settings.client_token else None
    if settings.transport == "ws":
        key = settings.signing_key.get_secret_value() if settings.signing_key else None
        return WsRelayClient(
            settings.relay_url, token, settings.relay_timeout_s, settings.client_id, key
        )
    if token is None:
        raise ValueError("the client token must be set")
    return RelayClient(settings.relay_url, token, settings.relay_timeout_s)

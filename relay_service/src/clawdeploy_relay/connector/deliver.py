"""Posting a reply to the relay and acking its message, retrying until the relay answers.

``POST /send`` carries ``idempotencyKey = "reply:<inbound message id>"`` and
``ackIds = [<inbound message id>]``: the reply is stored and the message acked in one
relay transaction, and a retried send (after a lost answer, a crash, a stop) cannot store
a second reply — the relay returns the first (same text) or answers 409
``idempotency_conflict`` (another text: the gateway answered the retry differently). The
relay does not apply ``ackIds`` when it replays a send, so the connector follows with
``POST /ack`` whenever a reply may already have been stored: the send was retried, the
relay answered 409, or the message is a redelivery (``deliveryCount`` > 1).

Outcomes: ``answered`` (stored and acked); ``duplicate`` (an earlier attempt's reply was
already stored; acked); ``moved`` (404: the conversation is no longer this client's — it
failed over or expired; the relay delivers it elsewhere, nothing is acked); ``rejected``
(another 4xx, a bug: logged as an error, left un-acked for redelivery). A reply over the
relay's text limit (413) is replaced by ``CONNECTOR_ERROR_REPLY``. While the relay is
unreachable or answers 5xx/429 the call is retried with backoff (``Retry-After`` is
honoured); on 401/403 every ``CONNECTOR_AUTH_RETRY_S`` with an error in the log.
"""

import logging
import random
from typing import Any, Protocol

from .backoff import backoff_delay
from .errors import RelayError
from .logs import log
from .relay_client import InboundMessage, RelayClient
from .settings import ConnectorSettings
from .stop import Stop


def reply_key(message_id: str) -> str:
    """The idempotency key of the reply to inbound message ``message_id``."""
    return f"reply:{message_id}"


def relay_retry_delay(
    settings: ConnectorSettings, exc: RelayError, attempt: int, rng: random.Random
) -> float:
    """Seconds to wait before retrying a relay call that failed with ``exc`` (``attempt``
    from 1); logs why."""
    if exc.kind == "auth":
        delay = settings.auth_retry_s
        log(
            logging.ERROR,
            "relay refused the client token: check CONNECTOR_CLIENT_TOKEN (POST /clients)"
            if exc.code != "hello_expired"
            else "relay refused the hello's time: check this host's clock (NTP)",
            http_status=exc.status,
            code=exc.code,
            detail=exc.detail,
            retry_in_s=delay,
        )
        return delay
    delay = backoff_delay(attempt, settings.backoff_initial_s, settings.backoff_max_s, rng)
    if exc.retry_after_s is not None:
        delay = max(delay, exc.retry_after_s)
    log(
        logging.WARNING,
        "relay unavailable, will retry",
        detail=exc.detail,
        attempt=attempt,
        retry_in_s=round(delay, 3),
    )
    return delay


class Replies(Protocol):
    """What delivering needs of a relay transport: :class:`~.relay_client.RelayClient`
    (HTTP) or :class:`~.ws_client.WsRelayClient` (``/ws`` frames)."""

    async def send(
        self, message: InboundMessage, text: str, key: str, ack_ids: list[str]
    ) -> dict[str, Any]:
        """Store the reply; ack ``ack_ids``."""

    async def ack(self, ids: list[str]) -> int:
        """Ack ``ids``."""


class Deliverer:
    """Send replies and ack their messages on one relay."""

    def __init__(
        self,
        settings: ConnectorSettings,
        relay: RelayClient | Replies,
        stop: Stop,
        rng: random.Random,
    ) -> None:
        self.settings = settings
        self.relay = relay
        self.stop = stop
        self.rng = rng

    async def deliver(self, message: InboundMessage, text: str) -> str:
        """Store ``text`` as the reply to ``message`` and ack it; return the outcome.

        Raises :class:`~.stop.AbandonedError` when the connector stops while waiting to retry.
        """
        key = reply_key(message.id)
        must_ack = message.delivery_count > 1
        outcome = "answered"
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.relay.send(message, text, key, [message.id])
                break
            except RelayError as exc:
                if exc.kind != "rejected":
                    must_ack = True  # the lost answer may have stored it
                    await self.stop.sleep(relay_retry_delay(self.settings, exc, attempt, self.rng))
                    continue
                if exc.status == 409:
                    outcome, must_ack = "duplicate", True
                    break
                if exc.status == 404:
                    return "moved"
                if exc.status == 413 and text != self.settings.error_reply:
                    self._log(logging.WARNING, "relay refused the reply's size", message, exc)
                    text = self.settings.error_reply
                    continue
                self._log(logging.ERROR, "relay rejected the reply", message, exc)
                return "rejected"
        if must_ack:
            await self._ack(message)
        return outcome

    async def _ack(self, message: InboundMessage) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.relay.ack([message.id])
                return
            except RelayError as exc:
                if exc.kind == "rejected":
                    self._log(logging.ERROR, "relay rejected the ack", message, exc)
                    return
                await self.stop.sleep(relay_retry_delay(self.settings, exc, attempt, self.rng))

    @staticmethod
    def _log(level: int, event: str, message: InboundMessage, exc: RelayError) -> None:
        log(
            level,
            event,
            conversation_id=message.conversation_id,
            message_id=message.id,
            http_status=exc.status,
            code=exc.code,
        )

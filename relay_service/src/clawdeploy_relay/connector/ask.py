"""Asking the gateway for a reply, retrying until it gives one; and the gateway gate.

What each :class:`~.errors.GatewayError` kind does (README "Connector", "On failure"):

* ``unavailable`` / ``model``: wait (exponential backoff with jitter, capped at
  ``CONNECTOR_BACKOFF_MAX_S``) and try again, for ever; the message is never dropped.
* ``auth`` / ``not_serving``: log an error saying what to fix and try again every
  ``CONNECTOR_AUTH_RETRY_S`` (a wrong token is refused slower each time by OpenClaw, and
  hammering it would only lock us out).
* ``rejected`` (400 and other 4xx): the gateway will refuse this request again however
  often it is sent (invalid model or agent, a body it cannot take), and the relay delivers
  a conversation in order, so holding the message would block that user for good. The
  user gets ``CONNECTOR_ERROR_REPLY`` instead (the gateway's reason goes to the log only),
  and the message is acked.

From a failed call to the next answer the :class:`Gate` is closed and the connector
takes no new messages: the relay sees the client go stale (no polls) rather than messages
failing, and after ``RELAY_DISCONNECTED_AFTER_S`` moves its un-acked conversations to a
live client.
"""

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from .backoff import backoff_delay
from .errors import GatewayError
from .gateway import GatewayClient
from .logs import log, redact
from .relay_client import InboundMessage
from .settings import ConnectorSettings
from .stop import Stop


class Gate:
    """Open while the gateway answers; the poll loop takes new work only when open.

    ``on_change`` is called whenever it opens or closes (the poll loop's wake-up).
    """

    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self._open = True
        self._on_change = on_change

    def is_open(self) -> bool:
        """False from a failed gateway call (retry pending) to the next one that answers."""
        return self._open

    def set(self, is_open: bool) -> None:
        """Open or close; wake the poll loop when that changes something."""
        if is_open != self._open:
            self._open = is_open
            self._on_change()


@dataclass(frozen=True)
class Answer:
    """The text to send and how it came: ``reply`` (the agent's), ``error_reply``
    (the request was rejected), ``empty`` (the agent gave no text); ``attempts`` is the
    number of gateway calls it took."""

    text: str
    source: str
    attempts: int


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Asker:
    """Get an :class:`Answer` for each message from one gateway."""

    def __init__(
        self,
        settings: ConnectorSettings,
        gateway: GatewayClient,
        gate: Gate,
        stop: Stop,
        rng: random.Random,
        secrets: list[str | None],
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.gate = gate
        self.stop = stop
        self.rng = rng
        self._secrets = secrets

    async def ask(self, message: InboundMessage) -> Answer:
        """Call the gateway until it answers.

        :raises ~.stop.AbandonedError: the connector stops while waiting to retry.
        """
        s = self.settings
        attempt = 0
        while True:
            attempt += 1
            try:
                text = await self.gateway.respond(message.conversation_id, message.text)
            except GatewayError as exc:
                if exc.kind == "rejected":
                    self.gate.set(True)
                    self._log(logging.ERROR, "gateway rejected the message", message, exc, attempt)
                    return Answer(s.error_reply, "error_reply", attempt)
                self.gate.set(False)
                await self.stop.sleep(self._delay(exc, attempt, message))
                continue
            self.gate.set(True)
            if not text.strip():
                return Answer(s.empty_reply, "empty", attempt)
            return Answer(fit(text, s.max_reply_chars), "reply", attempt)

    def _delay(self, exc: GatewayError, attempt: int, message: InboundMessage) -> float:
        s = self.settings
        if exc.kind in ("auth", "not_serving"):
            delay = max(s.auth_retry_s, exc.retry_after_s or 0.0)
            what = (
                "gateway refused the token: check OPENCLAW_GATEWAY_TOKEN in "
                "CONNECTOR_GATEWAY_ENV_FILE"
                if exc.kind == "auth"
                else "gateway does not serve /v1/responses"
            )
            self._log(logging.ERROR, what, message, exc, attempt, delay)
            return delay
        delay = backoff_delay(attempt, s.backoff_initial_s, s.backoff_max_s, self.rng)
        self._log(logging.WARNING, "gateway unavailable, will retry", message, exc, attempt, delay)
        return delay

    def _log(
        self,
        level: int,
        event: str,
        message: InboundMessage,
        exc: GatewayError,
        attempt: int,
        retry_in_s: float | None = None,
    ) -> None:
        fields: dict[str, object] = {
            "conversation_id": message.conversation_id,
            "message_id": message.id,
            "kind": exc.kind,
            "http_status": exc.status,
            "detail": redact(exc.detail, self._secrets),
            "attempt": attempt,
        }
        if retry_in_s is not None:
            fields["retry_in_s"] = round(retry_in_s, 3)
        log(level, event, **fields)


__all__ = ["Answer", "Asker", "Gate", "fit"]

"""One message from poll to ack, and its one log line.

``ask`` (the gateway, retried) then ``deliver`` (send and ack, retried). Replies are kept
for the last :data:`REMEMBERED` messages (answered or not), so a message the relay
delivers again (its lease ran out while the reply was on its way, or a poll crossed the
ack) is answered with the same text without asking the gateway twice — the agent's session
would otherwise see the user's message twice. A restart forgets them: then the gateway is
asked again and the relay's idempotency key keeps the first reply.

The log line (INFO, event ``message``) carries ``conversation_id``, ``message_id``,
``delivery_count``, ``outcome``, ``source`` (``reply``, ``error_reply``, ``empty``,
``remembered``), ``gateway_attempts`` and ``latency_ms`` (poll to ack, milliseconds);
never the text. Outcomes are those of :mod:`.deliver` plus ``abandoned`` (stopping: left
un-acked; the relay delivers it again after its lease) and ``cancelled`` (the user side
cancelled it, ``ws`` mode: the relay acked it; nothing is sent).
"""

import asyncio
import logging
import time
from collections import OrderedDict

from .ask import Asker
from .deliver import Deliverer
from .logs import log
from .relay_client import InboundMessage
from .stop import AbandonedError

REMEMBERED = 1000


class MessageHandler:
    """Answer messages: ``await handler.handle(message)`` returns the outcome."""

    def __init__(
        self, asker: Asker, deliverer: Deliverer, cancelled: set[str] | None = None
    ) -> None:
        self.asker = asker
        self.deliverer = deliverer
        self.cancelled = cancelled if cancelled is not None else set()
        self._replies: OrderedDict[str, str] = OrderedDict()

    def _remember(self, message_id: str, text: str) -> None:
        self._replies[message_id] = text
        self._replies.move_to_end(message_id)
        while len(self._replies) > REMEMBERED:
            self._replies.popitem(last=False)

    async def handle(self, message: InboundMessage) -> str:
        """Ask, send, ack; return the outcome (``abandoned`` when stopping or cancelled)."""
        started = time.monotonic()
        outcome, source, attempts = "abandoned", "", 0
        try:
            text = self._replies.get(message.id)
            if text is not None:
                source = "remembered"
            else:
                answer = await self.asker.ask(message)
                text, source, attempts = answer.text, answer.source, answer.attempts
                self._remember(message.id, text)
            outcome = await self.deliverer.deliver(message, text)
        except AbandonedError:
            pass
        except asyncio.CancelledError:
            if message.id in self.cancelled:
                outcome = "cancelled"
            self._line(message, outcome, source, attempts, started)
            raise
        self._line(message, outcome, source, attempts, started)
        return outcome

    @staticmethod
    def _line(
        message: InboundMessage, outcome: str, source: str, attempts: int, started: float
    ) -> None:
        level = logging.INFO if outcome != "rejected" else logging.ERROR
        log(
            level,
            "message",
            conversation_id=message.conversation_id,
            message_id=message.id,
            delivery_count=message.delivery_count,
            outcome=outcome,
            source=source,
            gateway_attempts=attempts,
            latency_ms=round((time.monotonic() - started) * 1000),
        )

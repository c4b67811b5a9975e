"""Per-conversation order and a bound on parallel work.

Messages of one conversation are handled one after the other, in the order the relay
gave them (its ``seq`` order); different conversations run in parallel, at most
``CONNECTOR_CONCURRENCY`` at a time (default 1: one message at a time in all). A message
already held (queued or being handled) is ignored when the relay delivers it again
(its lease ran out meanwhile). When a message ends ``abandoned`` or ``rejected`` (left
un-acked), the rest of its conversation's queue is dropped too, so the relay delivers
them again after it, in order.

:meth:`Dispatcher.cancel` (the relay's ``cancel`` frame in ``ws`` mode: the user side
cancelled the message and the relay acked it) drops a queued message, or cancels the one
being handled (its gateway request is cut; its outcome is ``cancelled``); the
conversation goes on with its next message.
"""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from .logs import logger
from .relay_client import InboundMessage
from .stop import Stop

Handle = Callable[[InboundMessage], Awaitable[str]]
LEFT_UNACKED = frozenset({"abandoned", "rejected"})
CANCELLED = "cancelled"


class Dispatcher:
    """Queue messages per conversation and run up to ``concurrency`` conversations.

    ``on_change`` is called whenever a worker ends (room for more work).
    """

    def __init__(
        self,
        handle: Handle,
        concurrency: int,
        stop: Stop,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._handle = handle
        self._concurrency = concurrency
        self._stop = stop
        self._on_change = on_change
        self._queues: dict[str, deque[InboundMessage]] = {}
        self._waiting: deque[str] = deque()  # conversations with a queue and no worker
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._held: set[str] = set()
        self._running: dict[str, asyncio.Task[str]] = {}  # message id → its handling
        self.cancelled: set[str] = set()  # ids being cancelled (the handler reads it)

    def has_room(self) -> bool:
        """True when a new conversation could start now (a worker is free, none waits)."""
        return len(self._workers) < self._concurrency and not self._waiting

    def held(self) -> int:
        """How many messages are queued or being handled."""
        return len(self._held)

    def offer(self, messages: list[InboundMessage]) -> int:
        """Queue the messages not already held; start workers; return how many were new."""
        new = 0
        for message in messages:
            if message.id in self._held:
                continue
            self._held.add(message.id)
            new += 1
            conv = message.conversation_id
            if conv not in self._queues:
                self._queues[conv] = deque()
                if conv not in self._workers:
                    self._waiting.append(conv)
            self._queues[conv].append(message)
        self._start_waiting()
        return new

    def cancel(self, message_id: str) -> str:
        """Stop work on a message: ``running`` (its handling is cancelled), ``queued``
        (dropped from its queue) or ``unknown`` (not held here)."""
        task = self._running.get(message_id)
        if task is not None:
            self.cancelled.add(message_id)
            task.cancel()
            return "running"
        for queue in self._queues.values():
            for message in list(queue):
                if message.id == message_id:
                    queue.remove(message)
                    self._held.discard(message_id)
                    return "queued"
        return "unknown"

    def _start_waiting(self) -> None:
        while self._waiting and len(self._workers) < self._concurrency and not self._stop.is_set():
            conv = self._waiting.popleft()
            self._workers[conv] = asyncio.create_task(self._work(conv), name=f"conv {conv}")

    def _drop(self, conv: str) -> None:
        for message in self._queues.pop(conv, ()):
            self._held.discard(message.id)

    async def _work(self, conv: str) -> None:
        try:
            queue = self._queues[conv]
            while queue and not self._stop.is_set():
                message = queue[0]
                task = asyncio.ensure_future(self._handle(message))
                self._running[message.id] = task
                try:
                    outcome = await task
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if message.id not in self.cancelled or (current and current.cancelling()):
                        raise  # a shutdown, not the user's cancel
                    outcome = CANCELLED
                except Exception:  # a bug: keep the connector alive, leave it un-acked
                    logger.exception(
                        "handling a message failed",
                        extra={"fields": {"conversation_id": conv, "message_id": message.id}},
                    )
                    outcome = "abandoned"
                finally:
                    self._running.pop(message.id, None)
                    self.cancelled.discard(message.id)
                queue.popleft()
                self._held.discard(message.id)
                if outcome in LEFT_UNACKED:
                    break
        finally:
            self._drop(conv)
            self._workers.pop(conv, None)
            self._start_waiting()
            self._on_change()

    async def shutdown(self, grace_s: float) -> None:
        """Stop starting work; give running messages ``grace_s`` seconds, then cancel them.

        Queued messages that did not start are left un-acked (the relay's lease
        delivers them again). Call after :meth:`~.stop.Stop.set`.
        """
        for conv in list(self._waiting):
            self._drop(conv)
        self._waiting.clear()
        running = list(self._workers.values())
        if not running:
            return
        _done, pending = await asyncio.wait(running, timeout=grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

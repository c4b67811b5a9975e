"""Wake-ups across relay nodes: ``LISTEN`` on PostgreSQL, feeding the in-process notifier.

Every node's transactions that queue work for a client ``NOTIFY`` the channel
:data:`~..store.CHANNEL` with ``"<node id> <client id>"`` (delivered at commit, never any
message content). :class:`WakeListener` is one task per node holding its own psycopg
connection (not one of the pool's) in ``LISTEN``; each notification of another node
wakes that client's long-polls and WebSocket pushers here
(:meth:`~.notifier.Notifier.notify`). Its own node's notifications are skipped: the routes
woke their pollers already.

Nothing is lost when a notification is: every ``fallback_s`` seconds, and at once after
each (re)connection, the listener asks the database which clients have a message they
could take now (:meth:`~.relay.RelayService.due_clients`, one query) and wakes them, so a
lost notification only delays a delivery by up to ``fallback_s``. The same tick pings
the connection. A dropped connection is reopened with capped, jittered exponential
backoff (0.1 s … 5 s); the log says so (never the URL or its password).
"""

import asyncio
import logging
import random
from collections.abc import Callable

import psycopg
from psycopg import sql
from starlette.concurrency import run_in_threadpool

from ..store import CHANNEL
from .notifier import Notifier

logger = logging.getLogger("clawdeploy_relay.wake_listener")
BACKOFF_INITIAL_S = 0.1
BACKOFF_CAP_S = 5.0
CONNECT_TIMEOUT_S = 10


def backoff_delay(attempt: int, rng: random.Random) -> float:
    """Seconds before reconnection ``attempt`` (1, 2, ...): in ``[d/2, d]``, ``d`` ≤ 5 s."""
    step = min(BACKOFF_CAP_S, BACKOFF_INITIAL_S * 2 ** min(attempt - 1, 30))
    return step / 2 + rng.uniform(0, step / 2)


class WakeListener:
    """LISTEN for other nodes' wake-ups and feed them to ``notifier``.

    ``conninfo``: ``psycopg.connect`` keyword arguments (they hold the password: never
    logged); ``node_id``: this node's id in the payloads (:attr:`~..store.Store.node_id`);
    ``due_clients``: a blocking call returning the clients with due work (run in a worker
    thread). Counters for tests and logs: :attr:`received` (other nodes' wake-ups
    delivered), :attr:`fallback_woken` (clients woken by the fallback), :attr:`connects`.
    """

    def __init__(
        self,
        conninfo: dict[str, str],
        notifier: Notifier,
        node_id: str,
        fallback_s: float,
        due_clients: Callable[[], set[str]],
        rng: random.Random | None = None,
    ) -> None:
        self._conninfo = conninfo
        self.notifier = notifier
        self.node_id = node_id
        self.fallback_s = fallback_s
        self._due_clients = due_clients
        self._rng = rng if rng is not None else random.Random()
        self.listening = asyncio.Event()
        self.backend_pid: int | None = None
        self.received = 0
        self.fallback_woken = 0
        self.connects = 0

    def deliver(self, payload: str) -> None:
        """Handle one notification payload: wake its client unless this node sent it."""
        node, space, client_id = payload.partition(" ")
        if not space or not client_id or node == self.node_id:
            return
        self.received += 1
        self.notifier.notify([client_id])

    async def fallback(self) -> None:
        """Wake every client with due work (catches any lost notification)."""
        due = await run_in_threadpool(self._due_clients)
        if due:
            self.fallback_woken += len(due)
            self.notifier.notify(due)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after any connection failure."""
        attempt = 0
        while True:
            connects = self.connects
            try:
                await self._listen()  # returns only by raising
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # psycopg.Error, OSError, a failed fallback query, ...
                self.listening.clear()
                self.backend_pid = None
                attempt = 1 if self.connects > connects else attempt + 1
                delay = backoff_delay(attempt, self._rng)
                logger.warning(
                    "wake-up listener lost PostgreSQL (%s: %s); reconnecting in %.2f s",
                    type(exc).__name__,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                    delay,
                )
                await asyncio.sleep(delay)

    async def _listen(self) -> None:
        params = {"connect_timeout": str(CONNECT_TIMEOUT_S), **self._conninfo}  # the URL's wins
        conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
        async with conn:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            self.backend_pid = conn.info.backend_pid
            self.connects += 1
            self.listening.set()
            logger.info("wake-up listener on channel %s (node %s)", CHANNEL, self.node_id)
            await self.fallback()  # whatever was queued while we were not listening
            while True:
                async for note in conn.notifies(timeout=self.fallback_s):
                    self.deliver(note.payload)
                await conn.execute("SELECT 1")  # a dead connection raises here
                await self.fallback()

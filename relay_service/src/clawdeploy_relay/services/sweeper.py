"""The background sweep: failover of gone clients' work, lease wake-ups, TTL expiry.

:func:`run_sweeper` runs :meth:`~.relay.RelayService.sweep` every ``interval_s`` seconds
in a worker thread (the store blocks) and wakes the long-polls it names. An error is
logged and the loop goes on: one bad sweep must not stop delivery.
"""

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from .notifier import Notifier
from .relay import RelayService

logger = logging.getLogger("clawdeploy_relay.sweeper")


async def sweep_once(relay: RelayService, notifier: Notifier) -> int:
    """Run one sweep and wake its clients; return how many conversations expired."""
    woken, expired = await run_in_threadpool(relay.sweep)
    notifier.notify(woken)
    if expired:
        logger.info("expired %d conversation(s) past the TTL", expired)
    return expired


async def run_sweeper(relay: RelayService, notifier: Notifier, interval_s: float) -> None:
    """Sweep every ``interval_s`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await sweep_once(relay, notifier)
        except Exception:  # keep sweeping; the log says what failed
            logger.exception("relay sweep failed; retrying in %.1f s", interval_s)

"""Stopping: one flag the whole connector watches, and sleeps that end when it is raised.

A retry loop waits with :meth:`Stop.sleep`; once :meth:`Stop.set` is called (SIGTERM),
the sleep raises :class:`AbandonedError` at once, so a message waiting for a gateway or relay
that is down is left un-acked (the relay's lease delivers it again) instead of holding the
shutdown up.
"""

import asyncio


class AbandonedError(Exception):
    """The connector is stopping: leave the current message un-acked."""


class Stop:
    """A stop flag with interruptible sleeps (create it inside the running loop)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        """Ask everything to stop."""
        self._event.set()

    def is_set(self) -> bool:
        """True once :meth:`set` was called."""
        return self._event.is_set()

    async def wait(self) -> None:
        """Return once :meth:`set` was called."""
        await self._event.wait()

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``; raise :class:`AbandonedError` if stopping (before or during)."""
        if self._event.is_set():
            raise AbandonedError
        try:
            await asyncio.wait_for(self._event.wait(), timeout=max(seconds, 0.0))
        except asyncio.TimeoutError:
            return
        raise AbandonedError

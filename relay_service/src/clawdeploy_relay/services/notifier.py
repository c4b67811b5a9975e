"""In-process wake-ups for long-polls: one version counter and event per client.

A poller reads :meth:`version`, tries to claim, and if nothing came waits for the version
to change, so a message queued between the claim and the wait is not missed. The routes
and the sweep call :meth:`notify` for what this node queued; on PostgreSQL the
LISTEN/NOTIFY listener (:mod:`.wake_listener`) calls it for what other nodes queued.
"""

import asyncio


class Notifier:
    """Wake long-polls of a client when a message is queued for it (event-loop only)."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._events: dict[str, asyncio.Event] = {}

    def version(self, client_id: str) -> int:
        """The client's current wake-up version."""
        return self._versions.get(client_id, 0)

    def notify(self, client_ids: set[str] | list[str]) -> None:
        """Wake every long-poll of these clients."""
        for client_id in client_ids:
            self._versions[client_id] = self.version(client_id) + 1
            event = self._events.pop(client_id, None)
            if event is not None:
                event.set()

    async def wait(self, client_id: str, seen: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a version after ``seen``; return if it came."""
        if self.version(client_id) != seen:
            return True
        event = self._events.setdefault(client_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

"""Group commit: single writes that arrive together share one transaction (SQLite).

On SQLite every transaction takes the one writer lock and ends with an fsync
(``synchronous=FULL``), so single ``POST /inbound`` and ``POST /send`` requests queue for
the lock one commit at a time. :class:`GroupCommit` gathers the requests that arrive while
a commit is running and writes them in the next transaction, together: each request still
gets its answer only after the commit that holds its message (a 200 still means durable),
and a lone request is written at once (no added wait). Each item keeps its own outcome
(an item refused with an :class:`~..envelope.ApiError` does not affect the others); an
error of the transaction itself (the database) fails every request of that group. Items
are written in the order they arrived, so one user's messages keep their order.

The event-loop side only (not thread-safe); the batch function runs in the threadpool.
"""

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

Item = TypeVar("Item")
Result = TypeVar("Result")
MAX_GROUP = 200  # items per transaction


class GroupCommit(Generic[Item, Result]):
    """Run ``write(items) -> results`` (one result per item, in order) for groups of the
    items submitted meanwhile, one group at a time."""

    def __init__(self, write: Callable[[list[Item]], list[Result]], max_group: int = MAX_GROUP):
        self.write = write
        self.max_group = max_group
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.groups = 0  # transactions run (for tests and figures)

    async def submit(self, item: Item) -> Result:
        """Queue ``item``; return its result once its group is committed (or raise the
        group's error)."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            group, self._queue = self._queue[: self.max_group], self._queue[self.max_group :]
            self.groups += 1
            try:
                results = await run_in_threadpool(self.write, [item for item, _f in group])
            except BaseException as exc:  # every waiter of this group gets the error
                for _item, future in group:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_item, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)


class _Slot(Generic[Item, Result]):
    """One caller's item in :class:`ThreadGroupCommit`, and how it ended."""

    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = threading.Event()
        self.lead = False  # woken to write the next group rather than with a result
        self.result: Result | None = None
        self.error: BaseException | None = None


class ThreadGroupCommit(Generic[Item, Result]):
    """:class:`GroupCommit` for callers in worker threads (any thread may call
    :meth:`submit`; the WebSocket's and HTTP's acks alike).

    The first caller writes its group at once; callers arriving meanwhile wait, and when
    the group is committed the first of them writes the next group (theirs). A caller
    writes at most one group besides waiting for its own, so none waits for others
    without end.
    """

    def __init__(self, write: Callable[[list[Item]], list[Result]], max_group: int = MAX_GROUP):
        self.write = write
        self.max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[_Slot[Item, Result]] = []
        self._writing = False
        self.groups = 0

    def submit(self, item: Item) -> Result:
        """Write ``item`` with the others waiting; return its result (or raise the error
        of its group's transaction)."""
        slot: _Slot[Item, Result] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            lead = not self._writing
            self._writing = True
        if not lead:
            slot.done.wait()
        if slot.lead or lead:
            self._write_next()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _write_next(self) -> None:
        with self._lock:
            group, self._queue = self._queue[: self.max_group], self._queue[self.max_group :]
            self.groups += 1
        try:
            results = self.write([slot.item for slot in group])
        except BaseException as exc:  # every caller of this group gets the error
            for slot in group:
                slot.error = exc
        else:
            for slot, result in zip(group, results, strict=True):
                slot.result = result
        with self._lock:
            if self._queue:
                self._queue[0].lead = True  # it writes the next group, then returns
                self._queue[0].done.set()
            else:
                self._writing = False
        for slot in group:
            slot.lead = False
            slot.done.set()

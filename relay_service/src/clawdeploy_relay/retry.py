"""Re-running a transaction that a concurrent relay node made fail (PostgreSQL).

At ``READ COMMITTED`` with the store's row locks, another node can make a transaction fail
in four ways, each harmless to run again from the start (nothing of it was committed):

* ``40001`` serialization failure and ``40P01`` deadlock (PostgreSQL picked this one);
* ``23505`` unique violation: two nodes stored the first message of one user (one
  conversation per user) or the same idempotency key at once; the retry finds the other
  node's row and answers as for a retry of the request;
* ``23503`` foreign-key violation: the conversation was deleted by the expiry sweep of
  another node while this one wrote to it; the retry starts a new one.

SQLite errors carry no SQLSTATE and are never retried (its writers are serialised).
"""

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError

logger = logging.getLogger("clawdeploy_relay.retry")
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "23505", "23503"})
ATTEMPTS = 5  # the first try and four retries
BASE_DELAY_S = 0.005  # doubled each retry, with jitter: 5, 10, 20, 40 ms at most

P = ParamSpec("P")
T = TypeVar("T")


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (psycopg's ``sqlstate``), or None."""
    if isinstance(exc, DBAPIError):
        return getattr(exc.orig, "sqlstate", None)
    return None


def retried(fn: Callable[P, T]) -> Callable[P, T]:
    """Decorate a function that runs one whole transaction: re-run it on a retryable error.

    Up to :data:`ATTEMPTS` runs, sleeping a few milliseconds in between (the caller is a
    worker thread). The last error is raised as it came (:class:`sqlalchemy.exc.DBAPIError`);
    any other exception at once.
    """

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn(*args, **kwargs)
            except DBAPIError as exc:
                state = sqlstate(exc)
                if state not in RETRYABLE_SQLSTATES or attempt == ATTEMPTS:
                    raise
                delay = BASE_DELAY_S * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
                logger.info(
                    "%s: transaction conflict (SQLSTATE %s), retry %d in %.0f ms",
                    fn.__qualname__,
                    state,
                    attempt,
                    delay * 1000,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    return run

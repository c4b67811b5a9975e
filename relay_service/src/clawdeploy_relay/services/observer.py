"""What the delivery service reports as it works, for metrics (:mod:`..metrics`).

:class:`~.relay.RelayService` calls these after each transaction has committed, so a
rolled-back operation is never counted. The no-op :class:`NullObserver` is the default,
so the service runs (and is tested) without Prometheus.
"""

from collections.abc import Sequence
from typing import Literal, Protocol

StoredKind = Literal["inbound", "send"]


class DeliveryObserver(Protocol):
    """Receives delivery events; implementations must be cheap and never raise."""

    def stored(self, kind: StoredKind) -> None:
        """A new message was stored: a user's (``inbound``) or a client's reply (``send``).

        Not called for a retry answered from its idempotency key.
        """

    def delivered(self, latencies: Sequence[float], redelivered: int) -> None:
        """A claim leased messages to a client.

        ``latencies``: seconds from storage to this first delivery, one per message
        delivered for the first time; ``redelivered``: how many were delivered again.
        """


class NullObserver:
    """A :class:`DeliveryObserver` that records nothing."""

    def stored(self, kind: StoredKind) -> None:
        """Record nothing."""

    def delivered(self, latencies: Sequence[float], redelivered: int) -> None:
        """Record nothing."""

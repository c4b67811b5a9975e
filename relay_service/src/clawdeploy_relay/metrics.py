"""Prometheus metrics of one relay app, in its own registry (served by ``GET /metrics``).

Each app has its own :class:`~prometheus_client.CollectorRegistry`, so several apps in one
process (the tests) never share a counter. Counters and the histogram move as the relay
works: :class:`RelayMetrics` is the delivery service's observer (:mod:`.services.observer`)
and the envelope's error hook. The gauges are read from the store when Prometheus scrapes
(:class:`StoreGauges`): one query for the clients, one grouped query for the
conversations, whatever the traffic. Every name and label is listed in README.md.
"""

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from .services.observer import StoredKind
from .services.relay import RelayService
from .services.states import CLIENT_STATES, CONVERSATION_STATES

# Seconds, inbound stored → first delivered: a long-poll or WebSocket push lands in the
# millisecond buckets, the seed's 1 s polling around 0.5 s, a backlog further right.
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# Error codes counted as refusals (429 and 413 answers, and the same refusals on /ws).
REFUSAL_CODES = ("rate_limited", "request_too_large", "text_too_long")


class RelayMetrics:
    """The app's registry and the instruments the relay moves as it works."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "relay_messages",
            "Messages stored: kind=inbound (from users), kind=send (replies from clients); "
            "retries answered from their idempotency key are not counted",
            ["kind"],
            registry=self.registry,
        )
        self.redeliveries = Counter(
            "relay_redeliveries",
            "Messages delivered again after their lease ran out or their client failed over",
            registry=self.registry,
        )
        self.latency = Histogram(
            "relay_delivery_latency_seconds",
            "Seconds from an inbound message being stored to its first delivery to a client",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "relay_refusals",
            "Requests refused for their rate (code=rate_limited, 429) or size "
            "(code=request_too_large or text_too_long, 413)",
            ["code"],
            registry=self.registry,
        )
        self.websockets = Gauge(
            "relay_websocket_connections",
            "Client WebSockets open and authenticated now",
            registry=self.registry,
        )
        for kind in ("inbound", "send"):
            self.messages.labels(kind)
        for code in REFUSAL_CODES:
            self.refusals.labels(code)

    # --- the delivery observer (services/observer.py) ---------------------------------

    def stored(self, kind: StoredKind) -> None:
        """Count a newly stored message of ``kind``."""
        self.messages.labels(kind).inc()

    def delivered(self, latencies: Sequence[float], redelivered: int) -> None:
        """Observe first-delivery latencies (seconds) and count redeliveries."""
        for seconds in latencies:
            self.latency.observe(seconds)
        if redelivered:
            self.redeliveries.inc(redelivered)

    # --- refusals: the envelope's error hook, the body limit, the WebSocket --------------

    def refused(self, error_code: str) -> None:
        """Count a refusal when ``error_code`` is one of :data:`REFUSAL_CODES`."""
        if error_code in REFUSAL_CODES:
            self.refusals.labels(error_code).inc()

    def error(self, status: int, error_code: str) -> None:
        """The envelope's hook: count the error answer if it is a refusal."""
        del status  # the code says it all; the hook's signature carries both
        self.refused(error_code)


class StoreGauges:
    """Gauges computed from the store at scrape time (a custom Prometheus collector).

    ``relay_client_pending{client,name}`` (un-acked inbound messages of each client that is
    not revoked), ``relay_clients{state}`` and ``relay_conversations{state}`` (every state
    listed, 0 when empty), all at the relay's clock.
    """

    def __init__(self, relay: RelayService) -> None:
        self.relay = relay

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "relay_client_pending",
                "Inbound messages assigned to a client and not acked yet",
                labels=["client", "name"],
            ),
            GaugeMetricFamily("relay_clients", "Clients in each state", labels=["state"]),
            GaugeMetricFamily(
                "relay_conversations", "Conversations in each state", labels=["state"]
            ),
        )

    def describe(self) -> Iterator[Metric]:
        """The families without samples, so registering does not query the store."""
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        """Read the store (two queries) and yield the three gauge families."""
        relay, s = self.relay, self.relay.settings
        now = relay.clock()
        with relay.store.tx() as conn:
            loads = relay.loads(conn, now)
            convs = relay.store.conversation_state_counts(
                conn, now, s.idle_after_s, s.conversation_ttl_s
            )
        pending, clients, conversations = self._families()
        by_state = dict.fromkeys(CLIENT_STATES, 0)
        for row in loads:
            by_state[row["state"]] += 1
            if row["state"] != "revoked":
                pending.add_metric([row["id"], row["name"]], row["pending"])
        for state, count in by_state.items():
            clients.add_metric([state], count)
        for state in CONVERSATION_STATES:
            conversations.add_metric([state], convs.get(state, 0))
        yield from (pending, clients, conversations)

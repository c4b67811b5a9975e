"""Prometheus metrics, on a registry private to each app (no global state).

* ``clawdeploy_backend_http_requests_total{method, route, status}``
* ``clawdeploy_backend_http_request_duration_seconds{method, route}`` (histogram)
* ``clawdeploy_backend_gateway_probes_total{diagnosis}``: live probes of the gateway only
  (answers from the cache or the circuit are not probes)
* ``clawdeploy_backend_gateway_circuit_open``, ``clawdeploy_backend_read_only``,
  ``clawdeploy_backend_memory_available_bytes`` (gauges, set when /metrics is read)
* ``clawdeploy_backend_executor_queue_depth``, ``clawdeploy_backend_executor_jobs{state}``
  (jobs in the database by state), ``clawdeploy_backend_executor_available`` (gauges, set
  when /metrics is read); ``clawdeploy_backend_executor_jobs_finished_total{outcome}``
  (``succeeded`` or the job's error code)

``route`` is the route *template* (``/api/v1/models``), never the raw path, so ids in a
URL cannot blow up the label set; a request that matched no route is ``unmatched``.
"""

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The app's collectors; ``registry`` is what ``GET /metrics`` renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        prefix = "clawdeploy_backend"
        self.requests = Counter(
            f"{prefix}_http_requests",
            "HTTP requests by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{prefix}_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.probes = Counter(
            f"{prefix}_gateway_probes",
            "Live gateway probes by diagnosis",
            ["diagnosis"],
            registry=self.registry,
        )
        self.circuit_open = Gauge(
            f"{prefix}_gateway_circuit_open",
            "1 while the gateway circuit breaker is open",
            registry=self.registry,
        )
        self.read_only = Gauge(
            f"{prefix}_read_only",
            "1 while low memory keeps the service read-only",
            registry=self.registry,
        )
        self.memory_available = Gauge(
            f"{prefix}_memory_available_bytes",
            "MemAvailable of the host (-1 when unknown)",
            registry=self.registry,
        )

        self.executor_queue_depth = Gauge(
            f"{prefix}_executor_queue_depth",
            "Executor jobs waiting in the queue",
            registry=self.registry,
        )
        self.executor_jobs = Gauge(
            f"{prefix}_executor_jobs",
            "Executor jobs in the database by state",
            ["state"],
            registry=self.registry,
        )
        self.executor_available = Gauge(
            f"{prefix}_executor_available",
            "1 when the executor is enabled and its codex binary answers",
            registry=self.registry,
        )
        self.executor_finished = Counter(
            f"{prefix}_executor_jobs_finished",
            "Executor jobs that ended, by outcome (succeeded or the error code)",
            ["outcome"],
            registry=self.registry,
        )

    def count_probe(self, result: dict[str, Any]) -> None:
        """Count one live probe result by its diagnosis."""
        self.probes.labels(diagnosis=str(result.get("diagnosis", "unknown"))).inc()


class MetricsMiddleware:
    """Pure ASGI middleware counting each HTTP request by route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=route).observe(
                time.perf_counter() - start
            )

"""Response bodies of backend-service; each JSON body is an :class:`Envelope`.

``ok`` in the envelope says whether the *request* succeeded; a gateway's health is in the
payload (``diagnosis``, ``gateway.ok``). Errors are :class:`ErrorEnvelope`.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Envelope(BaseModel):
    """``{"ok": bool, "trace_id": str}``, the fields every JSON response starts with."""

    ok: bool = True
    trace_id: str


class ErrorEnvelope(Envelope):
    """``{"ok": false, "trace_id", "error_code", "error"}``; ``error`` says what to fix."""

    ok: bool = False
    error_code: str
    error: str


class HealthResponse(Envelope):
    """Body of ``GET /healthz``: liveness of backend-service itself, never of the gateway."""

    service: str
    version: str


class ServiceInfo(BaseModel):
    """Name and version of this backend-service."""

    name: str
    version: str


class GatewayProbeResult(BaseModel):
    """One probe of the gateway, as returned by ``gateway_probe.probe_gateway``.

    ``diagnosis`` is a code of the diagnosis taxonomy and ``fix`` its one-line remedy;
    ``http_status`` is None when no HTTP answer came back; ``reply`` is the model's text
    when the probe succeeded; ``failing`` lists the gateway's failing readiness checks.
    """

    model_config = ConfigDict(extra="ignore")

    diagnosis: str
    ok: bool
    http_status: int | None = None
    latency_ms: int = 0
    fix: str = ""
    detail: str = ""
    reply: str | None = None
    health: dict[str, Any] | None = None
    failing: list[str] = Field(default_factory=list)
    attempts: int = 1


class CircuitState(BaseModel):
    """The gateway circuit breaker: ``open`` means no request goes to the gateway."""

    state: str
    consecutive_failures: int
    retry_in_s: float | None = None


class ExecutorStatus(BaseModel):
    """The executor in ``/api/v1/status``: its own diagnosis (``ok`` or
    ``executor_not_available``), never mixed into the gateway's."""

    available: bool
    enabled: bool
    version: str | None
    queue_depth: int
    running_job_id: str | None
    diagnosis: str
    fix: str


class StatusResponse(Envelope):
    """Body of ``GET /api/v1/status``: this service and its gateway's diagnosis.

    ``probe_source`` says whether ``gateway`` is a ``live`` probe, from the ``cache``
    (``probe_age_s`` old) or from the open ``circuit``; ``read_only`` is true when
    available memory (``memory_available_mb``, null when unknown) is below the threshold;
    ``executor`` is the Codex executor's availability and queue.
    """

    service: ServiceInfo
    diagnosis: str
    gateway: GatewayProbeResult
    probe_source: str
    probe_age_s: float
    circuit: CircuitState
    read_only: bool
    memory_available_mb: int | None
    executor: ExecutorStatus


class ModelInfo(BaseModel):
    """One provider's metadata; keys are never stored, so never shown."""

    provider_id: str
    model: str
    provider_type: str
    base_url: str
    enabled: bool
    is_default: bool
    source: str
    updated_at: str


class ModelsResponse(Envelope):
    """Body of ``GET /api/v1/models``: the stored models and the last sync (or null)."""

    count: int
    default_provider_id: str | None
    models: list[ModelInfo]
    last_sync: dict[str, Any] | None


class SyncResponse(Envelope):
    """Body of a successful import or pull: what was stored and why anything was skipped."""

    source: str
    count: int
    default_provider_id: str | None
    warnings: list[str]
    models: list[ModelInfo]


class SyncErrorEnvelope(ErrorEnvelope):
    """A failed import or pull; ``attempts`` lists each source tried."""

    attempts: list[dict[str, str]] = Field(default_factory=list)

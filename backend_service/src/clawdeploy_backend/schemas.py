"""Response bodies of backend-service; each JSON body is an :class:`Envelope`.

``ok`` in the envelope says whether the *request* succeeded; a gateway's health is in the
payload (``diagnosis``, ``gateway.ok``). Errors are :class:`ErrorEnvelope`.

Each ``/api/v1`` body also carries the keys and types of the seed's backend-service
v0.3.1 for the same route (``state`` of the status, ``imported`` / ``pulled`` of a sync,
``imported_at`` of a model, ...), built by :mod:`.services.seed_compat`.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field


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


class SyncRecord(BaseModel):
    """A successful sync as v0.3.1 recorded it, plus the ``sync_runs`` columns of ours
    (``actor``, ``action``, ``outcome``, ``count``, ``finished_at``, ...)."""

    model_config = ConfigDict(extra="allow")

    imported_at: str
    source: str
    provider_count: int
    trace_id: str


class SeedServiceInfo(ServiceInfo):
    """``state.service``: name, version, the time of the answer, and ``host:port``."""

    time: str
    bind: str


class WorkerInfo(BaseModel):
    """``state.worker``: jobs queued, whether the job worker runs, jobs run at once."""

    queue_size: int
    running: bool
    concurrency: int


class SidecarProbe(BaseModel):
    """``state.sidecar_probe``: the gateway probe in v0.3.1's words (``status_code`` 0
    without an HTTP answer; ``error_type`` our diagnosis code, ``""`` when ok)."""

    ok: bool
    status_code: int
    message: str
    error_type: str


class SeedState(BaseModel):
    """``state`` of ``GET /api/v1/status``: v0.3.1's whole status answer."""

    service: SeedServiceInfo
    worker: WorkerInfo
    executors: dict[str, dict[str, Any]]
    last_model_sync: SyncRecord | None
    sidecar_probe: SidecarProbe


class StatusResponse(Envelope):
    """Body of ``GET /api/v1/status``: this service and its gateway's diagnosis.

    ``probe_source`` says whether ``gateway`` is a ``live`` probe, from the ``cache``,
    ``stale`` (older than ``GATEWAY_PROBE_CACHE_S``, a background refresh is running) or
    from the open ``circuit``; ``probe_age_s`` is its age in seconds; ``read_only`` is true when
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
    state: SeedState


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

    @computed_field  # type: ignore[prop-decorator]
    @property
    def imported_at(self) -> str:
        """``updated_at`` under v0.3.1's name."""
        return self.updated_at


class ModelsResponse(Envelope):
    """Body of ``GET /api/v1/models``: the stored models, the last successful sync
    (``last_sync``, null before the first) and the last attempt whatever its outcome."""

    count: int
    default_provider_id: str | None
    models: list[ModelInfo]
    last_sync: SyncRecord | None
    last_attempt: dict[str, Any] | None


class ProviderMeta(BaseModel):
    """A provider's metadata as v0.3.1's pull listed it."""

    provider_id: str
    model: str
    provider_type: str
    base_url: str


class PullReport(BaseModel):
    """``pulled`` of a successful pull (v0.3.1's shape)."""

    ok: bool
    source_mode: str
    source_used: str
    provider_count: int
    using_provider: ProviderMeta | None
    providers: list[ProviderMeta]
    warnings: list[str]
    error_code: str
    error: str


class SyncResponse(Envelope):
    """Body of a successful import or pull: what was stored and why anything was skipped.

    v0.3.1's keys: ``imported`` (the sync record), and for a pull ``pulled``,
    ``source_mode`` and empty ``error_code`` / ``error`` (null / absent for an import).
    """

    source: str
    count: int
    default_provider_id: str | None
    warnings: list[str]
    models: list[ModelInfo]
    imported: SyncRecord
    pulled: PullReport | None = None
    source_mode: str | None = None
    error_code: str = ""
    error: str = ""


class SyncErrorEnvelope(ErrorEnvelope):
    """A failed import or pull; ``attempts`` lists each source tried."""

    attempts: list[dict[str, str]] = Field(default_factory=list)

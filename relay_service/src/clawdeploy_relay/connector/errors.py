"""What can go wrong when calling the gateway or the relay, sorted by what the connector does.

:class:`GatewayError` kinds (the classes of ``openclaw-facts.md`` Q2):

* ``unavailable`` — no HTTP answer (refused, reset, timeout), 408, 5xx: retry with
  backoff; the message stays un-acked.
* ``model`` — a failed OpenResponses response object (``"object": "response"``,
  ``status`` not completed; an upstream provider failed, even when the HTTP status is
  401): retry with backoff.
* ``auth`` — 401/403 without a response object (the gateway refused our token) or 429
  (locked out after failed auth): retry slowly (``CONNECTOR_AUTH_RETRY_S``), log an error.
* ``not_serving`` — 404/405 or a 200 that is not a response object (the endpoint is off,
  ``gateway.http.endpoints.responses.enabled``, or the URL is not a gateway): retry slowly.
* ``rejected`` — 400 and any other 4xx: the request itself is refused and will be again;
  the user gets ``CONNECTOR_ERROR_REPLY`` (see :mod:`.ask`).

:class:`RelayError` kinds: ``unavailable`` (no answer, 5xx, 429), ``auth`` (401/403: the
client token is wrong or revoked), ``rejected`` (other 4xx; ``code`` is the envelope's
``error_code``, e.g. 404 ``conversation_not_found``, 409 ``idempotency_conflict``).

``detail`` is a short, human-readable reason for the log; it never holds a token (callers
pass it through :func:`~.logs.redact`).
"""

from typing import Literal

GatewayKind = Literal["unavailable", "model", "auth", "not_serving", "rejected"]
RelayKind = Literal["unavailable", "auth", "rejected"]


class GatewayError(Exception):
    """A ``POST /v1/responses`` that gave no reply text."""

    def __init__(
        self,
        kind: GatewayKind,
        detail: str,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind: GatewayKind = kind
        self.detail = detail
        self.status = status
        self.retry_after_s = retry_after_s


class RelayError(Exception):
    """A relay call (poll, send, ack) that did not succeed."""

    def __init__(
        self,
        kind: RelayKind,
        detail: str,
        status: int | None = None,
        code: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind: RelayKind = kind
        self.detail = detail
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds (RFC 9110 §10.2.3); the
    HTTP-date form and garbage give None."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None

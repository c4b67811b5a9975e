"""What the batch routes (``POST /inbound/batch``, ``POST /send/batch``) share: one item's
result as JSON, and the refusal of a request-wide ``Idempotency-Key`` header."""

from typing import Any

from ..envelope import ApiError
from ..services.relay import ItemResult


def item_json(result: ItemResult) -> dict[str, Any]:
    """``{ok: true, status: 200, message}``, or ``{ok: false, status, error_code, error}``
    with ``retryAfter`` (seconds) for a 429."""
    if result.error is None:
        return {"ok": True, "status": 200, "message": result.message}
    exc = result.error
    body: dict[str, Any] = {
        "ok": False,
        "status": exc.status_code,
        "error_code": exc.error_code,
        "error": exc.error,
    }
    retry = exc.headers.get("Retry-After")
    if retry is not None:
        body["retryAfter"] = int(retry)
    return body


def no_batch_header(header: str | None) -> None:
    """422 ``invalid_request`` when a batch carries an ``Idempotency-Key`` header: one key
    cannot name several messages; each item takes its own ``idempotencyKey``."""
    if header is not None:
        raise ApiError(
            422,
            "invalid_request",
            "a batch takes no Idempotency-Key header; give each item its own idempotencyKey",
        )

"""``POST /inbound`` and ``POST /inbound/batch``: users' messages, stored durably before
the 200, then queued.

Takes an integration's token (its users) or the admin token (the ``default`` integration's
users). The seed's body ``{from, text}``; a retry with the same ``Idempotency-Key`` header
(or ``idempotencyKey`` field) and the same content returns the first message and stores
nothing; the same key with other content is 409 ``idempotency_conflict``.

The batch form takes ``{messages: [{from, text, idempotencyKey?}, ...]}`` (1 to
:data:`~..schemas.MAX_BATCH_ITEMS` items, the whole body within ``RELAY_MAX_BODY_BYTES``)
and stores them in ONE transaction (one commit for all). It answers 200 with one result
per item, in order: ``{ok: true, status: 200, message}`` or ``{ok: false, status,
error_code, error}`` — 413 ``text_too_long``, 429 ``rate_limited`` (+ ``retryAfter``: the
user's rate counts each item), 409 ``idempotency_conflict`` — for that item alone. Keys go
in the items (the ``Idempotency-Key`` header is refused there: 422).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..auth import IntegrationDep
from ..deps import get_metrics, get_notifier, get_relay, get_user_limiter, ok
from ..envelope import ApiError
from ..metrics import RelayMetrics
from ..schemas import BatchOut, ErrorOut, InboundBatchIn, InboundIn, InboundOut
from ..services.notifier import Notifier
from ..services.ratelimit import RateLimiter
from ..services.relay import InboundItem, ItemResult, RelayService
from .items import item_json, no_batch_header
from .params import AUTH_ERRORS, BODY_ERRORS, IdempotencyHeader, SettingsDep, check_text
from .params import idempotency_key as pick_key

router = APIRouter(tags=["users"], responses={**AUTH_ERRORS, **BODY_ERRORS})
RelayDep = Annotated[RelayService, Depends(get_relay)]
NotifierDep = Annotated[Notifier, Depends(get_notifier)]
LimiterDep = Annotated[RateLimiter, Depends(get_user_limiter)]


@router.post(
    "/inbound",
    response_model=InboundOut,
    responses={409: {"model": ErrorOut, "description": "idempotency_conflict"}},
)
async def inbound(
    request: Request,
    body: InboundIn,
    integration: IntegrationDep,
    settings: SettingsDep,
    relay: RelayDep,
    notifier: NotifierDep,
    limiter: LimiterDep,
    idempotency_key: IdempotencyHeader = None,
) -> Any:
    """Store and queue the message; wake the owning client's long-poll.

    A new user's conversation goes to the least-busy client; later messages stick to it.
    429 ``rate_limited`` above ``RELAY_USER_RATE_PER_S`` per user.
    """
    key = pick_key(idempotency_key, body.idempotency_key)
    check_text(body.text, settings)
    integration_id = integration.integration_id
    limiter.check(f"user:{integration_id}:{body.sender}")
    if relay.inbound_commits is None:  # PostgreSQL: a transaction of its own
        message, wake = await run_in_threadpool(
            relay.inbound, integration_id, body.sender, body.text, key
        )
    else:  # SQLite: shares the commit of the posts that arrive with it
        item = InboundItem(body.sender, body.text, key)
        result = await relay.inbound_commits.submit((integration_id, item))
        if result.error is not None:
            raise result.error
        assert result.message is not None
        message = result.message
        wake = {message["clientId"]} if result.stored and message["clientId"] else set()
    notifier.notify(wake)
    return JSONResponse(ok(request, **message))


@router.post(
    "/inbound/batch",
    response_model=BatchOut,
    responses={422: {"model": ErrorOut, "description": "invalid_request"}},
)
async def inbound_batch(
    request: Request,
    body: InboundBatchIn,
    integration: IntegrationDep,
    settings: SettingsDep,
    relay: RelayDep,
    notifier: NotifierDep,
    limiter: LimiterDep,
    metrics: Annotated[RelayMetrics, Depends(get_metrics)],
    idempotency_key: IdempotencyHeader = None,
) -> Any:
    """Store and queue up to 500 messages in one transaction; a result per item, in order.

    Each item as ``POST /inbound`` (routing, stickiness, idempotency per item); an item
    refused for its text (413), its user's rate (429) or its key (409) leaves the others.
    """
    no_batch_header(idempotency_key)
    integration_id = integration.integration_id
    results: list[ItemResult | None] = []
    items: list[InboundItem] = []
    for message in body.messages:
        try:
            check_text(message.text, settings)
            limiter.check(f"user:{integration_id}:{message.sender}")
        except ApiError as exc:
            metrics.refused(exc.error_code)
            results.append(ItemResult(error=exc))
            continue
        results.append(None)
        items.append(InboundItem(message.sender, message.text, message.idempotency_key))
    stored: list[ItemResult] = []
    if items:
        stored, wake = await run_in_threadpool(relay.inbound_batch, integration_id, items)
        notifier.notify(wake)
    merged = iter(stored)
    answers = [item_json(result or next(merged)) for result in results]
    count = sum(1 for answer in answers if answer["ok"])
    return JSONResponse(ok(request, results=answers, stored=count))

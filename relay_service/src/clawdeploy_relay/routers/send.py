"""``POST /send`` and ``POST /send/batch`` (client token): replies to conversations this
client owns.

The seed's body ``{to, text, conversationId}`` (``to`` alone is enough when the client has
one conversation with that user). Sending acks this conversation's delivered messages
(or exactly ``ackIds``). An ``Idempotency-Key`` (header or ``idempotencyKey``) makes a
retry return the first reply instead of storing a second.

The batch form takes ``{messages: [<a /send body>, ...]}`` (1 to
:data:`~..schemas.MAX_BATCH_ITEMS` items) and stores them in ONE transaction; the client's
rate counts each item (the whole request is 429 when the rate cannot pay for them). It
answers 200 with one result per item, in order: ``{ok: true, status: 200, message}`` or
``{ok: false, status, error_code, error}`` — 404 ``conversation_not_found``, 409
``idempotency_conflict``, 413 ``text_too_long``, 422 ``recipient_mismatch`` /
``conversation_required`` — for that item alone. Keys go in the items (the
``Idempotency-Key`` header is refused there: 422).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..auth import BatchClientDep, ClientDep, client_rate_key
from ..deps import get_client_limiter, get_metrics, get_notifier, get_relay, ok
from ..envelope import ApiError
from ..metrics import RelayMetrics
from ..schemas import BatchOut, ErrorOut, SendBatchIn, SendIn, SendOut
from ..services.notifier import Notifier
from ..services.ratelimit import RateLimiter
from ..services.relay import ItemResult, RelayService, SendItem
from .items import item_json, no_batch_header
from .params import AUTH_ERRORS, BODY_ERRORS, IdempotencyHeader, SettingsDep, check_text
from .params import idempotency_key as pick_key

router = APIRouter(tags=["clients"], responses={**AUTH_ERRORS, **BODY_ERRORS})
RelayDep = Annotated[RelayService, Depends(get_relay)]
NotifierDep = Annotated[Notifier, Depends(get_notifier)]


@router.post(
    "/send",
    response_model=SendOut,
    responses={
        404: {"model": ErrorOut, "description": "conversation_not_found"},
        409: {"model": ErrorOut, "description": "idempotency_conflict"},
    },
)
async def send(
    request: Request,
    body: SendIn,
    client: ClientDep,
    settings: SettingsDep,
    relay: RelayDep,
    notifier: NotifierDep,
    idempotency_key: IdempotencyHeader = None,
) -> Any:
    """Store the reply (durable before the 200) for the integration's outbox.

    404 ``conversation_not_found`` for a conversation that is not this client's; 422
    ``recipient_mismatch`` when ``to`` is not its user, ``conversation_required`` when
    neither ``conversationId`` nor ``to`` is given.
    """
    key = pick_key(idempotency_key, body.idempotency_key)
    check_text(body.text, settings)
    if relay.send_commits is None:  # PostgreSQL: a transaction of its own
        message = await run_in_threadpool(
            relay.send, client.id, body.conversation_id, body.to, body.text, key, body.ack_ids
        )
    else:  # SQLite: shares the commit of the sends that arrive with it
        item = SendItem(body.text, body.conversation_id, body.to, key, body.ack_ids)
        result = await relay.send_commits.submit((client.id, item))
        if result.error is not None:
            raise result.error
        message = result.message
    notifier.notify([client.id])  # its acks may free the conversation's next message
    return JSONResponse(ok(request, message=message))


@router.post("/send/batch", response_model=BatchOut)
async def send_batch(
    request: Request,
    body: SendBatchIn,
    client: BatchClientDep,
    settings: SettingsDep,
    relay: RelayDep,
    limiter: Annotated[RateLimiter, Depends(get_client_limiter)],
    metrics: Annotated[RelayMetrics, Depends(get_metrics)],
    notifier: NotifierDep,
    idempotency_key: IdempotencyHeader = None,
) -> Any:
    """Store up to 500 replies in one transaction; a result per item, in order.

    Each item as ``POST /send`` (its own key and acks); an item refused (404, 409, 413,
    422) leaves the others.
    """
    no_batch_header(idempotency_key)
    limiter.check(client_rate_key(client.id), cost=len(body.messages))
    results: list[ItemResult | None] = []
    items: list[SendItem] = []
    for message in body.messages:
        try:
            check_text(message.text, settings)
        except ApiError as exc:
            metrics.refused(exc.error_code)
            results.append(ItemResult(error=exc))
            continue
        results.append(None)
        items.append(
            SendItem(
                message.text,
                message.conversation_id,
                message.to,
                message.idempotency_key,
                message.ack_ids,
            )
        )
    stored: list[ItemResult] = []
    if items:
        stored = await run_in_threadpool(relay.send_batch, client.id, items)
    merged = iter(stored)
    answers = [item_json(result or next(merged)) for result in results]
    count = sum(1 for answer in answers if answer["ok"])
    if count:
        notifier.notify([client.id])  # their acks may free conversations' next messages
    return JSONResponse(ok(request, results=answers, stored=count))

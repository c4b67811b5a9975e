"""``POST /inbound``: a user's message, stored durably before the 200, then queued.

Takes an integration's token (its users) or the admin token (the ``default`` integration's
users). The seed's body ``{from, text}``; a retry with the same ``Idempotency-Key`` header
(or ``idempotencyKey`` field) and the same content returns the first message and stores
nothing; the same key with other content is 409 ``idempotency_conflict``.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ..auth import IntegrationDep
from ..deps import get_notifier, get_relay, get_user_limiter, ok
from ..schemas import ErrorOut, InboundIn, InboundOut
from ..services.notifier import Notifier
from ..services.ratelimit import RateLimiter
from ..services.relay import RelayService
from .params import AUTH_ERRORS, BODY_ERRORS, IdempotencyHeader, SettingsDep, check_text
from .params import idempotency_key as pick_key

router = APIRouter(tags=["users"], responses={**AUTH_ERRORS, **BODY_ERRORS})


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
    relay: Annotated[RelayService, Depends(get_relay)],
    notifier: Annotated[Notifier, Depends(get_notifier)],
    limiter: Annotated[RateLimiter, Depends(get_user_limiter)],
    idempotency_key: IdempotencyHeader = None,
) -> dict[str, Any]:
    """Store and queue the message; wake the owning client's long-poll.

    A new user's conversation goes to the least-busy client; later messages stick to it.
    429 ``rate_limited`` above ``RELAY_USER_RATE_PER_S`` per user.
    """
    key = pick_key(idempotency_key, body.idempotency_key)
    check_text(body.text, settings)
    integration_id = integration.integration_id
    limiter.check(f"user:{integration_id}:{body.sender}")
    message, wake = await run_in_threadpool(
        relay.inbound, integration_id, body.sender, body.text, key
    )
    notifier.notify(wake)
    return ok(request, **message)

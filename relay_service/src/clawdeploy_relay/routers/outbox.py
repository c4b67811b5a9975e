"""``GET /outbox``: replies to an integration's users, oldest first, by cursor.

Public in the seed; ours takes the integration's token (its own users' replies only) or
the admin token (the ``default`` integration, or any with ``?integrationId=``). Reading
does not consume: pass the answer's ``cursor`` back as ``?after=`` for the next page.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..auth import IntegrationDep
from ..deps import get_relay, ok
from ..envelope import ApiError
from ..schemas import NO_NUL, ErrorOut, OutboxOut
from ..services.relay import RelayService
from .params import AUTH_ERRORS

router = APIRouter(tags=["users"], responses=AUTH_ERRORS)
MAX_CURSOR = 2**63 - 1  # a seq is a 64-bit SQL integer; larger would be a 500, not a 422


@router.get(
    "/outbox",
    response_model=OutboxOut,
    responses={404: {"model": ErrorOut, "description": "integration_not_found"}},
)
async def outbox(
    request: Request,
    reader: IntegrationDep,
    relay: Annotated[RelayService, Depends(get_relay)],
    after: Annotated[
        int, Query(ge=0, le=MAX_CURSOR, description="the previous answer's cursor")
    ] = 0,
    integration_id: Annotated[
        str | None,
        Query(alias="integrationId", max_length=64, pattern=NO_NUL, description="admin only"),
    ] = None,
) -> Any:
    """At most ``RELAY_OUTBOX_BATCH`` replies with ``seq > after``; ``cursor`` is the last
    ``seq`` returned (or ``after`` when there is none)."""
    target = reader.integration_id
    if integration_id is not None and integration_id != target:
        if reader.kind != "admin":
            # Another integration's replies: answer as if it did not exist.
            raise ApiError(404, "integration_not_found", "no such integration for this token")
        target = integration_id
    messages = await run_in_threadpool(relay.outbox, target, after)
    cursor = messages[-1]["seq"] if messages else after
    return JSONResponse(ok(request, messages=messages, cursor=cursor))

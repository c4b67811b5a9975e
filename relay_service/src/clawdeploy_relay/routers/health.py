"""``GET /health`` (public): the seed's ``{ok, server, clients, conversations}`` counts."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from ..deps import get_overview, ok
from ..envelope import ApiError
from ..schemas import ErrorOut, HealthOut
from ..services.overview import Overview

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": ErrorOut, "description": "store_unavailable"}},
)
async def health(
    request: Request, overview: Annotated[Overview, Depends(get_overview)]
) -> dict[str, Any]:
    """Counts of clients (not revoked) and conversations, and of each state.

    503 ``store_unavailable`` when the database cannot be read.
    """
    try:
        counts = await run_in_threadpool(overview.health)
    except SQLAlchemyError as exc:
        raise ApiError(
            503, "store_unavailable", "the relay cannot read its database; see its log"
        ) from exc
    return ok(request, **counts)

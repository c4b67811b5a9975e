"""``GET /conversations`` (admin) and ``GET /conversations/{id}`` (admin, or its client).

A client asking for another client's conversation gets the same 404
``conversation_not_found`` as for an id that does not exist: ids do not leak.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from ..auth import AdminDep, ReaderDep
from ..deps import get_overview, get_relay, ok
from ..schemas import ConversationOut, ConversationsOut, ErrorOut
from ..services.overview import Overview
from ..services.relay import RelayService
from .params import AUTH_ERRORS, IdPath

router = APIRouter(tags=["conversations"], responses=AUTH_ERRORS)
OverviewDep = Annotated[Overview, Depends(get_overview)]


@router.get("/conversations", response_model=ConversationsOut)
def list_conversations(request: Request, _admin: AdminDep, overview: OverviewDep) -> dict[str, Any]:
    """Every conversation with its state, ``messageCount`` and ``pending`` (no history)."""
    return ok(request, conversations=overview.conversations())


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationOut,
    responses={404: {"model": ErrorOut, "description": "conversation_not_found"}},
)
def get_conversation(
    request: Request,
    conversation_id: IdPath,
    reader: ReaderDep,
    overview: OverviewDep,
    relay: Annotated[RelayService, Depends(get_relay)],
) -> dict[str, Any]:
    """The seed's Conversation with its whole history, oldest message first."""
    if reader.kind == "admin":
        return ok(request, **overview.conversation(conversation_id))
    return ok(request, **relay.conversation(reader.id, conversation_id))

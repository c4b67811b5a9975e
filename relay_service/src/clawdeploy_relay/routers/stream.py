"""The user side of streamed replies and cancels (integration token, or admin).

* ``GET /stream[?conversationId=id]`` → ``{streams: [Stream]}``: the replies clients are
  streaming now (``/ws`` ``chunk`` frames) to this integration's users, kept in this
  node's memory (:mod:`..services.streams`); best-effort — the durable reply is the one
  ``GET /outbox`` shows once the client sends it, and then its stream is gone.
* ``POST /cancel {messageId}`` → ``{messageId, conversationId, cancelled, notified}``:
  acks a user's message that is not acked yet (it is never delivered again and its
  conversation goes on) and pushes ``{"type": "cancel", messageId, conversationId}`` to
  the open ``/ws`` sockets of the client it is assigned to on this node (``notified``:
  how many). ``cancelled`` is false when it was acked already (answered, or cancelled).

The admin acts for the ``default`` integration on ``/stream`` (as on ``/outbox``) and may
cancel any message.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from ..auth import IntegrationDep
from ..deps import ok
from ..schemas import NO_NUL, ErrorOut, Id, Ok, Wire
from ..services.streams import cancel_message
from .params import AUTH_ERRORS, BODY_ERRORS

router = APIRouter(tags=["users"], responses=AUTH_ERRORS)


class StreamOut(Wire):
    """One reply being streamed: its chunks so far joined in ``seq`` order."""

    conversation_id: str
    reply_to: str = Field(description="the user's message this replies to")
    to: str
    text: str
    seq: int = Field(description="the highest chunk seq received")
    chunks: int
    updated_at: int


class StreamsOut(Ok):
    """``GET /stream``."""

    streams: list[StreamOut]


class CancelIn(Wire):
    """``POST /cancel``: the user's message to stop working on."""

    message_id: Id


class CancelOut(Ok):
    """``POST /cancel``'s answer."""

    message_id: str
    conversation_id: str
    cancelled: bool = Field(description="false: it was acked already")
    notified: int = Field(description="sockets of its client told on this relay node")


@router.get("/stream", response_model=StreamsOut)
def streams(
    request: Request,
    reader: IntegrationDep,
    conversation_id: Annotated[
        str | None,
        Query(alias="conversationId", max_length=64, pattern=NO_NUL),
    ] = None,
) -> dict[str, Any]:
    """The replies being streamed now to this integration's users (this node's memory)."""
    found = request.app.state.streams.read(reader.integration_id, conversation_id)
    return ok(request, streams=found)


@router.post(
    "/cancel",
    response_model=CancelOut,
    responses={**BODY_ERRORS, 404: {"model": ErrorOut, "description": "message_not_found"}},
)
async def cancel(request: Request, body: CancelIn, caller: IntegrationDep) -> dict[str, Any]:
    """Cancel a user's message: ack it, tell its client's sockets (``cancel`` frame)."""
    state = request.app.state
    scope = None if caller.kind == "admin" else caller.integration_id
    answer, client_id = await run_in_threadpool(cancel_message, state.store, scope, body.message_id)
    notified = 0
    if client_id is not None:
        state.streams.drop([body.message_id])
        frame = {"type": "cancel", **answer}
        del frame["cancelled"]
        notified = await state.sockets.push(client_id, frame)
        state.notifier.notify([client_id])  # the conversation's next message may be due
    return ok(request, **answer, notified=notified)

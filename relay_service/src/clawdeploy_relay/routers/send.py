"""``POST /send`` (client token): a reply to a conversation this client owns.

The seed's body ``{to, text, conversationId}`` (``to`` alone is enough when the client has
one conversation with that user). Sending acks this conversation's delivered messages
(or exactly ``ackIds``). An ``Idempotency-Key`` (header or ``idempotencyKey``) makes a
retry return the first reply instead of storing a second.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from ..auth import ClientDep
from ..deps import get_relay, ok
from ..schemas import ErrorOut, SendIn, SendOut
from ..services.relay import RelayService
from .params import AUTH_ERRORS, BODY_ERRORS, IdempotencyHeader, SettingsDep, check_text
from .params import idempotency_key as pick_key

router = APIRouter(tags=["clients"], responses={**AUTH_ERRORS, **BODY_ERRORS})


@router.post(
    "/send",
    response_model=SendOut,
    responses={
        404: {"model": ErrorOut, "description": "conversation_not_found"},
        409: {"model": ErrorOut, "description": "idempotency_conflict"},
    },
)
def send(
    request: Request,
    body: SendIn,
    client: ClientDep,
    settings: SettingsDep,
    relay: Annotated[RelayService, Depends(get_relay)],
    idempotency_key: IdempotencyHeader = None,
) -> dict[str, Any]:
    """Store the reply (durable before the 200) for the integration's outbox.

    404 ``conversation_not_found`` for a conversation that is not this client's; 422
    ``recipient_mismatch`` when ``to`` is not its user, ``conversation_required`` when
    neither ``conversationId`` nor ``to`` is given.
    """
    key = pick_key(idempotency_key, body.idempotency_key)
    check_text(body.text, settings)
    message = relay.send(client.id, body.conversation_id, body.to, body.text, key, body.ack_ids)
    return ok(request, message=message)

"""``GET /poll`` and ``POST /ack`` (client token): taking messages, and confirming them.

``GET /poll`` answers the seed's ``{messages}`` and marks the client connected. Each
message is leased to the client for ``RELAY_LEASE_S``; a message whose lease runs out
unacked is delivered again (``deliveryCount`` counts). Two ack modes:

* ``ack=poll`` (default, the seed's behaviour): the next poll acks what earlier polls
  delivered, so a seed client that polls every second needs nothing new;
* ``ack=explicit``: only ``POST /ack {ids}`` (or ``POST /send``) acks — at-least-once
  even when the client dies between poll and reply.

``?wait=<seconds>`` long-polls: the answer comes as soon as a message is queued for this
client, or after ``min(wait, RELAY_POLL_MAX_WAIT_S)`` seconds with ``messages: []``. A
long-poll whose client hung up claims nothing when it wakes, so the message waits for that
client's next poll instead of a lease.
"""

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..auth import ClientDep
from ..deps import get_notifier, get_relay, ok
from ..schemas import AckIn, AckOut, MessagesOut
from ..services.notifier import Notifier
from ..services.relay import RelayService
from .params import AUTH_ERRORS, BODY_ERRORS, SettingsDep

router = APIRouter(tags=["clients"], responses=AUTH_ERRORS)
RelayDep = Annotated[RelayService, Depends(get_relay)]


@router.get("/poll", response_model=MessagesOut)
async def poll(
    request: Request,
    client: ClientDep,
    settings: SettingsDep,
    relay: RelayDep,
    notifier: Annotated[Notifier, Depends(get_notifier)],
    wait: Annotated[float, Query(ge=0, le=120, description="long-poll seconds")] = 0.0,
    ack: Annotated[Literal["poll", "explicit"], Query(description="ack mode")] = "poll",
    limit: Annotated[
        int | None,
        Query(alias="max", ge=0, le=1000, description="at most this many (0: a heartbeat)"),
    ] = None,
) -> Any:
    """Lease this client's next messages (in order per conversation, at most
    ``RELAY_POLL_BATCH`` or ``max``); with ``wait``, hold the answer until one is queued.
    ``max=0`` is a heartbeat: the client counts as connected, takes nothing, and the
    answer comes at once."""
    wait = 0.0 if limit == 0 else wait
    deadline = time.monotonic() + min(wait, settings.poll_max_wait_s)
    implicit = ack == "poll"
    while True:
        # The version is read before the claim, so a message queued in between wakes us.
        seen = notifier.version(client.id)
        result = await run_in_threadpool(relay.poll, client.id, implicit, limit)
        remaining = deadline - time.monotonic()
        if result.messages or remaining <= 0:
            break
        if not await notifier.wait(client.id, seen, remaining):
            break
        # Woken: a client that hung up meanwhile must not be leased the message (it would
        # wait out RELAY_LEASE_S before going to the client's next poll).
        if await request.is_disconnected():
            break
    return JSONResponse(ok(request, messages=result.messages))


@router.post("/ack", response_model=AckOut, responses=BODY_ERRORS)
async def ack_messages(
    request: Request,
    body: AckIn,
    client: ClientDep,
    relay: RelayDep,
    notifier: Annotated[Notifier, Depends(get_notifier)],
) -> Any:
    """Ack polled messages by id. Ids not leased to this client (already acked, another
    client's, unknown) are skipped, not errors: ``acked`` says how many counted."""
    acked = await run_in_threadpool(relay.ack, client.id, body.ids)
    if acked:
        # An ack ends a conversation's lease: its next message may be taken now, so a
        # long-poll of this client held meanwhile (a connector with concurrency) wakes.
        notifier.notify([client.id])
    return JSONResponse(ok(request, acked=acked))

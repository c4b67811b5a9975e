"""Gateway clients (admin token): ``POST /clients``, ``GET /clients``, ``DELETE /clients/{id}``.

``POST`` answers the seed's ``{clientId, token, name}`` and ``signingKey`` (the key of
``/ws``'s signed hello, when ``RELAY_SIGNING_SECRET`` is set); both are shown there only.
"""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ..auth import AdminDep, PrincipalsDep
from ..deps import get_notifier, get_overview, ok
from ..schemas import ClientCreated, ClientsOut, NameIn, RevokedOut
from ..services.notifier import Notifier
from ..services.overview import Overview
from .params import AUTH_ERRORS, BODY_ERRORS, IdPath

router = APIRouter(tags=["admin"], responses=AUTH_ERRORS)
logger = logging.getLogger("clawdeploy_relay.admin")


@router.post("/clients", response_model=ClientCreated, responses=BODY_ERRORS)
def create_client(
    request: Request, body: NameIn, _admin: AdminDep, principals: PrincipalsDep
) -> dict[str, Any]:
    """Register a gateway client; its token (``rc_…``) is in this answer only."""
    made = principals.create("client", body.name)
    logger.info("client registered: id=%s name=%r", made["id"], made["name"])
    signing = request.app.state.signing  # /ws's signed hello (routers/signing.py)
    key = signing.issue(made["id"])["signingKey"] if signing.configured else None
    return ok(
        request,
        clientId=made["id"],
        token=made["token"],
        name=made["name"],
        createdAt=made["createdAt"],
        signingKey=key,
    )


@router.get("/clients", response_model=ClientsOut)
def list_clients(
    request: Request, _admin: AdminDep, overview: Annotated[Overview, Depends(get_overview)]
) -> dict[str, Any]:
    """Every client with its state and pending (un-acked) messages; never a token."""
    return ok(request, clients=overview.clients())


@router.delete(
    "/clients/{client_id}",
    response_model=RevokedOut,
    responses={404: {"description": "client_not_found"}},
)
async def revoke_client(
    request: Request,
    client_id: IdPath,
    _admin: AdminDep,
    principals: PrincipalsDep,
    notifier: Annotated[Notifier, Depends(get_notifier)],
) -> dict[str, Any]:
    """Revoke a client's token (401 from then on); its conversations move to other clients.

    Its open WebSockets are woken, see the revocation, and close (1008 ``token_revoked``);
    the wake-up runs on the event loop (the notifier is not thread-safe).
    """
    revoked = await run_in_threadpool(principals.revoke, "client", client_id)
    notifier.notify([client_id])
    request.app.state.relay.request_rehome()  # the next poll moves its work (no wait)
    logger.info("client revoked: id=%s", client_id)
    return ok(request, **revoked)

"""``POST /clients/{id}/signing-key`` (admin token): rotate a client's signing key.

The key signs the client's ``/ws`` hello (:mod:`..services.signing`); the new one is shown
in this answer only and the old one stops working at once. Sockets already open stay open
(revoke the client to close them).
"""

import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ..auth import AdminDep
from ..deps import ok
from ..schemas import ErrorOut, SigningKeyOut
from ..services.signing import SigningKeys
from .params import AUTH_ERRORS, IdPath

router = APIRouter(tags=["admin"], responses=AUTH_ERRORS)
logger = logging.getLogger("clawdeploy_relay.admin")


@router.post(
    "/clients/{client_id}/signing-key",
    response_model=SigningKeyOut,
    responses={
        404: {"model": ErrorOut, "description": "client_not_found"},
        409: {"model": ErrorOut, "description": "client_revoked, signing_not_configured"},
    },
)
async def rotate_signing_key(
    request: Request, client_id: IdPath, _admin: AdminDep
) -> dict[str, Any]:
    """Issue the client a new signing key (``rs_…``); the previous one fails from now on."""
    signing: SigningKeys = request.app.state.signing
    issued = await run_in_threadpool(signing.issue, client_id)
    logger.info("client signing key issued: id=%s", client_id)
    return ok(request, **issued)

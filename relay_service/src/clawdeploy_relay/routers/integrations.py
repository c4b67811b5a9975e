"""Integrations (admin token): who may post ``/inbound`` and read ``/outbox``.

Not in the seed, whose ``/inbound`` and ``/outbox`` were public. Each integration (a chat
front end, a webhook) gets its own ``ri_…`` token and sees only its own users' replies.
The built-in ``default`` integration takes what the admin token posts.
"""

import logging
from typing import Any

from fastapi import APIRouter, Request

from ..auth import AdminDep, PrincipalsDep
from ..deps import ok
from ..schemas import IntegrationCreated, IntegrationsOut, NameIn, RevokedOut
from .params import AUTH_ERRORS, BODY_ERRORS, IdPath

router = APIRouter(tags=["admin"], responses=AUTH_ERRORS)
logger = logging.getLogger("clawdeploy_relay.admin")


@router.post("/integrations", response_model=IntegrationCreated, responses=BODY_ERRORS)
def create_integration(
    request: Request, body: NameIn, _admin: AdminDep, principals: PrincipalsDep
) -> dict[str, Any]:
    """Create an integration; its inbound token (``ri_…``) is in this answer only."""
    made = principals.create("integration", body.name)
    logger.info("integration created: id=%s name=%r", made["id"], made["name"])
    return ok(
        request,
        integrationId=made["id"],
        token=made["token"],
        name=made["name"],
        createdAt=made["createdAt"],
    )


@router.get("/integrations", response_model=IntegrationsOut)
def list_integrations(
    request: Request, _admin: AdminDep, principals: PrincipalsDep
) -> dict[str, Any]:
    """Every integration, ``default`` first; never a token."""
    return ok(request, integrations=principals.integrations())


@router.delete(
    "/integrations/{integration_id}",
    response_model=RevokedOut,
    responses={
        404: {"description": "integration_not_found"},
        409: {"description": "default_integration"},
    },
)
def revoke_integration(
    request: Request, integration_id: IdPath, _admin: AdminDep, principals: PrincipalsDep
) -> dict[str, Any]:
    """Revoke an integration's token (401 from then on); its conversations stay."""
    revoked = principals.revoke("integration", integration_id)
    logger.info("integration revoked: id=%s", integration_id)
    return ok(request, **revoked)

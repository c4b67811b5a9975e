"""``/ws`` (client token): the WebSocket transport, an alternative to ``GET /poll``.

The upgrade request carries the client token as ``Authorization: Bearer <rc_…>``. A
refused upgrade is answered, before any WebSocket exists, with the HTTP error envelope the
other routes use — 401 ``auth_required`` / ``auth_failed`` / ``token_revoked``, 403
``wrong_token_kind``, 429 ``rate_limited`` — when the server supports the ASGI denial
extension (uvicorn does), else with close code 1008 and the ``error_code`` as reason.
Then :class:`~..ws.session.ClientSession` runs the socket; README.md lists the frames.
The route is not in ``/openapi.json`` (OpenAPI has no WebSockets).
"""

import logging

from fastapi import APIRouter, WebSocket
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool

from ..auth import authenticate, check_kind
from ..envelope import ApiError, error_response, get_trace_id
from ..services.principals import Principal, Principals
from ..ws.session import CLOSE_POLICY, ClientSession

router = APIRouter()
logger = logging.getLogger("clawdeploy_relay.ws")
DENIAL_EXTENSION = "websocket.http.response"


def _credentials(websocket: WebSocket) -> HTTPAuthorizationCredentials | None:
    scheme, token = get_authorization_scheme_param(websocket.headers.get("Authorization"))
    if scheme.lower() != "bearer" or not token:
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=token)


def _client(principals: Principals, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The calling client; ApiError 401/403 as for ``GET /poll``."""
    return check_kind(authenticate(principals, credentials), ("client",))


async def _deny(websocket: WebSocket, exc: ApiError) -> None:
    """Refuse the upgrade with the error envelope (or close 1008 without the extension)."""
    response = error_response(
        websocket, exc.status_code, exc.error_code, exc.error, exc.headers, **exc.extra
    )
    if DENIAL_EXTENSION in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:
        await websocket.close(CLOSE_POLICY, exc.error_code)


@router.websocket("/ws")
async def client_socket(websocket: WebSocket) -> None:
    """Authenticate the upgrade, then run the client's session until it closes."""
    state = websocket.app.state
    try:
        client = await run_in_threadpool(_client, state.principals, _credentials(websocket))
        state.client_limiter.check(f"client:{client.id}")
    except ApiError as exc:
        logger.info("websocket refused: %s trace_id=%s", exc.error_code, get_trace_id(websocket))
        await _deny(websocket, exc)
        return
    session = ClientSession(
        websocket,
        client,
        relay=state.relay,
        notifier=state.notifier,
        principals=state.principals,
        limiter=state.client_limiter,
        metrics=state.metrics,
        settings=state.settings,
        trace_id=get_trace_id(websocket),
    )
    await session.run()

"""``/ws`` (client token): the WebSocket transport, an alternative to ``GET /poll``.

Two ways in (README.md, "WebSocket"):

* **bearer** — the upgrade request carries ``Authorization: Bearer <rc_…>``. A refused
  upgrade is answered, before any WebSocket exists, with the HTTP error envelope the other
  routes use — 401 ``auth_required`` / ``auth_failed`` / ``token_revoked``, 403
  ``wrong_token_kind``, 429 ``rate_limited`` — when the server supports the ASGI denial
  extension (uvicorn does), else with close code 1008 and the ``error_code`` as reason.
* **signed hello** — an upgrade without an ``Authorization`` header is accepted, and its
  first frame must be a ``hello`` (:mod:`..ws.hello`) within ``RELAY_WS_HELLO_TIMEOUT_S``,
  verified by :class:`~..services.signing.SigningKeys`. A refusal is an ``error`` frame,
  then a close: 4400 (the first frame is not a valid hello), 4401 (``auth_failed``,
  ``hello_expired``, ``hello_not_configured``), 4408 (``hello_timeout``), 4429
  (``rate_limited``).

Then :class:`~..ws.session.ClientSession` runs the socket; README.md lists the frames.
The route is not in ``/openapi.json`` (OpenAPI has no WebSockets).
"""

import logging

import anyio
from fastapi import APIRouter, WebSocket
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool

from ..auth import authenticate, check_kind
from ..envelope import ApiError, error_response, get_trace_id
from ..services.principals import Principal, Principals
from ..ws.frames import error_frame, parse_hello
from ..ws.session import CLOSE_POLICY, GONE, ClientSession

router = APIRouter()
logger = logging.getLogger("clawdeploy_relay.ws")
DENIAL_EXTENSION = "websocket.http.response"
# Close codes of a refused hello (4000-4999: the application's own, RFC 6455 §7.4.2).
CLOSE_INVALID_HELLO = 4400
CLOSE_HELLO_REFUSED = 4401
CLOSE_HELLO_TIMEOUT = 4408
CLOSE_RATE_LIMITED = 4429
HELLO_TIMEOUT = ApiError(
    408, "hello_timeout", "no hello frame in time: send it first, right after the upgrade"
)


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


async def _refuse_hello(websocket: WebSocket, exc: ApiError, code: int) -> None:
    """Send the ``error`` frame, then close with ``code`` (the ``error_code`` as reason)."""
    logger.info("websocket hello refused: %s trace_id=%s", exc.error_code, get_trace_id(websocket))
    try:
        await websocket.send_json(error_frame(exc))
        await websocket.close(code, exc.error_code)
    except GONE:
        pass


async def _hello(websocket: WebSocket) -> Principal | None:
    """Accept, read and verify the hello; the client, or None once refused and closed."""
    state = websocket.app.state
    settings = state.settings
    await websocket.accept()
    message = None
    with anyio.move_on_after(settings.ws_hello_timeout_s):
        try:
            message = await websocket.receive()
        except GONE:
            return None
    if message is None:
        await _refuse_hello(websocket, HELLO_TIMEOUT, CLOSE_HELLO_TIMEOUT)
        return None
    if message["type"] == "websocket.disconnect":
        return None
    code = CLOSE_INVALID_HELLO
    try:
        text = message.get("text")
        if text is None:
            raise ApiError(422, "invalid_request", "frames are JSON text, not binary")
        hello = parse_hello(text, settings.max_body_bytes)
        code = CLOSE_HELLO_REFUSED
        client = await run_in_threadpool(
            state.signing.verify, hello.client_id, hello.ts, hello.nonce, hello.sig
        )
        code = CLOSE_RATE_LIMITED
        state.client_limiter.check(f"client:{client.id}")
    except ApiError as exc:
        state.metrics.refused(exc.error_code)
        await _refuse_hello(websocket, exc, code)
        return None
    return client


@router.websocket("/ws")
async def client_socket(websocket: WebSocket) -> None:
    """Authenticate (bearer upgrade or signed hello), then run the client's session."""
    state = websocket.app.state
    signed = websocket.headers.get("Authorization") is None
    if signed:
        found = await _hello(websocket)
        if found is None:
            return
        client = found
    else:
        try:
            client = await run_in_threadpool(_client, state.principals, _credentials(websocket))
            state.client_limiter.check(f"client:{client.id}")
        except ApiError as exc:
            logger.info(
                "websocket refused: %s trace_id=%s", exc.error_code, get_trace_id(websocket)
            )
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
        streams=state.streams,
        sockets=state.sockets,
    )
    await session.run(accepted=signed)

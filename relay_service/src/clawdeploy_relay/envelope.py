"""The JSON envelope, trace ids, and the exception handlers that keep errors in the envelope.

Every response (and WebSocket handshake answer) carries an ``X-Trace-Id`` header: the
request's own when it is valid (1-64 characters of ``[A-Za-z0-9._-]``), else a new uuid4
hex. JSON bodies repeat it as ``trace_id``. Errors are ``{"ok": false, "trace_id",
"error_code", "error"}`` with these codes from the handlers here: ``not_found`` (404),
``method_not_allowed`` (405), ``request_too_large`` (413), ``invalid_request`` (422, also
for a body that cannot be decoded, which FastAPI answers 400), ``internal_error`` (500),
``http_error`` (any other status); code that knows better raises :class:`ApiError` with
its own code. :func:`install` takes an error hook, called
``(status, error_code)`` for every error envelope (the relay counts its refusals with it).
(Copied from backend-service so the two packages install apart.)
"""

import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .schemas import NO_NUL

TRACE_HEADER = "X-Trace-Id"
ErrorHook = Callable[[int, str], None]
_TRACED_SCOPES = ("http", "websocket")
# The messages that start an answer: an HTTP response, a WebSocket accept or denial.
_HEADED_MESSAGES = ("http.response.start", "websocket.accept", "websocket.http.response.start")
_TRACE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_HTTP_ERROR_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    422: "invalid_request",
}

logger = logging.getLogger("clawdeploy_relay")


class ApiError(Exception):
    """An error to answer as an envelope: ``status_code``, ``error_code``, ``error``.

    ``error`` is shown to the client, so it must say what to fix and hold no secret;
    ``extra`` adds fields to the body (e.g. ``attempts``).
    """

    def __init__(
        self,
        status_code: int,
        error_code: str,
        error: str,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.status_code = status_code
        self.error_code = error_code
        self.error = error
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def new_trace_id() -> str:
    """Return a fresh trace id (uuid4 hex, 32 characters)."""
    return uuid.uuid4().hex


def resolve_trace_id(candidate: str | None) -> str:
    """Return ``candidate`` if it is a valid trace id, else a new one."""
    if candidate and _TRACE_ID_RE.fullmatch(candidate):
        return candidate
    return new_trace_id()


def get_trace_id(request: HTTPConnection) -> str:
    """Return the trace id :class:`TraceIdMiddleware` chose for a request or WebSocket."""
    trace_id = request.scope.get("state", {}).get("trace_id")
    if trace_id:
        return str(trace_id)
    return resolve_trace_id(request.headers.get(TRACE_HEADER))


class TraceIdMiddleware:
    """Pick the request's trace id, keep it in ``request.state``, set it on the response.

    WebSockets too: the id goes on the handshake's answer (accept or denial). Pure ASGI
    (no BaseHTTPMiddleware) so it neither buffers bodies nor breaks contextvars.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in _TRACED_SCOPES:
            await self.app(scope, receive, send)
            return
        trace_id = resolve_trace_id(Headers(scope=scope).get(TRACE_HEADER))
        # Mutate the shared state dict in place: the 500 handler, which runs outside this
        # middleware, reads the same scope.
        scope.setdefault("state", {})["trace_id"] = trace_id

        async def send_with_trace(message: Message) -> None:
            if message["type"] in _HEADED_MESSAGES:
                message = {**message, "headers": list(message.get("headers") or [])}
                MutableHeaders(scope=message)[TRACE_HEADER] = trace_id
            await send(message)

        await self.app(scope, receive, send_with_trace)


def error_response(
    request: HTTPConnection,
    status_code: int,
    error_code: str,
    error: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build an error envelope; ``extra`` adds fields beside ``error_code`` and ``error``.

    Calls the app's error hook (see :func:`install`) with the status and code.
    """
    hook: ErrorHook | None = getattr(request.app.state, "envelope_error_hook", None)
    if hook is not None:
        hook(status_code, error_code)
    trace_id = get_trace_id(request)
    body = {"ok": False, "trace_id": trace_id, "error_code": error_code, "error": error, **extra}
    return JSONResponse(
        body, status_code=status_code, headers={**(headers or {}), TRACE_HEADER: trace_id}
    )


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(
        request, exc.status_code, exc.error_code, exc.error, exc.headers, **exc.extra
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:
        # FastAPI's only 400: a body it could not decode (not UTF-8, …). Like invalid JSON,
        # it is a 422 invalid_request, the one status the routes document for bad bodies.
        return error_response(
            request,
            422,
            "invalid_request",
            "invalid request: the body could not be decoded; send UTF-8 JSON",
        )
    code = _HTTP_ERROR_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        message = "no such route; the API's routes are listed in /openapi.json"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on this route"
    else:
        message = str(exc.detail)
    return error_response(request, exc.status_code, code, message, exc.headers)


def _message(err: Mapping[str, Any]) -> str:
    """Pydantic's message for one error; in words where it would only show the
    :data:`~.schemas.NO_NUL` pattern."""
    ctx = err.get("ctx") or {}
    if err.get("type") == "string_pattern_mismatch" and ctx.get("pattern") == NO_NUL:
        return "must not contain the NUL character (U+0000)"
    return str(err.get("msg", ""))


def describe_validation(errors: Sequence[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Pydantic errors → (``"invalid request: loc: msg; …"``, ``[{loc, msg}]``).

    Inputs are left out: a rejected value may be a secret pasted in the wrong field.
    """
    details = [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": _message(err)} for err in errors
    ]
    summary = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details)
    return f"invalid request: {summary}", details


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    message, details = describe_validation(exc.errors())
    return error_response(request, 422, "invalid_request", message, details=details)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    trace_id = get_trace_id(request)
    logger.error("unhandled error, trace_id=%s", trace_id, exc_info=exc)
    return error_response(
        request,
        500,
        "internal_error",
        f"internal error; find trace_id {trace_id} in the relay log (journalctl)",
    )


def install(app: FastAPI, on_error: ErrorHook | None = None) -> None:
    """Add the trace id middleware and the envelope exception handlers to ``app``.

    ``on_error(status, error_code)`` is called for every error envelope the handlers build.
    """
    app.state.envelope_error_hook = on_error
    app.add_middleware(TraceIdMiddleware)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)

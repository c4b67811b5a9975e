"""The JSON envelope, trace ids, and the exception handlers that keep errors in the envelope.

Every response carries an ``X-Trace-Id`` header: the request's own when it is valid
(1-64 characters of ``[A-Za-z0-9._-]``), else a new uuid4 hex. JSON bodies repeat it as
``trace_id``. Errors are ``{"ok": false, "trace_id", "error_code", "error"}`` with these
codes from the handlers here: ``not_found`` (404), ``method_not_allowed`` (405),
``request_too_large`` (413), ``invalid_request`` (422), ``internal_error`` (500),
``http_error`` (any other status); those carry Starlette's ``detail`` too (``"Not
Found"``, the whole body of the seed's v0.3.1 for an unknown route). Code that knows
better raises :class:`ApiError` with its own code.
"""

import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TRACE_HEADER = "X-Trace-Id"
_TRACE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_HTTP_ERROR_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    422: "invalid_request",
}

logger = logging.getLogger("clawdeploy_backend")


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


def get_trace_id(request: Request) -> str:
    """Return the trace id :class:`TraceIdMiddleware` chose for ``request``."""
    trace_id = request.scope.get("state", {}).get("trace_id")
    if trace_id:
        return str(trace_id)
    return resolve_trace_id(request.headers.get(TRACE_HEADER))


class TraceIdMiddleware:
    """Pick the request's trace id, keep it in ``request.state``, set it on the response.

    Pure ASGI (no BaseHTTPMiddleware) so it neither buffers bodies nor breaks contextvars.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = resolve_trace_id(Headers(scope=scope).get(TRACE_HEADER))
        # Mutate the shared state dict in place: the 500 handler, which runs outside this
        # middleware, reads the same scope.
        scope.setdefault("state", {})["trace_id"] = trace_id

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[TRACE_HEADER] = trace_id
            await send(message)

        await self.app(scope, receive, send_with_trace)


def error_response(
    request: Request,
    status_code: int,
    error_code: str,
    error: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build an error envelope; ``extra`` adds fields beside ``error_code`` and ``error``."""
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
    code = _HTTP_ERROR_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        message = "no such route; the API's routes are listed in /openapi.json"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on this route"
    else:
        message = str(exc.detail)
    # ``detail`` is Starlette's own text ("Not Found"), the body v0.3.1 answered with.
    return error_response(
        request, exc.status_code, code, message, exc.headers, detail=str(exc.detail)
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Inputs are left out: a rejected value may be a secret pasted in the wrong field.
    details = [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", ""))}
        for err in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details)
    return error_response(
        request, 422, "invalid_request", f"invalid request: {summary}", details=details
    )


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    trace_id = get_trace_id(request)
    logger.error("unhandled error, trace_id=%s", trace_id, exc_info=exc)
    return error_response(
        request,
        500,
        "internal_error",
        f"internal error; find trace_id {trace_id} in the service log (journalctl)",
    )


def install(app: FastAPI) -> None:
    """Add the trace id middleware and the envelope exception handlers to ``app``."""
    app.add_middleware(TraceIdMiddleware)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)

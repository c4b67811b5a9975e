"""Pure ASGI middleware: a request body limit and the API's response headers.

The body limit (``RELAY_MAX_BODY_BYTES``, default 64 KiB) answers 413 with the envelope's
``error_code`` ``request_too_large``: at once when ``Content-Length`` says so, else as soon
as the streamed body passes the limit (:class:`RequestTooLarge`, raised from ``receive``,
is an HTTP exception that the envelope's handler renders, and counts through its error
hook; the early refusal calls ``on_refused("request_too_large")``). Every response gets
``Cache-Control: no-store`` (one of them carries a new token) and ``nosniff``.
"""

import json
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class ApiHeadersMiddleware:
    """Add :data:`API_HEADERS` to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in API_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestTooLarge(HTTPException):
    """The request body passed the limit; rendered as 413 ``request_too_large``."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``limit`` bytes with 413 ``request_too_large``.

    ``on_refused(error_code)`` hears of the refusals answered here (by ``Content-Length``).
    """

    def __init__(
        self, app: ASGIApp, limit: int, on_refused: Callable[[str], None] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise RequestTooLarge(self.limit)
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        if self.on_refused is not None:
            self.on_refused("request_too_large")
        trace_id = str(scope.get("state", {}).get("trace_id", ""))
        body = json.dumps(
            {
                "ok": False,
                "trace_id": trace_id,
                "error_code": "request_too_large",
                "error": f"the request body is larger than {self.limit} bytes",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

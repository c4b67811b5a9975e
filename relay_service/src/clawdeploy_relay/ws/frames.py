"""The frames of the client WebSocket ``/ws``: one JSON object per text frame.

Client → relay: ``hello`` (the first frame of a socket opened without a bearer token,
:mod:`.hello`), ``ack`` (``{type, ids, ref?}``), ``send`` (``POST /send``'s body plus
``type`` and ``ref?``), ``chunk`` (``{type, conversationId, replyTo, seq, text, ref?}``),
``ping`` (``{type, ref?}``). Relay → client: ``ready``, ``messages``, ``acked``, ``sent``,
``chunked``, ``cancel``, ``pong``, ``error`` (built here and in :mod:`.session`). Field
names are the HTTP API's (camelCase; a Message is ``GET /poll``'s); ``ref`` (1-64 visible
ASCII characters) is the client's own correlation id, echoed in the answer to that frame.
README.md, "WebSocket", describes every frame.

:func:`parse_frame` raises :class:`~..envelope.ApiError` 413 ``request_too_large`` (a
frame over ``RELAY_MAX_BODY_BYTES``) and 422 ``invalid_request`` (not a JSON object, an
unknown ``type``, invalid fields), without echoing the input.
"""

import json
import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from ..envelope import ApiError, describe_validation
from ..schemas import Id, SendIn, Text, Wire
from .hello import MAX_TS_MS, NONCE_PATTERN, SIG_PATTERN

REF_PATTERN = r"[\x21-\x7e]{1,64}"
Ref = Annotated[str, Field(pattern=f"^{REF_PATTERN}$")]
_REF_RE = re.compile(REF_PATTERN)


class AckFrame(Wire):
    """``{"type": "ack", "ids": [...]}``: ack delivered messages (as ``POST /ack``)."""

    type: Literal["ack"]
    ids: list[Id] = Field(min_length=1, max_length=1000)
    ref: Ref | None = None


class SendFrame(SendIn):
    """``{"type": "send", to?, text, conversationId?, idempotencyKey?, ackIds?}``."""

    type: Literal["send"]
    ref: Ref | None = None


class ChunkFrame(Wire):
    """``{"type": "chunk", conversationId, replyTo, seq, text}``: part of the reply to
    inbound message ``replyTo`` (kept in memory for ``GET /stream``; answered with
    ``chunked`` only when it carries ``ref``)."""

    type: Literal["chunk"]
    conversation_id: Id
    reply_to: Id
    seq: int = Field(ge=0, le=1_000_000)
    text: Text
    ref: Ref | None = None


class HelloFrame(Wire):
    """``{"type": "hello", clientId, ts, nonce, sig}``: the signed first frame of a socket
    opened without a bearer token (:mod:`.hello` has the canonical string)."""

    type: Literal["hello"]
    client_id: Id
    ts: int = Field(ge=0, le=MAX_TS_MS, description="client clock, integer ms since the epoch")
    nonce: Annotated[str, Field(pattern=NONCE_PATTERN)]
    sig: Annotated[str, Field(pattern=SIG_PATTERN)]


class PingFrame(Wire):
    """``{"type": "ping"}``: answered by ``pong`` (an application-level keepalive)."""

    type: Literal["ping"]
    ref: Ref | None = None


ClientFrame = AckFrame | SendFrame | ChunkFrame | PingFrame
_MODELS: dict[str, type[AckFrame] | type[SendFrame] | type[ChunkFrame] | type[PingFrame]] = {
    "ack": AckFrame,
    "send": SendFrame,
    "chunk": ChunkFrame,
    "ping": PingFrame,
}


def _ref_of(data: Any) -> str | None:
    """The frame's ``ref`` when it is a valid one (to answer an invalid frame with it)."""
    ref = data.get("ref") if isinstance(data, dict) else None
    return ref if isinstance(ref, str) and _REF_RE.fullmatch(ref) else None


def _json_object(text: str, max_bytes: int) -> dict[str, Any]:
    """The frame's JSON object; ApiError 413 (too large) or 422 (not a JSON object)."""
    if len(text.encode("utf-8")) > max_bytes:
        raise ApiError(
            413,
            "request_too_large",
            f"the frame is larger than {max_bytes} bytes (RELAY_MAX_BODY_BYTES)",
        )
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_request", "a frame is one JSON object with a 'type'")
    return data


def parse_hello(text: str, max_bytes: int) -> HelloFrame:
    """Parse a socket's first frame as a hello; raise ApiError 413/422 (input not echoed)."""
    data = _json_object(text, max_bytes)
    if data.get("type") != "hello":
        raise ApiError(
            422,
            "invalid_request",
            "a socket opened without a bearer token must send a 'hello' frame first",
        )
    try:
        return HelloFrame.model_validate(data)
    except ValidationError as exc:
        message, details = describe_validation(exc.errors())
        raise ApiError(422, "invalid_request", message, extra={"details": details}) from None


def parse_frame(text: str, max_bytes: int) -> ClientFrame:
    """Parse one client frame; raise ApiError 413/422 (with ``extra["ref"]`` when known)."""
    data = _json_object(text, max_bytes)
    ref = {"ref": _ref_of(data)}
    model = _MODELS.get(data["type"]) if isinstance(data.get("type"), str) else None
    if model is None:
        raise ApiError(
            422,
            "invalid_request",
            "unknown frame type; send 'ack', 'send', 'chunk' or 'ping'",
            extra=ref,
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, details = describe_validation(exc.errors())
        raise ApiError(422, "invalid_request", message, extra={**ref, "details": details}) from None


def error_frame(exc: ApiError, ref: str | None = None) -> dict[str, Any]:
    """``{"type": "error", "ref", "error_code", "error", ...}`` for a refused frame.

    A 429 carries ``retryAfter`` (seconds, from ``Retry-After``); 422 carries ``details``.
    """
    frame: dict[str, Any] = {
        "type": "error",
        "error_code": exc.error_code,
        "error": exc.error,
        **exc.extra,
    }
    frame["ref"] = exc.extra.get("ref") or ref
    retry = exc.headers.get("Retry-After")
    if retry is not None:
        frame["retryAfter"] = int(retry)
    return frame

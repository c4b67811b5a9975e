"""Parameters and checks several routes share: the idempotency key, the text limit, and the
error responses listed in the OpenAPI schema."""

from typing import Annotated, Any

from fastapi import Depends, Header, Path

from ..deps import get_settings
from ..envelope import ApiError
from ..schemas import IDEMPOTENCY_KEY, NO_NUL, ErrorOut
from ..settings import Settings

IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY,
        description="a retry with the same key returns the first answer, stores nothing new",
    ),
]
SettingsDep = Annotated[Settings, Depends(get_settings)]
# An id in the path: any text but U+0000 (422), which no id holds and PostgreSQL refuses.
IdPath = Annotated[str, Path(pattern=NO_NUL)]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("auth_required, auth_failed or token_revoked"),
    403: _error("wrong_token_kind"),
    429: _error("rate_limited (see Retry-After)"),
}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    413: _error("request_too_large or text_too_long"),
    422: _error("invalid_request (invalid JSON or fields)"),
}


def idempotency_key(header: str | None, body: str | None) -> str | None:
    """The request's key from the header or the body field; 422 when both differ."""
    if header is not None and body is not None and header != body:
        raise ApiError(
            422,
            "idempotency_key_mismatch",
            "the Idempotency-Key header and the body's idempotencyKey differ; send one",
        )
    return header if header is not None else body


def check_text(text: str, settings: Settings) -> None:
    """413 ``text_too_long`` when ``text`` has more than ``RELAY_MAX_TEXT_CHARS`` characters."""
    if len(text) > settings.max_text_chars:
        raise ApiError(
            413,
            "text_too_long",
            f"text has {len(text)} characters; the relay takes at most "
            f"{settings.max_text_chars} (RELAY_MAX_TEXT_CHARS)",
        )

"""Bearer-token authentication of ``/api/*`` against ``BACKEND_API_TOKEN``.

Checked in this order, each answered as an error envelope (:class:`~..envelope.ApiError`):

* the server has no token configured -> 503 ``auth_not_configured``;
* no ``Authorization: Bearer <token>`` header -> 401 ``auth_failed``;
* a token that does not match -> 403 ``auth_failed``.

The configuration is checked first because without it no client could ever succeed, and
the fix is on the server. Tokens are compared in constant time (``hmac.compare_digest``).
"""

import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..deps import get_settings
from ..envelope import ApiError
from ..settings import Settings

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="BackendApiToken",
    description="Authorization: Bearer <BACKEND_API_TOKEN>",
)


async def require_api_token(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """FastAPI dependency: return None when the request carries the backend's API token.

    Raises :class:`~..envelope.ApiError` (503, 401 or 403 as described in the module doc).
    ``async`` (it never blocks), so it runs on the event loop, not in the threadpool.
    """
    expected = settings.backend_api_token
    if expected is None:
        raise ApiError(
            503,
            "auth_not_configured",
            "BACKEND_API_TOKEN is not set on the server; set it in the environment or in "
            "the file named by BACKEND_ENV_FILE, then restart backend-service",
        )
    if credentials is None:
        raise ApiError(
            401,
            "auth_failed",
            "missing bearer token; send the header 'Authorization: Bearer <BACKEND_API_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    presented = credentials.credentials.encode("utf-8")
    if not hmac.compare_digest(presented, expected.get_secret_value().encode("utf-8")):
        raise ApiError(
            403,
            "auth_failed",
            "the bearer token does not match BACKEND_API_TOKEN on the server; use the "
            "token from the backend's env file",
        )

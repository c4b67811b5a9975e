"""Bearer-token dependencies of the routes: who is calling, and may they call this route.

Every protected route reads ``Authorization: Bearer <token>``. Answered as envelopes:

* no bearer token → 401 ``auth_required``; unknown → 401 ``auth_failed``; revoked → 401
  ``token_revoked`` (see :class:`~.services.principals.Principals`);
* a valid token of the wrong kind (a client token on an admin route, …) → 403
  ``wrong_token_kind``;
* an admin route while ``RELAY_ADMIN_TOKEN`` is unset → 503 ``auth_not_configured``;
* a client over its request rate → 429 ``rate_limited`` with ``Retry-After``.

Tokens are never logged nor echoed; error messages name the token's kind only.

The dependencies are ``async``: a token validated in the last seconds (the principals'
cache) costs no thread hop and no I/O; only a lookup in the database runs in the
threadpool.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from .deps import get_client_limiter, get_principals
from .envelope import ApiError
from .services.principals import Kind, Principal, Principals
from .services.ratelimit import RateLimiter

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="RelayToken",
    description="Authorization: Bearer <admin, client (rc_…) or integration (ri_…) token>",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
PrincipalsDep = Annotated[Principals, Depends(get_principals)]


def _required() -> ApiError:
    return ApiError(
        401,
        "auth_required",
        "missing bearer token; send the header 'Authorization: Bearer <token>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


def authenticate(
    principals: Principals, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """Return the caller; raise ApiError 401 when there is no valid bearer token."""
    if credentials is None:
        raise _required()
    return principals.authenticate(credentials.credentials)


async def authenticate_async(
    principals: Principals, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """:func:`authenticate` from the event loop: the cache first, else a worker thread."""
    if credentials is None:
        raise _required()
    known = principals.cached(credentials.credentials)
    if known is not None:
        return known
    return await run_in_threadpool(principals.authenticate, credentials.credentials)


def check_kind(principal: Principal, kinds: tuple[Kind, ...]) -> Principal:
    """Return ``principal``; raise ApiError 403 ``wrong_token_kind`` unless it is of ``kinds``."""
    if principal.kind not in kinds:
        wanted = " or ".join(kinds)
        raise ApiError(
            403,
            "wrong_token_kind",
            f"this route takes {wanted} tokens, not {principal.kind} tokens",
        )
    return principal


async def require_admin(principals: PrincipalsDep, credentials: Credentials) -> Principal:
    """The admin (503 when no admin token is configured, 401/403 as above)."""
    if not principals.admin_configured:
        raise ApiError(
            503,
            "auth_not_configured",
            "RELAY_ADMIN_TOKEN is not set on the relay; set it (openssl rand -hex 32) in the "
            "file named by RELAY_ENV_FILE and restart the relay",
        )
    return check_kind(await authenticate_async(principals, credentials), ("admin",))


def require_kinds(*kinds: Kind, charge: bool = True) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting tokens of ``kinds`` (clients are also rate-limited, one
    token per request; with ``charge=False`` the route charges, e.g. a batch's items)."""

    async def dependency(
        principals: PrincipalsDep,
        credentials: Credentials,
        limiter: Annotated[RateLimiter, Depends(get_client_limiter)],
    ) -> Principal:
        principal = check_kind(await authenticate_async(principals, credentials), kinds)
        if charge and principal.kind == "client":
            limiter.check(client_rate_key(principal.id))
        return principal

    dependency.__name__ = "require_" + "_or_".join(kinds) + ("" if charge else "_uncharged")
    return dependency


def client_rate_key(client_id: str) -> str:
    """The client rate limiter's key of a client (shared by every route and ``/ws``)."""
    return f"client:{client_id}"


AdminDep = Annotated[Principal, Depends(require_admin)]
ClientDep = Annotated[Principal, Depends(require_kinds("client"))]
# A batch route charges the client's rate for its items itself.
BatchClientDep = Annotated[Principal, Depends(require_kinds("client", charge=False))]
# The seed's /inbound and /outbox were public; ours take an integration's token (or admin).
IntegrationDep = Annotated[Principal, Depends(require_kinds("integration", "admin"))]
ReaderDep = Annotated[Principal, Depends(require_kinds("client", "admin"))]

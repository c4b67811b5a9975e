"""Who may call the relay: the admin, gateway clients, and integrations (inbound posters).

The admin token comes from the settings; client (``rc_…``) and integration (``ri_…``)
tokens are made here, shown once by :meth:`Principals.create`, and stored only as SHA-256
hashes (:mod:`..tokens`). :meth:`Principals.authenticate` raises
:class:`~..envelope.ApiError` 401 ``auth_failed`` (unknown token) or ``token_revoked``.

Valid client and integration tokens are remembered for :data:`AUTH_CACHE_S` seconds
(monotonic time), keyed by the token's hash, so a busy client costs one lookup per
:data:`AUTH_CACHE_S` instead of one per request. A revocation through this process forgets
the principal's entries at once; a revocation on another node (PostgreSQL) takes effect
here within :data:`AUTH_CACHE_S`. Unknown and revoked tokens are never remembered.
"""

import hmac
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from ..clock import Clock
from ..envelope import ApiError
from ..migrations import DEFAULT_INTEGRATION
from ..store import Store
from ..tokens import CLIENT_PREFIX, INTEGRATION_PREFIX, hash_token, new_id, new_token

Kind = Literal["admin", "client", "integration"]
_BEARER = {"WWW-Authenticate": "Bearer"}
AUTH_CACHE_S = 2.0  # how long a valid token is taken without asking the database again
AUTH_CACHE_MAX = 50_000  # entries; the cache is emptied when it would grow past this


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: ``kind`` and id (``"admin"`` for the admin)."""

    kind: Kind
    id: str

    @property
    def integration_id(self) -> str:
        """The integration inbound and outbox calls act for (admin: ``default``)."""
        return self.id if self.kind == "integration" else DEFAULT_INTEGRATION


def ms(seconds: float | None) -> int | None:
    """Seconds since the epoch → integer milliseconds (the seed's timestamps); None stays."""
    return None if seconds is None else int(seconds * 1000)


def integration_json(row: dict[str, Any]) -> dict[str, Any]:
    """An integration row as ``{id, name, createdAt, revokedAt}`` (ms; no token hash)."""
    return {
        "id": row["id"],
        "name": row["name"],
        "createdAt": ms(row["created_at"]),
        "revokedAt": ms(row["revoked_at"]),
    }


class Principals:
    """Authenticate bearer tokens; create, list and revoke clients and integrations."""

    def __init__(self, store: Store, clock: Clock, admin_token: str | None) -> None:
        self.store = store
        self.clock = clock
        self._admin = admin_token.encode("utf-8") if admin_token else None
        # token hash -> (principal, monotonic expiry)
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._cache_lock = threading.Lock()
        # Bumped by each forget(): a lookup that read the database before a revocation
        # committed must not cache what it read.
        self._generation = 0

    @property
    def admin_configured(self) -> bool:
        """Whether the settings hold an admin token (else admin routes cannot work)."""
        return self._admin is not None

    def cached(self, token: str) -> Principal | None:
        """The principal of ``token`` without any I/O: the admin, or a token validated
        less than :data:`AUTH_CACHE_S` ago; None when the database must be asked."""
        if self._admin is not None and hmac.compare_digest(token.encode("utf-8"), self._admin):
            return Principal("admin", "admin")
        entry = self._cache.get(hash_token(token))
        if entry is not None and entry[1] > time.monotonic():
            return entry[0]
        return None

    def forget(self, pid: str) -> None:
        """Drop the cached tokens of principal ``pid`` (revoked or rotated here)."""
        with self._cache_lock:
            self._generation += 1
            for digest in [d for d, (p, _exp) in self._cache.items() if p.id == pid]:
                del self._cache[digest]

    def authenticate(self, token: str) -> Principal:
        """Return the principal a bearer token belongs to.

        Raises ApiError 401 ``auth_failed`` for an unknown token, ``token_revoked`` for a
        revoked one. The admin token is compared in constant time; the others by hash
        (remembered for :data:`AUTH_CACHE_S` seconds when valid).
        """
        known = self.cached(token)
        if known is not None:
            return known
        digest = hash_token(token)
        generation = self._generation
        with self.store.read() as conn:
            found = self.store.find_token(conn, digest)
        if found is None:
            raise ApiError(
                401, "auth_failed", "unknown bearer token; ask the relay admin for one", _BEARER
            )
        kind, row = found
        if row["revoked_at"] is not None:
            raise ApiError(
                401, "token_revoked", f"this {kind} token was revoked; ask for a new one", _BEARER
            )
        principal = Principal("client" if kind == "client" else "integration", row["id"])
        with self._cache_lock:
            if generation == self._generation:
                if len(self._cache) >= AUTH_CACHE_MAX:
                    self._cache.clear()
                self._cache[digest] = (principal, time.monotonic() + AUTH_CACHE_S)
        return principal

    def is_active(self, principal: Principal) -> bool:
        """Whether an authenticated principal is still valid (not revoked since).

        For long-lived connections (the WebSocket), which authenticate once.
        """
        if principal.kind == "admin":
            return True
        with self.store.read() as conn:
            row = self.store.principal(conn, principal.kind, principal.id)
        return row is not None and row["revoked_at"] is None

    def create(self, kind: Literal["client", "integration"], name: str) -> dict[str, Any]:
        """Create a client or integration; return ``{id, name, token, createdAt}``.

        The token is in this answer only: the database keeps its hash.
        """
        prefix = CLIENT_PREFIX if kind == "client" else INTEGRATION_PREFIX
        token = new_token(prefix)
        row = {
            "id": new_id(kind),
            "name": name,
            "token_hash": hash_token(token),
            "created_at": self.clock(),
        }
        with self.store.tx() as conn:
            self.store.insert(conn, "clients" if kind == "client" else "integrations", row)
        return {"id": row["id"], "name": name, "token": token, "createdAt": ms(row["created_at"])}

    def integrations(self) -> list[dict[str, Any]]:
        """Every integration (the built-in ``default`` first), as :func:`integration_json`."""
        with self.store.tx() as conn:
            rows = self.store.list_principals(conn, "integration")
        rows.sort(key=lambda r: r["id"] != DEFAULT_INTEGRATION)
        return [integration_json(r) for r in rows]

    def revoke(self, kind: Literal["client", "integration"], pid: str) -> dict[str, Any]:
        """Revoke a token for good; return ``{id, revokedAt}`` (ms). Revoking twice is fine.

        Raises ApiError 404 ``client_not_found`` / ``integration_not_found``, and 409
        ``default_integration`` for the built-in integration (it has no token).
        """
        if kind == "integration" and pid == DEFAULT_INTEGRATION:
            raise ApiError(
                409,
                "default_integration",
                "the default integration has no token to revoke; it takes the admin's inbound",
            )
        with self.store.tx() as conn:
            row = self.store.principal(conn, kind, pid)
            if row is None:
                raise ApiError(404, f"{kind}_not_found", f"no {kind} with this id")
            if row["revoked_at"] is None:
                row["revoked_at"] = self.clock()
                self.store.update_principal(conn, kind, pid, {"revoked_at": row["revoked_at"]})
                if kind == "client":  # its WebSockets on other nodes see it at once
                    self.store.publish(conn, [pid])
        self.forget(pid)
        return {"id": pid, "revokedAt": ms(row["revoked_at"])}

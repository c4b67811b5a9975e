"""Per-client signing keys and the verification of ``/ws``'s signed hello.

**Keys.** The relay stores client tokens only as SHA-256 hashes, so it cannot check an
HMAC keyed with a token. Each client gets a separate signing key instead, issued with its
token (``POST /clients``) or alone (``POST /clients/{id}/signing-key``, a rotation), shown
once. The relay must be able to recompute it to verify a signature, so it is a
server-held secret; it is *derived*, not stored::

    key = "rs_" + base64url_nopad(HMAC-SHA256(RELAY_SIGNING_SECRET,
              "clawdeploy-relay/signing-key/v1\\n" + client_id + "\\n" + salt))

with a random 128-bit ``salt`` per client in ``client_signing_keys``. Threat model: a copy
of the database alone (a backup, a read-only SQL injection) yields no key — only the
salts; the secret alone (the relay's 0600 env file) yields none without the salts; both
together yield every key, as the database plus the secret always would for a server that
verifies symmetric signatures. Rotation draws a new salt (the old key fails at once);
revocation of the client makes every hello fail. Changing ``RELAY_SIGNING_SECRET``
invalidates every key (re-issue them with the rotation route). Without the secret no key
is issued and signed hellos are refused (bearer tokens still work).

**Hello.** :meth:`SigningKeys.verify` accepts a hello (:mod:`..ws.hello`) when its ``ts``
is within ``RELAY_WS_HELLO_SKEW_S`` of the relay's clock, the client exists, is not
revoked, has a key, the signature matches (``hmac.compare_digest``), and the nonce was not
used by that client inside the window (``hello_nonces``, shared by every node on
PostgreSQL; expired nonces are deleted as new ones arrive, so the table holds at most the
window's accepted hellos). Unknown client, revoked client, no key, bad signature and
replay all raise the same :class:`~..envelope.ApiError` 401 ``auth_failed`` (same message;
a signature is computed even for an unknown client), so a refusal tells nothing about
which clients exist. A ``ts`` outside the window raises 401 ``hello_expired`` (it says
only that the client's clock is off), and a relay without the secret 401
``hello_not_configured``.
"""

import base64
import hmac
import secrets
from typing import Any

from sqlalchemy.exc import IntegrityError

from ..clock import Clock
from ..envelope import ApiError
from ..store import Store
from ..ws.hello import sign_hello
from .principals import Principal, ms

KEY_CONTEXT = "clawdeploy-relay/signing-key/v1"
KEY_PREFIX = "rs_"
# Signed against when the client has no key, so every refusal costs one HMAC.
_NO_SALT = "none"
REFUSED = "hello refused: unknown or revoked client, or a bad signature"


def _refused() -> ApiError:
    return ApiError(401, "auth_failed", REFUSED)


class SigningKeys:
    """Issue, rotate and verify with per-client signing keys (see the module doc).

    :param store: the relay database.
    :param clock: seconds since the epoch.
    :param secret: ``RELAY_SIGNING_SECRET`` (None: signed hellos are off).
    :param skew_s: accepted distance between a hello's ``ts`` and the clock, seconds.
    """

    def __init__(self, store: Store, clock: Clock, secret: str | None, skew_s: float) -> None:
        self.store = store
        self.clock = clock
        self._secret = secret.encode("utf-8") if secret else None
        self.skew_s = skew_s

    @property
    def configured(self) -> bool:
        """Whether ``RELAY_SIGNING_SECRET`` is set (else no key is issued)."""
        return self._secret is not None

    def _key(self, client_id: str, salt: str) -> str:
        assert self._secret is not None
        material = f"{KEY_CONTEXT}\n{client_id}\n{salt}".encode()
        digest = hmac.new(self._secret, material, "sha256").digest()
        return KEY_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def issue(self, client_id: str) -> dict[str, Any]:
        """Give ``client_id`` a new signing key; return ``{clientId, signingKey, createdAt}``.

        The key is in this answer only. Any earlier key of the client stops working.
        Raises ApiError 409 ``signing_not_configured`` (no secret), 404
        ``client_not_found``, 409 ``client_revoked``.
        """
        if self._secret is None:
            raise ApiError(
                409,
                "signing_not_configured",
                "RELAY_SIGNING_SECRET is not set on the relay; set it (openssl rand -hex 32) "
                "in the file named by RELAY_ENV_FILE and restart the relay",
            )
        now = self.clock()
        salt = secrets.token_hex(16)
        with self.store.tx() as conn:
            row = self.store.principal(conn, "client", client_id)
            if row is None:
                raise ApiError(404, "client_not_found", "no client with this id")
            if row["revoked_at"] is not None:
                raise ApiError(409, "client_revoked", "this client is revoked; register a new one")
            self.store.set_signing_salt(conn, client_id, salt, now)
        return {
            "clientId": client_id,
            "signingKey": self._key(client_id, salt),
            "createdAt": ms(now),
        }

    def verify(self, client_id: str, ts_ms: int, nonce: str, sig: str) -> Principal:
        """The client a hello authenticates; raises ApiError 401 (see the module doc)."""
        if self._secret is None:
            raise ApiError(
                401,
                "hello_not_configured",
                "this relay has no RELAY_SIGNING_SECRET: open /ws with a bearer token",
            )
        now = self.clock()
        if abs(ts_ms / 1000 - now) > self.skew_s:
            raise ApiError(
                401,
                "hello_expired",
                f"the hello's ts is more than {self.skew_s:g} s from the relay's clock; "
                "check the client's clock (NTP) and sign a fresh hello",
            )
        with self.store.tx() as conn:
            row = self.store.signing_salt(conn, client_id)
        salt = row["salt"] if row is not None else _NO_SALT
        expected = sign_hello(self._key(client_id, salt), client_id, ts_ms, nonce)
        matches = hmac.compare_digest(expected.encode("ascii"), sig.encode("ascii"))
        if row is None or row["revoked_at"] is not None or not matches:
            raise _refused()
        # Kept until the hello's ts leaves the window: a replay after that is "expired".
        expires_at = ts_ms / 1000 + self.skew_s
        try:
            with self.store.tx() as conn:
                self.store.use_hello_nonce(conn, client_id, nonce, expires_at, now)
        except IntegrityError:
            raise _refused() from None
        return Principal("client", client_id)

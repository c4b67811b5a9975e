"""The signed hello of ``/ws``: its canonical string and signature (relay and connector).

A client that opens ``/ws`` without a bearer token sends, as its first frame::

    {"type": "hello", "clientId": "client-…", "ts": 1767000000000,
     "nonce": "<16-64 of A-Z a-z 0-9 _ ->", "sig": "<64 lowercase hex>"}

``ts`` is the client's clock in integer milliseconds since the epoch; ``sig`` is
``hex(HMAC-SHA256(key, canonical))``, where ``key`` is the UTF-8 bytes of the client's
signing key as issued (``rs_…``, the whole string) and ``canonical`` is the UTF-8 of::

    "clawdeploy-relay/ws-hello/v1\\n" + clientId + "\\n" + str(ts) + "\\n" + nonce

(four lines joined by ``\\n``, no trailing newline; ``str(ts)`` is the decimal integer as
sent, without sign, leading zeros or exponent). The first line binds the signature to this
purpose and version: a signature made for anything else never verifies here. Nothing in
this module touches the network or a database.
"""

import hmac
import secrets

HELLO_CONTEXT = "clawdeploy-relay/ws-hello/v1"
NONCE_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
SIG_PATTERN = r"^[0-9a-f]{64}$"
MAX_TS_MS = 2**53  # JSON's exact integers; far beyond any real clock


def canonical_hello(client_id: str, ts_ms: int, nonce: str) -> bytes:
    """The bytes a hello's ``sig`` signs (see the module doc)."""
    return f"{HELLO_CONTEXT}\n{client_id}\n{ts_ms}\n{nonce}".encode()


def sign_hello(signing_key: str, client_id: str, ts_ms: int, nonce: str) -> str:
    """``hex(HMAC-SHA256(signing_key, canonical_hello(...)))``: 64 lowercase hex digits."""
    mac = hmac.new(signing_key.encode("utf-8"), canonical_hello(client_id, ts_ms, nonce), "sha256")
    return mac.hexdigest()


def new_nonce() -> str:
    """A fresh nonce: 32 URL-safe characters (192 random bits)."""
    return secrets.token_urlsafe(24)


def hello_frame(signing_key: str, client_id: str, ts_ms: int, nonce: str | None = None) -> dict:
    """A complete hello frame for ``client_id`` at ``ts_ms`` (a new nonce unless given)."""
    nonce = nonce if nonce is not None else new_nonce()
    return {
        "type": "hello",
        "clientId": client_id,
        "ts": ts_ms,
        "nonce": nonce,
        "sig": sign_hello(signing_key, client_id, ts_ms, nonce),
    }


__all__ = [
    "HELLO_CONTEXT",
    "MAX_TS_MS",
    "NONCE_PATTERN",
    "SIG_PATTERN",
    "canonical_hello",
    "hello_frame",
    "new_nonce",
    "sign_hello",
]

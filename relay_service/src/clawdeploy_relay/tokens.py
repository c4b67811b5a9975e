"""Bearer tokens: random (256 bits from :mod:`secrets`), stored only as SHA-256 hashes.

Client tokens start ``rc_``, integration (inbound) tokens ``ri_``; the prefix only helps a
human tell them apart, the kind is decided by the table the hash is found in. A plain
SHA-256 is enough: the tokens carry 256 bits of entropy, so no dictionary applies.
"""

import hashlib
import secrets

CLIENT_PREFIX = "rc_"
INTEGRATION_PREFIX = "ri_"


def new_token(prefix: str) -> str:
    """Return ``prefix`` + 43 URL-safe characters (32 random bytes)."""
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Return the hex SHA-256 of ``token`` (64 characters), the only form stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_id(prefix: str) -> str:
    """Return a public id such as ``client-3f2a…`` (prefix, dash, 16 hex characters)."""
    return f"{prefix}-{secrets.token_hex(8)}"

"""Keep secrets out of what backend-service shows: masking of values and of URLs."""

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "********"

# What looks like a credential in free text (a job's output): a bearer token after
# "Bearer", an OpenAI-style ``sk-...`` key, ``token=...`` / ``api_key: ...`` assignments.
_SECRET_PATTERNS = (
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1" + MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), MASK),
    (
        re.compile(
            r"(?i)\b((?:api[_-]?key|access[_-]?token|auth[_-]?token|token|secret|password)"
            r"[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._~+/=-]{12,}"
        ),
        r"\1" + MASK,
    ),
)


def mask_text(text: str, secrets: Iterable[str | None]) -> str:
    """Mask the given ``secrets`` in ``text``, then anything that looks like a credential.

    ``Bearer <token>`` -> ``Bearer ********``; ``sk-...`` keys and ``token=...``-style
    assignments (12+ characters) are masked too. For output nobody vetted (executor jobs).
    """
    masked = str(mask_secrets(text, secrets))
    for pattern, replacement in _SECRET_PATTERNS:
        masked = pattern.sub(replacement, masked)
    return masked


def mask_secrets(value: Any, secrets: Iterable[str | None]) -> Any:
    """Return ``value`` with every occurrence of each non-empty secret replaced by ``MASK``.

    Walks dicts (values and keys), lists and tuples; other types come back unchanged.
    Longer secrets are replaced first so one secret containing another is fully masked.
    """
    wanted = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not wanted:
        return value
    return _mask(value, wanted)


def _mask(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {_mask(k, secrets): _mask(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_mask(v, secrets) for v in value)
    return value


def display_url(url: str) -> str:
    """Return ``url`` without user info, query or fragment, which may carry credentials.

    ``http://user:pw@gw:18789/x?token=t`` -> ``http://gw:18789/x``.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal needs its brackets back
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

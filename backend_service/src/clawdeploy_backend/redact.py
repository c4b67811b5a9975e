"""Keep secrets out of what backend-service shows: masking of values and of URLs."""

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "********"


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

"""Structured logs: one JSON object per line on stderr (journald keeps them as they are).

Each line is ``{"ts", "level", "logger", "event", ...fields}``; ``ts`` is UTC ISO 8601
with milliseconds. Fields are passed with :func:`log`. What never goes into a line: a
token (callers run free text through :func:`redact`) and, at INFO, a message's text —
only ids, counts, latencies and outcomes.
"""

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

LOGGER_NAME = "clawdeploy_relay.connector"
logger = logging.getLogger(LOGGER_NAME)


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line with its ``fields`` (see :func:`log`)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, tz=timezone.utc)
        data: dict[str, Any] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure(level: str = "INFO") -> None:
    """Send the connector's logs to stderr as JSON lines at ``level``.

    httpx's own request lines are kept to warnings: one per poll would drown the log.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log(level: int, event: str, **fields: Any) -> None:
    """Log ``event`` (a short fixed phrase) with ``fields`` on the connector's logger."""
    logger.log(level, event, extra={"fields": fields})


def redact(text: str, secrets: list[str | None]) -> str:
    """``text`` with every non-empty secret replaced by ``********``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text

"""The audit trail: one JSON line per action in ``<BACKEND_LOG_DIR>/audit.jsonl``.

Each line is ``{"ts", "trace_id", "action", "actor", "outcome", "detail"}``: ``ts`` ISO 8601
UTC, ``actor`` who acted (``"api"``, ``"web"``), ``outcome`` ``"ok"`` or an error code,
``detail`` a small dict of scalars. The file rotates by size (``AUDIT_LOG_MAX_BYTES``,
keeping ``AUDIT_LOG_BACKUP_COUNT`` old files ``audit.jsonl.1`` ...).

Never a secret: callers pass metadata only, and every string is masked again against the
service's own tokens before it is written. The logger is private to the :class:`AuditLog`
(not registered with :mod:`logging`'s global manager), so two apps never share a file.
"""

import json
import logging
import threading
from datetime import datetime, timezone
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from .redact import mask_secrets

Scalar = str | int | float | bool | None


class AuditLog:
    """Appends audit lines to ``path``; the directory and file are created on first write."""

    def __init__(
        self, path: Path, *, max_bytes: int, backup_count: int, secrets: tuple[str, ...] = ()
    ) -> None:
        self.path = path
        self._max_bytes = max_bytes
        self._backup_count = backup_count
        self._secrets = [s for s in secrets if s]
        self._logger: logging.Logger | None = None
        self._lock = threading.Lock()

    def _get_logger(self) -> logging.Logger:
        with self._lock:
            if self._logger is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handler = RotatingFileHandler(
                    self.path,
                    maxBytes=self._max_bytes,
                    backupCount=self._backup_count,
                    encoding="utf-8",
                )
                handler.setFormatter(logging.Formatter("%(message)s"))
                logger = logging.Logger(f"clawdeploy_backend.audit.{id(self)}", logging.INFO)
                logger.propagate = False
                logger.addHandler(handler)
                self._logger = logger
                self.path.chmod(0o600)
            return self._logger

    def write(
        self,
        *,
        trace_id: str,
        action: str,
        actor: str,
        outcome: str,
        detail: dict[str, Scalar] | None = None,
    ) -> dict[str, Any]:
        """Append one line and return the record written.

        ``detail`` values that are not scalars are replaced by their type name, so a caller
        cannot dump a whole request body (and a key inside it) by mistake.
        """
        clean = {
            str(k): v if isinstance(v, Scalar) else type(v).__name__
            for k, v in (detail or {}).items()
        }
        record = {
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "trace_id": trace_id,
            "action": action,
            "actor": actor,
            "outcome": outcome,
            "detail": clean,
        }
        record = mask_secrets(record, self._secrets)
        self._get_logger().info(json.dumps(record, ensure_ascii=False, sort_keys=True))
        return record

    def close(self) -> None:
        """Close the file (app shutdown)."""
        with self._lock:
            if self._logger is not None:
                for handler in list(self._logger.handlers):
                    handler.close()
                    self._logger.removeHandler(handler)
                self._logger = None

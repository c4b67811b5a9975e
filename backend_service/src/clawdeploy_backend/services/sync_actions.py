"""Run a model sync as an audited action: store the result, record it, write the audit line.

Shared by the API and the web page, so both leave the same trail: a ``sync_runs`` row and
an audit line ``models.pull`` / ``models.import`` with the outcome (``ok`` or the error code)
and the counts, never a value from the source files.
"""

from typing import Any

from ..audit import AuditLog
from .models import ModelSyncService, SyncError, SyncResult

SYNC_ERROR_STATUS = {
    "astr_config_not_found": 404,
    "plugin_export_not_found": 404,
    "astr_config_parse_failed": 422,
    "plugin_export_parse_failed": 422,
    "astr_provider_empty": 422,
    "pull_all_sources_failed": 422,
}


def audited_sync(
    service: ModelSyncService,
    audit: AuditLog,
    *,
    action: str,
    trace_id: str,
    actor: str,
    body: Any = None,
) -> SyncResult:
    """``action`` is ``"pull"`` or ``"import"`` (with ``body``). Re-raises :class:`SyncError`."""
    try:
        result = service.pull() if action == "pull" else service.import_export(body)
    except SyncError as exc:
        service.store.record_sync(
            trace_id=trace_id,
            actor=actor,
            action=action,
            source=None,
            outcome="failed",
            error_code=exc.error_code,
            count=0,
        )
        audit.write(
            trace_id=trace_id,
            action=f"models.{action}",
            actor=actor,
            outcome=exc.error_code,
            detail={"mode": service.mode if action == "pull" else "import", "error": exc.error},
        )
        raise
    service.store.record_sync(
        trace_id=trace_id,
        actor=actor,
        action=action,
        source=result.source,
        outcome="ok",
        error_code=None,
        count=len(result.models),
    )
    audit.write(
        trace_id=trace_id,
        action=f"models.{action}",
        actor=actor,
        outcome="ok",
        detail={
            "source": result.source,
            "count": len(result.models),
            "default_provider_id": result.default_provider_id,
            "warnings": len(result.warnings),
        },
    )
    return result

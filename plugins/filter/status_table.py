# Copyright (c) 2026 ClawDeploy maintainers
# MIT License (see LICENSE)
"""Render the status playbook's rows as a plain-text table (one per host)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

_COLUMNS = (
    "COMPONENT",
    "INSTANCE",
    "VERSION",
    "PORT",
    "STATE",
    "DIAGNOSIS",
    "LATENCY",
    "ROLLBACK TO",
)


def _ok(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _colleague(row: Dict[str, Any]) -> str:
    """`` (王小明)`` for a cell whose display name is not its instance name, else ``""``."""
    name = row.get("display_name")
    return " (%s)" % name if name and name != row.get("instance") else ""


def status_table(
    gateway_rows: List[Dict[str, Any]], backend: Optional[Dict[str, Any]] = None, host: str = ""
) -> str:
    """Format status rows as an aligned table followed by URLs and fixes.

    ``gateway_rows``: dicts with ``instance, version, port, container, diagnosis, ok,
    latency_ms, detail, fix, url`` and optionally ``display_name`` (a cell's colleague,
    shown beside its URL) and ``previous`` (the release rollback.yml
    would go back to, e.g. ``2026.8.2 (20261123T184900Z-2026.8.2)``; see
    roles/gateway/tasks/status.yml). ``backend``: one
    dict with ``version, port, unit, diagnosis, ok, latency_ms, detail, fix, url`` or None.
    Returns a multi-line string; rows that are not ok get their detail and fix below.
    """
    rows = [
        (
            "gateway",
            r.get("instance", "?"),
            r.get("version", "-"),
            str(r.get("port", "-")),
            r.get("container", "-"),
            r.get("diagnosis", "?"),
            "%s ms" % r.get("latency_ms", 0),
            r.get("previous") or "-",
        )
        for r in gateway_rows or []
    ]
    if backend:
        rows.append(
            (
                "backend",
                "-",
                backend.get("version", "-"),
                str(backend.get("port", "-")),
                backend.get("unit", "-"),
                backend.get("diagnosis", "?"),
                "%s ms" % backend.get("latency_ms", 0),
                "-",
            )
        )
    widths = [max(len(str(c)) for c in col) for col in zip(_COLUMNS, *rows)]
    lines = ["host %s" % host] if host else []
    for row in [_COLUMNS] + rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    urls = [
        "gateway %s%s: %s" % (r.get("instance"), _colleague(r), r.get("url"))
        for r in gateway_rows or []
    ]
    if backend:
        urls.append("backend: %s" % backend.get("url"))
    lines.extend(urls)
    problems = [
        ("gateway " + str(r.get("instance")), r) for r in gateway_rows or [] if not _ok(r.get("ok"))
    ]
    if backend and not _ok(backend.get("ok")):
        problems.append(("backend", backend))
    for name, row in problems:
        lines.append(
            "%s: %s (%s). Fix: %s"
            % (name, row.get("diagnosis"), row.get("detail") or "-", row.get("fix"))
        )
    return "\n".join(lines)


class FilterModule:
    """Status table filter."""

    def filters(self) -> Dict[str, Any]:
        return {"status_table": status_table}

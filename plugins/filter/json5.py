# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)
"""JSON5 filters: ``to_json5`` and ``from_json5`` (documented in to_json5.yml / from_json5.yml).

Controller-side only; they need the ``json5`` Python package on the controller.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Set
from typing import Any, Callable, Dict, Optional

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

try:
    import json5
except ImportError:  # reported when a filter is used, not when the plugin loads
    json5 = None

_MISSING_JSON5 = (
    "the json5 Python package is required on the controller for this filter: pip install json5"
)


def _require_json5() -> None:
    if json5 is None:
        raise AnsibleFilterError(_MISSING_JSON5)


def _plain(data: Any) -> Any:
    """Turn Ansible's wrapped values (tagged/unsafe strings, vaulted text) into plain types."""
    if data is None or isinstance(data, bool):
        return data
    if isinstance(data, int):
        return int(data)
    if isinstance(data, float):
        return float(data)
    if isinstance(data, str):
        return str(data)
    if isinstance(data, Mapping):
        return {_plain(key): _plain(value) for key, value in data.items()}
    if isinstance(data, (list, tuple, Set)):
        return [_plain(item) for item in data]
    if isinstance(data, (datetime.date, datetime.time)):
        return data.isoformat()
    if type(data).__name__ in ("EncryptedString", "AnsibleVaultEncryptedUnicode"):
        return to_text(data)
    raise AnsibleFilterError("to_json5: cannot represent a value of type %s" % type(data).__name__)


def to_json5(
    data: Any,
    indent: Optional[int] = 2,
    sort_keys: bool = False,
    quote_keys: bool = False,
    trailing_commas: bool = True,
    ensure_ascii: bool = False,
) -> str:
    """Render ``data`` as JSON5 (default: 2-space indent, bare identifier keys, trailing commas)."""
    _require_json5()
    try:
        return json5.dumps(
            _plain(data),
            indent=indent,
            sort_keys=sort_keys,
            quote_keys=quote_keys,
            trailing_commas=trailing_commas,
            ensure_ascii=ensure_ascii,
        )
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("to_json5: %s" % to_text(exc)) from exc


def from_json5(text: Any) -> Any:
    """Parse a JSON5 string into data."""
    _require_json5()
    if not isinstance(text, (str, bytes)):
        raise AnsibleFilterError("from_json5: expected a string, got %s" % type(text).__name__)
    try:
        return json5.loads(str(text) if isinstance(text, str) else text)
    except ValueError as exc:
        raise AnsibleFilterError("from_json5: cannot parse input: %s" % to_text(exc)) from exc


class FilterModule:
    """JSON5 filters."""

    def filters(self) -> Dict[str, Callable[..., Any]]:
        """Map filter names to functions."""
        return {
            "to_json5": to_json5,
            "from_json5": from_json5,
        }

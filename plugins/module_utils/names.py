# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)
"""The collection's one instance-name rule and its UTC time stamps (standard library).

The instance name names a directory (``<root>/instances/<name>``), a Compose project
(``openclaw-<name>``), a container, a release history file and backup archives, so the
same rule holds everywhere: the role's preflight (``filter/instances.py``), the release
history (``release.py``) and the backup archives (``backup.py``).
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Optional

# 1-40 lowercase letters, digits and '-', starting and ending with a letter or digit.
INSTANCE_NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
INSTANCE_NAME_RULE = (
    "1-40 lowercase letters, digits and '-', starting and ending with a letter or digit"
)
_INSTANCE_NAME_RE = re.compile(INSTANCE_NAME_PATTERN)

# ``YYYYmmddTHHMMSSZ``: the time part of archive, set-aside and release names.
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
# ``YYYY-mm-ddTHH:MM:SSZ``: times inside manifests and release histories (RFC 3339, UTC).
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def instance_name_problem(name: Any) -> Optional[str]:
    """Why ``name`` is not an instance name (a sentence naming the rule), or None."""
    if isinstance(name, str) and _INSTANCE_NAME_RE.match(name):
        return None
    return "instance %r is not a valid instance name: use %s" % (name, INSTANCE_NAME_RULE)


def utcnow() -> datetime.datetime:
    """The current UTC time without microseconds (tests patch this one function)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def utc_stamp(now: datetime.datetime) -> str:
    """``now`` as ``YYYYmmddTHHMMSSZ`` in UTC (an aware or UTC-naive datetime)."""
    return now.astimezone(datetime.timezone.utc).strftime(STAMP_FORMAT)


def utc_iso(now: datetime.datetime) -> str:
    """``now`` as ``YYYY-mm-ddTHH:MM:SSZ`` in UTC."""
    return now.astimezone(datetime.timezone.utc).strftime(ISO_FORMAT)

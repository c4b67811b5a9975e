"""Make ``ansible_collections.clawdeploy.openclaw`` importable for the unit tests.

The collection is found through the symlink tree
``.cache/collections/ansible_collections/clawdeploy/openclaw -> <repo>`` (the same path
ansible.cfg's collections_path points at). A fresh clone has no .cache, so the link is
made here when it is missing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".cache" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "clawdeploy" / "openclaw"

if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(REPO, LINK.parent), LINK)

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

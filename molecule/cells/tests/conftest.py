"""Make the collection's module_utils (for cross-checks) and molecule/shared (the playbook
runner every scenario uses) importable in the verifier."""

from __future__ import annotations

import os
import sys

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")
sys.path.insert(0, os.path.join(PROJECT, ".cache", "collections"))
sys.path.insert(0, os.path.join(PROJECT, "molecule", "shared"))

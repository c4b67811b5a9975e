"""Make the collection's module_utils importable in the verifier (for cross-checks)."""

from __future__ import annotations

import os
import sys

sys.path.insert(
    0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), ".cache", "collections")
)

"""``python -m clawdeploy_backend.seed_migration``: the console script, :func:`.cli.main`."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())

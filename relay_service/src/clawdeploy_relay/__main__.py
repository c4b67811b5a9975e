"""``python -m clawdeploy_relay``: the same as the ``clawdeploy-relay`` console script."""

import sys

from .main import main

if __name__ == "__main__":
    sys.exit(main())

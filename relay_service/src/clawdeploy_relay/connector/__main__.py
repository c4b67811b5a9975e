"""``python -m clawdeploy_relay.connector``: the same as ``clawdeploy-relay-connector``."""

import sys

from .main import main

if __name__ == "__main__":
    sys.exit(main())

"""ClawDeploy relay: a durable relay between users and many OpenClaw gateways (issue 12).

Build the ASGI app with :func:`clawdeploy_relay.main.create_app`; run it with the
``clawdeploy-relay`` console script (or ``python -m clawdeploy_relay``).
"""

__version__ = "0.1.0"
SERVICE_NAME = "clawdeploy-relay"

__all__ = ["SERVICE_NAME", "__version__"]

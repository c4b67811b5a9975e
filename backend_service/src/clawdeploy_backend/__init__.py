"""ClawDeploy backend-service: the status page and API that sit next to an OpenClaw gateway.

Build the ASGI app with :func:`clawdeploy_backend.main.create_app`; run it with the
``clawdeploy-backend`` console script (or ``python -m clawdeploy_backend``).
"""

__version__ = "0.1.0"
SERVICE_NAME = "clawdeploy-backend"

__all__ = ["SERVICE_NAME", "__version__"]

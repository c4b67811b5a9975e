"""``clawdeploy-backend`` / ``python -m clawdeploy_backend``: serve the app with uvicorn.

Host and port come from the settings (``BACKEND_HOST``, ``BACKEND_PORT``). One worker, as
the runbook requires on small hosts; no proxy headers, since it listens on loopback only.
Exits with status 2 and a message on stderr when the settings are invalid.
"""

import functools
import sys

import uvicorn
from pydantic import ValidationError

from .main import create_app
from .settings import SettingsFileError, load_settings


def main() -> int:
    """Load the settings, then run uvicorn in the foreground until it is stopped."""
    try:
        settings = load_settings()
    except SettingsFileError as exc:
        print(f"clawdeploy-backend: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        # Listed without the rejected values, which may be secrets.
        for err in exc.errors(include_input=False):
            where = ".".join(str(p) for p in err["loc"]).upper()
            print(f"clawdeploy-backend: invalid {where}: {err['msg']}", file=sys.stderr)
        return 2
    uvicorn.run(
        functools.partial(create_app, settings),
        factory=True,
        host=settings.backend_host,
        port=settings.backend_port,
        workers=1,
        proxy_headers=False,
        server_header=False,
        access_log=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

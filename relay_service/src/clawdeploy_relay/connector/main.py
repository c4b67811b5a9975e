"""``clawdeploy-relay-connector``: load the settings, run until SIGTERM or SIGINT.

Exit status 0 after a clean stop; 2 (with a message on stderr that names the setting,
never its value) when a setting is invalid, an env file is unreadable or readable by
group/others, or a token is missing.
"""

import asyncio
import signal
import sys

from pydantic import ValidationError

from . import logs
from .runner import Connector
from .settings import ConnectorSettings, SettingsFileError, load_connector_settings

NAME = "clawdeploy-relay-connector"


def _fail(message: str) -> int:
    print(f"{NAME}: {message}", file=sys.stderr)
    return 2


def _missing(settings: ConnectorSettings) -> str | None:
    if settings.client_token is None and settings.signing_key is None:
        return (
            "CONNECTOR_CLIENT_TOKEN is not set; put the token of POST /clients in a 0600 file "
            "and name it with CONNECTOR_ENV_FILE (with CONNECTOR_TRANSPORT=ws, "
            "CONNECTOR_SIGNING_KEY and CONNECTOR_CLIENT_ID may replace it)"
        )
    if settings.gateway_token is None:
        return (
            "no gateway token; set CONNECTOR_GATEWAY_ENV_FILE to the gateway instance's .env "
            "(it holds OPENCLAW_GATEWAY_TOKEN)"
        )
    return None


async def serve(connector: Connector) -> None:
    """Run ``connector`` with SIGTERM/SIGINT asking it to stop; close its clients after."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, connector.request_stop)
    try:
        await connector.run()
    finally:
        await connector.aclose()


def main() -> int:
    """The console entry point; returns the exit status."""
    try:
        settings = load_connector_settings()
    except SettingsFileError as exc:
        return _fail(str(exc))
    except ValidationError as exc:
        for err in exc.errors(include_input=False):
            where = ".".join(str(p) for p in err["loc"]).upper()
            _fail(f"invalid CONNECTOR_{where}: {err['msg']}" if where else err["msg"])
        return 2
    problem = _missing(settings)
    if problem:
        return _fail(problem)
    logs.configure(settings.log_level)
    asyncio.run(serve(Connector.from_settings(settings)))
    return 0

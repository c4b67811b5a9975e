"""Env files that hold tokens: readable by their owner only, else refused.

Shared by the relay (``RELAY_ENV_FILE``: the admin token) and the connector
(``CONNECTOR_ENV_FILE``: the client token; ``CONNECTOR_GATEWAY_ENV_FILE``: the gateway
instance's ``.env`` with ``OPENCLAW_GATEWAY_TOKEN``). A file is accepted when it is a
readable regular file with no group or other permission bit (0600 or 0400). The format is
dotenv (``KEY=value`` lines, ``#`` comments), read by python-dotenv as pydantic-settings
does. Error messages name the variable and the path, never a value.
"""

import os
import stat
from pathlib import Path

from dotenv import dotenv_values


class SettingsFileError(ValueError):
    """An env file named by a setting cannot be read, or group or others may read it."""


def private_file(path_text: str, variable: str, holds: str) -> Path:
    """Return ``path_text`` as a :class:`~pathlib.Path` once it passes the checks.

    :param path_text: the path as given (relative paths are relative to the working dir).
    :param variable: the setting that named it (``RELAY_ENV_FILE``), for the message.
    :param holds: what the file holds (``the admin token``), for the message.
    :raises SettingsFileError: the file is missing or unreadable, or its mode has any
        group/other bit (the message says ``chmod 600 <path>``).
    """
    path = Path(path_text)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise SettingsFileError(f"{variable}={path_text} is not a readable file")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SettingsFileError(
            f"{variable}={path_text} has mode {mode:04o}; it holds {holds}: chmod 600 {path_text}"
        )
    return path


def env_file_from(variable: str, holds: str) -> Path | None:
    """The private file named by the environment variable ``variable``; None when unset.

    :raises SettingsFileError: as :func:`private_file`.
    """
    path_text = os.environ.get(variable, "").strip()
    if not path_text:
        return None
    return private_file(path_text, variable, holds)


def read_value(path: Path, key: str) -> str | None:
    """The value of ``key`` in the dotenv file ``path`` (stripped); None when absent or blank."""
    value = dotenv_values(path).get(key)
    if value is None or not value.strip():
        return None
    return value.strip()

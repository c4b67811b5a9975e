"""Run the collection's playbooks from a scenario's verifier, verbosely, and prove that no
secret of the host appears in what they print.

Every run goes through :func:`play`: ``ansible-playbook -vvv`` (``CLAWDEPLOY_PLAY_VERBOSITY``
sets another count) against the scenario's inventory. After the run the host's secrets are
read (every ``*TOKEN*``, ``*KEY*``, ``*SECRET*`` or ``*PASSWORD*`` value in the instances'
``.env`` files and the backend-service's env file) and the whole output, success or failure,
is searched for each of them and for the ``extra_secrets`` the test passes (values it handed
to the play). A leak fails the test naming the variable, never printing the value; what is
printed of the output has every secret masked.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Iterable, Iterator

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
ROOT = "/opt/openclaw-assistant"
ENV_FILES = f"{ROOT}/instances/*/.env {ROOT}/backend-service/backend.env"
SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD")
# Shorter values (a port, "1") would match by chance; every real secret here is longer.
SECRET_MIN_LENGTH = 8
RECAP = re.compile(r"ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def host_secrets(host) -> dict[str, str]:
    """``{"<file>:<NAME>": value}`` for every secret-named entry of the host's env files."""
    listing = host.run(f"ls -1 {ENV_FILES} 2>/dev/null")
    found: dict[str, str] = {}
    for path in listing.stdout.split():
        for line in host.file(path).content_string.splitlines():
            name, sep, value = line.partition("=")
            value = value.strip().strip("'\"")
            if sep and SECRET_NAME.search(name) and len(value) >= SECRET_MIN_LENGTH:
                found[f"{path}:{name.strip()}"] = value
    return found


def leaked(text: str, secrets: dict[str, str]) -> list[str]:
    """The names of the ``secrets`` whose value occurs in ``text``."""
    return sorted(name for name, value in secrets.items() if value in text)


def mask(text: str, values: Iterable[str]) -> str:
    """``text`` with each of ``values`` replaced by ``***``."""
    for value in sorted(set(values), key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def play(
    host,
    playbook: str,
    *args: str,
    env: dict[str, str] | None = None,
    extra_secrets: dict[str, str] | None = None,
    timeout: int = 900,
) -> subprocess.CompletedProcess:
    """Run ``playbook`` (a path, or a name under playbooks/) verbosely and scan its output.

    ``ANSIBLE_VERBOSITY`` is ``CLAWDEPLOY_PLAY_VERBOSITY`` (default 3, i.e. -vvv).
    Returns the finished process (``returncode``, ``stdout``, ``stderr``); raises
    AssertionError when a secret of the host (read after the run) or one of
    ``extra_secrets`` (``{name: value}``) occurs in the output.
    """
    path = playbook if playbook.startswith("/") else os.path.join(PROJECT, "playbooks", playbook)
    # The count goes in the environment only: -v flags would add to an ANSIBLE_VERBOSITY
    # already set (Molecule's provisioner env sets 3), and from 4 on ansible-playbook prints
    # its whole command line. Secrets go to a play in an extra-vars file (extra_vars_file).
    verbosity = os.environ.get("CLAWDEPLOY_PLAY_VERBOSITY", "3")
    run_env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", NO_COLOR="1", ANSIBLE_VERBOSITY=verbosity)
    run_env.update(env or {})
    run_env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(PROJECT, ".cache", "collections"))
    cmd = ["ansible-playbook", "-i", INVENTORY, path, *args]
    result = subprocess.run(
        cmd, env=run_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    secrets = dict(host_secrets(host), **(extra_secrets or {}))
    out = result.stdout + result.stderr
    shown = mask(shlex.join(cmd), secrets.values())
    print("$", shown, "-> rc", result.returncode, f"({len(out)} characters, verbosity {verbosity})")
    print(mask(result.stdout[-6000:] + result.stderr[-3000:], secrets.values()))
    names = leaked(out, secrets)
    assert not names, f"{shown} printed the value of {names}"
    return result


@contextlib.contextmanager
def extra_vars_file(data: dict) -> Iterator[str]:
    """A private (0600) JSON file of ``data`` for ``-e @<path>``, removed afterwards."""
    fd, path = tempfile.mkstemp(prefix="clawdeploy-extra-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        yield path
    finally:
        os.unlink(path)


def said(result: subprocess.CompletedProcess) -> str:
    """The play's output and errors, runs of white space as one space (lines are wrapped)."""
    return " ".join((result.stdout + result.stderr).split())


def changed(result: subprocess.CompletedProcess) -> int:
    """Number of changed tasks in the play recap (failures make the test fail)."""
    recaps = RECAP.findall(result.stdout)
    assert recaps, "no play recap"
    assert all(int(unreachable) == 0 and int(failed) == 0 for _c, unreachable, failed in recaps)
    return sum(int(c) for c, _u, _f in recaps)


def assert_scenario_log_clean(host, extra_secrets: dict[str, str] | None = None) -> None:
    """The scenario's own Molecule output (``CLAWDEPLOY_MOLECULE_LOG``, written by
    scripts/test.sh: prepare, converge, idempotence and check at -vvv) holds no secret
    of the host nor any of ``extra_secrets``.

    Raises AssertionError when the log is missing, was not written at -vvv (no connection
    lines), or names a secret's value.
    """
    log_path = os.environ.get("CLAWDEPLOY_MOLECULE_LOG")
    assert log_path, "run the scenario through scripts/test.sh, which records its output"
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        log = handle.read()
    assert "PLAY RECAP" in log  # the converge output is really there
    assert "ESTABLISH" in log, "the scenario's plays did not run at -vvv"
    names = leaked(log, dict(host_secrets(host), **(extra_secrets or {})))
    assert not names, f"{log_path} holds the value of {names}"

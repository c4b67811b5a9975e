"""Processes and containers of the end-to-end test (a module name unique in the repository).

* :class:`Stub` — ``tests/fixtures/openai_stub.py --echo`` in its own process, on the docker
  bridge's gateway IP (reachable from the containers, not from outside the host), with a
  generated API key.
* :class:`Gateway` — one real OpenClaw gateway container (``local/openclaw:<version>``) run
  the way ``roles/gateway``'s compose file runs it: read-only root, tmpfs ``/tmp`` and
  ``HOME``, every capability dropped, no-new-privileges, a non-root user, the config
  directory mounted read-only with ``OPENCLAW_CONFIG_READONLY=1``, state and workspace
  mounted, the token and the provider key from a 0600 ``.env`` (``--env-file``), its port
  published on 127.0.0.1 only, ``host.docker.internal`` mapped to the host.
* :class:`Relay` — ``python -m clawdeploy_relay`` (``clawdeploy-relay``: the real app under
  uvicorn) on 127.0.0.1 with a SQLite file and its settings in a 0600 ``RELAY_ENV_FILE``.
* :class:`ConnectorProcess` — ``python -m clawdeploy_relay.connector``
  (``clawdeploy-relay-connector``) with a 0600 ``CONNECTOR_ENV_FILE`` and the gateway's
  ``.env`` as ``CONNECTOR_GATEWAY_ENV_FILE``.

Every secret is generated here (:func:`new_secret`) and kept in 0600 files or process
memory; :func:`redact` removes them from any text shown on a failure. Processes run from
this checkout's ``relay_service/src`` (``PYTHONPATH``), with an environment stripped of
``RELAY_*`` / ``CONNECTOR_*`` variables and proxies.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
RELAY_SRC = REPO / "relay_service" / "src"
STUB_SCRIPT = REPO / "tests" / "fixtures" / "openai_stub.py"
NAME_PREFIX = "relay-e2e-"
LABEL = "clawdeploy.test=relay-e2e"
CONTAINER_PORT = 18789
STUB_MODEL = "stub-model"
# The environment variable the role names for a provider's key (plugins/filter/gateway_config.py).
STUB_KEY_ENV = "OPENCLAW_PROVIDER_STUB_API_KEY"
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def new_secret() -> str:
    """A fresh 256-bit secret (64 hex characters)."""
    return secrets.token_hex(32)


def redact(text: str, hidden: Iterable[str]) -> str:
    """``text`` with every non-empty string of ``hidden`` replaced by ``***``."""
    for value in hidden:
        if value:
            text = text.replace(value, "***")
    return text


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ("" when it does not exist)."""
    try:
        content = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(content.splitlines()[-lines:])


def tails(workdir: Path, paths: Iterable[Path], hidden: Iterable[str], lines: int = 25) -> str:
    """The tails of several logs under ``workdir``, each headed by its path, redacted."""
    parts = [f"--- {path.relative_to(workdir)}\n{tail(path, lines)}" for path in paths]
    return redact("\n".join(parts), hidden)


def wait_until(predicate: Callable[[], T], timeout_s: float, what: str, step_s: float = 0.2) -> T:
    """Call ``predicate`` until it returns something truthy and return that.

    :raises AssertionError: naming ``what`` when ``timeout_s`` passes first.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(step_s)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def write_private(path: Path, lines: dict[str, str]) -> Path:
    """Write ``KEY=value`` lines to ``path`` with mode 0600 (created so, never wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.writelines(f"{key}={value}\n" for key, value in lines.items())
    os.chmod(path, 0o600)
    return path


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without relay/connector settings and proxies, plus
    ``PYTHONPATH`` to this checkout's relay and ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(("RELAY_", "CONNECTOR_")) and key.lower() not in _PROXY_VARS
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(RELAY_SRC), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def docker(*args: str, timeout_s: float = 60.0, check: bool = True) -> str:
    """Run ``docker <args>`` and return its stdout.

    :raises AssertionError: when it fails and ``check`` (stderr, never the env, shown).
    """
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"docker {args[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip()


def bridge_gateway_ip() -> str:
    """The IP of the host on docker's default bridge (what ``host-gateway`` resolves to)."""
    ip = docker("network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}")
    assert ip, "docker's bridge network has no gateway address"
    return ip


class _Process:
    """A child process whose stdout and stderr go to one log file."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: list[str], env: dict[str, str]) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=REPO
            )

    def alive(self) -> bool:
        """Whether the process runs now."""
        return self.proc is not None and self.proc.poll() is None

    def exited(self) -> str:
        """An assertion message: the process ended, with its exit status."""
        code = self.proc.returncode if self.proc is not None else None
        return f"{self.name} exited with status {code} (log: {self.log_path})"

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM, wait up to ``timeout_s``, SIGKILL if still running; the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL (a crash) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Stub(_Process):
    """The OpenAI-compatible stub in echo mode (see the module doc)."""

    def __init__(self, workdir: Path, host: str) -> None:
        super().__init__("stub", workdir / "stub.out")
        self.host = host
        self.port = free_port(host)
        self.api_key = new_secret()
        self.requests_log = workdir / "stub-requests.jsonl"
        self._key_file = workdir / "stub.key"
        fd = os.open(self._key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.api_key)

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        self._spawn(
            [
                sys.executable,
                str(STUB_SCRIPT),
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--echo",
                "--key-file",
                str(self._key_file),
                "--log",
                str(self.requests_log),
            ],
            child_env(),
        )

        def listening() -> bool:
            assert self.alive(), self.exited()
            with socket.socket() as sock:
                sock.settimeout(0.5)
                return sock.connect_ex((self.host, self.port)) == 0

        wait_until(listening, 10, "the stub provider to listen", 0.05)

    def model_requests(self) -> int:
        """How many model requests (POSTs) the stub has received so far."""
        try:
            lines = self.requests_log.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return 0
        return sum(1 for line in lines if line and json.loads(line).get("method") == "POST")


class Gateway:
    """One real OpenClaw gateway container (see the module doc)."""

    def __init__(self, label: str, run_id: str, image: str, workdir: Path, stub: Stub) -> None:
        self.label = label
        self.name = f"{NAME_PREFIX}{run_id}-{label}"
        self.image = image
        self.dir = workdir / label
        self.token = new_secret()
        self.host_port = free_port()
        self.url = ""
        self.ip = ""
        self.started = False
        self.log_path = self.dir / "gateway.log"
        config_dir, state, workspace = (self.dir / n for n in ("config", "state", "workspace"))
        for path in (config_dir, state, workspace):
            path.mkdir(parents=True)
        # The role runs the container as the host's gateway user; as root, the image's.
        self.user = (1000, 1000) if os.getuid() == 0 else (os.getuid(), os.getgid())
        for path in (state, workspace):
            os.chown(path, *self.user)
            path.chmod(0o700)
        config_dir.chmod(0o755)
        # As plugins/filter/gateway_config.py builds it for 2026.8+ (JSON is valid JSON5).
        config = {
            "gateway": {
                "mode": "local",
                "bind": "lan",
                "port": CONTAINER_PORT,
                "auth": {"mode": "token"},
                "http": {
                    "endpoints": {
                        "responses": {"enabled": True},
                        "chatCompletions": {"enabled": False},
                    }
                },
            },
            "update": {"checkOnStart": False},
            "models": {
                "catalogRefresh": {"enabled": False},
                "providers": {
                    "stub": {
                        "baseUrl": f"http://host.docker.internal:{stub.port}/v1",
                        "api": "openai-completions",
                        "apiKey": {"source": "env", "provider": "default", "id": STUB_KEY_ENV},
                        "models": [{"id": STUB_MODEL, "name": "Stub Model"}],
                    }
                },
            },
            "agents": {"defaults": {"model": {"primary": f"stub/{STUB_MODEL}"}}},
        }
        config_file = config_dir / "openclaw.json5"
        config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        config_file.chmod(0o644)
        # The instance's .env: docker's --env-file and the connector's CONNECTOR_GATEWAY_ENV_FILE.
        self.env_file = write_private(
            self.dir / ".env", {"OPENCLAW_GATEWAY_TOKEN": self.token, STUB_KEY_ENV: stub.api_key}
        )
        self._mounts = {"config": config_dir, "state": state, "workspace": workspace}

    def start(self) -> None:
        """``docker run -d`` (returns at once; :meth:`wait_ready` waits for the gateway)."""
        uid, gid = self.user
        home = "/home/openclaw"
        docker(
            "run",
            "-d",
            "--name",
            self.name,
            "--hostname",
            self.name,
            "--label",
            LABEL,
            "--init",
            "--user",
            f"{uid}:{gid}",
            "--workdir",
            home,
            "--read-only",
            "--tmpfs",
            "/tmp:size=256m",
            "--tmpfs",
            f"{home}:uid={uid},gid={gid},mode=0700,size=256m",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges:true",
            "--memory",
            "2g",
            "--pids-limit",
            "512",
            # The role's compose file restarts it (unless-stopped); on a loaded host OpenClaw
            # may give up at start ("state lease heartbeat did not become ready" after 5 s).
            "--restart",
            "on-failure:5",
            "--env-file",
            str(self.env_file),
            "-e",
            f"HOME={home}",
            "-e",
            "OPENCLAW_CONFIG_PATH=/etc/openclaw/openclaw.json5",
            "-e",
            "OPENCLAW_CONFIG_READONLY=1",
            "-e",
            "OPENCLAW_STATE_DIR=/var/lib/openclaw",
            "-e",
            "OPENCLAW_WORKSPACE_DIR=/var/lib/openclaw-workspace",
            "-e",
            "OPENCLAW_NO_AUTO_UPDATE=1",
            "-e",
            "OPENCLAW_DISABLE_BONJOUR=1",
            "-e",
            "OPENCLAW_SUPERVISOR_MODE=external",
            "-v",
            f"{self._mounts['config']}:/etc/openclaw:ro",
            "-v",
            f"{self._mounts['state']}:/var/lib/openclaw",
            "-v",
            f"{self._mounts['workspace']}:/var/lib/openclaw-workspace",
            # A fixed host port: a restart (below) keeps it, while Docker may give a
            # container restarted with "127.0.0.1::port" another one.
            "-p",
            f"127.0.0.1:{self.host_port}:{CONTAINER_PORT}",
            "--add-host",
            "host.docker.internal:host-gateway",
            self.image,
            "openclaw",
            "gateway",
            "run",
        )
        self.started = True
        self.url = f"http://127.0.0.1:{self.host_port}"

    def _state(self) -> str:
        return docker("inspect", "--format", "{{.State.Status}}", self.name, check=False)

    def ready(self) -> bool:
        """Whether ``/healthz`` answers ``{"ok": true}``; fails when the container ended."""
        state = self._state()
        assert state in ("created", "running", "restarting"), (
            f"gateway container {self.name} is {state or 'gone'} (log: {self.log_path})"
        )
        try:
            answer = httpx.get(f"{self.url}/healthz", timeout=2, trust_env=False)
            if not (answer.status_code == 200 and answer.json().get("ok") is True):
                return False
        except (httpx.HTTPError, ValueError):
            return False
        # Its address on the bridge: what the stub sees as the peer (read once it runs).
        self.ip = docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", self.name)
        return bool(self.ip)

    def respond(self, text: str, user: str, timeout_s: float = 90.0) -> str:
        """One ``POST /v1/responses`` straight to the gateway; the reply text."""
        answer = httpx.post(
            f"{self.url}/v1/responses",
            headers={"Authorization": f"Bearer {self.token}"},
            json={
                "model": "openclaw",
                "stream": False,
                "user": user,
                "input": [
                    {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": text}],
                    }
                ],
            },
            timeout=timeout_s,
            trust_env=False,
        )
        assert answer.status_code == 200, (
            f"gateway {self.label} answered HTTP {answer.status_code} to a direct request"
        )
        body = answer.json()
        return "".join(
            part.get("text", "")
            for item in body.get("output", [])
            if item.get("type") == "message"
            for part in item.get("content", [])
            if part.get("type") == "output_text"
        )

    def save_log(self) -> None:
        """Write the container's log to :attr:`log_path` (for a failure's report)."""
        if self.started:
            done = subprocess.run(
                ["docker", "logs", "--tail", "300", self.name],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            self.log_path.write_text(done.stdout + done.stderr, encoding="utf-8")

    def remove(self) -> None:
        """Save the log, then ``docker rm -f`` this container (only ours, by its name)."""
        if self.started:
            self.save_log()
            docker("rm", "-f", self.name, check=False)
            self.started = False


class Relay(_Process):
    """The relay as its console script runs it, restartable on the same port and file."""

    def __init__(self, workdir: Path, **settings: str) -> None:
        super().__init__("relay", workdir / "relay.log")
        self.admin_token = new_secret()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env_file = write_private(
            workdir / "relay.env",
            {
                "RELAY_ADMIN_TOKEN": self.admin_token,
                "RELAY_HOST": "127.0.0.1",
                "RELAY_PORT": str(self.port),
                "RELAY_DATABASE_URL": f"sqlite:///{workdir / 'relay.db'}",
                **{f"RELAY_{key.upper()}": value for key, value in settings.items()},
            },
        )

    def start(self) -> None:
        """Start and wait until ``/health`` answers."""
        self._spawn(
            [sys.executable, "-m", "clawdeploy_relay"], child_env(RELAY_ENV_FILE=str(self.env_file))
        )

        def healthy() -> bool:
            assert self.alive(), self.exited()
            try:
                answer = httpx.get(f"{self.url}/health", timeout=1, trust_env=False)
            except httpx.HTTPError:
                return False
            return answer.status_code == 200

        wait_until(healthy, 60, "the relay to answer /health", 0.1)


class ConnectorProcess(_Process):
    """One ``clawdeploy-relay-connector`` bridging one gateway to the relay."""

    def __init__(
        self, workdir: Path, gateway: Gateway, relay: Relay, client_token: str, **settings: str
    ) -> None:
        super().__init__(f"connector-{gateway.label}", workdir / f"connector-{gateway.label}.log")
        self.gateway = gateway
        self.env_file = write_private(
            workdir / f"connector-{gateway.label}.env",
            {
                "CONNECTOR_RELAY_URL": relay.url,
                "CONNECTOR_CLIENT_TOKEN": client_token,
                "CONNECTOR_GATEWAY_URL": gateway.url,
                "CONNECTOR_GATEWAY_ENV_FILE": str(gateway.env_file),
                **{f"CONNECTOR_{key.upper()}": value for key, value in settings.items()},
            },
        )

    def start(self) -> None:
        """Start (the caller waits for the relay to see it connected)."""
        self._spawn(
            [sys.executable, "-m", "clawdeploy_relay.connector"],
            child_env(CONNECTOR_ENV_FILE=str(self.env_file)),
        )


def parse_echo(text: str) -> dict[str, Any] | None:
    """The stub's echo (``{peer, user_messages, texts}``) in a reply text, or None."""
    prefix = "echo: "
    if not text.startswith(prefix):
        return None
    try:
        value = json.loads(text[len(prefix) :])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None

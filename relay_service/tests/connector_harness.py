"""Test harness of the connector: the real relay on a socket, a fake gateway, connectors in
threads (a module name unique in the repository).

* :class:`RelayServer` — the real relay app (``create_app``) under uvicorn on 127.0.0.1,
  real clock, a SQLite file; it can be stopped and started again on the same port and file.
* :class:`FakeGateway` — a stand-in for OpenClaw's ``POST /v1/responses`` in unit tests
  only. It speaks the OpenResponses shapes OpenClaw 2026.9.6 answered on this machine
  (``/work/shared/research/openclaw-facts.md`` Q1/Q2: the completed response object, the
  failed one with ``error.code``, the gateway-auth 401 body, the 400
  ``invalid_request_error``), keeps a history per session key derived from ``user`` the
  way OpenClaw does (``agent:<agentId>:openresponses-user:<user>``, lower-cased), records
  every call, and can be scripted to fail (``500``, ``502``, ``401``, ``400``, ``hang``).
* :class:`ConnectorThread` — a :class:`~clawdeploy_relay.connector.runner.Connector` in its
  own event loop in a thread, stopped gracefully (:meth:`~ConnectorThread.stop`) or killed
  (:meth:`~ConnectorThread.kill`: every task cancelled, nothing after that point reaches
  the relay).
"""

import asyncio
import atexit
import json
import random
import re
import secrets
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr

from clawdeploy_relay.connector.gateway import GatewayClient
from clawdeploy_relay.connector.relay_client import RelayClient
from clawdeploy_relay.connector.runner import Connector, build_relay
from clawdeploy_relay.connector.settings import ConnectorSettings
from clawdeploy_relay.connector.ws_client import WsRelayClient
from clawdeploy_relay.main import create_app
from clawdeploy_relay.settings import Settings

MODEL_RE = re.compile(r"openclaw(?:[/:](?P<agent>[a-z0-9][a-z0-9_-]{0,63}))?", re.IGNORECASE)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout_s: float = 10.0, step_s: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(step_s)


def message_lines(caplog: Any, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
    """The fields of the connector's per-message log lines, once there are ``count`` of them
    (a line is written after the relay answered the ack, so it may trail the outbox)."""

    def lines() -> list[dict[str, Any]]:
        return [
            r.fields
            for r in caplog.records
            if r.name == "clawdeploy_relay.connector" and r.getMessage() == "message"
        ]

    wait_for(lambda: len(lines()) >= count, timeout_s)
    found = lines()
    assert len(found) == count, found
    return found


# --- the relay ------------------------------------------------------------------------

_WINDING_DOWN: list[threading.Thread] = []


@atexit.register
def _join_winding_down() -> None:
    for thread in _WINDING_DOWN:
        thread.join(5)


class RelayServer:
    """The real relay app on ``127.0.0.1:<port>`` with a SQLite file, in a thread."""

    def __init__(self, db_path: Path, admin_token: str, **overrides: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.values: dict[str, Any] = {
            "admin_token": admin_token,
            "database_url": f"sqlite:///{db_path}",
            "lease_s": 0.5,
            "sweep_interval_s": 0.1,
            "poll_max_wait_s": 1.0,
            **overrides,
        }
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve (again) on the same port and database file; return once listening."""
        app = create_app(Settings(**self.values))
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            # A stop cancels the long-polls in flight, which uvicorn logs as errors.
            log_level="critical",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="relay", daemon=True)
        self._thread.start()
        wait_for(lambda: self._server is not None and self._server.started, 10.0)

    def stop(self, graceful: bool = False, wait: bool = True) -> None:
        """Shut the server down; ``graceful`` lets open requests (a long-poll) finish and
        runs the app's shutdown, else connections are dropped at once. ``wait=False``
        returns without waiting for the thread (a test's teardown: its port and file are
        its own, and uvicorn takes 0.2 s of ticks to wind down)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._server.force_exit = not graceful
            if wait:
                self._thread.join(10)
                assert not self._thread.is_alive(), "the relay did not stop"
            else:
                _WINDING_DOWN.append(self._thread)
        self._server = None


# --- the fake gateway -----------------------------------------------------------------


def _response_object(model: str, status: str, text: str | None, error: Any = None) -> dict:
    output = []
    if text is not None:
        output.append(
            {
                "type": "message",
                "id": f"msg_{uuid.uuid4().hex[:24]}",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text}],
                "phase": "final_answer",
                "status": "completed",
            }
        )
    body: dict[str, Any] = {
        "id": f"resp_{uuid.uuid4().hex[:24]}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "usage": {"input_tokens": 10, "output_tokens": 3, "total_tokens": 13},
    }
    if error is not None:
        body["error"] = error
    return body


class FakeGateway:
    """A stand-in for OpenClaw's ``POST /v1/responses`` (unit tests only; see module doc).

    ``script`` holds behaviours for the next calls (``ok``, ``500``, ``502``, ``401``,
    ``400``, ``hang``), consumed one per call; an empty script means ``ok``. A text
    containing ``poison`` is always refused with 400. ``hang`` waits for
    :attr:`release` (or 30 s) before answering. A wrong bearer token gets OpenClaw's 401
    whatever the script. Replies read ``re: <text> (turn <n>; before: <earlier texts>)``
    with the history of the call's session; ``reply_tag`` is appended when set.
    """

    def __init__(self, token: str, port: int | None = None) -> None:
        self.token = token
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.script: deque[str] = deque()
        self.calls: list[dict[str, Any]] = []
        self.sessions: dict[str, list[str]] = defaultdict(list)
        self.release = threading.Event()
        self.delay_s = 0.0
        self.reply_tag = ""
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle

    def start(self) -> None:
        """Listen on :attr:`port`."""
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                gateway._serve(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="gateway", daemon=True
        ).start()

    def stop(self) -> None:
        """Stop listening (connections are then refused)."""
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- what tests read

    def users(self) -> list[str | None]:
        """The ``user`` field of every call, in order."""
        return [c["user"] for c in self.calls]

    def texts(self) -> list[str]:
        """The input text of every call, in order."""
        return [c["text"] for c in self.calls]

    # -- serving

    def _serve(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length)
        if req.path != "/v1/responses":
            return self._send(req, 404, b"Not Found", "text/plain; charset=utf-8")
        if req.headers.get("Authorization") != f"Bearer {self.token}":
            with self.lock:
                self.calls.append({"user": None, "text": None, "behaviour": "unauthorized"})
            return self._json(
                req, 401, {"error": {"message": "Unauthorized", "type": "unauthorized"}}
            )
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return self._invalid(req, str(exc))
        problem, agent, text = self._check(body)
        if problem:
            return self._invalid(req, problem)
        user = body.get("user")
        key = f"agent:{agent}:openresponses-user:{user.lower()}" if user else uuid.uuid4().hex
        with self.lock:
            behaviour = self.script.popleft() if self.script else "ok"
            if "poison" in text:
                behaviour = "400"
            self.calls.append({"user": user, "text": text, "behaviour": behaviour, "key": key})
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._behave(req, behaviour, body["model"], key, text)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _check(self, body: Any) -> tuple[str, str, str]:
        """(problem, agent id, input text) of a request; problem "" when it is valid."""
        if not isinstance(body, dict):
            return "body must be a JSON object", "", ""
        match = MODEL_RE.fullmatch(str(body.get("model", "")))
        if not match:
            return "Invalid `model`. Use `openclaw` or `openclaw/<agentId>`.", "", ""
        if body.get("stream") not in (None, False):
            return "this fake serves non-streaming requests only", "", ""
        items = body.get("input")
        if isinstance(items, str):
            return "", (match.group("agent") or "main").lower(), items
        try:
            (item,) = items
            (part,) = item["content"]
            assert item["type"] == "message" and item["role"] == "user"
            assert part["type"] == "input_text" and isinstance(part["text"], str)
        except (AssertionError, KeyError, TypeError, ValueError):
            return "input must be one user message with one input_text part", "", ""
        return "", (match.group("agent") or "main").lower(), part["text"]

    def _behave(
        self, req: BaseHTTPRequestHandler, behaviour: str, model: str, key: str, text: str
    ) -> None:
        if behaviour == "500":
            error = {"code": "api_error", "message": "internal error"}
            return self._json(req, 500, _response_object(model, "failed", None, error))
        if behaviour == "502":
            error = {"code": "api_error", "message": "upstream provider error"}
            return self._json(req, 502, _response_object(model, "failed", None, error))
        if behaviour == "401":
            return self._json(
                req, 401, {"error": {"message": "Unauthorized", "type": "unauthorized"}}
            )
        if behaviour == "400":
            return self._invalid(req, "Unknown agent 'nosuch'.")
        if behaviour == "hang":
            self.release.wait(30)
        if self.delay_s:
            time.sleep(self.delay_s)
        with self.lock:
            before = list(self.sessions[key])
            self.sessions[key].append(text)
        reply = f"re: {text} (turn {len(before) + 1}; before: {' | '.join(before) or '-'})"
        self._json(req, 200, _response_object(model, "completed", reply + self.reply_tag))

    def _invalid(self, req: BaseHTTPRequestHandler, message: str) -> None:
        self._json(req, 400, {"error": {"message": message, "type": "invalid_request_error"}})

    def _json(self, req: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        self._send(req, status, json.dumps(body).encode(), "application/json; charset=utf-8")

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, data: bytes, ctype: str) -> None:
        try:
            req.send_response(status)
            req.send_header("Content-Type", ctype)
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the connector gave up waiting (a timeout test)


# --- connectors in threads ------------------------------------------------------------


class ConnectorThread:
    """A connector running in its own event loop in a daemon thread."""

    def __init__(
        self,
        settings: ConnectorSettings,
        relay_factory: Callable[..., RelayClient | WsRelayClient] | None = None,
    ) -> None:
        self.settings = settings
        self._relay_factory = relay_factory
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connector: Connector | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="connector", daemon=True)

    def start(self) -> "ConnectorThread":
        """Start; return once the connector exists."""
        self._thread.start()
        assert self._ready.wait(5), "the connector did not start"
        return self

    def _main(self) -> None:
        loop = self.loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._run())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # surfaced by stop()/kill()
            self.error = exc
        finally:
            loop.close()

    async def _run(self) -> None:
        s = self.settings
        assert s.gateway_token is not None
        if self._relay_factory is None:
            relay = build_relay(s)  # CONNECTOR_TRANSPORT decides, as in production
        else:
            assert s.client_token is not None
            relay = self._relay_factory(
                s.relay_url, s.client_token.get_secret_value(), s.relay_timeout_s
            )
        gateway = GatewayClient(
            s.gateway_url, s.gateway_token.get_secret_value(), s.agent_model, s.gateway_timeout_s
        )
        self.connector = Connector(s, relay, gateway, rng=random.Random(5))
        self._ready.set()
        try:
            await self.connector.run()
        finally:
            await self.connector.aclose()

    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask for a graceful stop (as SIGTERM does) and wait for the thread."""
        if self._thread.is_alive() and self.loop is not None and self.connector is not None:
            self.loop.call_soon_threadsafe(self.connector.request_stop)
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the connector did not stop"
        assert self.error is None, repr(self.error)

    def kill(self) -> None:
        """Cancel every task at once, as close to SIGKILL as a thread gets."""

        def cancel_all() -> None:
            for task in asyncio.all_tasks():
                task.cancel()

        if self._thread.is_alive() and self.loop is not None:
            self.loop.call_soon_threadsafe(cancel_all)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the connector did not die"


# --- everything together --------------------------------------------------------------


class Stack:
    """A relay, a fake gateway, one registered client, and the connectors started on them.

    The relay has a signing secret, so the client also has a signing key (``/ws``'s signed
    hello, for ``CONNECTOR_TRANSPORT=ws`` with ``CONNECTOR_SIGNING_KEY``).
    """

    def __init__(
        self, tmp_path: Path, admin_token: str, gateway_token: str, **relay_settings: Any
    ) -> None:
        self.signing_secret = secrets.token_hex(32)
        self.relay = RelayServer(
            tmp_path / "relay.db",
            admin_token,
            signing_secret=self.signing_secret,
            **relay_settings,
        )
        self.relay.start()
        self.gateway = FakeGateway(gateway_token)
        self.gateway.start()
        self.admin_token = admin_token
        self.admin = httpx.Client(
            base_url=self.relay.url, headers={"Authorization": f"Bearer {admin_token}"}
        )
        created = self.admin.post("/clients", json={"name": "gw1"})
        assert created.status_code == 200, created.text
        self.client_id = created.json()["clientId"]
        self.client_token = created.json()["token"]
        self.signing_key = created.json()["signingKey"]
        self.connectors: list[ConnectorThread] = []

    @property
    def secrets(self) -> list[str]:
        """Every token in play (none may appear in a log or answer)."""
        return [
            self.admin_token,
            self.client_token,
            self.gateway.token,
            self.signing_key,
            self.signing_secret,
        ]

    def settings(self, **overrides: Any) -> ConnectorSettings:
        """Fast test settings for a connector of this stack's client."""
        values: dict[str, Any] = {
            "relay_url": self.relay.url,
            "client_token": SecretStr(self.client_token),
            "gateway_url": self.gateway.url,
            "gateway_token": SecretStr(self.gateway.token),
            "poll_wait_s": 1.0,
            "relay_timeout_s": 5.0,
            "gateway_timeout_s": 5.0,
            "backoff_initial_s": 0.02,
            "backoff_max_s": 0.2,
            "auth_retry_s": 0.2,
            "shutdown_grace_s": 2.0,
            **overrides,
        }
        return ConnectorSettings(**values)

    def connector(
        self,
        relay_factory: Callable[..., RelayClient | WsRelayClient] | None = None,
        **overrides: Any,
    ) -> ConnectorThread:
        """Start a connector; it is stopped when the test ends."""
        thread = ConnectorThread(self.settings(**overrides), relay_factory).start()
        self.connectors.append(thread)
        return thread

    def inbound(self, user: str, text: str) -> dict[str, Any]:
        """``POST /inbound`` as the admin (the default integration); the stored Message."""
        response = self.admin.post("/inbound", json={"from": user, "text": text})
        assert response.status_code == 200, response.text
        return response.json()

    def outbox(self) -> list[dict[str, Any]]:
        """Every reply so far (``GET /outbox``)."""
        response = self.admin.get("/outbox")
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def wait_replies(self, count: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """Wait until the outbox holds ``count`` replies; return them (fails on more)."""

        def enough() -> list[dict[str, Any]] | None:
            replies = self.outbox()
            return replies if len(replies) >= count else None

        replies = wait_for(enough, timeout_s)
        assert len(replies) == count, [r["text"] for r in replies]
        return replies

    def client_state(self) -> str:
        """This stack's client's state on the relay (``GET /clients``)."""
        clients = self.admin.get("/clients").json()["clients"]
        return str(next(c["state"] for c in clients if c["id"] == self.client_id))

    def pending(self) -> int:
        """Un-acked inbound messages of this stack's client (``GET /clients``)."""
        clients = self.admin.get("/clients").json()["clients"]
        return next(c["pending"] for c in clients if c["id"] == self.client_id)

    def delivery_counts(self, conversation_id: str) -> list[int]:
        """``deliveryCount`` of the conversation's inbound messages, in order."""
        conv = self.admin.get(f"/conversations/{conversation_id}").json()
        return [m["deliveryCount"] for m in conv["messages"] if m["from"] == conv["userId"]]

    def close(self) -> None:
        """Stop the connectors, the gateway and the relay."""
        for thread in self.connectors:
            if thread.alive():
                thread.stop()
        self.gateway.stop()
        self.admin.close()
        self.relay.stop(wait=False)

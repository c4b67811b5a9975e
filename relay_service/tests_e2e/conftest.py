"""Fixtures of the end-to-end test: the stub provider and two real OpenClaw gateways
(``stack``, once per module), and for each connector transport (``poll``: long-polls,
``ws``: the relay's WebSocket) a relay of its own, its clients, two connectors and the
users' side (``world``); the whole scenario runs once per transport, on the same gateways.

Needs Docker and the local image ``local/openclaw:$OPENCLAW_VERSION`` (2026.9.6 unless set;
``CLAWDEPLOY_E2E_OPENCLAW_IMAGE`` names another), built by ``scripts/images.sh``; a missing
image fails the test, it is not skipped. ``CLAWDEPLOY_E2E_TRANSPORTS`` (default
``poll,ws``) picks the transports. Containers are named ``relay-e2e-<run>-gw-a`` /
``-gw-b``; every container and process started here is removed or stopped at the end,
also after a failure or a SIGTERM. A failed test gets the tails of the logs (secrets
redacted) in its report, and the later phases of the same transport are skipped (each
builds on the previous).
"""

import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from relay_e2e_harness import (
    ConnectorProcess,
    Gateway,
    Relay,
    Stub,
    bridge_gateway_ip,
    docker,
    parse_echo,
    tails,
    wait_until,
)

IMAGE = os.environ.get("CLAWDEPLOY_E2E_OPENCLAW_IMAGE") or (
    f"local/openclaw:{os.environ.get('OPENCLAW_VERSION') or '2026.9.6'}"
)
# Short relay timings, so that a stopped connector's conversations fail over in seconds.
RELAY_SETTINGS = {
    "stale_after_s": "2",
    "disconnected_after_s": "5",
    # Longer than a model request on a loaded host (35 s seen), so none is redelivered
    # while its connector is still waiting for the gateway.
    "lease_s": "60",
    "poll_max_wait_s": "1",
    "sweep_interval_s": "0.2",
}
TRANSPORTS = [
    name.strip()
    for name in (os.environ.get("CLAWDEPLOY_E2E_TRANSPORTS") or "poll,ws").split(",")
    if name.strip()
]
CONNECTOR_SETTINGS = {
    "poll_wait_s": "1",
    # More workers than users: a connector always has one free, so it keeps polling (and
    # stays "connected") while it waits for the gateway.
    "concurrency": "4",
    "relay_timeout_s": "5",
    "gateway_timeout_s": "240",
    "backoff_initial_s": "0.2",
    "backoff_max_s": "1",
    "shutdown_grace_s": "5",
    "log_level": "INFO",
}
USERS = ("alice", "bob", "carol")
# Deadlines (seconds). Unloaded, a gateway starts in 11-22 s and answers in 0.3-2 s; with
# Molecule scenarios running on the same 2 CPUs, 60-100 s and up to 35 s were seen.
GATEWAY_START_S = 240.0
REPLY_WAIT_S = 180.0
CONNECT_WAIT_S = 60.0


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``incremental`` marker (later phases skip after a failed one)."""
    config.addinivalue_line("markers", "incremental: phases of one scenario, in order")


_FAILED: dict[tuple[str, str], str] = {}


def _scenario(item: pytest.Item) -> tuple[str, str]:
    """(module, transport) of a phase: the scenario it belongs to."""
    callspec = getattr(item, "callspec", None)
    transport = str(callspec.params.get("world", "")) if callspec is not None else ""
    return (str(item.path), transport)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember a failed phase; attach the redacted log tails to its report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and "incremental" in item.keywords:
        if call.when == "call":
            _FAILED.setdefault(_scenario(item), item.name)
        world = getattr(item, "funcargs", {}).get("world")
        if isinstance(world, World):
            report.sections.append(("relay e2e logs (tails, secrets redacted)", world.log_tails()))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a phase when an earlier phase of its scenario failed."""
    failed = _FAILED.get(_scenario(item))
    if failed is not None and "incremental" in item.keywords:
        pytest.skip(f"the earlier phase {failed} failed")


class Stack:
    """The stub and the two gateways shared by the scenarios of a module."""

    def __init__(self, workdir: Path, stub: Stub, gateways: dict[str, Gateway]) -> None:
        self.workdir = workdir
        self.stub = stub
        self.gateways = gateways


class World:
    """The running system and the users' side of the relay (one integration).

    ``replies`` holds every outbox message read so far (in outbox order); ``posted`` every
    message a user posted, as the relay returned it, with its ``marker``.
    """

    def __init__(self, transport: str, stack: Stack, workdir: Path, relay: Relay) -> None:
        self.transport = transport
        self.workdir = workdir
        self.stub = stack.stub
        self.gateways = stack.gateways
        self.relay = relay
        self.run_id = secrets.token_hex(3)
        self.marker_re = re.compile(rf"e2e-{self.run_id}-(?P<user>[a-z]+)-m(?P<n>\d+)")
        self.admin = httpx.Client(
            base_url=relay.url,
            headers={"Authorization": f"Bearer {relay.admin_token}"},
            timeout=10,
            trust_env=False,
        )
        self.client_ids: dict[str, str] = {}
        self.client_tokens: dict[str, str] = {}
        for label in self.gateways:
            created = self.ok(self.admin.post("/clients", json={"name": f"e2e-{label}"}))
            self.client_ids[label] = created["clientId"]
            self.client_tokens[label] = created["token"]
        made = self.ok(self.admin.post("/integrations", json={"name": "e2e-users"}))
        self.integration_token: str = made["token"]
        self.users = httpx.Client(
            base_url=relay.url,
            headers={"Authorization": f"Bearer {self.integration_token}"},
            timeout=10,
            trust_env=False,
        )
        self.connectors: dict[str, ConnectorProcess] = {}
        # The gateway that got the first user, and the other one (set by the first phase).
        self.x = ""
        self.y = ""
        self.posted: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self._cursor = 0
        self._counts = dict.fromkeys(USERS, 0)

    @staticmethod
    def ok(answer: httpx.Response) -> dict[str, Any]:
        """The JSON of a 200 answer; else an assertion naming the route and error code."""
        assert answer.status_code == 200, (
            f"{answer.request.method} {answer.request.url.path} answered {answer.status_code}: "
            f"{answer.json().get('error_code') if answer.content else ''}"
        )
        return answer.json()

    # --- secrets and logs -----------------------------------------------------------

    def secrets(self) -> list[str]:
        """Every secret of the run (for :func:`redact`)."""
        return [
            self.relay.admin_token,
            self.integration_token,
            self.stub.api_key,
            *self.client_tokens.values(),
            *(gateway.token for gateway in self.gateways.values()),
        ]

    def log_tails(self) -> str:
        """The tails of the relay's, connectors', stub's and gateways' logs, redacted."""
        for gateway in self.gateways.values():
            gateway.save_log()
        paths = [self.relay.log_path, self.stub.log_path]
        paths += [c.log_path for c in self.connectors.values()]
        paths += [g.log_path for g in self.gateways.values()]
        return tails(self.stub.log_path.parent, paths, self.secrets())

    # --- connectors -----------------------------------------------------------------

    def start_connector(self, label: str) -> ConnectorProcess:
        """Start (a new process of) the connector of gateway ``label``."""
        connector = ConnectorProcess(
            self.workdir,
            self.gateways[label],
            self.relay,
            self.client_tokens[label],
            transport=self.transport,
            **CONNECTOR_SETTINGS,
        )
        connector.start()
        self.connectors[label] = connector
        return connector

    def clients(self) -> dict[str, dict[str, Any]]:
        """``GET /clients`` by gateway label."""
        rows = self.ok(self.admin.get("/clients"))["clients"]
        by_id = {row["id"]: row for row in rows}
        return {label: by_id[cid] for label, cid in self.client_ids.items()}

    def wait_connected(self, *labels: str) -> None:
        """Wait until the relay sees these gateways' clients ``connected``."""

        def connected() -> bool:
            for label in labels:
                connector = self.connectors[label]
                assert connector.alive(), connector.exited()
            states = self.clients()
            return all(states[label]["state"] == "connected" for label in labels)

        wait_until(connected, CONNECT_WAIT_S, f"clients {', '.join(labels)} to be connected")

    def label_of(self, client_id: str | None) -> str:
        """The gateway label of a relay client id."""
        for label, cid in self.client_ids.items():
            if cid == client_id:
                return label
        raise AssertionError(f"unknown client id {client_id!r}")

    # --- users ----------------------------------------------------------------------

    def post(self, user: str) -> dict[str, Any]:
        """User ``user`` posts its next message (text = a unique marker); the stored Message."""
        self._counts[user] += 1
        marker = f"e2e-{self.run_id}-{user}-m{self._counts[user]}"
        message = self.ok(self.users.post("/inbound", json={"from": user, "text": marker}))
        message["marker"] = marker
        self.posted.append(message)
        return message

    def read_outbox(self) -> list[dict[str, Any]]:
        """Read the outbox from the cursor on; the replies that were new."""
        fresh: list[dict[str, Any]] = []
        while True:
            page = self.ok(self.users.get("/outbox", params={"after": self._cursor}))
            fresh += page["messages"]
            if not page["messages"] or page["cursor"] == self._cursor:
                break
            self._cursor = page["cursor"]
        self.replies += fresh
        return fresh

    def markers(self, reply: dict[str, Any]) -> list[str]:
        """The markers of the user messages the model saw for this reply, in order."""
        echo = parse_echo(reply["text"])
        assert echo is not None, f"reply to {reply['to']} is not the stub's echo: {reply['text']!r}"
        return [m.group(0) for text in echo["texts"] for m in self.marker_re.finditer(text)]

    def peer(self, reply: dict[str, Any]) -> str:
        """The IP the model request of this reply came from (the gateway container's)."""
        echo = parse_echo(reply["text"])
        assert echo is not None, f"reply to {reply['to']} is not the stub's echo: {reply['text']!r}"
        return str(echo.get("peer"))

    def answered_here(self, reply: dict[str, Any]) -> list[str]:
        """The markers of the replies in ``reply``'s conversation sent by ``reply``'s client,
        up to ``reply`` itself: what that gateway's session of the conversation should hold."""
        upto = self.replies[: self.replies.index(reply) + 1]
        return [
            self.markers(r)[-1]
            for r in upto
            if r["conversationId"] == reply["conversationId"] and r["clientId"] == reply["clientId"]
        ]

    def sent_by(self, user: str) -> list[str]:
        """The markers ``user`` has posted so far, in order."""
        return [m["marker"] for m in self.posted if m["from"] == user]

    def answered(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The replies read so far whose current (last) marker is ``message``'s."""
        return [
            reply
            for reply in self.replies
            if reply["conversationId"] == message["conversationId"]
            and (self.markers(reply) or [None])[-1] == message["marker"]
        ]

    def wait_answers(
        self, messages: list[dict[str, Any]], timeout_s: float = REPLY_WAIT_S
    ) -> dict[str, dict[str, Any]]:
        """Read the outbox until each of ``messages`` has a reply; marker -> that reply.

        :raises AssertionError: a message got two replies, or not all got one in time
            (the message names the unanswered markers).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            self.read_outbox()
            found = {m["marker"]: self.answered(m) for m in messages}
            twice = {marker: len(r) for marker, r in found.items() if len(r) > 1}
            assert not twice, f"messages answered more than once: {twice}"
            missing = [marker for marker, r in found.items() if not r]
            if not missing:
                return {marker: r[0] for marker, r in found.items()}
            for connector in self.connectors.values():
                assert connector.proc is None or connector.proc.returncode in (None, 0), (
                    connector.exited()
                )
            assert time.monotonic() < deadline, (
                f"no reply within {timeout_s:.0f} s to {missing} "
                f"(outbox has {len(self.replies)} replies)"
            )
            time.sleep(0.2)

    def conversations(self) -> dict[str, dict[str, Any]]:
        """``GET /conversations`` by user id (this run's users only)."""
        rows = self.ok(self.admin.get("/conversations"))["conversations"]
        return {row["userId"]: row for row in rows if row["userId"] in USERS}

    def close(self) -> None:
        """Close the HTTP clients."""
        self.admin.close()
        self.users.close()


def _image_present(image: str) -> bool:
    return bool(docker("images", "--quiet", image, check=False))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stub and two gateways, started in parallel, healthy and warmed up."""
    assert _image_present(IMAGE), (
        f"the OpenClaw image {IMAGE} is not on this host; build it first (scripts/images.sh)"
    )
    workdir = tmp_path_factory.mktemp("relay-e2e")
    stub = Stub(workdir, bridge_gateway_ip())
    run_id = secrets.token_hex(3)
    gateways = {label: Gateway(label, run_id, IMAGE, workdir, stub) for label in ("gw-a", "gw-b")}
    # A stage timeout's SIGTERM would end pytest without teardown and leave the containers
    # running; as KeyboardInterrupt, pytest still runs the finalizer below.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    ready = False
    try:
        stub.start()
        for gateway in gateways.values():
            gateway.start()
        wait_until(
            lambda: all(g.ready() for g in gateways.values()),
            GATEWAY_START_S,
            "both gateways' /healthz",
            0.5,
        )
        _warm_up(list(gateways.values()))
        ready = True
        yield Stack(workdir, stub, gateways)
    finally:
        if not ready:
            # A setup error has no test report to attach the logs to: its output shows.
            hidden = [stub.api_key, *(g.token for g in gateways.values())]
            for gateway in gateways.values():
                gateway.save_log()
            print(tails(workdir, [stub.log_path, *(g.log_path for g in gateways.values())], hidden))
        try:
            for gateway in gateways.values():
                gateway.remove()
            stub.stop()
        finally:
            signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="module", params=TRANSPORTS)
def world(request: pytest.FixtureRequest, stack: Stack) -> Iterator[World]:
    """A relay of its own (fresh database), its clients and integration, for one connector
    transport; the connectors are not started (the first phase posts before they run)."""
    transport = str(request.param)
    workdir = stack.workdir / transport
    workdir.mkdir()
    relay = Relay(workdir, **RELAY_SETTINGS)
    made: World | None = None
    try:
        relay.start()
        made = World(transport, stack, workdir, relay)
        yield made
    finally:
        try:
            if made is not None:
                for connector in made.connectors.values():
                    connector.stop()
                made.close()
        finally:
            relay.stop()


def _warm_up(gateways: list[Gateway]) -> None:
    """One direct model request to each gateway, all at once.

    The first one of a fresh gateway takes 7-13 s (lazy loading); made here, the phases'
    timings are the steady state's, and a gateway that cannot reach the stub fails now.
    """
    errors: list[BaseException] = []

    def warm(gateway: Gateway) -> None:
        try:
            reply = gateway.respond("warm-up", user="e2e-warm-up", timeout_s=REPLY_WAIT_S)
            assert parse_echo(reply) is not None, (
                f"gateway {gateway.label} did not pass the stub's echo on: {reply[:200]!r}"
            )
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=warm, args=(g,)) for g in gateways]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(REPLY_WAIT_S + 10)
    if errors:
        raise errors[0]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")

"""Relay figures on loopback (issue 12, "Bench"), each printed beside its goal and a verdict.

The script starts the relay itself, a fresh process and database for each run below:
``python -m clawdeploy_relay`` from relay_service/src (uvicorn, one worker, as in
production) on a free 127.0.0.1 port and a SQLite file in a temporary directory, with a
generated admin token in a 0600 env file (never printed). The load goes over real sockets
through a small keep-alive HTTP/1.1 client on asyncio streams (one httpx AsyncClient costs
more CPU per request than the relay: the floor rows show it; httpx does the setup calls)
and, for ``/ws``, a minimal wsproto client:

1. delivery latency, inbound -> the connector side has the message, p50/p99, at a steady
   ``--rate`` msg/s (500) for ``--seconds`` (10) from 20 users to 4 clients, with
   (a) long-poll ``GET /poll?wait=20&ack=explicit``, then ``POST /ack`` of the batch,
   (b) the WebSocket ``/ws`` (pushed ``messages`` frames, ``ack`` frames), (c) the seed's
   method: ``GET /poll`` every 1 s, seed acks (asked again at once while the answer is a
   full batch). Each message's text carries ``time.monotonic()`` taken just before its
   ``POST /inbound`` (open loop: one request due every 1/rate s, whatever the answers);
   the receivers, in the same process, subtract it on arrival. A message not delivered
   5 s after the load ends counts as infinitely late. Goal: p99 <= 50 ms, >= 10 x below (c).
2. throughput end to end: 16 producers post ``/inbound`` (closed loop, at most 400
   messages without a reply), 4 fake gateways long-poll a batch and answer each message
   at once (``POST /send`` with ``ackIds`` and an idempotency key, as the connector does,
   4 at a time per gateway), one reader follows ``GET /outbox`` by cursor; replies read
   per second over ``--seconds`` after 1 s of warm-up. Twice: with the seed's single
   routes, then with the batch routes (producers post ``/inbound/batch`` with ``--batch``
   (50) messages, at most 2 x 16 x 50 without a reply; each gateway answers a whole poll
   with one ``/send/batch``; goal: >= 2,000 msg/s). On SQLite, and on PostgreSQL when
   ``--database-url`` (or ``RELAY_BENCH_DATABASE_URL``) is given: the relay gets that
   RELAY_DATABASE_URL in its env file (never printed; give it a scratch database: the
   bench adds clients and messages, revokes its clients at the end, and refuses a
   database with clients not revoked, which routing would hand new users). Replies are
   counted again from cursor 0 at the end: a reply the cursor skipped is an error. Beside
   it the framework's floor, with as many concurrent request loops (37): a bare FastAPI
   app (one async route answering ``{"ok": true}``) in its own process on the relay's
   uvicorn settings (h11, one worker, access log on), then on the relay itself
   ``GET /health`` (one read transaction), a bare 404 (no route), and the bare 404
   through one httpx AsyncClient.
3. ``--idle-clients`` (5,000) clients registered with ``POST /clients``, 32 at once (the
   API has no bulk form; timed), each then holding ``GET /poll?wait=25`` (the relay's
   longest) on its own connection with its own token, asking again when answered. How
   many are connected (polled within the 30 s stale time) is read from the relay's SQLite
   file, read-only, every 0.5 s for up to 45 s (``/health`` would queue behind the polls
   for the relay's threads); then VmRSS and VmHWM from /proc/<pid>/status. Goal: all
   held, RSS <= 512 MiB. RLIMIT_NOFILE is raised to its hard limit; the relay, a child,
   inherits it. Skipped with ``--skip-idle``.

The env file lifts the per-client and per-user rate limits (500 msg/s from 20 users is
25 msg/s each; the default allows 2): the bench measures the relay, not its limiter. Every
other setting is the default (WAL, synchronous=FULL, access log on, to the relay's log
file). "relay CPU" is its utime+stime over the measured window (100 % = one core), "bench
CPU" this process's. Progress goes to stderr, the figures to stdout. Logs and databases
live in the temporary directory, removed at the end, also on Ctrl-C or SIGTERM. About
3 minutes. Run: .venv/bin/python bench/relay_figures.py [--seconds 10] [--rate 500]
[--idle-clients 5000] [--skip-idle] [--batch 50] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "relay_service" / "src"
POLL_BATCH = 100  # RELAY_POLL_BATCH's default: a fuller answer means more is waiting
MAX_WAIT_S = 25  # RELAY_POLL_MAX_WAIT_S's default
LONG_POLL_WAIT_S = 20
SETTLE_S = 5.0  # after the load: how long answers and deliveries may still come
IDLE_WAIT_S = 45.0  # for the idle clients to open and poll
STALE_AFTER_S = 30.0  # RELAY_STALE_AFTER_S's default: "connected" = polled within it
UNLIMITED = "1000000"
RATE_SETTINGS = {
    "RELAY_CLIENT_RATE_PER_S": UNLIMITED,
    "RELAY_CLIENT_BURST": UNLIMITED,
    "RELAY_USER_RATE_PER_S": UNLIMITED,
    "RELAY_USER_BURST": UNLIMITED,
}
LATENCY_USERS, LATENCY_CLIENTS = 20, 4
PRODUCERS, GATEWAYS, SEND_CONCURRENCY, BACKLOG, TP_USERS = 16, 4, 4, 400, 200
TP_CONCURRENCY = PRODUCERS + GATEWAYS * (1 + SEND_CONCURRENCY) + 1  # + the outbox reader
FLOOR_SECONDS = 4.0
GOAL_P99_S, GOAL_RATIO, GOAL_MSGS, GOAL_RSS_MIB = 0.050, 10.0, 2000.0, 512.0


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"[relay-figures] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0-100) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    """Milliseconds (seconds from 1 s on); ``not delivered`` for inf."""
    if math.isnan(seconds):
        return "n/a"
    if math.isinf(seconds):
        return "not delivered"
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.1f} ms"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the relay process -----------------------------------------------------------------


class Relay:
    """One relay process: its env file (0600), log, database, port and admin token."""

    command = (sys.executable, "-m", "clawdeploy_relay")

    def __init__(self, workdir: Path, name: str, database_url: str | None = None) -> None:
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir(mode=0o700)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin = secrets.token_hex(32)
        self.database = self.dir / "relay.db"
        self.database_url = database_url or f"sqlite:///{self.database}"
        self.log_path = self.dir / "relay.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def redact(self, text: str) -> str:
        """``text`` without the admin token, the database URL or its password."""
        secrets_ = [self.admin, self.database_url, urlsplit(self.database_url).password or ""]
        for value in secrets_:
            if value:
                text = text.replace(value, "***")
        return text

    def start(self) -> None:
        """Write the env file, start ``python -m clawdeploy_relay``, wait for /health."""
        settings = {
            "RELAY_ADMIN_TOKEN": self.admin,
            "RELAY_DATABASE_URL": self.database_url,
            "RELAY_HOST": "127.0.0.1",
            "RELAY_PORT": str(self.port),
            **RATE_SETTINGS,
        }
        env_file = self.dir / "relay.env"
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.writelines(f"{key}='{value}'\n" for key, value in settings.items())
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("RELAY_")}
        env.update(PYTHONPATH=str(SRC), RELAY_ENV_FILE=str(env_file))
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                list(self.command),
                cwd=self.dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the bench only; it stops the relay
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"relay {self.name} exited with {self.proc.returncode}: {self.last_log_line()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1, trust_env=False).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"relay {self.name} did not answer /health within 30 s")

    def last_log_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return self.redact(lines[-1]) if lines else "(empty log)"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 3 s (uvicorn would wait out open long-polls)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def status_kib(self, field_name: str) -> int:
        """``VmRSS``, ``VmHWM``, ... of /proc/<pid>/status, in KiB."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
        raise KeyError(field_name)

    def cpu_s(self) -> float:
        """utime + stime of the relay process (all threads), seconds."""
        assert self.proc is not None
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU of the relay and of this process over a window, in % of one core."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.t0, self.relay0, self.self0 = time.monotonic(), relay.cpu_s(), time.process_time()

    def stop(self) -> str:
        elapsed = max(1e-9, time.monotonic() - self.t0)
        relay = (self.relay.cpu_s() - self.relay0) / elapsed * 100
        own = (time.process_time() - self.self0) / elapsed * 100
        return f"relay CPU {relay:.0f} %, bench CPU {own:.0f} %"


# --- admin calls -------------------------------------------------------------------------


async def create(http: httpx.AsyncClient, relay: Relay, kind: str, name: str) -> tuple[str, str]:
    """Register a client or an integration; return (id, token)."""
    path = "/clients" if kind == "client" else "/integrations"
    answer = await http.post(path, json={"name": name}, headers=bearer(relay.admin))
    if answer.status_code != 200:
        raise RuntimeError(f"POST {path} answered {answer.status_code}")
    body = answer.json()
    return body["clientId" if kind == "client" else "integrationId"], body["token"]


async def connected(http: httpx.AsyncClient) -> int:
    """How many clients /health counts as connected (-1 when it did not answer)."""
    try:
        answer = await http.get("/health", timeout=30)
        return int(answer.json()["clientStates"]["connected"])
    except (httpx.HTTPError, ValueError, KeyError):
        return -1


async def wait_connected(http: httpx.AsyncClient, want: int, timeout: float) -> bool:
    """Wait until /health counts ``want`` connected clients."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await connected(http) >= want:
            return True
        await asyncio.sleep(0.1)
    return False


def connected_in_file(database: Path, stale_after_s: float = STALE_AFTER_S) -> int:
    """Clients that polled within the stale time, read from the relay's SQLite file
    (read-only): /health queues behind thousands of polls for the relay's threads."""
    with contextlib.closing(
        sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    ) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM clients WHERE revoked_at IS NULL AND last_seen_at >= ?",
            (time.time() - stale_after_s,),
        ).fetchone()
    return int(count)


def new_http(relay: Relay, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        base_url=relay.url, limits=limits, timeout=httpx.Timeout(60), trust_env=False
    )


# --- the load's HTTP client -------------------------------------------------------------


class HttpError(Exception):
    """A connection failed or an answer could not be read."""


class Conn:
    """One keep-alive HTTP/1.1 connection to the relay; JSON in and out, one request at a
    time. The load goes through these rather than httpx: an httpx AsyncClient costs the
    bench more CPU per request than the relay spends (see the floor rows)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port, self.token = port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, target: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        """Send one request, return (status, decoded JSON body or None)."""
        try:
            return await self._request(method, target, body, token or self.token)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            self.close()
            raise HttpError(type(exc).__name__) from exc
        except BaseException:  # cancelled mid-request: the answer would come on a dead read
            self.close()
            raise

    async def _request(
        self, method: str, target: str, body: Any, token: str | None
    ) -> tuple[int, Any]:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        if token:
            lines.append(f"Authorization: Bearer {token}")
        payload = b""
        if body is not None:
            payload = json.dumps(body).encode()
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _sep, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise ValueError("chunked answers are not read here")
        data = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, json.loads(data) if data else None


class Pool:
    """At most ``size`` requests at once, over connections kept for reuse."""

    def __init__(self, port: int, size: int) -> None:
        self.port = port
        self.gate = asyncio.Semaphore(size)
        self.idle: list[Conn] = []

    async def request(
        self, method: str, target: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        async with self.gate:
            conn = self.idle.pop() if self.idle else Conn(self.port)
            answer = await conn.request(method, target, body, token)
            self.idle.append(conn)
            return answer

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


# --- 1. delivery latency -----------------------------------------------------------------


@dataclass
class Delivery:
    """First arrival of each message at the receivers: id -> seconds since its stamp."""

    latencies: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def record(self, messages: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        for message in messages:
            if message["id"] in self.latencies:
                self.duplicates += 1
                continue
            self.latencies[message["id"]] = now - float(message["text"].rsplit(" ", 1)[1])


@dataclass
class Offered:
    """What the open-loop sender did."""

    total: int = 0
    sent: int = 0
    unsent: int = 0
    rate: float = 0.0
    rtts: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


async def offer(port: int, token: str, rate: float, seconds: float, users: list[str]) -> Offered:
    """POST /inbound every 1/rate s for ``seconds``, the stamp in the text.

    Requests not answered SETTLE_S after the last one was due are cancelled (``unsent``).
    """
    out = Offered()
    pool = Pool(port, 64)

    async def one(i: int) -> None:
        stamp = time.monotonic()
        body = {"from": users[i % len(users)], "text": f"bench {i} {stamp:.6f}"}
        try:
            status, _body = await pool.request("POST", "/inbound", body, token)
        except HttpError as exc:
            out.errors[f"inbound {exc}"] += 1
            return
        out.rtts.append(time.monotonic() - stamp)
        if status == 200:
            out.sent += 1
        else:
            out.errors[f"inbound {status}"] += 1

    total = out.total = max(1, round(rate * seconds))
    tasks: set[asyncio.Task[None]] = set()
    start = time.monotonic() + 0.01
    try:
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        launched = time.monotonic() - start
        out.rate = total / max(launched, (total - 1) / rate, 1e-9)
        if tasks:
            _done, late = await asyncio.wait(list(tasks), timeout=SETTLE_S)
            out.unsent = len(late)
    finally:
        for task in tasks:
            task.cancel()
        pool.close()
    return out


async def longpoll_receiver(port: int, token: str, delivery: Delivery) -> None:
    """A connector's loop: long-poll with explicit acks, ack the batch, poll again."""
    conn = Conn(port, token)
    target = f"/poll?wait={LONG_POLL_WAIT_S}&ack=explicit"
    try:
        while True:
            status, body = await conn.request("GET", target)
            if status != 200:
                delivery.errors[f"poll {status}"] += 1
                await asyncio.sleep(0.1)
                continue
            delivery.record(body["messages"])
            if body["messages"]:
                ids = [m["id"] for m in body["messages"]]
                status, _body = await conn.request("POST", "/ack", {"ids": ids})
                if status != 200:
                    delivery.errors[f"ack {status}"] += 1
    finally:
        conn.close()


async def seed_poller(port: int, token: str, delivery: Delivery) -> None:
    """The seed's client: GET /poll (its acks) every second, at a random phase."""
    conn = Conn(port, token)
    next_at = time.monotonic() + random.random()
    try:
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            while True:
                status, body = await conn.request("GET", "/poll")
                if status != 200:
                    delivery.errors[f"poll {status}"] += 1
                    break
                delivery.record(body["messages"])
                if len(body["messages"]) < POLL_BATCH:
                    break
            next_at += 1.0
    finally:
        conn.close()


class WsClient:
    """A minimal RFC 6455 client over asyncio streams (wsproto does the framing)."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.conn = WSConnection(ConnectionType.CLIENT)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._parts: list[str] = []

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        auth = [(b"authorization", f"Bearer {self.token}".encode())]
        request = Request(host=f"127.0.0.1:{self.port}", target="/ws", extra_headers=auth)
        self.writer.write(self.conn.send(request))

    def send(self, frame: dict[str, Any]) -> None:
        assert self.writer is not None
        self.writer.write(self.conn.send(TextMessage(data=json.dumps(frame))))

    async def frames(self) -> AsyncIterator[dict[str, Any]]:
        """Yield each JSON text frame; answer pings; end on close or EOF."""
        assert self.reader is not None and self.writer is not None
        while True:
            data = await self.reader.read(65536)
            if not data:
                return
            self.conn.receive_data(data)
            for event in self.conn.events():
                if isinstance(event, TextMessage):
                    self._parts.append(event.data)
                    if event.message_finished:
                        text, self._parts = "".join(self._parts), []
                        yield json.loads(text)
                elif isinstance(event, Ping):
                    self.writer.write(self.conn.send(event.response()))
                elif isinstance(event, RejectConnection):
                    raise RuntimeError(f"/ws refused the upgrade: {event.status_code}")
                elif isinstance(event, CloseConnection):
                    with contextlib.suppress(Exception):
                        self.writer.write(self.conn.send(event.response()))
                    return

    def close(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.write(self.conn.send(CloseConnection(code=1000)))
            self.writer.close()
            self.writer = None


async def ws_receiver(port: int, token: str, delivery: Delivery) -> None:
    """Take pushed ``messages`` frames, answer each with an ``ack`` frame."""
    client = WsClient(port, token)
    await client.connect()
    try:
        async for frame in client.frames():
            if frame["type"] == "messages":
                delivery.record(frame["messages"])
                client.send({"type": "ack", "ids": [m["id"] for m in frame["messages"]]})
            elif frame["type"] == "error":
                delivery.errors[f"ws {frame.get('error_code')}"] += 1
    finally:
        client.close()


RECEIVERS: dict[str, Callable[[int, str, Delivery], Coroutine[Any, Any, None]]] = {
    "longpoll": longpoll_receiver,
    "websocket": ws_receiver,
    "poll1s": seed_poller,
}


@dataclass
class LatencyResult:
    mode: str
    offered: Offered
    delivery: Delivery
    cpu: str

    def latency(self, q: float) -> float:
        """Percentile ``q`` over every message offered; one never delivered counts as inf."""
        values = list(self.delivery.latencies.values())
        values += [math.inf] * max(0, self.offered.total - len(values))
        return percentile(values, q)

    @property
    def p50(self) -> float:
        return self.latency(50)

    @property
    def p99(self) -> float:
        return self.latency(99)


async def latency_mode(
    http: httpx.AsyncClient, relay: Relay, integration: str, mode: str, args: argparse.Namespace
) -> LatencyResult:
    clients = [
        await create(http, relay, "client", f"bench-{mode}-{i}") for i in range(LATENCY_CLIENTS)
    ]
    delivery = Delivery()
    receiver = RECEIVERS[mode]
    tasks = [asyncio.create_task(receiver(relay.port, token, delivery)) for _id, token in clients]
    try:
        if not await wait_connected(http, len(clients), 10):
            raise RuntimeError(f"{mode}: the receivers did not connect within 10 s")
        users = [f"{mode}-user-{i}" for i in range(LATENCY_USERS)]
        meter = CpuMeter(relay)
        offered = await offer(relay.port, integration, args.rate, args.seconds, users)
        deadline = time.monotonic() + SETTLE_S
        while len(delivery.latencies) < offered.sent and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        cpu = meter.stop()
        for task in tasks:
            if task.done() and task.exception() is not None:
                raise RuntimeError(f"{mode} receiver failed: {task.exception()!r}")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return LatencyResult(mode, offered, delivery, cpu)


# --- 2. throughput -----------------------------------------------------------------------


@dataclass
class Throughput:
    msgs_per_s: float
    reqs_per_s: float
    cpu: str
    drained: bool
    errors: Counter[str]
    posted: int
    replied: int
    stored: int


async def check_empty(http: httpx.AsyncClient, relay: Relay) -> None:
    """Refuse a reused database with live clients: routing would give them new users."""
    answer = await http.get("/clients", headers=bearer(relay.admin))
    answer.raise_for_status()
    live = [c for c in answer.json()["clients"] if c["revokedAt"] is None]
    if live:
        pending = sum(c["pending"] for c in live)
        raise RuntimeError(
            f"the database has {len(live)} clients that are not revoked ({pending} messages "
            "pending); give the bench a fresh database"
        )


async def read_outbox(port: int, token: str) -> int:
    """How many replies the outbox holds, read from cursor 0 to the end."""
    conn = Conn(port, token)
    cursor, total = 0, 0
    try:
        while True:
            status, page = await conn.request("GET", f"/outbox?after={cursor}")
            if status != 200 or not page["messages"]:
                return total
            total += len(page["messages"])
            cursor = page["cursor"]
    finally:
        conn.close()


async def throughput(
    http: httpx.AsyncClient, relay: Relay, seconds: float, batch: int = 1
) -> Throughput:
    """Replies/s end to end. ``batch`` 1: the seed's single routes (one message per
    ``POST /inbound``, one reply per ``POST /send``); above 1: producers post
    ``/inbound/batch`` with ``batch`` messages and each gateway answers a whole poll with
    one ``/send/batch``."""
    await check_empty(http, relay)
    backlog = BACKLOG if batch == 1 else 2 * PRODUCERS * batch
    _integration_id, integration = await create(http, relay, "integration", "bench-throughput")
    gateways = [await create(http, relay, "client", f"bench-gw-{i}") for i in range(GATEWAYS)]
    users = [f"tp-user-{i}" for i in range(TP_USERS)]
    port = relay.port
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    producing = asyncio.Event()
    producing.set()

    async def call(conn: Conn | Pool, what: str, method: str, target: str, body: Any = None) -> Any:
        """One request; its body when it answered 200, else None (counted)."""
        counts["requests"] += 1
        try:
            status, answer = await conn.request(method, target, body)
        except HttpError as exc:
            errors[f"{what} {exc}"] += 1
            await asyncio.sleep(0.05)
            return None
        if status != 200:
            errors[f"{what} {status}"] += 1
            return None
        return answer

    async def producer(first: int) -> None:
        conn = Conn(port, integration)
        i = first
        try:
            while producing.is_set():
                if counts["posted"] - counts["replied"] >= backlog:
                    await asyncio.sleep(0.002)
                    continue
                if batch == 1:
                    body = {"from": users[i % len(users)], "text": f"tp {i}"}
                    if await call(conn, "inbound", "POST", "/inbound", body) is not None:
                        counts["posted"] += 1
                    i += PRODUCERS
                    continue
                items = [
                    {"from": users[(i + PRODUCERS * j) % len(users)], "text": f"tp {i} {j}"}
                    for j in range(batch)
                ]
                answer = await call(conn, "inbound", "POST", "/inbound/batch", {"messages": items})
                if answer is not None:
                    counts["posted"] += sum(1 for r in answer["results"] if r["ok"])
                    refused = [r["status"] for r in answer["results"] if not r["ok"]]
                    errors.update(f"inbound item {status}" for status in refused)
                i += PRODUCERS * batch
        finally:
            conn.close()

    async def gateway(token: str) -> None:
        conn = Conn(port, token)
        senders = Pool(port, SEND_CONCURRENCY)
        send_conn = Conn(port, token)  # the batch replies

        async def answer(message: dict[str, Any]) -> None:
            body = {
                "conversationId": message["conversationId"],
                "to": message["from"],
                "text": "ok",
                "idempotencyKey": f"reply:{message['id']}",
                "ackIds": [message["id"]],
            }
            counts["requests"] += 1
            try:
                status, _body = await senders.request("POST", "/send", body, token)
            except HttpError as exc:
                errors[f"send {exc}"] += 1
                return
            if status != 200:
                errors[f"send {status}"] += 1
            else:
                counts["answered"] += 1

        async def answer_all(messages: list[dict[str, Any]]) -> None:
            items = [
                {
                    "conversationId": m["conversationId"],
                    "to": m["from"],
                    "text": "ok",
                    "idempotencyKey": f"reply:{m['id']}",
                    "ackIds": [m["id"]],
                }
                for m in messages
            ]
            sent = await call(send_conn, "send", "POST", "/send/batch", {"messages": items})
            if sent is None:
                return
            for result in sent["results"]:
                if result["ok"]:
                    counts["answered"] += 1
                else:
                    errors[f"send item {result['status']}"] += 1

        try:
            while True:
                polled = await call(conn, "poll", "GET", "/poll?wait=5&ack=explicit")
                if polled is None or not polled["messages"]:
                    continue
                if batch == 1:
                    await asyncio.gather(*(answer(m) for m in polled["messages"]))
                else:
                    await answer_all(polled["messages"])
        finally:
            conn.close()
            send_conn.close()
            senders.close()

    async def reader() -> None:
        conn = Conn(port, integration)
        cursor = 0
        try:
            while True:
                page = await call(conn, "outbox", "GET", f"/outbox?after={cursor}")
                if page is None:
                    continue
                counts["replied"] += len(page["messages"])
                cursor = page["cursor"]
                if len(page["messages"]) < 500:  # RELAY_OUTBOX_BATCH: no full page, no hurry
                    await asyncio.sleep(0.02)
        finally:
            conn.close()

    workers = [asyncio.create_task(gateway(token)) for _id, token in gateways]
    workers.append(asyncio.create_task(reader()))
    producers: list[asyncio.Task[None]] = []
    try:
        if not await wait_connected(http, GATEWAYS, 10):
            raise RuntimeError("throughput: the gateways did not connect within 10 s")
        producers = [asyncio.create_task(producer(k)) for k in range(PRODUCERS)]
        await asyncio.sleep(1.0)  # warm-up: conversations created, pipes full
        replied0, requests0, t0 = counts["replied"], counts["requests"], time.monotonic()
        meter = CpuMeter(relay)
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - t0
        replied1, requests1 = counts["replied"], counts["requests"]
        cpu = meter.stop()
        producing.clear()
        await asyncio.gather(*producers)
        deadline = time.monotonic() + 2 * SETTLE_S
        while counts["answered"] < counts["posted"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the reader's last pages
        for task in workers:
            if task.done() and task.exception() is not None:
                raise RuntimeError(f"throughput worker failed: {task.exception()!r}")
    finally:
        for task in producers + workers:
            task.cancel()
        await asyncio.gather(*producers, *workers, return_exceptions=True)
    for gateway_id, _token in gateways:
        await http.delete(f"/clients/{gateway_id}", headers=bearer(relay.admin))
    stored = await read_outbox(port, integration)
    if stored > counts["replied"]:
        # A reply committed after the reader had passed a later seq: the cursor skipped it.
        errors["replies the outbox cursor skipped"] += stored - counts["replied"]
    return Throughput(
        msgs_per_s=(replied1 - replied0) / elapsed,
        reqs_per_s=(requests1 - requests0) / elapsed,
        cpu=cpu,
        drained=stored >= counts["posted"],
        errors=errors,
        posted=counts["posted"],
        replied=counts["replied"],
        stored=stored,
    )


async def floor(relay: Relay, path: str, seconds: float) -> tuple[float, str]:
    """Requests/s of ``GET path`` from TP_CONCURRENCY closed loops, one connection each."""
    done = 0
    end = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal done
        conn = Conn(relay.port)
        try:
            while time.monotonic() < end:
                await conn.request("GET", path)
                done += 1
        finally:
            conn.close()

    meter = CpuMeter(relay)
    t0 = time.monotonic()
    await asyncio.gather(*(loop() for _loop in range(TP_CONCURRENCY)))
    return done / (time.monotonic() - t0), meter.stop()


async def httpx_floor(relay: Relay, path: str, seconds: float) -> tuple[float, str]:
    """The same through one httpx AsyncClient (its pool): what the client itself costs."""
    done = 0
    end = time.monotonic() + seconds
    async with new_http(relay, TP_CONCURRENCY) as http:

        async def loop() -> None:
            nonlocal done
            while time.monotonic() < end:
                await http.get(path)
                done += 1

        meter = CpuMeter(relay)
        t0 = time.monotonic()
        await asyncio.gather(*(loop() for _loop in range(TP_CONCURRENCY)))
        return done / (time.monotonic() - t0), meter.stop()


# --- 3. idle long-polls --------------------------------------------------------------------


@dataclass
class Idle:
    clients: int
    register_s: float
    opened: int
    open_s: float
    max_connected: int
    all_connected_s: float | None
    rss_before_kib: int
    rss_kib: int
    hwm_kib: int
    cpu: str
    answers_per_s: float
    errors: Counter[str]


async def idle(http: httpx.AsyncClient, relay: Relay, n: int) -> Idle:
    """Register ``n`` clients, open a long-poll for each, watch /health, read the RSS."""
    rss_before = relay.status_kib("VmRSS")
    tokens: list[str] = []
    gate = asyncio.Semaphore(32)

    async def register(i: int) -> None:
        async with gate:
            tokens.append((await create(http, relay, "client", f"bench-idle-{i}"))[1])

    t0 = time.monotonic()
    await asyncio.gather(*(register(i) for i in range(n)))
    register_s = time.monotonic() - t0
    log(f"idle: {n} clients registered in {register_s:.1f} s; opening their long-polls")
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    connecting = asyncio.Semaphore(200)  # below uvicorn's listen backlog (2048)
    conns = [Conn(relay.port, token) for token in tokens]
    target = f"/poll?wait={MAX_WAIT_S}"
    all_open = asyncio.Event()

    async def hold(conn: Conn) -> None:
        async with connecting:
            await conn.connect()
            counts["opened"] += 1
            if counts["opened"] == n:
                all_open.set()
        while True:
            try:
                status, _body = await conn.request("GET", target)
            except HttpError as exc:
                errors[str(exc)] += 1
                await asyncio.sleep(1)
                continue
            counts["answered"] += 1
            if status != 200:
                errors[str(status)] += 1
                await asyncio.sleep(1)

    t0 = time.monotonic()
    holders = [asyncio.create_task(hold(conn)) for conn in conns]
    try:
        await asyncio.wait_for(all_open.wait(), IDLE_WAIT_S)
        open_s = time.monotonic() - t0
        best, all_connected_s = 0, None
        while time.monotonic() - t0 < IDLE_WAIT_S:
            best = max(best, await asyncio.to_thread(connected_in_file, relay.database))
            if best >= n:
                all_connected_s = time.monotonic() - t0
                break
            await asyncio.sleep(0.5)
        failed = [t for t in holders if t.done() and t.exception() is not None]
        if failed:
            errors[f"connection {failed[0].exception()!r}"] += len(failed)
        meter, answered0 = CpuMeter(relay), counts["answered"]
        await asyncio.sleep(3)  # held, nothing to deliver
        answers_per_s = (counts["answered"] - answered0) / 3
        cpu = meter.stop()
        rss, hwm = relay.status_kib("VmRSS"), relay.status_kib("VmHWM")
    except TimeoutError:
        raise RuntimeError(
            f"idle: only {counts['opened']} of {n} connections opened in {IDLE_WAIT_S:g} s"
        ) from None
    finally:
        for task in holders:
            task.cancel()
        await asyncio.gather(*holders, return_exceptions=True)
        for conn in conns:
            conn.close()
    return Idle(
        n,
        register_s,
        counts["opened"],
        open_s,
        best,
        all_connected_s,
        rss_before,
        rss,
        hwm,
        cpu,
        answers_per_s,
        errors,
    )


# --- the table ---------------------------------------------------------------------------

COLUMNS = (50, 34, 26)


def row(figure: str, value: str, goal: str, verdict: str) -> None:
    widths = COLUMNS
    print(f"{figure:<{widths[0]}} {value:<{widths[1]}} {goal:<{widths[2]}} {verdict}")


def detail(text: str) -> None:
    print(f"    {text}")


def errors_text(*counters: Counter[str]) -> str:
    merged: Counter[str] = Counter()
    for counter in counters:
        merged.update(counter)
    return ", ".join(f"{k}: {v}" for k, v in sorted(merged.items())) or "none"


def print_latency(results: dict[str, LatencyResult], args: argparse.Namespace) -> None:
    print(
        f"\n1. delivery latency, inbound -> client has it, {args.rate:g} msg/s offered for "
        f"{args.seconds:g} s, {LATENCY_USERS} users, {LATENCY_CLIENTS} clients"
    )
    names = {
        "longpoll": "long-poll GET /poll?wait=20&ack=explicit",
        "websocket": "WebSocket /ws (push, ack frames)",
        "poll1s": "seed: GET /poll every 1 s",
    }
    seed = results.get("poll1s")
    for mode, result in results.items():
        steady = result.offered.rate >= 0.95 * args.rate
        if mode == "poll1s":
            goal, verdict = "baseline", "reported"
        else:
            goal = "p99 <= 50 ms"
            verdict = "met" if steady and result.p99 <= GOAL_P99_S else "MISSED"
        row(names[mode], f"p50 {ms(result.p50)}, p99 {ms(result.p99)}", goal, verdict)
        offered = result.offered
        detail(
            f"{len(result.delivery.latencies)}/{offered.total} delivered within "
            f"{SETTLE_S:g} s of the end (inbound answered 200: {offered.sent}, cut off: "
            f"{offered.unsent}; delivered twice: {result.delivery.duplicates}); offered "
            f"{offered.rate:.0f} msg/s; POST /inbound answer p50 {ms(percentile(offered.rtts, 50))}"
            f", p99 {ms(percentile(offered.rtts, 99))}; {result.cpu}; errors: "
            f"{errors_text(offered.errors, result.delivery.errors)}"
        )
    if seed is None:
        return
    for mode in ("longpoll", "websocket"):
        result = results.get(mode)
        if result is None:
            continue
        label = "long-poll" if mode == "longpoll" else "WebSocket"
        if math.isinf(result.p99):
            value, verdict = "n/a (its p99 was not delivered)", "MISSED"
        elif math.isinf(seed.p99):
            value, verdict = "n/a (1 s polling's p99 was not delivered)", "reported"
        else:
            ratio = seed.p99 / max(result.p99, 1e-9)
            p50_ratio = seed.p50 / max(result.p50, 1e-9)
            value = f"{ratio:.1f} x (p50: {p50_ratio:.1f} x)"
            verdict = "met" if ratio >= GOAL_RATIO else "MISSED"
        row(f"  {label} p99 below 1 s polling's", value, ">= 10 x", verdict)


def print_throughput(label: str, result: Throughput | str, goal: bool) -> None:
    figure = f"end to end, {label}"
    if isinstance(result, str):
        row(figure, "not run", "reported", "reported")
        detail(result)
        return
    verdict = "met" if result.msgs_per_s >= GOAL_MSGS and result.drained else "MISSED"
    row(
        figure,
        f"{result.msgs_per_s:.0f} msg/s ({result.reqs_per_s:.0f} req/s)",
        ">= 2,000 msg/s" if goal else "reported",
        verdict if goal else "reported",
    )
    detail(
        f"{result.posted} posted, {result.replied} replies read by cursor, {result.stored} in "
        f"the outbox read again from 0 ({'all' if result.drained else 'NOT all'} answered); "
        f"{result.cpu}; errors: {errors_text(result.errors)}"
    )


def print_idle(result: Idle) -> None:
    n = result.clients
    print(f"\n3. {n:,} idle long-poll clients (GET /poll?wait={MAX_WAIT_S}), fresh relay")
    rate = n / result.register_s if result.register_s else math.nan
    row(
        f"register {n:,} clients (POST /clients, 32 at once)",
        f"{result.register_s:.1f} s ({rate:.0f}/s)",
        "reported",
        "reported",
    )
    row(
        f"{n:,} connections open, a poll sent on each",
        f"after {result.open_s:.1f} s",
        "reported",
        "reported",
    )
    if result.all_connected_s is not None:
        value, verdict = f"all, after {result.all_connected_s:.1f} s", "met"
    else:
        value, verdict = f"at most {result.max_connected:,} in {IDLE_WAIT_S:g} s", "MISSED"
    row("  of them connected at once (polled < 30 s ago)", value, f"all {n:,}", verdict)
    rss_mib = result.rss_kib / 1024
    met = result.opened == n and rss_mib <= GOAL_RSS_MIB
    row(
        f"relay RSS, {n:,} long-polls open",
        f"{rss_mib:.0f} MiB (peak {result.hwm_kib / 1024:.0f} MiB)",
        "<= 512 MiB",
        "met" if met else "MISSED",
    )
    detail(
        f"RSS before the section {result.rss_before_kib / 1024:.0f} MiB; over the next 3 s: "
        f"{result.cpu}, {result.answers_per_s:.0f} poll answers/s; errors: "
        f"{errors_text(result.errors)}"
    )


# --- the run -----------------------------------------------------------------------------


def raise_nofile(want: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard one; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, want)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@contextlib.asynccontextmanager
async def fresh_relay(
    workdir: Path, relays: list[Relay], name: str, database_url: str | None = None
) -> AsyncIterator[tuple[Relay, httpx.AsyncClient]]:
    """A new relay process on a new database (or ``database_url``), stopped at the end."""
    relay = Relay(workdir, name, database_url)
    relays.append(relay)
    await asyncio.to_thread(relay.start)
    try:
        async with new_http(relay, 64) as http:
            yield relay, http
    finally:
        await asyncio.to_thread(relay.stop)


async def run(args: argparse.Namespace, workdir: Path, relays: list[Relay]) -> None:
    results: dict[str, LatencyResult] = {}
    for mode in ("longpoll", "websocket", "poll1s"):
        async with fresh_relay(workdir, relays, f"latency-{mode}") as (relay, http):
            if not results:
                version = (await http.get("/health")).json().get("version", "?")
                fs = subprocess.run(
                    ["df", "--output=fstype", str(workdir)],
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout.split()[-1:]
                print(
                    f"relay figures: clawdeploy-relay {version}, Python "
                    f"{platform.python_version()}, {os.cpu_count()} CPUs, load average "
                    f"{os.getloadavg()[0]:.2f} at start; SQLite in {workdir} "
                    f"({fs[0] if fs else '?'}), WAL, synchronous=FULL; a fresh relay and "
                    "database for each run below"
                )
                row("figure", "value", "goal", "verdict")
            _id, integration = await create(http, relay, "integration", "bench-latency")
            log(f"latency: {mode}, {args.rate:g} msg/s for {args.seconds:g} s")
            results[mode] = await latency_mode(http, relay, integration, mode, args)
    print_latency(results, args)

    print(f"\n2. throughput, inbound -> poll -> send -> outbox, concurrency {TP_CONCURRENCY}")
    async with fresh_relay(workdir, relays, "throughput-sqlite") as (relay, http):
        log(f"throughput: SQLite, single routes, {args.seconds:g} s")
        single = await throughput(http, relay, args.seconds)
        print_throughput("SQLite, single routes (seed clients)", single, goal=False)
    async with fresh_relay(workdir, relays, "throughput-sqlite-batch") as (relay, http):
        log(f"throughput: SQLite, batches of {args.batch}, {args.seconds:g} s")
        batched = await throughput(http, relay, args.seconds, args.batch)
        print_throughput(f"SQLite, batch routes ({args.batch}/request)", batched, goal=True)
        log(f"floor: bare FastAPI app, {FLOOR_SECONDS:g} s")
        rps, cpu = await bare_floor(workdir, FLOOR_SECONDS)
        row(
            "framework floor, bare FastAPI GET (own process)",
            f"{rps:.0f} req/s",
            "reported",
            "reported",
        )
        detail(
            "one async route returning {ok: true}, uvicorn as the relay runs it (h11, one "
            f"worker, access log on), {TP_CONCURRENCY} concurrent loops; {cpu}; single "
            f"routes take >= 2 requests a message (inbound + send), so their ceiling is "
            f"about {rps / 2:.0f} msg/s here"
        )
        floors = (
            (floor, "/health", "GET /health"),
            (floor, "/nope", "bare 404 (GET /nope)"),
            (httpx_floor, "/nope", "bare 404, one httpx AsyncClient"),
        )
        for measure, path, label in floors:
            log(f"floor: {label}, {FLOOR_SECONDS:g} s")
            rps, cpu = await measure(relay, path, FLOOR_SECONDS)
            row(f"framework floor, {label}", f"{rps:.0f} req/s", "reported", "reported")
            detail(f"same relay, after the run above, {TP_CONCURRENCY} concurrent loops; {cpu}")
    if args.database_url:
        log(f"throughput: --database-url, {args.seconds:g} s")
        try:
            async with fresh_relay(workdir, relays, "throughput-pg", args.database_url) as (
                relay,
                http,
            ):
                result = await throughput(http, relay, args.seconds)
                print_throughput("PostgreSQL, single routes", result, goal=False)
                log(f"throughput: --database-url, batches of {args.batch}, {args.seconds:g} s")
                result = await throughput(http, relay, args.seconds, args.batch)
                print_throughput(
                    f"PostgreSQL, batch routes ({args.batch}/request)", result, goal=False
                )
        except RuntimeError as exc:
            print_throughput("--database-url", relays[-1].redact(str(exc)), goal=False)
    sys.stdout.flush()

    if not args.skip_idle:
        async with fresh_relay(workdir, relays, "idle") as (relay, http):
            log(f"idle: registering {args.idle_clients} clients")
            print_idle(await idle(http, relay, args.idle_clients))
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Relay figures on loopback (delivery latency, throughput, idle clients)."
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per measured run (10)")
    parser.add_argument("--rate", type=float, default=500.0, help="latency load, msg/s (500)")
    parser.add_argument("--idle-clients", type=int, default=5000, help="idle long-polls (5000)")
    parser.add_argument("--skip-idle", action="store_true", help="skip the idle section")
    parser.add_argument(
        "--batch", type=int, default=50, help="messages per batch request in throughput (50)"
    )
    parser.add_argument("--serve-floor", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("RELAY_BENCH_DATABASE_URL"),
        help="also measure throughput on this RELAY_DATABASE_URL (RELAY_BENCH_DATABASE_URL)",
    )
    args = parser.parse_args()
    if args.seconds <= 0 or args.rate <= 0 or args.idle_clients < 1 or args.batch < 2:
        parser.error(
            "--seconds and --rate must be positive, --idle-clients at least 1, --batch 2 or more"
        )
    return args


def _terminate(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def serve_floor(port: int) -> None:
    """The floor's server (``--serve-floor PORT``, started by :func:`bare_floor`): a bare
    FastAPI app with one async route, on uvicorn with the relay's settings (main.py)."""
    import logging

    import uvicorn
    from fastapi import FastAPI

    app = FastAPI(docs_url=None, redoc_url=None)

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        server_header=False,
        access_log=True,
        ws="wsproto",
        backlog=4096,
    )


class FloorServer(Relay):
    """The bare FastAPI app of :func:`serve_floor` as a process (no database, no token)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, "floor")
        self.command = (
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve-floor",
            str(self.port),
        )

    def start(self) -> None:
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                list(self.command),
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ping", timeout=1, trust_env=False).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("the floor's bare FastAPI app did not answer within 30 s")


async def bare_floor(workdir: Path, seconds: float) -> tuple[float, str]:
    """Requests/s of the bare FastAPI app (its own process), as :func:`floor` measures."""
    server = FloorServer(workdir)
    await asyncio.to_thread(server.start)
    try:
        return await floor(server, "/ping", seconds)
    finally:
        await asyncio.to_thread(server.stop)


def main() -> int:
    args = parse_args()
    if args.serve_floor:
        serve_floor(args.serve_floor)
        return 0
    limit = raise_nofile(args.idle_clients + 1024)
    if not args.skip_idle and limit < args.idle_clients + 1024:
        args.idle_clients = max(1, limit - 1024)
        log(f"RLIMIT_NOFILE is {limit}: holding {args.idle_clients} idle clients")
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    relays: list[Relay] = []
    try:
        asyncio.run(run(args, workdir, relays))
        return 0
    except KeyboardInterrupt:
        log("interrupted; stopping the relay")
        return 130
    except RuntimeError as exc:
        log(f"failed: {exc}")
        for relay in relays:
            log(f"relay {relay.name}'s last log line: {relay.last_log_line()}")
        return 1
    finally:
        for relay in relays:
            relay.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

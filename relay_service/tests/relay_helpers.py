"""Helpers for the relay's HTTP tests (a module name unique in the repository)."""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from clawdeploy_relay.clock import Clock, FakeClock
from clawdeploy_relay.store import Store
from clawdeploy_relay.tokens import hash_token, new_token

# A test of SQLite's own behaviour (group commit, query plans): not run on PostgreSQL,
# which commits each request in its own transaction and plans its own way.
SQLITE_ONLY = pytest.mark.parametrize("relay_backend", ["sqlite"], indirect=True)
# The only answers allowed to show a token: the one-time answer of its creation.
CREATION_PATHS = ("/clients", "/integrations")


def wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Whether ``predicate()`` became true within ``timeout_s`` seconds (checked every 20 ms)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def in_parallel(count: int, job: Callable[[int], Any]) -> list[Any]:
    """Run ``job(0..count-1)`` in threads released together (a barrier); their results."""
    barrier = threading.Barrier(count)

    def run(number: int) -> Any:
        barrier.wait(timeout=10)
        return job(number)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def seed_principals(
    store: Store, clock: Clock, client_ids: tuple[str, ...], integration_token: str
) -> None:
    """Store clients ``client_ids`` (random tokens) and integration ``i1`` directly."""
    with store.tx() as conn:
        for cid in client_ids:
            row = {"id": cid, "name": cid, "token_hash": hash_token(new_token("rc_"))}
            store.insert(conn, "clients", {**row, "created_at": clock()})
        row = {"id": "i1", "name": "i1", "token_hash": hash_token(integration_token)}
        store.insert(conn, "integrations", {**row, "created_at": clock()})


def bearer(token: str) -> dict[str, str]:
    """``{"Authorization": "Bearer <token>"}``."""
    return {"Authorization": f"Bearer {token}"}


class Relay:
    """A started TestClient, the admin token, the fake clock, and every token handed out.

    :meth:`call` fails the test when an answer (body or headers) shows a token, except the
    creation answer that hands it out.
    """

    def __init__(self, http: TestClient, admin_token: str, clock: FakeClock) -> None:
        self.http = http
        self.admin_token = admin_token
        self.admin = bearer(admin_token)
        self.clock = clock
        self.tokens: list[str] = [admin_token]

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; assert the answer leaks no token."""
        response = self.http.request(method, path, **kwargs)
        creation = method == "POST" and path in CREATION_PATHS and response.status_code == 200
        shown = response.text + repr(dict(response.headers))
        for token in self.tokens:
            if creation and response.json().get("token") == token:
                continue
            assert token not in shown, f"{method} {path} leaked a token"
        return response

    def register(self, name: str = "oc") -> tuple[str, dict[str, str]]:
        """Register a gateway client; return (client id, its auth headers)."""
        body = self.call("POST", "/clients", json={"name": name}, headers=self.admin).json()
        self.tokens.append(body["token"])
        return body["clientId"], bearer(body["token"])

    def integration(self, name: str = "web") -> tuple[str, dict[str, str]]:
        """Create an integration; return (integration id, its auth headers)."""
        body = self.call("POST", "/integrations", json={"name": name}, headers=self.admin).json()
        self.tokens.append(body["token"])
        return body["integrationId"], bearer(body["token"])

    def inbound(
        self, user: str, text: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """``POST /inbound`` (admin token unless ``headers``); assert 200; return the body."""
        response = self.call(
            "POST",
            "/inbound",
            json={"from": user, "text": text},
            headers=headers or self.admin,
            **kwargs,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def poll(self, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        """``GET /poll``; assert 200; return the messages."""
        response = self.call("GET", "/poll", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def send(
        self, headers: dict[str, str], body: dict[str, Any], key: str | None = None
    ) -> httpx.Response:
        """``POST /send`` with ``body`` (and an ``Idempotency-Key`` header when ``key``)."""
        extra = {"Idempotency-Key": key} if key else {}
        return self.call("POST", "/send", json=body, headers={**headers, **extra})

    def outbox(self, headers: dict[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
        """``GET /outbox`` (admin token unless ``headers``); assert 200; return the messages."""
        response = self.call("GET", "/outbox", headers=headers or self.admin, params=params)
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def owner_of(self, conversation_id: str) -> str | None:
        """The client a conversation is assigned to (admin view)."""
        response = self.call("GET", f"/conversations/{conversation_id}", headers=self.admin)
        assert response.status_code == 200, response.text
        return response.json()["clientId"]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert an error envelope with this status and ``error_code``; return the body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False and body["error_code"] == code, body
    assert body["trace_id"] == response.headers["X-Trace-Id"]
    assert body["error"]
    return body

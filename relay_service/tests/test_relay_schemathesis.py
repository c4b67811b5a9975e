"""Property-based API tests: schemathesis generates requests from the relay's OpenAPI schema.

The app is :func:`~clawdeploy_relay.main.create_app` on a temporary SQLite file, with a
registered client, an integration and a conversation already in place. Each generated
request carries the token its route takes (admin, client or integration), so it reaches
the handler instead of stopping at 401/403; the rates are high enough never to answer 429
and long-polls end at once (``RELAY_POLL_MAX_WAIT_S=0``).

Each operation gets valid requests and requests its schema refuses (schemathesis'
negative mode). Checks: no response is a server error (5xx), every response conforms to
the schema (status code documented, body valid, content type), and none shows a token but
the creation answer that hands it out.
"""

import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, CheckContext, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.transport import Response

from clawdeploy_relay.clock import FakeClock
from clawdeploy_relay.main import create_app
from clawdeploy_relay.settings import Settings
from relay_helpers import CREATION_PATHS, bearer

# Examples per API operation (half valid, half refused by the schema): fifteen operations,
# the whole test in about ten seconds.
MAX_EXAMPLES = 50
CLIENT_ROUTES = ("/poll", "/ack", "/send")
INTEGRATION_ROUTES = ("/inbound", "/outbox")


def no_server_error(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Fail on any 5xx answer."""
    del ctx, case  # the signature schemathesis calls checks with
    if response.status_code >= 500:
        raise AssertionError(f"server error: HTTP {response.status_code}: {response.text[:300]}")
    return None


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class Tokens:
    """The tokens of the seeded relay, and which one each route takes."""

    def __init__(self, admin: str, client: str, integration: str) -> None:
        self.admin, self.client, self.integration = admin, client, integration

    def all(self) -> list[str]:
        """Every token, to check that no answer shows one."""
        return [self.admin, self.client, self.integration]

    def headers_for(self, path: str) -> dict[str, str]:
        """``Authorization`` for the kind of token ``path`` takes."""
        if path in CLIENT_ROUTES:
            return bearer(self.client)
        if path in INTEGRATION_ROUTES:
            return bearer(self.integration)
        return bearer(self.admin)


@pytest.fixture
def fuzz_app(database_url: str, admin_token: str) -> FastAPI:
    """The relay under test: a fresh database, no waiting, rates out of the way."""
    values: dict[str, Any] = {
        "admin_token": admin_token,
        "database_url": database_url,
        "poll_max_wait_s": 0,
        "sweep_interval_s": 60,
        "client_rate_per_s": 1e6,
        "client_burst": 10**6,
        "user_rate_per_s": 1e6,
        "user_burst": 10**6,
    }
    return create_app(Settings(**values), clock=FakeClock(), rng=random.Random(3))


@pytest.fixture
def fuzz_client(fuzz_app: FastAPI) -> Iterator[TestClient]:
    """A client that runs the app's lifespan and answers server exceptions with a 500."""
    with TestClient(fuzz_app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def tokens(fuzz_client: TestClient, admin_token: str) -> Tokens:
    """Seed a client, an integration and one delivered conversation; return the tokens."""
    admin = bearer(admin_token)
    client = fuzz_client.post("/clients", json={"name": "oc"}, headers=admin).json()["token"]
    web = fuzz_client.post("/integrations", json={"name": "web"}, headers=admin).json()["token"]
    assert fuzz_client.post("/inbound", json={"from": "alice", "text": "hi"}, headers=bearer(web))
    assert fuzz_client.get("/poll", headers=bearer(client)).json()["messages"]
    return Tokens(admin_token, client, web)


def send(client: TestClient, case: Case, headers: dict[str, str], hide: list[str]) -> Any:
    """Send ``case`` through ``client``; fail if the answer shows a token it should not."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
    assert not kwargs.pop("cookies", None), "the schema declares no cookie parameter"
    if "data" in kwargs:  # requests' raw body keyword; httpx calls it content
        kwargs["content"] = kwargs.pop("data")
    response: httpx.Response = client.request(**kwargs)
    shown = response.text + repr(dict(response.headers))
    created = case.method == "POST" and case.path in CREATION_PATHS and response.is_success
    for token in hide:
        if created and response.json().get("token") == token:
            continue
        assert token not in shown, f"{case.method} {case.path} showed a token"
    return response


def fuzz(
    client: TestClient, operation: APIOperation, headers: dict[str, str], hide: list[str]
) -> None:
    """Run ``MAX_EXAMPLES`` generated cases of one operation through the checks."""
    # Valid requests, and requests the schema refuses (expected: a documented 4xx).
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def check_operation(case: Case) -> None:
        response = send(client, case, headers, hide)
        case.validate_response(response, checks=CHECKS, headers=headers)

    check_operation()


def test_api_fuzz(fuzz_app: FastAPI, fuzz_client: TestClient, tokens: Tokens) -> None:
    """Generated requests for every operation: no server error, answers match the schema."""
    api_schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    for operation in operations:
        fuzz(fuzz_client, operation, tokens.headers_for(operation.path), tokens.all())
    labels = {operation.label for operation in operations}
    assert {"GET /metrics", "POST /send", "GET /poll"} <= labels

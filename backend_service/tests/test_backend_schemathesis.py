"""Property-based API tests: schemathesis generates requests from the app's OpenAPI schema.

The app is the one :func:`~clawdeploy_backend.main.create_app` builds, on a temporary data
directory, with a fake gateway prober and plenty of (fake) memory; the AstrBot fixture files
are in place, so ``pull-astr`` succeeds. Every generated ``/api/*`` request carries the valid
bearer token, so it reaches the handler instead of stopping at 401/403. The executor points
at a binary that does not exist: no process is ever started, and submits that get past the
request checks answer the documented ``503 executor_not_available``.

Checks: no response is a server error (a 5xx other than the documented 503 refusals), and
every response conforms to the schema (status code documented, body valid, content type).
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, CheckContext
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.transport import Response

from backend_helpers import CheckedClient, astr_app

# Examples per API operation: ten operations, the whole test well under a minute.
MAX_EXAMPLES = 50
# 503 answers the README documents as refusals, not failures of the server.
DOCUMENTED_503 = frozenset({"executor_not_available", "read_only_mode", "auth_not_configured"})


def no_server_error(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Fail on any 5xx but a 503 whose envelope carries a documented ``error_code``."""
    del ctx, case  # the signature schemathesis calls checks with
    if response.status_code < 500:
        return None
    error_code = None
    try:
        body: Any = response.json()
        if isinstance(body, dict):
            error_code = body.get("error_code")
    except ValueError:
        pass
    if response.status_code == 503 and error_code in DOCUMENTED_503:
        return None
    raise AssertionError(
        f"server error: HTTP {response.status_code}, error_code={error_code!r}: "
        f"{response.text[:300]}"
    )


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def send(client: CheckedClient, case: Case, headers: dict[str, str]) -> httpx.Response:
    """Send ``case`` through ``client`` (not schemathesis's own ASGI client).

    So the request runs inside the client's lifespan, a server exception comes back as the
    500 the user would see (and fails :func:`no_server_error`), and :class:`CheckedClient`
    fails the test if a response shows a token.
    """
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
    cookies = kwargs.pop("cookies", None)
    assert not cookies, "the schema declares no cookie parameter"
    if "data" in kwargs:  # requests' raw body keyword; httpx calls it content
        kwargs["content"] = kwargs.pop("data")
    response: httpx.Response = client.request(**kwargs)
    return response


@pytest.fixture
def fuzz_app(tmp_path: Path, api_token: str, gateway_token: str) -> FastAPI:
    """The app under test: temp dirs, fake prober and memory, AstrBot fixture files."""
    return astr_app(
        tmp_path,
        api_token,
        gateway_token,
        executor_codex_bin=str(tmp_path / "no-such-codex"),
        executor_allowed_workdirs=[tmp_path],
    )


@pytest.fixture
def checked_client(
    fuzz_app: FastAPI, api_token: str, gateway_token: str
) -> Iterator[CheckedClient]:
    """A client that runs the app's lifespan and fails on any response showing a token."""
    with CheckedClient(fuzz_app, [api_token, gateway_token]) as client:
        yield client


def test_api_fuzz(fuzz_app: FastAPI, checked_client: CheckedClient, api_token: str) -> None:
    """Generated requests for every operation: no server error, answers match the schema.

    X
        operation's strategy is driven by a Hypothesis test of its own.)
    """
    api_schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    headers = {"Authorization": f"Bearer {api_token}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    tested: list[str] = []
    for operation in operations:

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check_operation(case: Case) -> None:
            response = send(checked_client, case, headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        check_operation()
        tested.append(operation.label)
    assert "POST /api/v1/models/pull-astr" in tested

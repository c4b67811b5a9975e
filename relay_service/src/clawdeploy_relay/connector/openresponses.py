"""The gateway's wire format: the OpenResponses ``POST /v1/responses`` request and answer.

Sources: the OpenResponses spec (https://www.openresponses.org, the OpenAI Responses API
shapes), OpenClaw's ``docs/gateway/openresponses-http-api.md`` ("Session behavior",
"Request shape", "Errors"), and what this machine's OpenClaw 2026.9.6 answered
(``/work/shared/research/openclaw-facts.md`` Q1, Q2). Pure functions, no HTTP.

Session: OpenClaw is stateless per request unless the request carries an OpenResponses
``user`` string, from which it derives a stable session key
``agent:<agentId>:openresponses-user:<user>`` (lower-cased), "so repeated calls can share
an agent session". The connector sends ``user = "relay:<conversationId>"``: one OpenClaw
session per relay conversation, i.e. per (integration, user), so a user's second message
sees the first and no context crosses between users. (The ``x-openclaw-session-key``
header would take a whole key as given, bypassing the agent scoping; ``user`` is the
documented, plain-OpenResponses way.)
"""

import json
from typing import Any

from .errors import GatewayError, retry_after

SESSION_PREFIX = "relay:"
_MAX_DETAIL = 200


def session_user(conversation_id: str) -> str:
    """The OpenResponses ``user`` of a relay conversation: ``relay:<conversationId>``."""
    return SESSION_PREFIX + conversation_id


def request_body(model: str, text: str, conversation_id: str) -> dict[str, Any]:
    """The non-streaming request for one user message.

    ``input`` is one ``message`` item with role ``user`` and one ``input_text`` part (the
    form this repository's gateway probe sends and OpenClaw 2026.9.6 answered with 200);
    OpenClaw makes the latest user item the current message of the session.
    """
    return {
        "model": model,
        "stream": False,
        "user": session_user(conversation_id),
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            }
        ],
    }


def output_text(response: dict[str, Any]) -> str:
    """The reply text of a response object: its assistant ``message`` items' ``output_text``.

    Parts of one item are joined as they are; items are joined with a blank line. When
    some items carry ``phase: "final_answer"`` (OpenClaw marks its answer so), only those
    count, so intermediate commentary is not sent to the user. Other item types
    (``reasoning``, ``function_call``) are ignored. Returns "" when there is no text.
    """
    items = [
        item
        for item in response.get("output") or []
        if isinstance(item, dict)
        and item.get("type") == "message"
        and item.get("role", "assistant") == "assistant"
    ]
    finals = [item for item in items if item.get("phase") == "final_answer"]
    texts = []
    for item in finals or items:
        parts = [
            str(part.get("text", ""))
            for part in item.get("content") or []
            if isinstance(part, dict) and part.get("type") == "output_text"
        ]
        if any(parts):
            texts.append("".join(parts))
    return "\n\n".join(texts)


def _json(content_type: str, body: bytes) -> Any:
    if "json" not in content_type.lower():
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def _error_message(data: Any) -> str:
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return ""
    label = error.get("code") or error.get("type") or "error"
    return f"{label}: {error.get('message', '')}"


def parse_answer(
    status: int, content_type: str, body: bytes, retry_after_header: str | None = None
) -> str:
    """The reply text of a ``POST /v1/responses`` answer, or :class:`GatewayError`.

    The body decides before the status (facts Q2, "Telling a gateway-auth 401 from an
    upstream-model 401"): a response object means the gateway let us in; ``completed``
    (or ``incomplete``: cut short, still an answer) with HTTP 200 gives its text, anything
    else is kind ``model``. Without a response object: 401/403 ``auth``; 429 ``auth``
    (locked out after failed attempts; ``Retry-After`` kept); 404/405 and a 200 that is
    not a response object ``not_serving``; 408 and 5xx ``unavailable``; other 4xx
    (400 ``invalid_request_error``: bad model, unknown agent, invalid body) ``rejected``.
    """
    data = _json(content_type, body)
    if isinstance(data, dict) and data.get("object") == "response":
        state = data.get("status")
        if status == 200 and state in ("completed", "incomplete"):
            return output_text(data)
        reason = _error_message(data) or f"status {state}"
        raise GatewayError("model", _cut(f"model request failed (HTTP {status}): {reason}"), status)
    message = _cut(_error_message(data) or body[:200].decode("utf-8", "replace"))
    if status in (401, 403):
        raise GatewayError("auth", f"the gateway refused the token (HTTP {status})", status)
    if status == 429:
        raise GatewayError(
            "auth",
            "the gateway locks this client out after failed authentication (HTTP 429)",
            status,
            retry_after(retry_after_header),
        )
    if status in (404, 405) or 200 <= status < 300:
        what = f"HTTP {status}" if status >= 300 else f"{status} with {content_type or 'no type'}"
        raise GatewayError(
            "not_serving",
            f"POST /v1/responses answered {what}: enable gateway.http.endpoints.responses "
            "or fix CONNECTOR_GATEWAY_URL",
            status,
        )
    if status == 408 or status >= 500:
        raise GatewayError("unavailable", f"the gateway answered HTTP {status}: {message}", status)
    raise GatewayError(
        "rejected", f"the gateway refused the request (HTTP {status}): {message}", status
    )

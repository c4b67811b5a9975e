# Copyright (c) 2026 ClawDeploy maintainers
# MIT License (see LICENSE)
"""Probe an OpenClaw gateway or a ClawDeploy backend-service and diagnose the result.

One implementation shared by the ``openclaw_probe`` module, the status playbook and the
backend-service (which imports this file through a symlink), so every place reports the
same diagnosis for the same situation. Stdlib only: it runs on managed hosts (Python 3.8+).

Diagnoses (docs/architecture.md, "Probe taxonomy"); ``DIAGNOSES`` maps each to its one-line fix:

* ``ok``: the gateway answered ``POST /v1/responses`` with a completed response.
* ``auth_failed``: the gateway refused our token (HTTP 401 whose body is
  ``{"error": {"type": "unauthorized"}}``, or 429 after repeated failures).
* ``responses_endpoint_not_enabled_or_not_found``: ``/v1/responses`` answered 404 (it is
  off by default; the 404 comes before the auth check).
* ``network_or_unreachable``: nothing answers at the URL, or what answers is not an
  OpenClaw gateway (the Control UI answers unknown paths with ``200 text/html``, so the
  JSON body of ``/healthz`` is checked, not only the status).
* ``upstream_model_error``: the gateway accepted us but its model provider failed: the
  body is an OpenResponses response object (``"object": "response"``) with
  ``status: "failed"`` (e.g. ``error.code == "authentication_error"`` when the provider
  has no credentials), or the model request timed out.
* ``backend_unreachable`` / ``executor_not_available``: backend-service side.

Response shapes follow the OpenResponses ``POST /v1/responses`` object as OpenClaw serves
it (``docs/gateway/openai-http-api.md`` in the ``openclaw`` npm package).
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple
from urllib import error as urlerror
from urllib import request as urlrequest

DIAGNOSES = {
    "ok": "Nothing to fix.",
    "auth_failed": (
        "Use the same token on both sides: OPENCLAW_GATEWAY_TOKEN in the instance's .env "
        "(or BACKEND_API_TOKEN for the backend) and the client's bearer token."
    ),
    "responses_endpoint_not_enabled_or_not_found": (
        "Set gateway.http.endpoints.responses.enabled: true in the instance config and "
        "restart the gateway; check the URL points at the gateway port."
    ),
    "network_or_unreachable": (
        "Start the gateway (docker compose ps / docker logs) and check it listens on the "
        "probed address and port (ss -lntp)."
    ),
    "upstream_model_error": (
        "The gateway is fine; fix its model provider (baseUrl, apiKey, model id in the "
        "instance config) or the provider's availability."
    ),
    "backend_unreachable": (
        "Start the backend-service (systemctl status clawdeploy-backend; journalctl -u "
        "clawdeploy-backend) and check it listens on 127.0.0.1:18889."
    ),
    "executor_not_available": (
        "Install or repair the Codex CLI on the backend host, or set EXECUTOR_CODEX_BIN."
    ),
}

# Only a gateway that is not up yet is worth waiting for; auth failures are not retried
# (each failed attempt makes the gateway slow down and eventually lock us out).
_RETRYABLE = frozenset({"network_or_unreachable", "backend_unreachable"})
_MAX_DETAIL = 300

Fetch = Callable[[str, str, Dict[str, str], Optional[bytes], float], Tuple[int, str, bytes]]


class Unreachable(Exception):
    """Raised by a fetch function when no HTTP answer came back (refused, DNS, timeout)."""

    def __init__(self, reason: str, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


def fetch(
    method: str, url: str, headers: Dict[str, str], body: Optional[bytes], timeout: float
) -> Tuple[int, str, bytes]:
    """Send one HTTP request with urllib; never follows a redirect into a guess.

    Returns ``(status, content_type, body_bytes)`` for any HTTP answer, error codes
    included. Raises :class:`Unreachable` when no HTTP answer came back within
    ``timeout`` seconds. Proxies from the environment are ignored: the gateway and the
    backend are probed on the host they run on.
    """
    req = urlrequest.Request(url, data=body, method=method, headers=headers)
    opener = urlrequest.build_opener(urlrequest.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urlerror.HTTPError as exc:
        ctype = exc.headers.get("Content-Type", "") if exc.headers else ""
        return exc.code, ctype, exc.read() or b""
    except urlerror.URLError as exc:
        timed_out = isinstance(exc.reason, (socket.timeout, TimeoutError))
        raise Unreachable(str(exc.reason), timed_out=timed_out) from None
    except (socket.timeout, TimeoutError):
        raise Unreachable("timed out", timed_out=True) from None
    except (ConnectionError, OSError) as exc:
        raise Unreachable(str(exc)) from None


def mask(text: str, secrets: List[Optional[str]]) -> str:
    """Return ``text`` with every non-empty secret replaced by ``********``, cut short."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 3] + "..."
    return text


def _json(ctype: str, body: bytes) -> Optional[Any]:
    if "json" not in ctype.lower():
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def _result(diagnosis: str, **fields: Any) -> Dict[str, Any]:
    result = {
        "diagnosis": diagnosis,
        "ok": diagnosis == "ok",
        "http_status": None,
        "latency_ms": 0,
        "fix": DIAGNOSES[diagnosis],
        "detail": "",
        "reply": None,
        "health": None,
        "failing": [],
    }
    result.update(fields)
    return result


def _output_text(obj: Dict[str, Any]) -> str:
    parts = []
    for item in obj.get("output") or []:
        if not isinstance(item, dict):
            continue
        for content in item.get("content") or []:
            if isinstance(content, dict) and content.get("type") == "output_text":
                parts.append(str(content.get("text", "")))
    return "".join(parts)


def classify_health(
    status: int, ctype: str, body: bytes
) -> Tuple[bool, str, Optional[Dict[str, Any]]]:
    """Judge a ``GET /healthz`` answer.

    Returns ``(live, detail, parsed_json)``. Live means HTTP 200 with a JSON object whose
    ``ok`` is true (OpenClaw answers ``{"ok": true, "status": "live"}``).
    """
    data = _json(ctype, body)
    if status == 200 and isinstance(data, dict) and data.get("ok") is True:
        return True, "", data
    if data is None and status == 200:
        return (
            False,
            "the URL answers with %s, not an OpenClaw health object" % (ctype or "no content type"),
            None,
        )
    return False, "health check answered HTTP %d" % status, data if isinstance(data, dict) else None


def classify_responses(status: int, ctype: str, body: bytes) -> Tuple[str, str, Optional[str]]:
    """Diagnose a non-streaming ``POST /v1/responses`` answer.

    Returns ``(diagnosis, detail, reply_text)``. The body decides before the status code:
    a response object (``"object": "response"``) means the gateway let us in, whatever the
    status code (an upstream 401 comes back as HTTP 401 with a failed response object).
    """
    data = _json(ctype, body)
    if isinstance(data, dict) and data.get("object") == "response":
        state = data.get("status")
        if state == "completed" and status == 200:
            return "ok", "", _output_text(data)
        err = data.get("error") if isinstance(data.get("error"), dict) else {}
        detail = "model request %s (HTTP %d): %s: %s" % (
            state or "failed",
            status,
            err.get("code", "unknown_error"),
            err.get("message", ""),
        )
        return "upstream_model_error", detail, None
    if status in (401, 403):
        return "auth_failed", "the gateway refused the token (HTTP %d)" % status, None
    if status == 429:
        return (
            "auth_failed",
            "the gateway rate-limits this client after failed authentication (HTTP 429)",
            None,
        )
    if status in (404, 405):
        return (
            "responses_endpoint_not_enabled_or_not_found",
            "POST /v1/responses answered HTTP %d" % status,
            None,
        )
    if status == 200:
        return (
            "responses_endpoint_not_enabled_or_not_found",
            "POST /v1/responses answered 200 with %s, not a response object"
            % (ctype or "no content type"),
            None,
        )
    err = (
        data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), dict) else {}
    )
    message = err.get("message") or body[:200].decode("utf-8", "replace")
    return "upstream_model_error", "the gateway answered HTTP %d: %s" % (status, message), None


def _responses_body(model: str, prompt: str) -> bytes:
    return json.dumps(
        {
            "model": model,
            "stream": False,
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": prompt}],
                }
            ],
        }
    ).encode("utf-8")


def _failing_checks(base_url: str, timeout: float, fetch_fn: Fetch) -> List[str]:
    """The gateway's failing readiness checks (``GET /readyz`` ``failing``); [] when it
    does not say."""
    try:
        _status, ctype, body = fetch_fn(
            "GET", base_url + "/readyz", {"Accept": "application/json"}, None, timeout
        )
    except Unreachable:
        return []
    ready = _json(ctype, body)
    if isinstance(ready, dict) and isinstance(ready.get("failing"), list):
        return [str(f) for f in ready["failing"]]
    return []


def _probe_responses(
    base_url: str,
    token: str,
    timeout: float,
    model: str,
    prompt: str,
    fetch_fn: Fetch,
    seen: Dict[str, Any],
) -> Dict[str, Any]:
    """The result of one ``POST /v1/responses`` on a live gateway; ``seen`` (health,
    failing) is carried into it."""
    headers = {
        "Authorization": "Bearer " + token,
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    start = time.monotonic()
    try:
        status, ctype, body = fetch_fn(
            "POST", base_url + "/v1/responses", headers, _responses_body(model, prompt), timeout
        )
    except Unreachable as exc:
        elapsed = int((time.monotonic() - start) * 1000)
        if exc.timed_out:
            return _result(
                "upstream_model_error",
                latency_ms=elapsed,
                detail="the gateway is live but its model request took over %g s" % timeout,
                **seen,
            )
        return _result(
            "network_or_unreachable",
            latency_ms=elapsed,
            detail="POST /v1/responses: %s" % exc.reason,
            **seen,
        )
    elapsed = int((time.monotonic() - start) * 1000)
    diagnosis, detail, reply = classify_responses(status, ctype, body)
    return _result(
        diagnosis,
        http_status=status,
        latency_ms=elapsed,
        reply=reply,
        detail=mask(detail, [token]),
        **seen,
    )


def _probe_gateway_once(
    base_url: str,
    token: Optional[str],
    timeout: float,
    responses: bool,
    model: str,
    prompt: str,
    fetch_fn: Fetch,
) -> Dict[str, Any]:
    start = time.monotonic()
    try:
        status, ctype, body = fetch_fn(
            "GET", base_url + "/healthz", {"Accept": "application/json"}, None, timeout
        )
    except Unreachable as exc:
        return _result(
            "network_or_unreachable",
            detail="GET /healthz: %s" % exc.reason,
            latency_ms=int((time.monotonic() - start) * 1000),
        )
    health_ms = int((time.monotonic() - start) * 1000)
    live, detail, health = classify_health(status, ctype, body)
    if not live:
        return _result(
            "network_or_unreachable",
            detail=detail,
            http_status=status,
            latency_ms=health_ms,
            health=health,
        )
    seen = dict(health=health, failing=_failing_checks(base_url, timeout, fetch_fn))
    if not responses:
        return _result("ok", http_status=status, latency_ms=health_ms, **seen)
    if not token:
        return _result("auth_failed", detail="no gateway token given to the probe", **seen)
    return _probe_responses(base_url, token, timeout, model, prompt, fetch_fn, seen)


def _until(
    deadline: float,
    interval: float,
    attempt: Callable[[], Dict[str, Any]],
    retry_on: Iterable[str] = (),
) -> Dict[str, Any]:
    end = time.monotonic() + max(deadline, 0.0)
    retryable = _RETRYABLE | frozenset(retry_on)
    attempts = 0
    while True:
        attempts += 1
        result = attempt()
        if result["diagnosis"] not in retryable or time.monotonic() + interval > end:
            result["attempts"] = attempts
            return result
        time.sleep(interval)


def probe_gateway(
    base_url: str,
    token: Optional[str],
    *,
    timeout: float = 10.0,
    deadline: float = 0.0,
    responses: bool = True,
    model: str = "openclaw",
    prompt: str = "ping",
    interval: float = 1.0,
    retry_on: Iterable[str] = (),
    fetch_fn: Fetch = fetch,
) -> Dict[str, Any]:
    """Probe an OpenClaw gateway: ``GET /healthz``, ``GET /readyz``, then ``POST /v1/responses``.

    :param base_url: gateway root, e.g. ``http://127.0.0.1:18789`` (no trailing slash needed).
    :param token: the gateway token (``OPENCLAW_GATEWAY_TOKEN``); never returned or logged.
    :param timeout: seconds for each HTTP request.
    :param deadline: seconds to keep retrying while the gateway is unreachable or not yet
        live (0: one attempt). Other diagnoses are final at once, but for ``retry_on``.
    :param interval: seconds between attempts.
    :param retry_on: diagnoses retried too, e.g. ``["upstream_model_error"]`` right after
        a provider key was put back: OpenClaw keeps refusing a provider for a cooldown
        (30 s after one HTTP 401, longer after more) before it calls it again.
    :param responses: also send a real model request; False checks liveness only.
    :param model: the OpenResponses ``model`` field (``openclaw`` or ``openclaw/<agentId>``).
    :returns: ``{"diagnosis", "ok", "http_status", "latency_ms", "fix", "detail",
        "reply", "health", "failing", "attempts"}``; ``latency_ms`` is the duration of the
        deciding request, ``reply`` the model's output text when ok, ``failing`` the
        ``/readyz`` failing list.
    """
    root = base_url.rstrip("/")
    return _until(
        deadline,
        interval,
        lambda: _probe_gateway_once(root, token, timeout, responses, model, prompt, fetch_fn),
        retry_on,
    )


def _probe_backend_once(
    base_url: str, token: Optional[str], timeout: float, fetch_fn: Fetch
) -> Dict[str, Any]:
    start = time.monotonic()
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        status, ctype, body = fetch_fn("GET", base_url + "/api/v1/status", headers, None, timeout)
    except Unreachable as exc:
        return _result(
            "backend_unreachable",
            detail="GET /api/v1/status: %s" % exc.reason,
            latency_ms=int((time.monotonic() - start) * 1000),
        )
    elapsed = int((time.monotonic() - start) * 1000)
    data = _json(ctype, body)
    if not isinstance(data, dict):
        return _result(
            "backend_unreachable",
            http_status=status,
            latency_ms=elapsed,
            detail="the URL answers HTTP %d with %s, not the backend's JSON envelope"
            % (status, ctype),
        )
    if status == 200 and data.get("ok") is True:
        gateway = data.get("gateway") if isinstance(data.get("gateway"), dict) else {}
        return _result(
            "ok",
            http_status=status,
            latency_ms=elapsed,
            detail="gateway diagnosis: %s" % data.get("diagnosis", "unknown"),
            health={
                "service": data.get("service"),
                "gateway_diagnosis": data.get("diagnosis"),
                "gateway_ok": gateway.get("ok"),
            },
        )
    code = data.get("error_code", "")
    if status in (401, 403, 503) and code in ("auth_failed", "auth_not_configured"):
        return _result(
            "auth_failed",
            http_status=status,
            latency_ms=elapsed,
            detail=mask("%s: %s" % (code, data.get("error", "")), [token]),
        )
    return _result(
        "backend_unreachable",
        http_status=status,
        latency_ms=elapsed,
        detail=mask("HTTP %d %s: %s" % (status, code, data.get("error", "")), [token]),
    )


def probe_backend(
    base_url: str,
    token: Optional[str],
    *,
    timeout: float = 10.0,
    deadline: float = 0.0,
    interval: float = 1.0,
    fetch_fn: Fetch = fetch,
) -> Dict[str, Any]:
    """Probe the backend-service's ``GET /api/v1/status`` with its bearer token.

    Same result shape as :func:`probe_gateway`; ``health`` carries the backend's own view
    of the gateway (``gateway_diagnosis``). ``auth_failed`` covers 401/403 and a server
    without a token (503 ``auth_not_configured``); anything else that is not the
    backend's JSON envelope is ``backend_unreachable``.
    """
    root = base_url.rstrip("/")
    return _until(deadline, interval, lambda: _probe_backend_once(root, token, timeout, fetch_fn))

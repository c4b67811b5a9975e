"""Wire contract with the seed's backend-service v0.3.1: replay its recorded exchanges.

``fixtures/v031/responses.json`` holds v0.3.1's answers route by route, recorded on a test
host (OpenClaw 2026.9.6, the stub provider, Codex CLI 0.169.0, tokens REDACTED). Each
exchange is replayed in order against this service; the check is that our answer has the
same status code and, for every key path of v0.3.1's body, the same key with the same
JSON type (a value of ``null`` in the recording allows anything; list elements are checked
against every recorded element). Values are not compared: times, ids and probe outcomes
differ by nature; error codes and echoed trace ids are.

Where this service is deliberately stricter the exchange is listed in :data:`DELIBERATE`
with the answer we give instead and why; that answer is asserted exactly, so the
difference stays a decision, never a drift. The executor is the stand-in ``codex`` of
``executor_standin.py``; v0.3.1's allowed workdir ``/tmp`` maps to the test's own.
"""

import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest

from backend_helpers import ASTR_FIXTURES
from executor_standin import task, wait_for, with_executor

RECORDING = Path(__file__).resolve().parent / "fixtures" / "v031" / "responses.json"
EXCHANGES: list[dict[str, Any]] = json.loads(RECORDING.read_text(encoding="utf-8"))["exchanges"]
RECORDED_WORKDIR = "/tmp"
# A trace id v0.3.1 made itself (uuid4 hex, 12); any other was sent by the client.
_GENERATED_TRACE = re.compile(r"[0-9a-f]{12}")

DELIBERATE: dict[tuple[str, str, str], tuple[int, str, str]] = {
    ("POST", "/api/v1/executor/jobs", "/etc"): (
        403,
        "workdir_not_allowed",
        "working directories are deny-by-default: v0.3.1 ran jobs in any existing "
        "directory (its EXECUTOR_ALLOW_GLOBAL_WORKDIR=true default), ours only inside "
        "EXECUTOR_ALLOWED_WORKDIRS",
    ),
}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_problems(recorded: Any, ours: Any, path: str = "$") -> list[str]:
    """Every key path of ``recorded`` missing from ``ours`` or of another JSON type.

    Returns ``["$.state.worker.queue_size: integer in v0.3.1, string in ours", ...]``;
    empty when ``ours`` is a superset. An integer where v0.3.1 had a number is accepted
    (JSON has one number type); a recorded non-empty array needs a non-empty one in ours.
    """
    if recorded is None:
        return []
    want, have = _type_name(recorded), _type_name(ours)
    if want != have and not (want == "number" and have == "integer"):
        return [f"{path}: {want} in v0.3.1, {have} in ours"]
    problems: list[str] = []
    if isinstance(recorded, dict):
        for key, value in recorded.items():
            if key not in ours:
                problems.append(f"{path}.{key}: missing in ours")
            else:
                problems += shape_problems(value, ours[key], f"{path}.{key}")
    elif isinstance(recorded, list) and recorded:
        if not ours:
            return [f"{path}: {len(recorded)} item(s) in v0.3.1, none in ours"]
        for index, item in enumerate(ours):
            for example in recorded:
                problems += shape_problems(example, item, f"{path}[{index}]")
    return problems


def test_shape_problems_finds_missing_and_mistyped_keys() -> None:
    recorded = {"a": 1, "b": {"c": "x", "d": [{"e": True}]}, "f": None, "g": 1.5}
    assert shape_problems(recorded, {**recorded, "extra": 0}) == []
    assert shape_problems(recorded, {**recorded, "g": 2}) == []
    broken = {"a": "1", "b": {"d": [{"e": 1}, {}]}, "f": 3, "g": 1.5}
    assert shape_problems(recorded, broken) == [
        "$.a: integer in v0.3.1, string in ours",
        "$.b.c: missing in ours",
        "$.b.d[0].e: boolean in v0.3.1, integer in ours",
        "$.b.d[1].e: missing in ours",
    ]
    assert shape_problems({"d": [1]}, {"d": []}) == ["$.d: 1 item(s) in v0.3.1, none in ours"]
    assert shape_problems({"n": 1}, {"n": None}) == ["$.n: integer in v0.3.1, null in ours"]


@pytest.fixture
def settings(settings, tmp_path):
    """The conftest settings with the stand-in codex and AstrBot's files from the fixtures."""
    astr = tmp_path / "astr"
    astr.mkdir()
    shutil.copy(ASTR_FIXTURES / "cmd_config.json", astr / "cmd_config.json")
    shutil.copy(ASTR_FIXTURES / "plugin_export.json", astr / "export.json")
    return with_executor(settings, tmp_path)


def _request_for(
    exchange: dict[str, Any], api_token: str, workdir: Path, job_ids: dict[str, str]
) -> tuple[str, str, dict[str, str], Any]:
    """The recorded request as ours gets it: the test's token and workdir, our job ids."""
    request = exchange["request"]
    path = request["path"]
    for recorded_id, our_id in job_ids.items():
        path = path.replace(recorded_id, our_id)
    headers = {
        "valid": {"Authorization": f"Bearer {api_token}"},
        "wrong": {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"},
        "none": {},
    }[request["auth"]]
    if not _GENERATED_TRACE.fullmatch(exchange["x_trace_id"]):
        headers["X-Trace-Id"] = exchange["x_trace_id"]
    body = request["body"]
    if isinstance(body, dict) and body.get("cwd") == RECORDED_WORKDIR:
        # The job must still be running when the recording cancels it, as it was there.
        body = {**body, "cwd": str(workdir)}
        if body.get("task"):
            body["task"] = task(sleep=20, out="hi")
    return request["method"], path, headers, body


def _job_state(client: Any, api_token: str, job_id: str) -> str:
    headers = {"Authorization": f"Bearer {api_token}"}
    return str(
        client.get(f"/api/v1/executor/jobs/{job_id}", headers=headers).json()["job"]["state"]
    )


def test_every_recorded_exchange_is_answered_as_a_superset(client, api_token, settings):
    workdir = settings.executor_allowed_workdirs[0]
    # The recording starts with one model pushed by the plugin earlier (its first status
    # shows that sync): the same state here.
    earlier = {"providers": [{"id": "p1", "model": "m1"}], "source": "plugin_push"}
    auth = {"Authorization": f"Bearer {api_token}"}
    assert client.post("/api/v1/models/import-astr", json=earlier, headers=auth).is_success
    job_ids: dict[str, str] = {}
    replayed = []
    for index, exchange in enumerate(EXCHANGES):
        method, path, headers, body = _request_for(exchange, api_token, workdir, job_ids)
        request = exchange["request"]
        recorded_job = (exchange["body"] or {}).get("job") or {}
        if recorded_job.get("state") == "running":  # as it was when v0.3.1 answered
            our_id = job_ids[recorded_job["job_id"]]
            wait_for(lambda job=our_id: _job_state(client, api_token, job) == "running")
        response = client.request(method, path, headers=headers, json=body)
        ours = response.json()
        where = f"exchange {index}: {method} {request['path']} ({request['auth']} auth)"
        assert response.headers["X-Trace-Id"] == ours.get(
            "trace_id", response.headers["X-Trace-Id"]
        ), where
        if "X-Trace-Id" in headers:
            assert response.headers["X-Trace-Id"] == exchange["x_trace_id"], where
        deliberate = DELIBERATE.get((method, request["path"], str((body or {}).get("cwd"))))
        if deliberate is not None:
            status, code, _why = deliberate
            assert response.status_code == status and ours["error_code"] == code, where
            assert set(ours) >= {"ok", "trace_id", "error_code", "error"}, where
            assert ours["ok"] is False, where
            replayed.append(index)
            continue
        assert response.status_code == exchange["status"], f"{where}: {response.text}"
        recorded = exchange["body"]
        assert shape_problems(recorded, ours) == [], where
        if recorded.get("error_code"):
            assert ours["error_code"] == recorded["error_code"], where
        if method == "POST" and request["path"] == "/api/v1/executor/jobs" and "job_id" in ours:
            job_ids[recorded["job_id"]] = ours["job_id"]
            assert ours["state"] == recorded["state"] == "queued", where
        replayed.append(index)
    assert replayed == list(range(len(EXCHANGES)))
    assert len(job_ids) == 1  # the one job v0.3.1 accepted that ours accepts too


def test_the_recording_holds_no_token() -> None:
    """The fixture stays what it was recorded as: tokens replaced by REDACTED."""
    text = RECORDING.read_text(encoding="utf-8")
    assert "REDACTED" in text
    assert not re.search(r"Bearer\s+(?!REDACTED)[A-Za-z0-9_-]{16,}", text)


def test_deliberate_differences_are_in_the_recording() -> None:
    """Each listed difference names an exchange that is really recorded."""
    recorded = {
        (e["request"]["method"], e["request"]["path"], str((e["request"]["body"] or {}).get("cwd")))
        for e in EXCHANGES
    }
    assert set(DELIBERATE) <= recorded

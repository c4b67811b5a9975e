"""Executor routes: availability, every refusal on submit, auth, status section, OpenAPI."""

import os

import pytest

from executor_standin import task, wait_for, with_executor, write_codex

JOBS = "/api/v1/executor/jobs"


@pytest.fixture
def settings(settings, tmp_path):
    return with_executor(settings, tmp_path)


@pytest.fixture
def workdir(settings):
    return settings.executor_allowed_workdirs[0]


def _submit(client, headers, **body):
    body.setdefault("level", "L3")
    return client.post(JOBS, json=body, headers=headers)


def _error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False and body["error_code"] == code, body
    assert body["trace_id"] == response.headers["X-Trace-Id"]
    return body


def test_executors_reports_binary_version_queue_and_limits(client, auth_headers, settings):
    body = client.get("/api/v1/executors", headers=auth_headers).json()
    assert body["ok"] is True and body["available"] is True and body["diagnosis"] == "ok"
    assert set(body["executors"]) == {"codex", "gemini", "shell"}
    codex = body["executors"]["codex"]
    assert codex["name"] == "codex" and codex["enabled"] is True
    assert codex["binary"] == settings.executor_codex_bin
    assert codex["bin"] == codex["path"] == settings.executor_codex_bin and codex["reason"] == ""
    for other in ("gemini", "shell"):
        entry = body["executors"][other]
        assert entry["available"] is False and entry["enabled"] is False
        assert entry["reason"].startswith("not_supported")
    assert codex["version"] == "9.9.9-standin"
    assert codex["queue_depth"] == 0 and codex["running_job_id"] is None
    assert codex["worker_running"] is True
    limits = codex["limits"]
    assert limits["concurrency"] == 1 and limits["submit_min_level"] == "L3"
    assert limits["allowed_workdirs"] == [str(settings.executor_allowed_workdirs[0])]
    assert limits["allow_any_workdir"] is False and limits["danger_mode_allowed"] is False


@pytest.mark.parametrize("case", ["missing", "version_fails", "disabled"])
def test_not_available(case, app, client, auth_headers, tmp_path, workdir):
    settings = app.state.settings
    if case == "missing":
        app.state.executor.locator.name = str(tmp_path / "nowhere" / "codex")
    elif case == "version_fails":
        app.state.executor.locator.name = str(write_codex(tmp_path / "bad", version_exit=1))
    else:
        app.state.settings = settings.model_copy(update={"executor_enabled": False})
        app.state.executor.settings = app.state.settings
    body = client.get("/api/v1/executors", headers=auth_headers).json()
    assert body["available"] is False and body["diagnosis"] == "executor_not_available"
    assert body["executors"]["codex"]["reason"]
    _error(_submit(client, auth_headers, task="t", cwd=str(workdir)), 503, "executor_not_available")
    status = client.get("/api/v1/status", headers=auth_headers).json()
    assert status["diagnosis"] == "ok"  # the gateway's diagnosis stays the gateway's
    assert status["executor"]["diagnosis"] == "executor_not_available"
    assert "EXECUTOR_CODEX_BIN" in status["executor"]["fix"]


def test_status_has_an_executor_section(client, auth_headers):
    section = client.get("/api/v1/status", headers=auth_headers).json()["executor"]
    assert section == {
        "available": True,
        "enabled": True,
        "version": "9.9.9-standin",
        "queue_depth": 0,
        "running_job_id": None,
        "diagnosis": "ok",
        "fix": "",
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"level": "L2"}, 403, "permission_deny"),
        ({"level": "L0"}, 403, "permission_deny"),
        ({"level": None}, 422, "invalid_request"),
        ({"level": "L5"}, 422, "invalid_request"),
        ({"level": "L3", "danger_mode": True}, 403, "permission_deny"),
        ({"level": "L4", "danger_mode": True}, 403, "permission_deny"),  # disabled on server
        ({"task": None}, 400, "missing_task"),
        ({"task": "  \n"}, 400, "missing_task"),
        ({"task": "x" * 2001}, 400, "task_too_large"),
        ({"task": "a\x00b"}, 422, "invalid_request"),
        ({"cwd": None}, 400, "invalid_cwd"),
        ({"cwd": "relative/dir"}, 400, "invalid_cwd"),
        ({"cwd": "/no/such/dir/anywhere"}, 400, "invalid_cwd"),
        ({"cwd": "FILE"}, 400, "invalid_cwd"),
        ({"executor": "gemini"}, 400, "executor_not_available"),
        ({"executor": "shell"}, 400, "executor_not_available"),
        ({"cwd": "/"}, 403, "workdir_not_allowed"),
        ({"cwd": "UP"}, 403, "workdir_not_allowed"),
        ({"cwd": "ESCAPE"}, 403, "workdir_not_allowed"),
    ],
)
def test_submit_refusals(client, auth_headers, workdir, tmp_path, body, status, code):
    (tmp_path / "a-file").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (workdir / "escape").symlink_to(outside)  # a symlink inside the allowlist, pointing out
    places = {"FILE": tmp_path / "a-file", "ESCAPE": workdir / "escape", "UP": f"{workdir}/../.."}
    full = {"task": "hello", "cwd": str(workdir), "level": "L3", **body}
    full["cwd"] = str(places.get(full["cwd"], full["cwd"])) if full["cwd"] else None
    response = client.post(JOBS, json=full, headers=auth_headers)
    _error(response, status, code)
    assert not (workdir / "standin-calls.jsonl").exists()


def test_low_memory_refuses_and_read_only_refuses(client, auth_headers, workdir, memory):
    memory.mb = 400
    body = _error(
        _submit(client, auth_headers, task="t", cwd=str(workdir)), 503, "executor_busy_low_memory"
    )
    assert "MEMORY_HEAVY_JOB_MIN_MB" in body["error"]
    memory.mb = 300
    _error(_submit(client, auth_headers, task="t", cwd=str(workdir)), 503, "read_only_mode")
    memory.mb = None  # unknown (ProcSubset=pid): nothing refused
    assert _submit(client, auth_headers, task="t", cwd=str(workdir)).status_code == 200


def test_queue_full(app, client, auth_headers, workdir):
    app.state.executor.stop()  # nothing runs: the queue only grows
    for _attempt in range(5):
        assert _submit(client, auth_headers, task="t", cwd=str(workdir)).status_code == 200
    _error(_submit(client, auth_headers, task="t", cwd=str(workdir)), 429, "executor_queue_full")
    executors = client.get("/api/v1/executors", headers=auth_headers).json()["executors"]
    assert executors["codex"]["queue_depth"] == 5


def test_unknown_job(client, auth_headers):
    _error(client.get(f"{JOBS}/nope", headers=auth_headers), 404, "job_not_found")
    _error(client.post(f"{JOBS}/nope/cancel", headers=auth_headers), 404, "job_not_found")


def test_aliases_and_level_forms(client, auth_headers, workdir):
    response = client.post(
        JOBS,
        json={"prompt": "hi", "workdir": str(workdir), "permission_level": 3, "danger": False},
        headers=auth_headers,
    )
    assert response.status_code == 200, response.text
    job = response.json()["job"]
    assert job["level"] == "L3" and job["cwd"] == os.path.realpath(workdir)
    assert job["task"] == "" and job["task_chars"] == 2  # the text is never shown
    for level in ("l4", "4", 4):
        assert (
            _submit(client, auth_headers, task="t", cwd=str(workdir), level=level).json()["job"][
                "level"
            ]
            == "L4"
        )


def test_every_route_needs_the_token(client):
    for method, path in [
        ("GET", "/api/v1/executors"),
        ("POST", JOBS),
        ("GET", f"{JOBS}/x"),
        ("POST", f"{JOBS}/x/cancel"),
    ]:
        assert client.request(method, path).status_code == 401
        response = client.request(method, path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 403 and response.json()["error_code"] == "auth_failed"


def test_openapi_documents_the_executor(client):
    schema = client.get("/openapi.json").json()
    for path in ("/api/v1/executors", JOBS, JOBS + "/{job_id}", JOBS + "/{job_id}/cancel"):
        assert path in schema["paths"], path
    request = schema["components"]["schemas"]["JobRequest"]["properties"]
    assert set(request) == {"task", "cwd", "level", "danger_mode", "executor"}
    assert "prompt" in request["task"]["description"]
    assert request["level"]["enum"] == ["L0", "L1", "L2", "L3", "L4"] or "anyOf" in request["level"]
    post = schema["paths"][JOBS]["post"]
    assert "workdir_not_allowed" in post["description"]


def test_job_is_queued_then_visible(client, auth_headers, workdir):
    job = _submit(client, auth_headers, task=task(out="x"), cwd=str(workdir)).json()["job"]
    assert job["state"] in ("queued", "running", "succeeded")
    done = wait_for(
        lambda: (
            (body := client.get(f"{JOBS}/{job['job_id']}", headers=auth_headers).json()["job"])[
                "state"
            ]
            == "succeeded"
            and body
        )
    )
    assert done["queue_position"] is None and done["exit_code"] == 0

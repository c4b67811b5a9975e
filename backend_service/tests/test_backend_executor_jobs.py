"""Executor jobs end to end with the stand-in codex: states, concurrency 1, cancel, timeout,
masking, the child's environment, audit lines and metrics."""

import hashlib
import json
import os
import secrets

import pytest
from prometheus_client.parser import text_string_to_metric_families

from executor_standin import calls, kill_quietly, pid_alive, task, wait_for, with_executor

JOBS = "/api/v1/executor/jobs"


@pytest.fixture
def settings(settings, tmp_path):
    return with_executor(settings, tmp_path, executor_timeout_s=3.0)


@pytest.fixture
def workdir(settings):
    return settings.executor_allowed_workdirs[0]


def _submit(client, headers, workdir, spec, **extra):
    body = {"task": spec, "cwd": str(workdir), "level": "L3", **extra}
    response = client.post(JOBS, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["job"]


def _get(client, headers, job_id):
    return client.get(f"{JOBS}/{job_id}", headers=headers).json()["job"]


def _until(client, headers, job_id, *states, timeout=10.0):
    return wait_for(
        lambda: (job := _get(client, headers, job_id))["state"] in states and job, timeout
    )


def _audit(settings):
    lines = settings.audit_log_path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_success_runs_codex_with_the_contract_arguments(client, auth_headers, workdir, settings):
    spec = task(out="hello from codex", err="a warning")
    job = _submit(client, auth_headers, workdir, spec)
    done = _until(client, auth_headers, job["job_id"], "succeeded", "failed")
    assert done["state"] == "succeeded" and done["exit_code"] == 0 and done["error_code"] == ""
    assert done["stdout_tail"] == "hello from codex\n" and done["stderr_tail"] == "a warning\n"
    assert done["started_at"] and done["finished_at"] and done["duration_s"] >= 0
    real = os.path.realpath(workdir)
    (call,) = calls(workdir)
    assert call["argv"] == [
        "exec",
        "--skip-git-repo-check",
        "--cd",
        real,
        "--sandbox",
        "workspace-write",
        "--",
        spec,
    ]
    assert call["cwd"] == real
    env = call["env"]
    assert env["CODEX_HOME"] == env["HOME"] == str(settings.executor_codex_home)
    assert not {"BACKEND_API_TOKEN", "OPENCLAW_GATEWAY_TOKEN"} & set(env)
    assert set(env) <= {"PATH", "HOME", "CODEX_HOME", "LANG", "TZ", "TMPDIR", "LC_CTYPE"}
    digest = hashlib.sha256(spec.encode()).hexdigest()
    assert done["task_sha256"] == digest
    records = [r for r in _audit(settings) if r["action"].startswith("executor.")]
    assert [(r["action"], r["outcome"]) for r in records] == [
        ("executor.submit", "ok"),
        ("executor.finish", "succeeded"),
    ]
    assert {r["trace_id"] for r in records} == {job["trace_id"]}
    assert records[0]["detail"]["task_sha256"] == digest
    assert "hello from codex" not in settings.audit_log_path.read_text(encoding="utf-8")


def test_a_task_that_looks_like_an_option_stays_a_task(client, auth_headers, workdir):
    job = _submit(client, auth_headers, workdir, "--dangerously-bypass-approvals-and-sandbox")
    done = _until(client, auth_headers, job["job_id"], "succeeded", "failed")
    assert done["state"] == "succeeded"
    assert done["stdout_tail"] == "--dangerously-bypass-approvals-and-sandbox\n"


def test_nonzero_exit_fails_the_job(client, auth_headers, workdir):
    job = _submit(client, auth_headers, workdir, task(err="boom", exit=3))
    done = _until(client, auth_headers, job["job_id"], "succeeded", "failed")
    assert (done["state"], done["error_code"], done["exit_code"]) == (
        "failed",
        "executor_nonzero_exit",
        3,
    )
    assert "status 3" in done["error"] and done["stderr_tail"] == "boom\n"


def test_one_job_at_a_time_and_cancel(client, auth_headers, workdir, tmp_path):
    marker, pidfile = tmp_path / "started", tmp_path / "grandchild.pid"
    first = _submit(
        client, auth_headers, workdir, task(marker=str(marker), spawn=str(pidfile), sleep=30)
    )
    second = _submit(client, auth_headers, workdir, task(out="second"))
    third = _submit(client, auth_headers, workdir, task(out="third"))
    wait_for(marker.exists)
    grandchild = int(pidfile.read_text())
    try:
        assert pid_alive(grandchild)
        assert _get(client, auth_headers, first["job_id"])["state"] == "running"
        queued = _get(client, auth_headers, second["job_id"])
        assert queued["state"] == "queued" and queued["queue_position"] == 1
        assert _get(client, auth_headers, third["job_id"])["queue_position"] == 2
        assert len(calls(workdir)) == 1  # the second codex never started
        info = client.get("/api/v1/executors", headers=auth_headers).json()["executors"]["codex"]
        assert info["queue_depth"] == 2 and info["running_job_id"] == first["job_id"]
        # Cancel a queued job: at once, it never runs.
        response = client.post(f"{JOBS}/{third['job_id']}/cancel", headers=auth_headers)
        assert response.status_code == 200
        assert response.json()["job"]["state"] == "canceled"
        assert response.json()["job"]["error_code"] == "canceled_by_user"
        # Cancel the running one: its whole process group dies, grandchild included.
        response = client.post(f"{JOBS}/{first['job_id']}/cancel", headers=auth_headers)
        job = response.json()["job"]
        assert (job["state"], job["error_code"]) == ("canceled", "canceled_by_user")
        wait_for(lambda: not pid_alive(grandchild), timeout=5)
    finally:
        kill_quietly(grandchild)
    assert _until(client, auth_headers, second["job_id"], "succeeded")["stdout_tail"] == "second\n"
    assert [c["argv"][-1] for c in calls(workdir)][1:] == [task(out="second")]
    again = client.post(f"{JOBS}/{first['job_id']}/cancel", headers=auth_headers)
    assert again.status_code == 409 and again.json()["error_code"] == "job_already_finished"
    assert again.json()["job"]["state"] == "canceled"


def test_timeout_kills_the_group_even_when_sigterm_is_ignored(
    app, client, auth_headers, workdir, tmp_path
):
    pidfile = tmp_path / "grandchild.pid"
    spec = task(spawn=str(pidfile), ignore_term=True, sleep=30)
    app.state.executor.settings = app.state.settings.model_copy(update={"executor_timeout_s": 0.5})
    job = _submit(client, auth_headers, workdir, spec)
    done = _until(client, auth_headers, job["job_id"], "succeeded", "failed", "canceled")
    grandchild = int(pidfile.read_text())
    try:
        assert (done["state"], done["error_code"]) == ("failed", "executor_timeout")
        assert done["exit_code"] == -9  # SIGTERM ignored: SIGKILL after the grace period
        wait_for(lambda: not pid_alive(grandchild), timeout=5)
    finally:
        kill_quietly(grandchild)


def test_output_is_masked(client, auth_headers, workdir, api_token, gateway_token):
    openai_like = "sk-" + secrets.token_urlsafe(24)
    bearer = secrets.token_urlsafe(20)
    out = f"api={api_token} gw={gateway_token} key={openai_like} Authorization: Bearer {bearer}"
    job = _submit(client, auth_headers, workdir, task(out=out, err=f"token={bearer}"))
    done = _until(client, auth_headers, job["job_id"], "succeeded")  # CheckedClient: no tokens
    text = done["stdout_tail"] + done["stderr_tail"]
    for secret in (api_token, gateway_token, openai_like, bearer):
        assert secret not in text
    assert "Bearer ********" in text and "api=********" in text


def test_output_tail_is_capped(app, client, auth_headers, workdir):
    app.state.executor.settings = app.state.settings.model_copy(
        update={"executor_output_max_bytes": 1024}
    )
    job = _submit(client, auth_headers, workdir, task(flood=100_000))
    done = _until(client, auth_headers, job["job_id"], "succeeded")
    assert len(done["stdout_tail"].encode()) <= 1024 and done["stdout_tail"].endswith("xEND")
    assert done["output_truncated"] is True


def test_danger_mode_uses_full_access_when_allowed(app, client, auth_headers, workdir):
    app.state.executor.settings = app.state.settings.model_copy(
        update={"executor_allow_danger_mode": True}
    )
    job = _submit(client, auth_headers, workdir, "x", level="L4", danger_mode=True)
    assert _until(client, auth_headers, job["job_id"], "succeeded")["danger_mode"] is True
    assert calls(workdir)[0]["argv"][5] == "danger-full-access"


def test_metrics_show_queue_depth_and_jobs_by_state(app, client, auth_headers, workdir):
    done = _submit(client, auth_headers, workdir, task(exit=1))
    _until(client, auth_headers, done["job_id"], "failed")
    app.state.executor.stop()
    _submit(client, auth_headers, workdir, "a")
    _submit(client, auth_headers, workdir, "b")
    text = client.get("/metrics", headers=auth_headers).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("clawdeploy_backend_executor_queue_depth", ())] == 2
    assert samples[("clawdeploy_backend_executor_jobs", (("state", "queued"),))] == 2
    assert samples[("clawdeploy_backend_executor_jobs", (("state", "failed"),))] == 1
    assert samples[("clawdeploy_backend_executor_jobs", (("state", "running"),))] == 0
    assert samples[("clawdeploy_backend_executor_available", ())] == 1
    finished = "clawdeploy_backend_executor_jobs_finished_total"
    assert samples[(finished, (("outcome", "executor_nonzero_exit"),))] == 1

"""Executor services without HTTP: durability across restarts, the workdir allowlist,
settings parsing, the child's environment, the process runner."""

import json
import os
import signal
import time

import pytest
from pydantic import ValidationError

from backend_helpers import CheckedClient
from clawdeploy_backend.audit import AuditLog
from clawdeploy_backend.main import create_app
from clawdeploy_backend.services.executor.jobs import Job, JobStore
from clawdeploy_backend.services.executor.policy import ExecutorError, resolve_workdir
from clawdeploy_backend.services.executor.proc import run_process
from clawdeploy_backend.services.executor.schemas import JobFields, JobInfo
from clawdeploy_backend.services.executor.service import ExecutorService
from clawdeploy_backend.services.stability import MemoryGuard
from clawdeploy_backend.settings import Settings
from clawdeploy_backend.store import Store
from executor_standin import calls, task, wait_for, with_executor

JOBS = "/api/v1/executor/jobs"


@pytest.fixture
def settings(settings, tmp_path):
    return with_executor(settings, tmp_path)


def _service(settings):
    audit = AuditLog(settings.audit_log_path, max_bytes=1 << 20, backup_count=1)
    return ExecutorService(settings, Store(settings.database_path), audit)


def test_restart_resumes_queued_jobs_and_fails_the_running_one(
    settings, api_token, gateway_token, tmp_path
):
    workdir = settings.executor_allowed_workdirs[0]
    headers = {"Authorization": f"Bearer {api_token}"}
    marker = tmp_path / "started"
    ids = []
    with CheckedClient(create_app(settings), [api_token, gateway_token]) as first:
        for spec in (task(marker=str(marker), sleep=30), task(out="two"), task(out="three")):
            body = {"task": spec, "cwd": str(workdir), "level": "L3"}
            ids.append(first.post(JOBS, json=body, headers=headers).json()["job"]["job_id"])
        wait_for(marker.exists)
    # The first app is closed: its running job was killed, the others wait in the database.
    jobs = JobStore(Store(settings.database_path))
    assert [jobs.get(i).state for i in ids] == ["failed", "queued", "queued"]
    assert jobs.get(ids[0]).error_code == "executor_interrupted"
    with CheckedClient(create_app(settings), [api_token, gateway_token]) as second:
        for job_id, out in zip(ids[1:], ("two\n", "three\n"), strict=True):
            job = wait_for(
                lambda job_id=job_id: (
                    (j := second.get(f"{JOBS}/{job_id}", headers=headers).json()["job"])["state"]
                    == "succeeded"
                    and j
                )
            )
            assert job["stdout_tail"] == out
        interrupted = second.get(f"{JOBS}/{ids[0]}", headers=headers).json()["job"]
        assert (interrupted["state"], interrupted["error_code"]) == (
            "failed",
            "executor_interrupted",
        )
    assert len(calls(workdir)) == 3


def test_a_crash_leaves_running_jobs_that_the_next_start_fails(settings):
    jobs = JobStore(Store(settings.database_path))
    cwd = str(settings.executor_allowed_workdirs[0])
    crashed = jobs.add(
        task="secret-ish task", cwd=cwd, level="L3", danger_mode=False, trace_id="t1"
    )
    waiting = jobs.add(task=task(out="ok"), cwd=cwd, level="L3", danger_mode=False, trace_id="t2")
    assert jobs.claim_next().job_id == crashed.job_id  # as if the process died right here
    service = _service(settings)
    service.start()
    try:
        failed = jobs.get(crashed.job_id)
        assert (failed.state, failed.error_code) == ("failed", "executor_interrupted")
        assert failed.task == "" and failed.task_chars == len("secret-ish task")
        wait_for(lambda: jobs.get(waiting.job_id).state == "succeeded")
    finally:
        service.stop()
    lines = [json.loads(x) for x in settings.audit_log_path.read_text().splitlines()]
    assert {
        (r["trace_id"], r["action"], r["outcome"])
        for r in lines
        if r["action"] == "executor.finish"
    } == {("t1", "executor.finish", "executor_interrupted"), ("t2", "executor.finish", "succeeded")}
    assert "secret-ish" not in settings.audit_log_path.read_text()


def test_disabled_executor_keeps_jobs_queued(settings):
    jobs = JobStore(Store(settings.database_path))
    cwd = str(settings.executor_allowed_workdirs[0])
    job = jobs.add(task="t", cwd=cwd, level="L3", danger_mode=False, trace_id="t")
    service = _service(settings.model_copy(update={"executor_enabled": False}))
    service.start()
    time.sleep(0.2)
    assert jobs.get(job.job_id).state == "queued" and service.info()["worker_running"] is False
    service.stop()


def test_workdir_allowlist(tmp_path):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "sub").mkdir(parents=True)
    outside.mkdir()
    (allowed / "out-link").symlink_to(outside)
    (allowed / "in-link").symlink_to(allowed / "sub")
    (tmp_path / "alias").symlink_to(allowed)  # the allowlist entry may itself be a symlink
    (tmp_path / "allowed-but-not").mkdir()  # a sibling sharing the prefix
    real = os.path.realpath

    def check(cwd, roots=(allowed,), allow_any=False, default=None):
        return resolve_workdir(cwd, allowed=list(roots), allow_any=allow_any, default=default)

    assert str(check(str(allowed))) == real(allowed)
    assert str(check(f"{allowed}/sub/../sub")) == real(allowed / "sub")
    assert str(check(str(allowed / "in-link"))) == real(allowed / "sub")
    assert str(check(str(allowed / "sub"), roots=[tmp_path / "alias"])) == real(allowed / "sub")
    assert str(check(None, default=allowed)) == real(allowed)
    assert str(check(str(outside), allow_any=True)) == real(outside)
    for cwd in (
        str(allowed / "out-link"),
        f"{allowed}/../outside",
        str(tmp_path / "allowed-but-not"),
        "/",
    ):
        with pytest.raises(ExecutorError) as caught:
            check(cwd)
        assert caught.value.error_code == "workdir_not_allowed", cwd
    with pytest.raises(ExecutorError) as caught:
        check(str(allowed), roots=[])  # deny by default
    assert caught.value.error_code == "workdir_not_allowed"
    for cwd in ("", None, "sub", str(allowed / "missing"), "/x\x00y"):
        with pytest.raises(ExecutorError) as caught:
            check(cwd)
        assert caught.value.error_code == "invalid_cwd", cwd


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("EXECUTOR_ALLOWED_WORKDIRS", "/srv/a, /srv/b")
    monkeypatch.setenv("EXECUTOR_PASS_ENV", "OPENAI_API_KEY")
    monkeypatch.setenv("EXECUTOR_TIMEOUT_S", "60")
    settings = Settings()
    assert [str(p) for p in settings.executor_allowed_workdirs] == ["/srv/a", "/srv/b"]
    assert settings.executor_pass_env == ["OPENAI_API_KEY"]
    assert settings.executor_allow_any_workdir is False and settings.executor_enabled is True
    assert settings.executor_timeout_s == 60
    monkeypatch.setenv("EXECUTOR_ALLOWED_WORKDIRS", '["/srv/c"]')
    assert [str(p) for p in Settings().executor_allowed_workdirs] == ["/srv/c"]
    monkeypatch.delenv("EXECUTOR_ALLOWED_WORKDIRS")
    assert Settings().executor_allowed_workdirs == []  # deny by default
    for name, value in [
        ("EXECUTOR_ALLOWED_WORKDIRS", "relative/dir"),
        ("EXECUTOR_PASS_ENV", "BACKEND_API_TOKEN"),
        ("EXECUTOR_PASS_ENV", "openclaw_gateway_token"),
        ("EXECUTOR_PASS_ENV", "NOT-A-NAME"),
        ("EXECUTOR_CODEX_HOME", "codex_home"),
    ]:
        monkeypatch.setenv(name, value)
        with pytest.raises(ValidationError):
            Settings()
        monkeypatch.delenv(name)


def test_child_env_is_minimal_and_passed_values_are_masked(settings, monkeypatch, api_token):
    provider_key = "pk-" + "q" * 30
    monkeypatch.setenv("OPENAI_API_KEY", provider_key)
    monkeypatch.setenv("BACKEND_API_TOKEN", api_token)
    monkeypatch.setenv("SOMETHING_ELSE", "x")
    service = _service(settings.model_copy(update={"executor_pass_env": ["OPENAI_API_KEY"]}))
    assert service.env["OPENAI_API_KEY"] == provider_key
    assert "BACKEND_API_TOKEN" not in service.env and "SOMETHING_ELSE" not in service.env
    assert service._mask(f"echo {provider_key} {api_token}") == ("echo ******** ********", False)


def test_run_process_kills_on_cancel_and_reports_spawn_failures(tmp_path):
    flag = {"cancel": False}
    started = time.monotonic()

    def cancel_soon():
        flag["cancel"] = time.monotonic() - started > 0.2
        return flag["cancel"]

    result = run_process(
        ["sh", "-c", "trap '' TERM; echo up; sleep 30"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        timeout_s=10,
        kill_grace_s=0.2,
        limit_bytes=1024,
        should_cancel=cancel_soon,
    )
    assert result.outcome == "canceled" and result.exit_code == -signal.SIGKILL
    assert result.stdout == "up\n" and result.duration_s < 5
    missing = run_process(
        [str(tmp_path / "nope")],
        cwd=tmp_path,
        env={},
        timeout_s=1,
        kill_grace_s=0,
        limit_bytes=1024,
        should_cancel=lambda: False,
    )
    assert missing.outcome == "spawn_failed" and missing.exit_code is None and missing.error


def test_queued_jobs_are_checked_again_when_they_start(settings, tmp_path):
    service = _service(settings)
    guard = MemoryGuard(reader=lambda: None)
    work = settings.executor_allowed_workdirs[0]
    gone, swapped = work / "gone", work / "swapped"
    gone.mkdir()
    swapped.mkdir()
    ids = [
        service.submit(
            task="t", cwd=str(cwd), level="L3", danger_mode=False, trace_id="t", guard=guard
        ).job_id
        for cwd in (gone, swapped, work)
    ]
    gone.rmdir()
    swapped.rmdir()
    swapped.symlink_to(tmp_path)  # same path, now leading out of the allowlist
    os.unlink(settings.executor_codex_bin)
    service.start()
    try:
        jobs = wait_for(
            lambda: (
                (js := [service.jobs.get(i) for i in ids])
                and all(j.state == "failed" for j in js)
                and js
            )
        )
    finally:
        service.stop()
    assert [j.error_code for j in jobs] == [
        "invalid_cwd",
        "workdir_not_allowed",
        "executor_not_available",
    ]


def test_one_field_list_for_the_row_and_the_api(tmp_path):
    """The table's columns are exactly Job's fields; the API shows all but seq and task."""
    store = Store(tmp_path / "jobs.db")
    with store.connect() as conn:
        columns = {row["name"] for row in conn.execute("PRAGMA table_info(executor_jobs)")}
    assert columns == set(Job.model_fields)
    assert set(Job.model_fields) - set(JobFields.model_fields) == {"seq", "task"}
    assert set(JobInfo.model_fields) - set(JobFields.model_fields) == {"queue_position"}

    job = JobStore(store).add(
        task="the task text", cwd="/srv", level="L4", danger_mode=True, trace_id="t-1"
    )
    assert job.danger_mode is True and job.output_truncated is False  # SQLite 0/1 -> bool
    public = job.public(2)
    assert list(public) == list(JobInfo.model_fields)
    assert "the task text" not in json.dumps(public)
    assert JobInfo.model_validate(public).queue_position == 2

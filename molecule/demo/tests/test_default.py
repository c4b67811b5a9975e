"""Verify the converged test host: units, container, sockets, files, tokens, and a real
request through the real OpenClaw gateway to the stub provider and back."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shlex
import time

import plays
import pytest
import testinfra.utils.ansible_runner

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import dotenv

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("openclaw_hosts")

ROOT = "/opt/openclaw-assistant"
INSTANCE = f"{ROOT}/instances/main"
BACKEND = f"{ROOT}/backend-service"
STUB_REPLY = "pong from stub"
VERSION = os.environ.get("OPENCLAW_VERSION") or "2026.9.6"


def env_file(host, path: str) -> dict[str, str]:
    """Parse a KEY=value env file on the host (values are bare tokens here)."""
    out = {}
    for line in host.file(path).content_string.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _sep, value = line.partition("=")
            out[key.strip()] = value.strip().strip("'\"")
    return out


def curl(host, *args: str) -> tuple[int, str]:
    """Run curl on the host; returns (http status, body)."""
    cmd = host.run(
        "curl -sS -o /tmp/curl-body -w '%%{http_code}' %s" % " ".join(shlex.quote(a) for a in args)
    )
    assert cmd.rc == 0, cmd.stderr
    return int(cmd.stdout), host.file("/tmp/curl-body").content_string


@pytest.fixture(scope="module")
def gateway_token(host) -> str:
    return env_file(host, f"{INSTANCE}/.env")["OPENCLAW_GATEWAY_TOKEN"]


@pytest.fixture(scope="module")
def backend_token(host) -> str:
    return env_file(host, f"{BACKEND}/backend.env")["BACKEND_API_TOKEN"]


@pytest.mark.parametrize("unit", ["docker", "clawdeploy-backend"])
def test_unit_enabled_and_running(host, unit):
    service = host.service(unit)
    if not service.is_running:
        print(host.run(f"journalctl -u {unit} -n 50 --no-pager").stdout)
    assert service.is_running
    assert service.is_enabled


def test_backend_unit_is_hardened(host):
    props = host.service("clawdeploy-backend").systemd_properties
    assert props["User"] == "clawdeploy-backend"
    assert props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] == "strict"
    assert props["ProtectHome"] == "yes"
    assert props["PrivateTmp"] == "yes"
    # testinfra drops empty properties; ask systemd directly: no capabilities at all.
    caps = host.check_output("systemctl show -p CapabilityBoundingSet --value clawdeploy-backend")
    assert caps == ""
    main_pid = props["MainPID"]
    assert host.run(f"ps -o user= -p {main_pid}").stdout.strip() == "clawdeploy-backend"


def test_gateway_container_running_and_healthy(host):
    state = ""
    for _attempt in range(40):  # the image healthcheck runs every 15 s
        state = host.check_output(
            "docker inspect -f '{{.State.Status}} {{.State.Health.Status}}' openclaw-gateway-main"
        )
        if state == "running healthy":
            break
        time.sleep(3)
    assert state == "running healthy"


def test_gateway_container_is_hardened(host):
    info = json.loads(host.check_output("docker inspect openclaw-gateway-main"))[0]
    hc = info["HostConfig"]
    assert hc["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in hc["SecurityOpt"]
    assert hc["ReadonlyRootfs"] is True
    assert hc["Memory"] == 2 * 1024**3
    assert hc["PidsLimit"] == 512
    assert hc["RestartPolicy"]["Name"] == "unless-stopped"
    uid = host.check_output("id -u openclaw-gateway")
    gid = host.check_output("id -g openclaw-gateway")
    assert info["Config"]["User"] == f"{uid}:{gid}"
    assert int(uid) < 1000  # a system user, not a person's account
    assert info["Config"]["Image"] == f"local/openclaw:{VERSION}"
    binds = {m["Destination"]: m for m in info["Mounts"]}
    assert binds["/etc/openclaw"]["RW"] is False
    assert binds["/etc/openclaw"]["Source"] == f"{INSTANCE}/config"
    assert binds["/var/lib/openclaw"]["Source"] == f"{INSTANCE}/data/openclaw_home"


@pytest.mark.parametrize("name", ["openclaw_home", "openclaw_workspace"])
def test_gateway_state_belongs_to_the_gateway_user(host, name):
    data = host.file(f"{INSTANCE}/data/{name}")
    assert data.user == "openclaw-gateway"
    assert data.mode == 0o700
    # the gateway really writes its state there
    if name == "openclaw_home":
        assert host.file(f"{INSTANCE}/data/openclaw_home/state").is_directory


@pytest.mark.parametrize("port", [18789, 18889])
def test_ports_bound_on_loopback_only(host, port):
    listeners = [
        line.split()[3]
        for line in host.check_output("ss -Hltn").splitlines()
        if re.search(rf":{port}$", line.split()[3])
    ]
    assert listeners, f"nothing listens on {port}"
    assert all(addr == f"127.0.0.1:{port}" for addr in listeners), listeners


@pytest.mark.parametrize("path", [f"{INSTANCE}/.env", f"{BACKEND}/backend.env"])
def test_secret_files_are_0600_root(host, path):
    f = host.file(path)
    assert f.mode == 0o600
    assert f.user == "root"
    assert f.group == "root"


def test_seed_install_tokens_are_adopted(gateway_token, backend_token):
    """prepare.yml wrote a seed-style /root/openclaw-assistant-backend/.env; deploy.yml must
    keep its tokens instead of generating new ones."""
    cache = os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], ".cache")
    with open(os.path.join(cache, "seed-gateway-token"), encoding="utf-8") as handle:
        assert gateway_token == handle.read().split()[0]
    with open(os.path.join(cache, "seed-backend-token"), encoding="utf-8") as handle:
        assert backend_token == handle.read().split()[0]


SEED = "/root/openclaw-assistant-backend"
SEED_DB = f"{SEED}/data/backend_state.db"
# Reads the seed's database from a copy (the original is never opened): its models and
# its last sync, as JSON.
SEED_DUMP = """
import json, os, shutil, sqlite3, sys, tempfile
tmp = tempfile.mkdtemp()
copy = os.path.join(tmp, "copy.db")
shutil.copyfile(sys.argv[1], copy)
db = sqlite3.connect(copy)
db.row_factory = sqlite3.Row
models = [dict(r) for r in db.execute(
    "SELECT provider_id, model, base_url FROM model_snapshots ORDER BY id")]
last = dict(db.execute("SELECT imported_at, source, provider_count, trace_id "
                       "FROM sync_events ORDER BY id DESC LIMIT 1").fetchone())
db.close()
shutil.rmtree(tmp)
print(json.dumps({"models": models, "last_sync": last}))
"""


def seed_state(host) -> dict:
    return json.loads(host.check_output(f"python3 -c {shlex.quote(SEED_DUMP)} {SEED_DB}"))


def test_seed_models_and_last_sync_are_imported(host, backend_token):
    """prepare.yml left the seed's backend_state.db (two models, two syncs): our service
    lists exactly its models and reports its last sync. Runs before any pull or import."""
    seed = seed_state(host)
    assert len(seed["models"]) == 2
    status, data = api(host, backend_token, "GET", "/api/v1/models")
    assert status == 200, data
    fields = ("provider_id", "model", "base_url")
    ours = sorted(tuple(m[k] for k in fields) for m in data["models"])
    assert ours == sorted(tuple(m[k] for k in fields) for m in seed["models"])
    last = data["last_sync"]
    assert last["trace_id"] == seed["last_sync"]["trace_id"]
    assert last.get("provider_count", last.get("count")) == seed["last_sync"]["provider_count"]


def test_seed_settings_reach_the_service_below_the_roles(host):
    """The seed's settings, under our names, are in the running service's environment
    (seed.env, read before settings.env); where the role sets one (ASTR_CMD_CONFIG_PATH via
    backend_service_extra_settings) the role's wins; the global workdir is not carried."""
    pid = host.service("clawdeploy-backend").systemd_properties["MainPID"]
    names = [
        "GATEWAY_PROBE_TIMEOUT_S",
        "EXECUTOR_TIMEOUT_S",
        "ASTR_PULL_REQUIRE_ENABLED_PROVIDER",
        "ASTR_CMD_CONFIG_PATH",
        "EXECUTOR_ALLOW_ANY_WORKDIR",
        "EXECUTOR_ALLOW_GLOBAL_WORKDIR",
    ]
    # Only these names leave the host: the environment also holds the tokens.
    out = host.check_output(
        f"tr '\\0' '\\n' < /proc/{pid}/environ | grep -E '^({'|'.join(names)})=' || true"
    )
    environment = dict(line.split("=", 1) for line in out.splitlines())
    assert environment == {
        "GATEWAY_PROBE_TIMEOUT_S": "17",
        "EXECUTOR_TIMEOUT_S": "170",
        "ASTR_PULL_REQUIRE_ENABLED_PROVIDER": "true",
        "ASTR_CMD_CONFIG_PATH": "/srv/astrbot/data/cmd_config.json",
    }
    seed_env = host.file(f"{BACKEND}/seed.env")
    assert (seed_env.user, seed_env.group, seed_env.mode) == ("root", "root", 0o644)
    assert "ASTR_CMD_CONFIG_PATH=/root/AstrBot/data/cmd_config.json" in seed_env.content_string
    unit = host.file("/etc/systemd/system/clawdeploy-backend.service").content_string
    assert unit.index(f"EnvironmentFile=-{BACKEND}/seed.env") < unit.index(
        f"EnvironmentFile={BACKEND}/settings.env"
    )


def test_seed_migration_report(host, gateway_token, backend_token):
    """The first deploy's report (kept on the host): what was migrated and what was not,
    the refused global workdir among the latter, no token anywhere."""
    text = host.file(f"{BACKEND}/seed-migration.json").content_string
    assert gateway_token not in text and backend_token not in text
    report = json.loads(text)
    assert report["database"]["status"] == "imported"
    migrated = {i["seed"]: i for i in report["migrated"]}
    timeout = migrated["BACKEND_REQUEST_TIMEOUT_SECONDS"]
    assert (timeout["ours"], timeout["value"]) == ("GATEWAY_PROBE_TIMEOUT_S", "17")
    assert migrated["BACKEND_API_TOKEN"]["value"] == "(secret, adopted by the role)"
    assert migrated["OPENCLAW_GATEWAY_TOKEN"]["value"] == "(secret, adopted by the role)"
    not_migrated = {i["seed"]: i for i in report["not_migrated"]}
    refused = not_migrated["EXECUTOR_ALLOW_GLOBAL_WORKDIR"]
    assert refused["value"] == "true" and "EXECUTOR_ALLOW_ANY_WORKDIR" in refused["why"]
    assert {"BACKEND_DB_PATH", "EXECUTOR_ALLOWED_WORKDIRS"} <= set(not_migrated)


def test_seed_migration_ran_once_and_left_the_seed_unchanged(host, gateway_token, backend_token):
    """The seed's .env and database are byte for byte as prepare.yml left them, and the
    migration, asked again (--check), says it is done."""
    check = host.run("sha256sum -c /opt/clawdeploy-test/seed.sha256")
    assert check.rc == 0, check.stdout + check.stderr
    for side in ("-wal", "-shm", "-journal"):
        assert not host.file(SEED_DB + side).exists
    again = host.run(
        f"{BACKEND}/venv/bin/clawdeploy-backend-migrate-seed --env-file {SEED}/.env "
        f"--data-dir {BACKEND}/data --check --json"
    )
    assert again.rc == 0, again.stderr
    assert gateway_token not in again.stdout + again.stderr
    assert backend_token not in again.stdout + again.stderr
    report = json.loads(again.stdout)
    assert report["database"]["status"] == "already_imported"
    assert report["changed"] is False


def test_tokens_strong_and_distinct(host, gateway_token, backend_token):
    assert len(gateway_token) >= 43
    assert len(backend_token) >= 43
    assert gateway_token != backend_token
    assert env_file(host, f"{BACKEND}/backend.env")["OPENCLAW_GATEWAY_TOKEN"] == gateway_token


def test_env_pins_version(host):
    assert env_file(host, f"{INSTANCE}/.env")["OPENCLAW_VERSION"] == VERSION


def test_config_enables_responses_and_holds_no_secret(host, gateway_token):
    config = host.file(f"{INSTANCE}/config/openclaw_sidecar.config.json5")
    assert config.mode == 0o640
    text = config.content_string
    assert "responses: {\n" in text or "responses: {" in text
    assert gateway_token not in text
    stub_key = env_file(host, f"{INSTANCE}/.env")["OPENCLAW_PROVIDER_STUB_API_KEY"]
    assert stub_key not in text
    assert "OPENCLAW_PROVIDER_STUB_API_KEY" in text  # a SecretRef to the env var


def test_real_responses_round_trip_through_gateway(host, gateway_token):
    before = len(host.file("/var/log/openai-stub.jsonl").content_string.splitlines())
    body = json.dumps(
        {
            "model": "openclaw",
            "stream": False,
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "ping"}],
                }
            ],
        }
    )
    status, text = curl(
        host,
        "-X",
        "POST",
        "http://127.0.0.1:18789/v1/responses",
        "-H",
        f"Authorization: Bearer {gateway_token}",
        "-H",
        "Content-Type: application/json",
        "--max-time",
        "120",
        "-d",
        body,
    )
    assert status == 200, text
    response = json.loads(text)
    assert response["object"] == "response"
    assert response["status"] == "completed"
    reply = "".join(
        c["text"]
        for item in response["output"]
        for c in item.get("content", [])
        if c.get("type") == "output_text"
    )
    assert reply == STUB_REPLY
    calls = host.file("/var/log/openai-stub.jsonl").content_string.splitlines()[before:]
    assert any(json.loads(c)["path"] == "/v1/chat/completions" for c in calls)


def test_gateway_rejects_wrong_token(host):
    status, text = curl(
        host,
        "-X",
        "POST",
        "http://127.0.0.1:18789/v1/responses",
        "-H",
        "Authorization: Bearer not-the-token",
        "-H",
        "Content-Type: application/json",
        "-d",
        "{}",
    )
    assert status == 401
    assert json.loads(text)["error"]["type"] == "unauthorized"


def test_backend_status_reports_ok(host, backend_token, gateway_token):
    status, text = curl(
        host,
        "http://127.0.0.1:18889/api/v1/status?refresh=1",
        "-H",
        f"Authorization: Bearer {backend_token}",
        "--max-time",
        "120",
    )
    assert status == 200, text
    data = json.loads(text)
    assert data["ok"] is True
    assert data["diagnosis"] == "ok"
    assert gateway_token not in text and backend_token not in text


@pytest.mark.parametrize(
    ("header", "expected"), [("Authorization: Bearer wrong-token", 403), (None, 401)]
)
def test_backend_status_rejects_bad_token(host, header, expected):
    args = ["http://127.0.0.1:18889/api/v1/status"] + (["-H", header] if header else [])
    status, text = curl(host, *args)
    assert status == expected
    assert json.loads(text)["error_code"] == "auth_failed"


def test_web_status_needs_login(host):
    status, _text = curl(host, "http://127.0.0.1:18889/web/status")
    assert status == 303


def test_web_status_page_after_login(host, backend_token, gateway_token):
    """Log in through the form (CSRF token from the page, session cookie), then the page
    shows the gateway diagnosis and no token."""
    jar = "/tmp/web-cookies"
    host.run(f"rm -f {jar}")
    status, form = curl(host, "-c", jar, "http://127.0.0.1:18889/web/login")
    assert status == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    status, _text = curl(
        host,
        "-b",
        jar,
        "-c",
        jar,
        "-X",
        "POST",
        "http://127.0.0.1:18889/web/login",
        "--data-urlencode",
        f"csrf_token={csrf}",
        "--data-urlencode",
        f"token={backend_token}",
        "--data-urlencode",
        "next=/web/status",
    )
    assert status == 303
    status, page = curl(host, "-b", jar, "--max-time", "120", "http://127.0.0.1:18889/web/status")
    assert status == 200
    assert "<html" in page.lower()
    assert re.search(r'id="diagnosis"[^>]*>ok<', page), page[:500]
    assert gateway_token not in page and backend_token not in page


def test_no_secret_in_the_verbose_scenario_output(host, gateway_token, backend_token):
    # Every secret-named value of the host's env files, the two tokens among them.
    found = plays.host_secrets(host).values()
    assert gateway_token in found and backend_token in found
    plays.assert_scenario_log_clean(host)


def test_docker_compose_reads_what_dotenv_writes(host):
    """Values the openclaw_secret module writes (through module_utils/dotenv.render) are read
    back unchanged by the real Compose v2, including characters a provider key may hold."""
    values = {
        "BARE": secrets.token_urlsafe(32),
        "SPACES": "two words  and more",
        "DOLLAR": "pa$word ${NOT_EXPANDED}",
        "HASH": "a # b",
        "DQUOTE": 'say "hi"',
        "BACKSLASH": "c:\\path\\x",
        "EMPTY": "",
    }
    entries: list = []
    for key, value in values.items():
        dotenv.set(entries, key, value)
    work = "/tmp/dotenv-check"
    encoded = base64.b64encode(dotenv.render(entries).encode()).decode()
    host.check_output(f"mkdir -p {work} && echo {encoded} | base64 -d > {work}/test.env")
    compose = "services:\\n  s:\\n    image: scratch\\n    env_file: [test.env]\\n"
    host.check_output(f"printf '{compose}' > {work}/compose.yml")
    out = host.check_output(f"cd {work} && docker compose -f compose.yml config --format json")
    environment = json.loads(out)["services"]["s"]["environment"]
    for key, value in values.items():
        assert environment[key].replace("$$", "$") == value, key


def api(host, token: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """Call the backend's API on the host with the bearer token; returns (status, JSON)."""
    args = ["-X", method, f"http://127.0.0.1:18889{path}", "-H", f"Authorization: Bearer {token}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    status, text = curl(host, *args)
    return status, json.loads(text)


def wait_job(host, token: str, job_id: str, states: set[str], seconds: int = 90) -> dict:
    job: dict = {}
    for _attempt in range(seconds):
        job = api(host, token, "GET", f"/api/v1/executor/jobs/{job_id}")[1]["job"]
        if job["state"] in states:
            return job
        time.sleep(1)
    raise AssertionError(f"job {job_id} stayed {job.get('state')}: {job}")


def submit(host, token: str, task: str) -> str:
    status, data = api(
        host,
        token,
        "POST",
        "/api/v1/executor/jobs",
        {"task": task, "cwd": "/srv/codex-work", "level": "L3"},
    )
    assert status == 200, data
    return data["job"]["job_id"]


def test_executor_runs_the_real_codex_cli(host, backend_token):
    status, data = api(host, backend_token, "GET", "/api/v1/executors")
    assert status == 200
    codex = data["executors"]["codex"]
    assert codex["available"] is True, codex
    assert codex["version"] == "0.169.0"
    job = wait_job(
        host,
        backend_token,
        submit(host, backend_token, "say pong"),
        {"succeeded", "failed", "canceled"},
    )
    assert job["state"] == "succeeded", job
    assert job["exit_code"] == 0
    assert STUB_REPLY in job["stdout_tail"]


def test_executor_refuses_a_workdir_outside_the_allowlist(host, backend_token):
    status, data = api(
        host,
        backend_token,
        "POST",
        "/api/v1/executor/jobs",
        {"task": "say pong", "cwd": "/tmp", "level": "L3"},
    )
    assert status != 200
    assert data["error_code"] == "workdir_not_allowed"


def test_models_pull_from_astrbot_cmd_config_on_the_host(host, backend_token):
    status, data = api(host, backend_token, "POST", "/api/v1/models/pull-astr")
    assert status == 200, data
    assert data["ok"] is True
    assert data["source"] == "cmd_config"
    assert data["default_provider_id"] == "deepseek-chat"
    status, data = api(host, backend_token, "GET", "/api/v1/models")
    assert status == 200
    ids = {m["provider_id"] for m in data["models"]}
    assert ids == {"gpt-4o-mini", "deepseek-chat", "gemini-flash"}
    assert "__KEY" not in json.dumps(data)  # the fixture's keys are never stored


def test_models_import_from_a_plugin_export(host, backend_token):
    export = {
        "using_provider": "local-llm",
        "providers": [
            {
                "provider_id": "local-llm",
                "model": "qwen3",
                "provider_type": "openai_chat_completion",
                "base_url": "http://127.0.0.1:8000/v1",
                "api_key": secrets.token_urlsafe(24),
            }
        ],
    }
    status, data = api(host, backend_token, "POST", "/api/v1/models/import-astr", export)
    assert status == 200, data
    status, data = api(host, backend_token, "GET", "/api/v1/models")
    models = {m["provider_id"]: m for m in data["models"]}
    assert models["local-llm"]["model"] == "qwen3"
    assert export["providers"][0]["api_key"] not in json.dumps(data)
    db = host.file("/opt/openclaw-assistant/backend-service/data/backend_state.db")
    assert db.mode == 0o600
    assert db.user == "clawdeploy-backend"


def test_restart_keeps_queued_jobs_and_fails_the_running_one(host, backend_token):
    """With the provider frozen (it accepts connections, never answers), job 1 hangs running
    and job 2 waits; a restart of the unit marks job 1 executor_interrupted and keeps job 2,
    which succeeds once the provider answers again. Runs last: it freezes the stub."""
    host.check_output("systemctl kill --signal=SIGSTOP openai-stub")
    try:
        first = submit(host, backend_token, "say pong")
        wait_job(host, backend_token, first, {"running"})
        second = submit(host, backend_token, "say pong again")
        assert wait_job(host, backend_token, second, {"queued"})["state"] == "queued"
        host.check_output("systemctl restart clawdeploy-backend")
        for _attempt in range(30):
            if host.run("curl -sf http://127.0.0.1:18889/healthz").rc == 0:
                break
            time.sleep(1)
        job = wait_job(host, backend_token, first, {"failed", "succeeded", "canceled"})
        assert (job["state"], job["error_code"]) == ("failed", "executor_interrupted")
    finally:
        host.check_output("systemctl kill --signal=SIGCONT openai-stub")
    job = wait_job(host, backend_token, second, {"succeeded", "failed", "canceled"}, seconds=120)
    assert job["state"] == "succeeded", job

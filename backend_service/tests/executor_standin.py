"""A stand-in ``codex`` for the executor tests, and helpers to wait for jobs.

The stand-in honours ``codex --version`` and exactly the argument shape the executor uses
(``exec --skip-git-repo-check --cd DIR --sandbox MODE -- TASK``; anything else exits 64).
It appends ``{"argv", "cwd", "env"}`` to ``DIR/standin-calls.jsonl``. A task that is a JSON
object drives it: ``out`` / ``err`` (text to print), ``flood`` (bytes of ``x`` to print),
``marker`` (file written once started), ``spawn`` (start a ``sleep`` grandchild in the same
process group and write its pid to that file), ``ignore_term`` (ignore SIGTERM),
``sleep`` (seconds), ``exit`` (status). Any other task is echoed and exits 0.
"""

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

STANDIN = r"""
import json, os, signal, subprocess, sys, time

args = sys.argv[1:]
if args == ["--version"]:
    print("codex-cli 9.9.9-standin")
    sys.exit(VERSION_EXIT)
shape = ["exec", "--skip-git-repo-check", "--cd", None, "--sandbox", None, "--", None]
if len(args) != len(shape) or any(w is not None and a != w for a, w in zip(args, shape)):
    print("usage: codex exec --skip-git-repo-check --cd DIR --sandbox MODE -- TASK",
          file=sys.stderr)
    sys.exit(64)
workdir, mode, task = args[3], args[5], args[7]
if mode not in ("workspace-write", "danger-full-access") or not os.path.isdir(workdir):
    sys.exit(65)
with open(os.path.join(workdir, "standin-calls.jsonl"), "a") as handle:
    handle.write(json.dumps({"argv": args, "cwd": os.getcwd(), "env": dict(os.environ)}) + "\n")
try:
    spec = json.loads(task)
except ValueError:
    spec = None
if not isinstance(spec, dict):
    print(task)
    sys.exit(0)
if spec.get("ignore_term"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if spec.get("spawn"):
    child = subprocess.Popen(["sleep", "60"])
    with open(spec["spawn"], "w") as handle:
        handle.write(str(child.pid))
if spec.get("out"):
    print(spec["out"], flush=True)
if spec.get("err"):
    print(spec["err"], file=sys.stderr, flush=True)
if spec.get("flood"):
    sys.stdout.write("x" * int(spec["flood"]) + "END")
    sys.stdout.flush()
if spec.get("marker"):
    with open(spec["marker"], "w") as handle:
        handle.write("started")
time.sleep(float(spec.get("sleep", 0)))
sys.exit(int(spec.get("exit", 0)))
"""


def write_codex(directory: Path, name: str = "codex", version_exit: int = 0) -> Path:
    """Write the stand-in as an executable ``directory/name`` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    body = STANDIN.replace("VERSION_EXIT", str(version_exit))
    path.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    path.chmod(0o755)
    return path


def task(**spec: Any) -> str:
    """A JSON task for the stand-in (see the module doc)."""
    return json.dumps(spec)


def wait_for(predicate: Any, timeout: float = 10.0, step: float = 0.02) -> Any:
    """Poll ``predicate()`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(step)


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def calls(workdir: Path) -> list[dict[str, Any]]:
    """The stand-in's recorded calls in ``workdir``."""
    path = workdir / "standin-calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def kill_quietly(pid: int) -> None:
    """Clean-up for a test that failed before the executor killed ``pid``."""
    with contextlib.suppress(OSError):
        os.kill(pid, 9)


def with_executor(settings: Any, tmp_path: Path, **update: Any) -> Any:
    """``settings`` with the stand-in codex, one allowed ``tmp_path/work`` and short limits."""
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    values = {
        "executor_codex_bin": str(write_codex(tmp_path / "bin")),
        "executor_allowed_workdirs": [workdir],
        "executor_timeout_s": 10.0,
        "executor_kill_grace_s": 0.3,
        "executor_max_task_chars": 2000,
        "executor_queue_max": 5,
        "executor_codex_home": tmp_path / "codex_home",
    }
    values.update(update)
    return settings.model_copy(update=values)

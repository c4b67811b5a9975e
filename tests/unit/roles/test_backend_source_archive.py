"""The backend-service role packs the package source reproducibly: caches that tools write
into the source tree (ruff, pytest, hypothesis, bytecode) do not change the archive, so
they never make a deploy reinstall the service (issue: a deploy after a failed one
reinstalled it although nothing of it had changed)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
TASKS = REPO / "roles" / "backend_service" / "tasks" / "install.yml"


def pack(source: Path, out: Path) -> str:
    task = next(t for t in yaml.safe_load(TASKS.read_text()) if t["name"].startswith("Pack"))
    argv = [
        str(out) if "_backend_service_source_tar" in a else str(source) if "_source_dir" in a else a
        for a in task["ansible.builtin.command"]["argv"]
    ]
    subprocess.run(argv, check=True)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def test_caches_in_the_source_tree_do_not_change_the_archive(tmp_path):
    source = tmp_path / "backend_service"
    shutil.copytree(
        REPO / "backend_service", source, symlinks=False, ignore=shutil.ignore_patterns("tests")
    )
    before = pack(source, tmp_path / "a.tar")
    for cache in (
        ".ruff_cache/0.17.6",
        ".pytest_cache/v",
        ".hypothesis/examples",
        "src/clawdeploy_backend/.mypy_cache",
    ):
        (source / cache).mkdir(parents=True, exist_ok=True)
        (source / cache / "entry").write_text("written by a tool")
    (source / "src" / "clawdeploy_backend" / "__pycache__").mkdir(exist_ok=True)
    (source / "src" / "clawdeploy_backend" / "__pycache__" / "main.cpython-311.pyc").write_bytes(
        b"x"
    )
    assert pack(source, tmp_path / "b.tar") == before
    names = subprocess.run(
        ["tar", "-tf", str(tmp_path / "b.tar")], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "src/clawdeploy_backend/main.py" in names and "pyproject.toml" in names
    assert not any("cache" in n or n.startswith("tests") for n in names)


def test_a_source_change_changes_the_archive(tmp_path):
    source = tmp_path / "backend_service"
    shutil.copytree(REPO / "backend_service", source, ignore=shutil.ignore_patterns("tests"))
    before = pack(source, tmp_path / "a.tar")
    (source / "src" / "clawdeploy_backend" / "main.py").write_text("# changed\n")
    assert pack(source, tmp_path / "b.tar") != before

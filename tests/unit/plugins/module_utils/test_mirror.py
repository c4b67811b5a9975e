"""Tests of the two-pass copy (module_utils/mirror.py): the copy taken while the tree is
written, made exact after the writer stopped, must equal a copy of the stopped tree."""

from __future__ import annotations

import os
import stat
import subprocess
import time

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import mirror


def cp(source, target):
    subprocess.run(["cp", "-a", "--", source, target], check=True, capture_output=True)


def tree(root) -> dict:
    """Path -> (type, mode, owner, mtime_ns, content or link target), the top included."""
    found = {}
    for directory, dirs, files in os.walk(root):
        if directory == str(root):
            st = os.lstat(directory)
            found["."] = ("dir", stat.S_IMODE(st.st_mode), st.st_uid, st.st_mtime_ns)
        for name in dirs + files:
            full = os.path.join(directory, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            common = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", st.st_uid, os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", *common, st.st_mtime_ns)
            elif stat.S_ISFIFO(st.st_mode):
                found[rel] = ("fifo", *common)
            else:
                with open(full, "rb") as handle:
                    found[rel] = ("file", *common, st.st_mtime_ns, handle.read())
    return found


def make_state(root):
    (root / "state").mkdir(parents=True)
    (root / "state" / "openclaw.sqlite").write_bytes(b"db v1" * 100)
    (root / "state" / "openclaw.sqlite-wal").write_bytes(b"wal v1")
    (root / "workspace" / "notes").mkdir(parents=True)
    for i in range(50):
        (root / "workspace" / "notes" / ("n%02d.md" % i)).write_text("note %d\n" % i)
    (root / "workspace" / "latest").symlink_to("notes/n01.md")
    (root / "old").mkdir()
    (root / "old" / "gone.txt").write_text("removed later\n")
    (root / "becomes-dir").write_text("a file first\n")
    os.mkfifo(root / "pipe")
    root.chmod(0o700)
    return root


def write_while_copied(root):
    """What a running gateway does between the first copy and its stop."""
    time.sleep(0.01)  # coarse clocks: let change times move on
    (root / "state" / "openclaw.sqlite").write_bytes(b"db v2" * 100)  # same size, new bytes
    (root / "state" / "openclaw.sqlite-wal").unlink()
    (root / "state" / "openclaw.sqlite-shm").write_bytes(b"shm")
    (root / "workspace" / "notes" / "n07.md").chmod(0o600)
    (root / "workspace" / "latest").unlink()
    (root / "workspace" / "latest").symlink_to("notes/n02.md")
    (root / "old" / "gone.txt").unlink()
    (root / "old").rmdir()
    (root / "becomes-dir").unlink()
    (root / "becomes-dir").mkdir(mode=0o750)
    (root / "becomes-dir" / "inside").write_text("new\n")
    (root / "workspace").chmod(0o711)


def test_resync_makes_the_copy_equal_to_the_stopped_tree(tmp_path):
    source = make_state(tmp_path / "live")
    target = tmp_path / "copy"
    record, problem = mirror.precopy(str(source), str(target), cp)
    assert problem is None
    write_while_copied(source)
    assert tree(target) != tree(source)
    counts = mirror.resync(str(source), str(target), record, cp)
    assert tree(target) == tree(source)
    assert stat.S_ISFIFO(os.lstat(target / "pipe").st_mode)
    # Only what changed was copied again: not the 50 untouched notes.
    assert counts["copied"] <= 8 and counts["removed"] >= 3


def test_resync_of_an_unchanged_tree_copies_nothing(tmp_path):
    source = make_state(tmp_path / "live")
    target = tmp_path / "copy"
    record, _problem = mirror.precopy(str(source), str(target), cp)
    assert mirror.resync(str(source), str(target), record, cp) == {"copied": 0, "removed": 0}
    assert tree(target) == tree(source)


def test_a_failed_first_copy_is_repaired(tmp_path):
    source = make_state(tmp_path / "live")
    target = tmp_path / "copy"

    def half_copy(src, dst):
        os.mkdir(dst)
        raise RuntimeError("cp: cannot stat 'state/openclaw.sqlite-wal': No such file")

    record, problem = mirror.precopy(str(source), str(target), half_copy)
    assert "cannot stat" in problem
    mirror.resync(str(source), str(target), record, cp)
    assert tree(target) == tree(source)

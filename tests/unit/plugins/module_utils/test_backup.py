"""Tests of the instance backups: the archive format, create, verify, stage (module_utils).

They run as root or as any other user: ownership is compared with the test's own ids.
"""

from __future__ import annotations

import datetime
import errno
import gzip
import hashlib
import io
import json
import os
import secrets
import stat
import tarfile

import pytest

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import archive as ar
from ansible_collections.clawdeploy.openclaw.plugins.module_utils import backup as bk
from ansible_collections.clawdeploy.openclaw.plugins.module_utils import stage as st

T0 = datetime.datetime(2026, 11, 23, 17, 58, 0, tzinfo=datetime.timezone.utc)
TOKEN = "tok_" + secrets.token_hex(16)
SQLITE = bytes(range(256)) * 64


def at(minutes: int) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


def mode_of(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def make_instance(root):
    """An instance directory shaped like the gateway role's, plus things to leave out."""
    root.mkdir(mode=0o750)
    env = root / ".env"
    env.write_text("OPENCLAW_VERSION=2026.9.6\nOPENCLAW_GATEWAY_TOKEN=%s\n" % TOKEN)
    env.chmod(0o600)
    (root / "openclaw_sidecar.compose.yml").write_text("services: {}\n")
    (root / "config").mkdir()
    (root / "config" / "openclaw_sidecar.config.json5").write_text("{gateway: {}}\n")
    home = root / "data" / "openclaw_home"
    (home / "state").mkdir(parents=True)
    home.chmod(0o700)
    (home / "state").chmod(0o700)
    (home / "state" / "openclaw.sqlite").write_bytes(SQLITE)
    (home / "state" / "openclaw.sqlite").chmod(0o600)
    workspace = root / "data" / "openclaw_workspace"
    workspace.mkdir()
    (workspace / "notes.md").write_text("# notes\n")
    (workspace / "latest").symlink_to("notes.md")
    (root / "staging").mkdir()
    (root / "staging" / "image.tar").write_bytes(b"x" * 100)
    return root


@pytest.fixture
def src(tmp_path):
    return make_instance(tmp_path / "main")


@pytest.fixture
def backups(tmp_path):
    return tmp_path / "backups"


def create(src, backups, minutes=0, **kwargs):
    kwargs.setdefault("exclude", ["staging"])
    return bk.create(str(src), str(backups), "main", now=at(minutes), **kwargs)


def members(archive):
    """[(TarInfo, bytes or None)] of ``archive`` in order."""
    result = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            data = tar.extractfile(member).read() if member.isreg() else None
            result.append((member, data))
    return result


def write_members(archive, items):
    """Write [(TarInfo, bytes or None)] as a new gzip tar at ``archive``."""
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in items:
            if data is None:
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def rewrite(archive, change):
    """Rewrite ``archive`` with ``change(items, manifest)`` applied; the manifest member
    is re-serialized from the (possibly edited) dict."""
    items = members(archive)
    manifest = json.loads(items[0][1])
    rest = change(items[1:], manifest)
    write_members(archive, [(items[0][0], json.dumps(manifest).encode())] + rest)


def info(name, kind=tarfile.REGTYPE, linkname=""):
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = linkname
    member.mode = 0o644
    member.uid, member.gid = os.getuid(), os.getgid()
    return member


def snapshot(root):
    """Every path below ``root`` with its type, mode and content or link target."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(directory, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                found[rel] = ("link", os.readlink(full))
            elif os.path.isdir(full):
                found[rel] = ("dir", mode_of(full))
            else:
                with open(full, "rb") as handle:
                    found[rel] = ("file", mode_of(full), handle.read())
    return found


# --- create -----------------------------------------------------------------------------


def test_create_writes_archive_with_manifest_first(src, backups):
    result = create(src, backups, label="pre-upgrade to 2026.9.6")
    path = result["path"]
    assert path == str(backups / "main-20261123T175800Z.tar.gz")
    assert mode_of(backups) == 0o700
    assert mode_of(path) == 0o600
    assert os.stat(path).st_uid == os.getuid()
    assert result["bytes"] == os.path.getsize(path)
    with open(path, "rb") as handle:
        assert result["sha256"] == hashlib.sha256(handle.read()).hexdigest()
    assert sorted(os.listdir(backups)) == ["main-20261123T175800Z.tar.gz"]  # no temp file

    items = members(path)
    assert items[0][0].name == "manifest.json"
    manifest = json.loads(items[0][1])
    assert manifest == result["manifest"]
    assert manifest["format"] == "clawdeploy-backup/1"
    assert manifest["instance"] == "main"
    assert manifest["created_at"] == "2026-11-23T17:58:00Z"
    assert manifest["openclaw_version"] == "2026.9.6"
    assert manifest["label"] == "pre-upgrade to 2026.9.6"
    paths = [entry["path"] for entry in manifest["entries"]]
    assert paths == sorted(paths)
    assert paths == [
        ".env",
        "config",
        "config/openclaw_sidecar.config.json5",
        "data",
        "data/openclaw_home",
        "data/openclaw_home/state",
        "data/openclaw_home/state/openclaw.sqlite",
        "data/openclaw_workspace",
        "data/openclaw_workspace/latest",
        "data/openclaw_workspace/notes.md",
        "openclaw_sidecar.compose.yml",
    ]
    assert [m.name for m, _data in items[1:]] == ["instance/" + p for p in paths]
    entries = {entry["path"]: entry for entry in manifest["entries"]}
    sqlite = entries["data/openclaw_home/state/openclaw.sqlite"]
    assert sqlite["type"] == "file" and sqlite["mode"] == "0600"
    assert sqlite["size"] == len(SQLITE)
    assert sqlite["sha256"] == hashlib.sha256(SQLITE).hexdigest()
    assert sqlite["uid"] == os.getuid() and sqlite["gid"] == os.getgid()
    assert entries[".env"]["mode"] == "0600"
    assert entries["data/openclaw_home"] == dict(
        entries["data/openclaw_home"], type="dir", mode="0700"
    )
    assert "size" not in entries["data"] and "sha256" not in entries["data"]
    assert entries["data/openclaw_workspace/latest"]["type"] == "symlink"
    assert entries["data/openclaw_workspace/latest"]["target"] == "notes.md"
    assert result["files"] == 5
    assert result["skipped"] == [] and result["pruned"] == []
    member = dict((m.name, m) for m, _data in items)["instance/data/openclaw_home"]
    assert member.isdir() and member.mode == 0o700 and member.uid == os.getuid()


def test_create_is_deterministic(src, tmp_path):
    first = create(src, tmp_path / "one")
    second = create(src, tmp_path / "two")
    assert first["sha256"] == second["sha256"]


def test_create_never_follows_links_out_and_skips_special_files(src, backups, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("not ours")
    (src / "data" / "escape").symlink_to(outside)
    (src / "data" / "absolute").symlink_to("/etc/passwd")
    (src / "data" / "up").symlink_to("../../outside/secret")
    os.mkfifo(str(src / "data" / "pipe"))
    result = create(src, backups)
    assert result["skipped"] == [
        {"path": "data/absolute", "reason": "symbolic link pointing outside src"},
        {"path": "data/escape", "reason": "symbolic link pointing outside src"},
        {"path": "data/pipe", "reason": "FIFO"},
        {"path": "data/up", "reason": "symbolic link pointing outside src"},
    ]
    names = [m.name for m, _data in members(result["path"])]
    assert not any("secret" in name or "pipe" in name for name in names)
    assert ar.verify(result["path"], "main")["ok"]


def test_create_excludes_dest_dir_inside_src(src):
    result = bk.create(str(src), str(src / "backups"), "main", exclude=["staging"], now=T0)
    paths = [entry["path"] for entry in result["manifest"]["entries"]]
    assert not any(p.startswith("backups") for p in paths)
    assert ar.verify(result["path"], "main")["ok"]


def test_create_name_collision_gets_a_counter(src, backups):
    first = create(src, backups)
    second = create(src, backups)
    assert first["path"].endswith("main-20261123T175800Z.tar.gz")
    assert second["path"].endswith("main-20261123T175800Z-2.tar.gz")


def test_create_check_mode_writes_nothing(src, backups):
    result = create(src, backups, check_mode=True)
    assert not backups.exists()
    assert result["path"] == str(backups / "main-20261123T175800Z.tar.gz")
    assert result["sha256"] is None and result["bytes"] is None
    assert result["files"] == 5


def test_create_refuses_missing_parent_and_bad_input(src, tmp_path):
    with pytest.raises(ar.BackupError, match="does not exist; create it first"):
        create(src, tmp_path / "no" / "backups")
    with pytest.raises(ar.BackupError, match="not a directory"):
        create(tmp_path / "missing", tmp_path / "backups")
    with pytest.raises(ar.BackupError, match="not a valid instance name"):
        bk.create(str(src), str(tmp_path / "b"), "../x")
    with pytest.raises(ar.BackupError, match="keep must be"):
        create(src, tmp_path / "b", keep=-1)
    for bad in ("../up", "/abs"):
        with pytest.raises(ar.BackupError, match="exclude entry"):
            create(src, tmp_path / "b", exclude=[bad])


def test_file_changing_while_archived_is_an_error(src, backups):
    entries, _skipped = ar.scan(str(src), ["staging"])
    manifest = ar.build_manifest("main", T0, entries)
    (src / "data" / "openclaw_home" / "state" / "openclaw.sqlite").write_bytes(b"y" * len(SQLITE))
    backups.mkdir()
    target = str(backups / "main.tar.gz")
    with pytest.raises(ar.BackupError, match="changed while it was being archived"):
        ar.write_archive(target, str(src), manifest, 0)
    assert os.listdir(backups) == []


def test_read_openclaw_version(tmp_path):
    assert ar.read_openclaw_version(str(tmp_path)) is None
    (tmp_path / "real.env").write_text("OPENCLAW_VERSION=2026.9.6\n")
    (tmp_path / ".env").symlink_to("real.env")
    assert ar.read_openclaw_version(str(tmp_path)) is None  # links are not followed
    (tmp_path / ".env").unlink()
    (tmp_path / ".env").write_text("export OPENCLAW_VERSION='2026.8.2'\nX=1\n")
    assert ar.read_openclaw_version(str(tmp_path)) == "2026.8.2"


# --- retention --------------------------------------------------------------------------


def test_list_archives_only_this_instances(backups):
    backups.mkdir()
    names = [
        "main-20261123T175800Z.tar.gz",
        "main-20261123T175800Z-2.tar.gz",
        "main-20261122T000000Z.tar.gz",
        "main-2-20261101T000000Z.tar.gz",
        "other-20261101T000000Z.tar.gz",
        ".main-20261123T175800Z.tar.gz.abc.tmp",
        "main-latest.tar.gz",
    ]
    for name in names:
        (backups / name).write_bytes(b"")
    (backups / "main-20261124T000000Z.tar.gz").symlink_to("main-20261122T000000Z.tar.gz")
    assert [os.path.basename(p) for p in bk.list_archives(str(backups), "main")] == [
        "main-20261122T000000Z.tar.gz",
        "main-20261123T175800Z.tar.gz",
        "main-20261123T175800Z-2.tar.gz",
    ]
    assert bk.list_archives(str(backups / "missing"), "main") == []


def test_retention():
    archives = ["a1", "a2", "a3", "a4"]
    assert bk.retention(archives, 0, "a4") == []
    assert bk.retention(archives, 2, "a4") == ["a1", "a2"]
    assert bk.retention(archives, 10, "a4") == []
    assert bk.retention(archives, 1, "a2") == ["a1", "a3", "a4"]  # never the new one


def test_keep_two_of_three_prunes_the_oldest(src, backups):
    first = create(src, backups, minutes=0, keep=2)
    second = create(src, backups, minutes=1, keep=2)
    assert first["pruned"] == [] and second["pruned"] == []
    third = create(src, backups, minutes=2, keep=2)
    assert third["pruned"] == [first["path"]]
    assert sorted(os.listdir(backups)) == sorted(
        os.path.basename(p) for p in (second["path"], third["path"])
    )


# --- verify -----------------------------------------------------------------------------


@pytest.fixture
def archive(src, backups):
    return create(src, backups)["path"]


def test_verify_ok(archive):
    result = ar.verify(archive, "main")
    assert result["ok"] and result["mismatches"] == []
    assert result["files"] == 5 and result["bytes"] == os.path.getsize(archive)
    assert ar.summary(result["manifest"]) == {
        "format": "clawdeploy-backup/1",
        "instance": "main",
        "created_at": "2026-11-23T17:58:00Z",
        "openclaw_version": "2026.9.6",
        "label": None,
        "entries": 11,
    }


def test_verify_tampered_file(archive):
    def change(items, manifest):
        result = []
        for member, data in items:
            if member.name == "instance/data/openclaw_home/state/openclaw.sqlite":
                data = bytes([data[0] ^ 1]) + data[1:]
            result.append((member, data))
        return result

    rewrite(archive, change)
    result = ar.verify(archive, "main")
    assert not result["ok"]
    assert result["mismatches"] == [
        {"path": "data/openclaw_home/state/openclaw.sqlite", "reason": "sha256 differs"}
    ]
    with pytest.raises(ar.ArchiveMismatch) as caught:
        ar.verified(archive, "main")
    assert str(caught.value) == (
        "Archive %s does not match its manifest (1 problem, first: "
        "data/openclaw_home/state/openclaw.sqlite sha256 differs); refusing to use it. "
        "Take a new backup or use another archive." % archive
    )
    assert caught.value.mismatches == result["mismatches"]


def test_verify_extra_and_missing_members(archive):
    def change(items, manifest):
        kept = [
            (m, d) for m, d in items if m.name != "instance/config/openclaw_sidecar.config.json5"
        ]
        return kept + [(info("instance/config/extra.json5"), b"{}")]

    rewrite(archive, change)
    assert ar.verify(archive, "main")["mismatches"] == [
        {"path": "config/extra.json5", "reason": "not in manifest"},
        {"path": "config/openclaw_sidecar.config.json5", "reason": "missing from archive"},
    ]


def test_verify_type_size_mode_owner_and_target_differences(archive):
    def change(items, manifest):
        result = []
        for member, data in items:
            if member.name == "instance/.env":
                member.mode = 0o644
            elif member.name == "instance/openclaw_sidecar.compose.yml":
                data = data + b"#"
            elif member.name == "instance/data/openclaw_workspace/latest":
                member.linkname = "other.md"
            elif member.name == "instance/config/openclaw_sidecar.config.json5":
                member.uid += 1
            elif member.name == "instance/data/openclaw_workspace/notes.md":
                member, data = info(member.name, tarfile.DIRTYPE), None
            result.append((member, data))
        return result

    rewrite(archive, change)
    reasons = {(m["path"], m["reason"]) for m in ar.verify(archive, "main")["mismatches"]}
    assert reasons == {
        (".env", "mode differs"),
        ("openclaw_sidecar.compose.yml", "size differs"),
        ("data/openclaw_workspace/latest", "symlink target differs"),
        ("config/openclaw_sidecar.config.json5", "owner differs"),
        ("data/openclaw_workspace/notes.md", "type differs (manifest: file, archive: dir)"),
    }


def test_verify_rejects_path_traversal(archive):
    def change(items, manifest):
        for path, entry in (
            ("../evil", dict(type="file", size=4, sha256=hashlib.sha256(b"evil").hexdigest())),
            ("data/out", dict(type="symlink", target="../../etc")),
            ("data/abs", dict(type="symlink", target="/etc/passwd")),
        ):
            manifest["entries"].append(
                dict(entry, path=path, mode="0644", uid=os.getuid(), gid=os.getgid())
            )
        return items + [
            (info("instance/../evil"), b"evil"),
            (info("/etc/evil"), b"evil"),
            (info("instance/data/out", tarfile.SYMTYPE, "../../etc"), None),
            (info("instance/data/abs", tarfile.SYMTYPE, "/etc/passwd"), None),
            (info("instance/data/hard", tarfile.LNKTYPE, "instance/.env"), None),
            (info("instance/data/dev", tarfile.CHRTYPE), None),
        ]

    rewrite(archive, change)
    mismatches = ar.verify(archive, "main")["mismatches"]
    assert {"path": "../evil", "reason": "manifest: path contains '..'"} in mismatches
    assert {"path": "instance/../evil", "reason": "unsafe member name (contains '..')"} in (
        mismatches
    )
    assert {"path": "/etc/evil", "reason": "unsafe member name (absolute path)"} in mismatches
    for name in ("data/out", "data/abs"):
        assert {
            "path": name,
            "reason": "symbolic link pointing outside the instance directory",
        } in mismatches
    assert {"path": "data/hard", "reason": "hard link (not supported)"} in mismatches
    assert {"path": "data/dev", "reason": "unsupported member type (device or FIFO)"} in (
        mismatches
    )


def test_verify_rejects_paths_through_links(archive):
    def change(items, manifest):
        data = b"x"
        manifest["entries"].append(
            dict(
                path="data/openclaw_workspace/latest/x",
                type="file",
                mode="0644",
                uid=os.getuid(),
                gid=os.getgid(),
                user=None,
                group=None,
                size=1,
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
        member = info("instance/data/openclaw_workspace/latest/x")
        member.uname = member.gname = ""
        return items + [(member, data)]

    rewrite(archive, change)
    assert ar.verify(archive, "main")["mismatches"] == [
        {"path": "data/openclaw_workspace/latest/x", "reason": "path goes through a symbolic link"}
    ]


def test_verify_refuses_other_instance_and_non_archives(archive, tmp_path):
    with pytest.raises(ar.BackupError, match="is a backup of instance 'main', not 'alice'"):
        ar.verify(archive, "alice")
    with pytest.raises(ar.BackupError, match="does not exist"):
        ar.verify(str(tmp_path / "missing.tar.gz"), "main")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not gzip")
    with pytest.raises(ar.BackupError, match="cannot be read"):
        ar.verify(str(junk), "main")
    truncated = tmp_path / "truncated.tar.gz"
    with open(archive, "rb") as handle:
        truncated.write_bytes(handle.read()[:-200])
    with pytest.raises(ar.BackupError, match="cannot be read"):
        ar.verify(str(truncated), "main")
    plain = tmp_path / "plain.tar.gz"
    write_members(str(plain), [(info("instance/.env"), b"A=1\n")])
    with pytest.raises(ar.BackupError, match="does not start with manifest.json"):
        ar.verify(str(plain), "main")
    other = tmp_path / "other.tar.gz"
    with gzip.open(str(other), "wb") as handle, tarfile.open(fileobj=handle, mode="w") as tar:
        data = json.dumps({"format": "something/2"}).encode()
        member = info("manifest.json")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    with pytest.raises(ar.BackupError, match="format is 'something/2'"):
        ar.verify(str(other), "main")


# --- applying an archive: compare, extract, stage -----------------------------------


def test_stage_into_missing_dest_reproduces_the_tree(src, archive, tmp_path):
    dest = tmp_path / "restored" / "next"
    result = st.stage(archive, str(tmp_path / "restored"), str(dest), "main")
    assert result["changed"] and result["staged"] == str(dest)
    assert result["restored"] == 11
    assert mode_of(dest) == 0o700
    expected = snapshot(src)
    del expected["staging"], expected[os.path.join("staging", "image.tar")]
    assert snapshot(dest) == expected
    assert mode_of(dest / ".env") == 0o600
    assert mode_of(dest / "data" / "openclaw_home") == 0o700
    assert os.readlink(dest / "data" / "openclaw_workspace" / "latest") == "notes.md"
    sqlite = dest / "data" / "openclaw_home" / "state" / "openclaw.sqlite"
    assert os.stat(sqlite).st_uid == os.getuid()
    assert os.stat(sqlite).st_mtime == int(os.stat(src / sqlite.relative_to(dest)).st_mtime)
    assert st.differences(str(dest), result["manifest"]["entries"]) == []


def test_differences_reports_mode_content_extra_and_missing(src, archive):
    entries = ar.verify(archive, "main")["manifest"]["entries"]
    assert st.differences(str(src), entries) == []
    (src / ".env").chmod(0o644)
    (src / "config" / "openclaw_sidecar.config.json5").write_text("{gateway: {x: 1}}\n")
    (src / "data" / "openclaw_workspace" / "extra").write_text("x")
    (src / "openclaw_sidecar.compose.yml").unlink()
    (src / "staging" / "more").write_text("not compared")
    diffs = {path: (before, after) for path, before, after in st.differences(str(src), entries)}
    assert sorted(diffs) == [
        ".env",
        "config/openclaw_sidecar.config.json5",
        "data/openclaw_workspace/extra",
        "openclaw_sidecar.compose.yml",
    ]
    before, after = diffs[".env"]
    assert before.startswith("file 0644") and after.startswith("file 0600")
    assert "sha256:" in after and TOKEN not in before + after
    assert diffs["data/openclaw_workspace/extra"][1] is None
    assert diffs["openclaw_sidecar.compose.yml"][0] is None


def test_differences_compares_owner_only_as_root(src, archive):
    entries = ar.verify(archive, "main")["manifest"]["entries"]
    moved = [dict(e, uid=e["uid"] + 4242, user=None) for e in entries]
    assert st.differences(str(src), moved, as_root=False) == []
    assert len(st.differences(str(src), moved, as_root=True)) == len(entries)


def test_owner_names_win_over_numbers():
    assert ar.resolve_uid("root", 4242) == 0
    assert ar.resolve_gid("root", 4242) == 0
    assert ar.resolve_uid("no-such-user-clawdeploy", 4242) == 4242
    assert ar.resolve_gid("no-such-group-clawdeploy", 4242) == 4242
    assert ar.resolve_uid(None, 7) == 7


def test_extract_never_writes_through_links(archive, tmp_path):
    manifest = ar.verify(archive, "main")["manifest"]
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (dest / "config").symlink_to(outside)
    with pytest.raises(ar.BackupError, match="already exists|not a directory"):
        st.extract(archive, str(dest), manifest)
    assert os.listdir(outside) == []


def test_stage_failure_says_why_and_removes_the_staging(src, archive, monkeypatch):
    (src / ".env").write_text("current\n")
    staging = src / "staging" / "next"

    def broken(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(st, "extract", broken)
    with pytest.raises(ar.BackupError) as caught:
        st.stage(archive, str(src), str(staging), "main")
    message = str(caught.value)
    assert "No space left on device" in message and str(staging) in message
    assert not staging.exists()
    assert (src / ".env").read_text() == "current\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files to other owners")
def test_stage_owner_by_name_else_by_number(archive, tmp_path):
    import pwd

    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody on this host")
    owners = {
        "instance/.env": (4242, "nobody"),  # the name exists here: its uid wins
        "instance/config": (4243, "no-such-user-clawdeploy"),  # unknown: the number
    }

    def change(items, manifest):
        for entry in manifest["entries"]:
            if "instance/" + entry["path"] in owners:
                entry["uid"], entry["user"] = owners["instance/" + entry["path"]]
        for member, _data in items:
            if member.name in owners:
                member.uid, member.uname = owners[member.name]
        return items

    rewrite(archive, change)
    dest = tmp_path / "dest"
    staged = tmp_path / "staged"
    result = st.stage(archive, str(dest), str(staged), "main")
    assert result["changed"]
    assert os.stat(staged / ".env").st_uid == nobody.pw_uid
    assert os.stat(staged / "config").st_uid == 4243
    assert os.stat(staged / "openclaw_sidecar.compose.yml").st_uid == 0
    for name in os.listdir(staged):  # what the switch does: rename the staged entries live
        os.rename(staged / name, dest / name)
    staged.rmdir()
    assert not st.stage(archive, str(dest), str(staged), "main")["changed"]
    os.chown(dest / ".env", 4242, -1)
    again = st.stage(archive, str(dest), str(staged), "main", check_mode=True)
    assert [d[0] for d in again["differences"]] == [".env"]


# --- stage (the half of a restore done while the gateway serves) -------------------------


def test_stage_extracts_into_staging_and_leaves_dest_alone(src, archive):
    (src / ".env").write_text("OPENCLAW_GATEWAY_TOKEN=new\n")
    live = snapshot(src)
    staging = src / "staging" / "next"
    result = st.stage(archive, str(src), str(staging), "main")
    assert result["changed"] and result["staged"] == str(staging)
    assert result["restored"] == 11
    assert [d[0] for d in result["differences"]] == [".env"]
    assert snapshot(src)[".env"] == live[".env"]  # the live instance is untouched
    assert mode_of(staging) == 0o700
    assert sorted(os.listdir(staging)) == [".env", "config", "data", "openclaw_sidecar.compose.yml"]
    assert "TOKEN=%s" % TOKEN in (staging / ".env").read_text()
    assert mode_of(staging / ".env") == 0o600
    assert st.differences(str(staging), result["manifest"]["entries"]) == []


def test_stage_does_nothing_when_dest_matches(src, archive):
    result = st.stage(archive, str(src), str(src / "staging" / "next"), "main")
    assert not result["changed"] and result["staged"] is None and result["restored"] == 0
    assert not (src / "staging" / "next").exists()


def test_stage_into_a_missing_dest_creates_it(archive, tmp_path):
    dest = tmp_path / "fresh" / "main"
    result = st.stage(archive, str(dest), str(dest / "staging" / "next"), "main")
    assert result["changed"]
    assert mode_of(dest) == 0o750 and mode_of(dest / "staging") == 0o750
    assert (dest / "staging" / "next" / "data" / "openclaw_home" / "state").is_dir()


def test_stage_check_mode_writes_nothing(src, archive):
    (src / ".env").write_text("changed\n")
    before = snapshot(src)
    result = st.stage(archive, str(src), str(src / "staging" / "next"), "main", check_mode=True)
    assert result["changed"] and result["staged"] == str(src / "staging" / "next")
    assert snapshot(src) == before


def test_stage_refuses_a_leftover_staging_directory(src, archive):
    (src / ".env").write_text("changed\n")
    (src / "staging" / "next").mkdir()
    (src / "staging" / "next" / "kept").write_text("from an interrupted run\n")
    with pytest.raises(ar.BackupError, match="already exists"):
        st.stage(archive, str(src), str(src / "staging" / "next"), "main")
    assert (src / "staging" / "next" / "kept").read_text() == "from an interrupted run\n"


def test_stage_refuses_a_tampered_archive_before_writing(src, archive):
    (src / ".env").write_text("changed\n")

    def change(items, manifest):
        return [
            (member, bytes([data[0] ^ 1]) + data[1:] if member.name.endswith("notes.md") else data)
            for member, data in items
        ]

    rewrite(archive, change)
    with pytest.raises(ar.ArchiveMismatch):
        st.stage(archive, str(src), str(src / "staging" / "next"), "main")
    assert not (src / "staging" / "next").exists()

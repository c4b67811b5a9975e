# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)
"""The backup archive of one OpenClaw gateway instance directory: scan, manifest, write, verify.

An instance directory (for example ``/opt/openclaw-assistant/instances/main``) holds
``.env`` (mode 0600, tokens), ``openclaw_sidecar.compose.yml``,
``config/openclaw_sidecar.config.json5`` and ``data/openclaw_home/...`` (SQLite state
owned by the system user ``openclaw-gateway``, directories 0700) and
``data/openclaw_workspace/...``. The caller stops the gateway container first, so the
copy is quiesced; nothing here talks to Docker.

The archive format ``clawdeploy-backup/1`` (a gzip-compressed tar file whose first member
is ``manifest.json``, then one member ``instance/<path>`` per manifest entry) is specified
once, in the DOCUMENTATION of ``plugins/modules/openclaw_backup.py``
(``ansible-doc clawdeploy.openclaw.openclaw_backup``). A manifest entry is a dict::

    {"path": "data/openclaw_home/state/openclaw.sqlite", "type": "file" | "dir" | "symlink",
     "mode": "0600", "uid": 999, "gid": 999, "user": "openclaw-gateway" | None,
     "group": "openclaw-gateway" | None, "size": 123, "sha256": "<hex>",  # files only
     "target": "openclaw_home"}                                            # links only

Taking a backup (names, retention) is ``backup.py``; applying an archive to a directory
(compare, extract, stage) is ``stage.py``. Pure standard library, Python 3.8+, POSIX only.
"""

from __future__ import annotations

import datetime
import grp
import gzip
import hashlib
import json
import os
import posixpath
import pwd
import re
import stat
import tarfile
import zlib
from typing import Any, BinaryIO, Dict, Iterable, List, Optional, Set, Tuple

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import dotenv, fileops, names

FORMAT = "clawdeploy-backup/1"
MANIFEST_NAME = "manifest.json"
PREFIX = "instance"
GZIP_LEVEL = 6
ARCHIVE_MODE = 0o600
CHUNK = 1024 * 1024

TYPES = ("file", "dir", "symlink")

Entry = Dict[str, Any]
Manifest = Dict[str, Any]
Mismatch = Dict[str, str]
Difference = Tuple[str, Optional[str], Optional[str]]


class BackupError(Exception):
    """A failure whose message says what is wrong and what to do about it."""


class ArchiveMismatch(BackupError):
    """The archive does not match its manifest; ``mismatches`` lists the problems."""

    def __init__(self, message: str, mismatches: List[Mismatch]):
        super().__init__(message)
        self.mismatches = mismatches


def validate_instance(instance: str) -> None:
    """Raise BackupError unless ``instance`` follows the instance-name rule (``names.py``)."""
    problem = names.instance_name_problem(instance)
    if problem is not None:
        raise BackupError(problem)


# --- owners ---------------------------------------------------------------------------


def user_name(uid: int) -> Optional[str]:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def group_name(gid: int) -> Optional[str]:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def resolve_uid(user: Optional[str], uid: int) -> int:
    """The uid of ``user`` on this host, or ``uid`` when there is no such user."""
    if user:
        try:
            return pwd.getpwnam(user).pw_uid
        except KeyError:
            pass
    return uid


def resolve_gid(group: Optional[str], gid: int) -> int:
    """The gid of ``group`` on this host, or ``gid`` when there is no such group."""
    if group:
        try:
            return grp.getgrnam(group).gr_gid
        except KeyError:
            pass
    return gid


def is_root() -> bool:
    """True when this process can set any owner (ownership is restored and compared)."""
    return os.geteuid() == 0


# --- relative paths ---------------------------------------------------------------------


def unsafe_reason(relpath: str) -> Optional[str]:
    """Why ``relpath`` cannot name something inside an instance directory, or None.

    Refused: empty names, absolute names, ``..`` components, and names that are not in
    normal form (``a//b``, ``./a``, ``a/``), so one path has exactly one spelling.
    """
    if not isinstance(relpath, str) or relpath in ("", "."):
        return "empty path"
    if relpath.startswith("/"):
        return "absolute path"
    parts = relpath.split("/")
    if ".." in parts:
        return "path contains '..'"
    if "" in parts or "." in parts or "\x00" in relpath:
        return "path is not in normal form"
    return None


def link_escapes(relpath: str, target: str) -> bool:
    """True when a symbolic link at ``relpath`` with ``target`` points outside the tree.

    Judged on the names alone: an absolute target, or one whose ``..`` components climb
    above the instance directory. (Extraction separately refuses to write through links.)
    """
    if not target or target.startswith("/"):
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(relpath), target))
    return resolved == ".." or resolved.startswith("../")


def normalize_exclude(paths: Iterable[str]) -> List[str]:
    """Normalized relative exclude paths; BackupError for absolute paths or ``..``."""
    result = []
    for path in paths or ():
        text = str(path).strip()
        cleaned = posixpath.normpath(text.replace(os.sep, "/")) if text else ""
        if cleaned.startswith("./"):
            cleaned = cleaned[2:]
        reason = unsafe_reason(cleaned)
        if reason is not None:
            raise BackupError(
                "exclude entry %r is not usable (%s): give paths relative to src without "
                "'..', for example staging or data/openclaw_home/cache" % (path, reason)
            )
        result.append(cleaned)
    return sorted(set(result))


def excluded(relpath: str, excludes: Iterable[str]) -> bool:
    return any(relpath == ex or relpath.startswith(ex + "/") for ex in excludes)


# --- reading the instance directory -----------------------------------------------------


def _sha256_fd(fd: int) -> Tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = os.read(fd, CHUNK)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def file_sha256(path: str) -> Tuple[str, int]:
    """(sha256 hex digest, size in bytes) of the regular file ``path``; links not followed.

    Raises OSError when it cannot be opened or is a symbolic link (ELOOP).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        return _sha256_fd(fd)
    finally:
        os.close(fd)


def describe_stat(st: os.stat_result) -> str:
    mode = st.st_mode
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _entry_from_stat(relpath: str, st: os.stat_result, kind: str) -> Entry:
    return {
        "path": relpath,
        "type": kind,
        "mode": "%04o" % stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "user": user_name(st.st_uid),
        "group": group_name(st.st_gid),
    }


def scan(
    src: str, exclude: Iterable[str] = (), checksums: bool = True
) -> Tuple[List[Entry], List[Dict[str, str]]]:
    """Walk the instance directory ``src`` without following symbolic links.

    Returns (entries, skipped): manifest entries sorted by path (files with ``size`` in
    bytes and, when ``checksums``, ``sha256``; links with ``target``), and
    ``{"path", "reason"}`` for what cannot be archived (sockets, FIFOs, devices, links
    pointing outside ``src``). Paths in ``exclude`` (normalized, relative) and everything
    below them are left out silently. Raises BackupError when something cannot be read.
    """
    excludes = list(exclude)
    entries: List[Entry] = []
    skipped: List[Dict[str, str]] = []

    def walk(directory: str, prefix: str) -> None:
        try:
            names = sorted(os.listdir(directory))
        except OSError as exc:
            raise _read_error(directory, exc) from None
        for name in names:
            relpath = name if not prefix else prefix + "/" + name
            if excluded(relpath, excludes):
                continue
            full = os.path.join(directory, name)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue  # vanished; the gateway should be stopped, but a cache may go
            except OSError as exc:
                raise _read_error(full, exc) from None
            if stat.S_ISDIR(st.st_mode):
                entries.append(_entry_from_stat(relpath, st, "dir"))
                walk(full, relpath)
            elif stat.S_ISREG(st.st_mode):
                entry = _entry_from_stat(relpath, st, "file")
                entry["size"] = st.st_size
                if checksums:
                    try:
                        entry["sha256"], entry["size"] = file_sha256(full)
                    except OSError as exc:
                        raise _read_error(full, exc) from None
                entries.append(entry)
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(full)
                if link_escapes(relpath, target):
                    skipped.append(dict(path=relpath, reason="symbolic link pointing outside src"))
                    continue
                entry = _entry_from_stat(relpath, st, "symlink")
                entry["target"] = target
                entries.append(entry)
            else:
                skipped.append(dict(path=relpath, reason=describe_stat(st)))

    walk(src, "")
    entries.sort(key=lambda e: e["path"])
    return entries, skipped


def _read_error(path: str, exc: OSError) -> BackupError:
    hint = ""
    if isinstance(exc, PermissionError):
        hint = "; run the module as root (become: true)"
    return BackupError("cannot read %s: %s%s" % (path, exc.strerror or exc, hint))


def read_openclaw_version(src: str) -> Optional[str]:
    """``OPENCLAW_VERSION`` from ``<src>/.env`` (a regular file, not a link), else None.

    Only that value is returned; nothing else of the file (it holds tokens) leaves here.
    """
    path = os.path.join(src, ".env")
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
        value = dotenv.get(dotenv.parse(text), "OPENCLAW_VERSION")
    except (OSError, ValueError):
        return None
    return value or None


def build_manifest(
    instance: str,
    now: datetime.datetime,
    entries: List[Entry],
    openclaw_version: Optional[str] = None,
    label: Optional[str] = None,
) -> Manifest:
    """The manifest dict (see the module docstring for its shape)."""
    return {
        "format": FORMAT,
        "instance": instance,
        "created_at": names.utc_iso(now),
        "openclaw_version": openclaw_version,
        "label": label,
        "entries": entries,
    }


def summary(manifest: Manifest) -> Dict[str, Any]:
    """The manifest without its entries: format, instance, created_at, openclaw_version,
    label, and ``entries`` (their number)."""
    result = {
        key: manifest.get(key)
        for key in ("format", "instance", "created_at", "openclaw_version", "label")
    }
    result["entries"] = len(manifest.get("entries") or [])
    return result


def _manifest_bytes(manifest: Manifest) -> bytes:
    return (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode("utf-8")


class _HashingReader:
    """File-like wrapper that hashes what tarfile reads from it."""

    def __init__(self, handle: BinaryIO):
        self.handle = handle
        self.digest = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        self.count += len(data)
        return data


def _tarinfo(entry: Entry, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(PREFIX + "/" + entry["path"])
    info.mode = int(entry["mode"], 8)
    info.uid = entry["uid"]
    info.gid = entry["gid"]
    info.uname = entry["user"] or ""
    info.gname = entry["group"] or ""
    info.mtime = int(mtime)
    if entry["type"] == "dir":
        info.type = tarfile.DIRTYPE
    elif entry["type"] == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = entry["target"]
    else:
        info.type = tarfile.REGTYPE
        info.size = entry["size"]
    return info


def _changed_error(path: str) -> BackupError:
    return BackupError(
        "%s changed while it was being archived; stop the gateway container of the "
        "instance before taking a backup, then run the task again" % path
    )


def _add_entry(tar: tarfile.TarFile, src: str, entry: Entry) -> None:
    full = os.path.join(src, *entry["path"].split("/"))
    if entry["type"] != "file":
        try:
            st = os.lstat(full)
        except OSError as exc:
            raise _read_error(full, exc) from None
        tar.addfile(_tarinfo(entry, st.st_mtime))
        return
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise _read_error(full, exc) from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size != entry["size"]:
            raise _changed_error(full)
        reader = _HashingReader(handle)
        try:
            tar.addfile(_tarinfo(entry, st.st_mtime), reader)
        except OSError as exc:  # tarfile: "unexpected end of data" when it shrank
            raise _changed_error(full) from exc
        if reader.digest.hexdigest() != entry["sha256"] or handle.read(1):
            raise _changed_error(full)


def _manifest_tarinfo(manifest: Manifest, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(MANIFEST_NAME)
    info.size = len(_manifest_bytes(manifest))
    info.mode = ARCHIVE_MODE
    info.mtime = int(mtime)
    info.uid = os.geteuid()
    info.gid = os.getegid()
    info.uname = user_name(info.uid) or ""
    info.gname = group_name(info.gid) or ""
    return info


def write_archive(path: str, src: str, manifest: Manifest, mtime: float) -> Tuple[str, int]:
    """Write the archive of ``src`` described by ``manifest`` to ``path``, atomically.

    ``mtime`` (seconds since the epoch) goes into the gzip header and the manifest
    member. Returns (sha256 hex digest of the archive file, its size in bytes). Raises
    BackupError when a file cannot be read or changed since ``manifest`` was made.
    """
    with fileops.atomic_file(path, ARCHIVE_MODE) as raw:
        # Level 6 (gzip's own default): the archive is written while the gateway is
        # stopped, and level 9 costs about twice the time for ~1 % less size.
        gz = gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=int(mtime), compresslevel=GZIP_LEVEL
        )
        with gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_manifest_tarinfo(manifest, mtime), _BytesReader(_manifest_bytes(manifest)))
            for entry in manifest["entries"]:
                _add_entry(tar, src, entry)
    return file_sha256(path)


class _BytesReader:
    def __init__(self, data: bytes):
        self.data = data
        self.offset = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size is None or size < 0 else self.offset + size
        chunk = self.data[self.offset : end]
        self.offset += len(chunk)
        return chunk


# --- verify -----------------------------------------------------------------------------


def _damaged(path: str, exc: BaseException) -> BackupError:
    return BackupError(
        "Archive %s cannot be read (%s: %s); refusing to use it. Take a new backup or use "
        "another archive." % (path, type(exc).__name__, exc)
    )


# What reading a damaged archive raises (stage.py also catches these).
READ_ERRORS = (tarfile.TarError, OSError, EOFError, ValueError, zlib.error)


def open_archive(path: str) -> tarfile.TarFile:
    if not os.path.exists(path):
        raise BackupError("archive %s does not exist" % path)
    if not os.path.isfile(path):
        raise BackupError("archive %s is not a regular file" % path)
    try:
        return tarfile.open(path, "r:gz")
    except READ_ERRORS as exc:
        raise _damaged(path, exc) from None


def _load_manifest(tar: tarfile.TarFile, member: Optional[tarfile.TarInfo], path: str) -> Manifest:
    if member is None or member.name != MANIFEST_NAME or not member.isreg():
        raise BackupError(
            "Archive %s does not start with %s, so it was not made by openclaw_backup (or is "
            "damaged); refusing to use it. Take a new backup or use another archive."
            % (path, MANIFEST_NAME)
        )
    handle = tar.extractfile(member)
    try:
        manifest = json.loads(handle.read().decode("utf-8"))
    except ValueError as exc:
        raise BackupError(
            "the manifest of archive %s is not valid JSON (%s); refusing to use it" % (path, exc)
        ) from None
    problem = _manifest_problem(manifest)
    if problem:
        raise BackupError(
            "the manifest of archive %s is not a %s manifest: %s; refusing to use it. Take a "
            "new backup or use another archive." % (path, FORMAT, problem)
        )
    return manifest


def _manifest_problem(manifest: Any) -> Optional[str]:
    if not isinstance(manifest, dict):
        return "the top level is not a JSON object"
    if manifest.get("format") != FORMAT:
        return "format is %r, expected %r" % (manifest.get("format"), FORMAT)
    if not isinstance(manifest.get("instance"), str):
        return "'instance' is missing or not a string"
    entries = manifest.get("entries")
    if not isinstance(entries, list):
        return "'entries' is missing or not a list"
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            return "entries[%d] is not an object with a path" % index
        if entry.get("type") not in TYPES:
            return "entries[%d].type is %r" % (index, entry.get("type"))
        if not isinstance(entry.get("mode"), str) or not re.match(r"[0-7]{3,4}\Z", entry["mode"]):
            return "entries[%d].mode is %r" % (index, entry.get("mode"))
        for key in ("uid", "gid"):
            if not isinstance(entry.get(key), int):
                return "entries[%d].%s is not a number" % (index, key)
        if entry["type"] == "file" and (
            not isinstance(entry.get("size"), int) or not isinstance(entry.get("sha256"), str)
        ):
            return "entries[%d] is a file without size and sha256" % index
        if entry["type"] == "symlink" and not isinstance(entry.get("target"), str):
            return "entries[%d] is a symlink without target" % index
    return None


def member_type(member: tarfile.TarInfo) -> Optional[str]:
    if member.isreg():
        return "file"
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    return None


def _member_problems(member: tarfile.TarInfo, entry: Entry) -> List[str]:
    """What differs between ``member`` and its manifest ``entry``, except the checksum."""
    kind = member_type(member)
    if kind != entry["type"]:
        return ["type differs (manifest: %s, archive: %s)" % (entry["type"], kind)]
    problems = []
    if kind == "file" and member.size != entry["size"]:
        problems.append("size differs")
    if kind == "symlink" and member.linkname != entry["target"]:
        problems.append("symlink target differs")
    if "%04o" % (member.mode & 0o7777) != entry["mode"].zfill(4):
        problems.append("mode differs")
    if (
        member.uid != entry["uid"]
        or member.gid != entry["gid"]
        or (member.uname or None) != (entry.get("user") or None)
        or (member.gname or None) != (entry.get("group") or None)
    ):
        problems.append("owner differs")
    return problems


def _hash_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    handle = tar.extractfile(member)
    digest = hashlib.sha256()
    while True:
        chunk = handle.read(CHUNK)
        if not chunk:
            break
        digest.update(chunk)
    return digest.hexdigest()


def check_instance(manifest: Manifest, instance: str, path: str) -> None:
    """Raise BackupError when the archive at ``path`` belongs to another instance."""
    if manifest["instance"] != instance:
        raise BackupError(
            "Archive %s is a backup of instance %r, not %r; refusing to use it. Check the "
            "path and instance parameters." % (path, manifest["instance"], instance)
        )


def verify(path: str, instance: str) -> Dict[str, Any]:
    """Check the archive at ``path`` against its manifest.

    Returns ``{"ok", "mismatches", "manifest", "files", "bytes"}``: ``mismatches`` is a
    list of ``{"path", "reason"}`` (member names outside ``instance/``, absolute or with
    ``..``, hard links, devices, links pointing outside or paths through links, members
    not in the manifest, entries missing from the archive, and type, size, sha256, link
    target, mode or owner differences); ``manifest`` is the full manifest; ``files`` the
    number of regular-file entries; ``bytes`` the archive's size.

    Raises BackupError when the archive cannot be read, has no valid manifest, or belongs
    to another instance.
    """
    tar = open_archive(path)
    mismatches: List[Mismatch] = []
    try:
        with tar:
            members = iter(tar)
            manifest = _load_manifest(tar, next(members, None), path)
            check_instance(manifest, instance, path)
            entries: Dict[str, Entry] = {}
            for entry in manifest["entries"]:
                reason = unsafe_reason(entry["path"])
                if reason is None and entry["path"] in entries:
                    reason = "listed more than once in the manifest"
                if reason is not None:
                    mismatches.append(dict(path=entry["path"], reason="manifest: " + reason))
                entries.setdefault(entry["path"], entry)
            seen: Set[str] = set()
            links: Set[str] = set()
            for member in members:
                _check_member(tar, member, entries, seen, links, mismatches)
    except BackupError:
        raise
    except READ_ERRORS as exc:
        raise _damaged(path, exc) from None

    for relpath in sorted(seen):
        parts = relpath.split("/")
        for depth in range(1, len(parts)):
            ancestor = "/".join(parts[:depth])
            if ancestor in links:
                mismatches.append(dict(path=relpath, reason="path goes through a symbolic link"))
                break
    for relpath in sorted(set(entries) - seen):
        mismatches.append(dict(path=relpath, reason="missing from archive"))
    return dict(
        ok=not mismatches,
        mismatches=mismatches,
        manifest=manifest,
        files=sum(1 for entry in manifest["entries"] if entry["type"] == "file"),
        bytes=os.path.getsize(path),
    )


def _check_member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    entries: Dict[str, Entry],
    seen: Set[str],
    links: Set[str],
    mismatches: List[Mismatch],
) -> None:
    name = member.name

    def bad(path: str, reason: str) -> None:
        mismatches.append(dict(path=path, reason=reason))

    if name == MANIFEST_NAME:
        return bad(name, "manifest.json appears more than once")
    if name.startswith("/"):
        return bad(name, "unsafe member name (absolute path)")
    if ".." in name.split("/"):
        return bad(name, "unsafe member name (contains '..')")
    if not name.startswith(PREFIX + "/"):
        return bad(name, "member outside %s/" % PREFIX)
    relpath = name[len(PREFIX) + 1 :]
    reason = unsafe_reason(relpath)
    if reason is not None:
        return bad(name, "unsafe member name (%s)" % reason)
    if relpath in seen:
        return bad(relpath, "appears more than once in the archive")
    seen.add(relpath)
    if member.islnk():
        return bad(relpath, "hard link (not supported)")
    kind = member_type(member)
    if kind is None:
        return bad(relpath, "unsupported member type (device or FIFO)")
    if kind == "symlink":
        links.add(relpath)
        if link_escapes(relpath, member.linkname):
            return bad(relpath, "symbolic link pointing outside the instance directory")
    entry = entries.get(relpath)
    if entry is None:
        return bad(relpath, "not in manifest")
    problems = _member_problems(member, entry)
    if kind == "file" and not problems and _hash_member(tar, member) != entry["sha256"]:
        problems.append("sha256 differs")
    for problem in problems:
        bad(relpath, problem)
    return None


def mismatch_message(path: str, mismatches: List[Mismatch]) -> str:
    """The failure message for an archive that does not match its manifest."""
    first = mismatches[0]
    return (
        "Archive %s does not match its manifest (%d problem%s, first: %s %s); refusing to "
        "use it. Take a new backup or use another archive."
        % (
            path,
            len(mismatches),
            "" if len(mismatches) == 1 else "s",
            first["path"],
            first["reason"],
        )
    )


def verified(path: str, instance: str) -> Dict[str, Any]:
    """:func:`verify`, raising ArchiveMismatch (with the mismatches) unless it is ok."""
    result = verify(path, instance)
    if not result["ok"]:
        raise ArchiveMismatch(mismatch_message(path, result["mismatches"]), result["mismatches"])
    return result

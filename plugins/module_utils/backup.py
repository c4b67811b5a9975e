# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)
"""Backups of one OpenClaw gateway instance directory: archive format, create, verify, restore.

An instance directory (for example ``/opt/openclaw-assistant/instances/main``) holds
``.env`` (mode 0600, tokens), ``openclaw_sidecar.compose.yml``,
``config/openclaw_sidecar.config.json5`` and ``data/openclaw_home/...`` (SQLite state
owned by the system user ``openclaw-gateway``, directories 0700) and
``data/openclaw_workspace/...``. The caller stops the gateway container first, so the
copy is quiesced; nothing here talks to Docker.

Archive format ``clawdeploy-backup/1``
--------------------------------------

A gzip-compressed tar file ``<dest_dir>/<instance>-<UTC YYYYmmddTHHMMSSZ>.tar.gz`` (when
that name exists, ``-2``, ``-3``... is added before ``.tar.gz``), mode 0600. It is
written to a temporary file in ``dest_dir`` (mode 0600 before any data is written) and
renamed into place, so an archive under its final name is always complete.

The first member is ``manifest.json``::

    {"format": "clawdeploy-backup/1", "instance": "main",
     "created_at": "2026-11-23T17:58:00Z",
     "openclaw_version": "2026.9.6" | null,   # OPENCLAW_VERSION= of <src>/.env
     "label": "pre-upgrade to 2026.9.6" | null,
     "entries": [{"path": "data/openclaw_home/state/openclaw.sqlite", "type": "file",
                  "mode": "0600", "uid": 999, "gid": 999, "user": "openclaw-gateway",
                  "group": "openclaw-gateway", "size": 123, "sha256": "<hex>"},
                 {"path": "data/link", "type": "symlink", "mode": "0777", ...,
                  "target": "openclaw_home"},
                 {"path": "data", "type": "dir", "mode": "0700", ...}, ...]}

``entries`` is sorted by ``path`` (relative to the instance directory, ``/``-separated);
``type`` is ``file``, ``dir`` or ``symlink``; ``size`` (bytes) and ``sha256`` are only
present for files, ``target`` only for symbolic links; ``user``/``group`` are ``null``
when the id had no name on the host that made the archive.

Then one member per entry, in the same order, named ``instance/<path>``, with the mode,
uid/gid, user/group names and modification time of the original. The instance
directory itself is not a member. Symbolic links are stored as links and never followed;
links that point outside the instance directory, sockets, FIFOs and devices are left out
(and reported as skipped).

Pure standard library, Python 3.8+, POSIX only.
"""

from __future__ import annotations

import datetime
import errno
import grp
import gzip
import hashlib
import json
import os
import posixpath
import pwd
import re
import shutil
import stat
import tarfile
import tempfile
import zlib
from typing import Any, BinaryIO, Dict, Iterable, List, Optional, Set, Tuple

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import dotenv, fileops

FORMAT = "clawdeploy-backup/1"
MANIFEST_NAME = "manifest.json"
PREFIX = "instance"
GZIP_LEVEL = 6
ARCHIVE_MODE = 0o600
DEST_DIR_MODE = 0o700
SET_ASIDE_MODE = 0o700
RESTORE_DIR_MODE = 0o750
CHUNK = 1024 * 1024
INSTANCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
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


# --- names, times, owners ---------------------------------------------------------------


def validate_instance(instance: str) -> None:
    """Raise BackupError unless ``instance`` is a usable instance name (also a file name)."""
    if not isinstance(instance, str) or not INSTANCE_RE.match(instance):
        raise BackupError(
            "instance %r is not a valid instance name: use letters, digits, '_', '.' and "
            "'-', starting with a letter or digit" % (instance,)
        )


def utcnow() -> datetime.datetime:
    """Current UTC time without microseconds (patched by tests)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _utc(now: datetime.datetime) -> datetime.datetime:
    return now.astimezone(datetime.timezone.utc)


def stamp(now: datetime.datetime) -> str:
    """``now`` as ``YYYYmmddTHHMMSSZ`` (UTC), the time part of archive and set-aside names."""
    return _utc(now).strftime(STAMP_FORMAT)


def iso(now: datetime.datetime) -> str:
    """``now`` as ``YYYY-mm-ddTHH:MM:SSZ`` (UTC), the manifest's ``created_at``."""
    return _utc(now).strftime(ISO_FORMAT)


def _user_name(uid: int) -> Optional[str]:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _group_name(gid: int) -> Optional[str]:
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


def _excluded(relpath: str, excludes: Iterable[str]) -> bool:
    return any(relpath == ex or relpath.startswith(ex + "/") for ex in excludes)


def _inside(path: str, directory: str) -> Optional[str]:
    """``path`` relative to ``directory`` (both resolved) when it is inside it, else None."""
    real_path = os.path.realpath(path)
    real_dir = os.path.realpath(directory)
    if real_path == real_dir:
        return "."
    if real_path.startswith(real_dir.rstrip("/") + "/"):
        return os.path.relpath(real_path, real_dir).replace(os.sep, "/")
    return None


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


def _describe_stat(st: os.stat_result) -> str:
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
        "user": _user_name(st.st_uid),
        "group": _group_name(st.st_gid),
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
            if _excluded(relpath, excludes):
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
                skipped.append(dict(path=relpath, reason=_describe_stat(st)))

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


# --- the archive ------------------------------------------------------------------------


ARCHIVE_RE_TEMPLATE = r"%s-(?P<stamp>[0-9]{8}T[0-9]{6}Z)(?:-(?P<n>[0-9]+))?\.tar\.gz\Z"


def archive_basename(instance: str, now: datetime.datetime, counter: int = 1) -> str:
    """``<instance>-<YYYYmmddTHHMMSSZ>[-<counter>].tar.gz`` (no suffix for counter 1)."""
    suffix = "" if counter <= 1 else "-%d" % counter
    return "%s-%s%s.tar.gz" % (instance, stamp(now), suffix)


def archive_path(dest_dir: str, instance: str, now: datetime.datetime) -> str:
    """The first unused archive name in ``dest_dir`` for ``instance`` at ``now``."""
    counter = 1
    while True:
        path = os.path.join(dest_dir, archive_basename(instance, now, counter))
        if not os.path.lexists(path):
            return path
        counter += 1


def list_archives(dest_dir: str, instance: str) -> List[str]:
    """Archives of ``instance`` in ``dest_dir`` (regular files named as this module names
    them), oldest first by the time in their name. A missing directory has none."""
    pattern = re.compile(ARCHIVE_RE_TEMPLATE % re.escape(instance))
    found = []
    try:
        names = os.listdir(dest_dir)
    except FileNotFoundError:
        return []
    for name in names:
        match = pattern.match(name)
        if not match:
            continue
        path = os.path.join(dest_dir, name)
        if not stat.S_ISREG(os.lstat(path).st_mode):
            continue
        found.append(((match.group("stamp"), int(match.group("n") or 1)), path))
    return [path for _key, path in sorted(found)]


def retention(archives: List[str], keep: int, newest: str) -> List[str]:
    """Which of ``archives`` (oldest first) to remove to keep the newest ``keep``.

    ``keep`` 0 keeps all. ``newest`` (the archive just written) is never returned.
    """
    if keep <= 0:
        return []
    others = [path for path in archives if path != newest]
    # the new archive counts as one of the kept ones
    excess = len(others) + 1 - keep
    return others[:excess] if excess > 0 else []


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
        "created_at": iso(now),
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


def write_archive(path: str, src: str, manifest: Manifest, mtime: float) -> Tuple[str, int]:
    """Write the archive of ``src`` described by ``manifest`` to ``path``, atomically.

    ``mtime`` (seconds since the epoch) goes into the gzip header and the manifest
    member. Returns (sha256 hex digest of the archive file, its size in bytes). Raises
    BackupError when a file cannot be read or changed since ``manifest`` was made.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(
        prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(fd, "wb") as raw:
            os.fchmod(raw.fileno(), ARCHIVE_MODE)
            # Level 6 (gzip's own default): the archive is written while the gateway is
            # stopped, and level 9 costs about twice the time for ~1 % less size.
            gz = gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, mtime=int(mtime), compresslevel=GZIP_LEVEL
            )
            with gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                data = _manifest_bytes(manifest)
                info = tarfile.TarInfo(MANIFEST_NAME)
                info.size = len(data)
                info.mode = ARCHIVE_MODE
                info.mtime = int(mtime)
                info.uid = os.geteuid()
                info.gid = os.getegid()
                info.uname = _user_name(info.uid) or ""
                info.gname = _group_name(info.gid) or ""
                tar.addfile(info, _BytesReader(data))
                for entry in manifest["entries"]:
                    _add_entry(tar, src, entry)
            raw.flush()
            os.fsync(raw.fileno())
        os.rename(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
    fileops.fsync_dir(directory)
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


def ensure_dir(path: str, mode: int, what: str) -> bool:
    """Create directory ``path`` with ``mode`` when missing; its parent must exist.

    Returns True when it was created. Raises BackupError naming ``what`` otherwise.
    """
    if os.path.isdir(path):
        return False
    if os.path.lexists(path):
        raise BackupError("%s %s exists but is not a directory" % (what, path))
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise BackupError(
            "the parent directory %s of %s %s does not exist; create it first"
            % (parent, what, path)
        )
    os.mkdir(path, mode)
    os.chmod(path, mode)  # mkdir's mode is filtered by the umask
    return True


def create(
    src: str,
    dest_dir: str,
    instance: str,
    exclude: Iterable[str] = (),
    label: Optional[str] = None,
    keep: int = 0,
    check_mode: bool = False,
    now: Optional[datetime.datetime] = None,
) -> Dict[str, Any]:
    """Archive the instance directory ``src`` into ``dest_dir``; prune old archives.

    Returns ``{"path", "sha256", "files", "bytes", "manifest", "pruned", "skipped",
    "archives_before", "archives_after"}``: the archive's path, its sha256 and size in
    bytes (both None in check mode), the number of regular files in it, the full
    manifest, removed archive paths, what could not be archived, and this instance's
    archives in ``dest_dir`` before and after (oldest first). In check mode nothing is
    written and no checksum is computed; ``path`` is the name that would be used.

    ``dest_dir`` is created (mode 0700) when missing; its parent must exist. When it
    lies inside ``src`` it is left out of the archive. Raises BackupError.
    """
    validate_instance(instance)
    if keep < 0:
        raise BackupError("keep must be 0 (keep all archives) or more, got %d" % keep)
    if not os.path.isdir(src):
        raise BackupError("src %s is not a directory (the instance directory to archive)" % src)
    excludes = normalize_exclude(exclude)
    inside = _inside(dest_dir, src)
    if inside == ".":
        raise BackupError("dest_dir %s is src itself; write archives elsewhere" % dest_dir)
    if inside is not None and not _excluded(inside, excludes):
        excludes.append(inside)
    if os.path.lexists(dest_dir) and not os.path.isdir(dest_dir):
        raise BackupError("dest_dir %s exists but is not a directory" % dest_dir)

    now = now or utcnow()
    entries, skipped = scan(src, excludes, checksums=not check_mode)
    manifest = build_manifest(instance, now, entries, read_openclaw_version(src), label)
    files = sum(1 for entry in entries if entry["type"] == "file")
    before = list_archives(dest_dir, instance)
    path = archive_path(dest_dir, instance, now)
    pruned = retention(sorted(before + [path], key=_archive_key), keep, path)
    result: Dict[str, Any] = dict(
        path=path,
        sha256=None,
        files=files,
        bytes=None,
        manifest=manifest,
        pruned=pruned,
        skipped=skipped,
        archives_before=before,
        archives_after=[p for p in sorted(before + [path], key=_archive_key) if p not in pruned],
    )
    if check_mode:
        return result

    try:
        ensure_dir(dest_dir, DEST_DIR_MODE, "dest_dir")
    except OSError as exc:
        raise BackupError(
            "cannot create dest_dir %s: %s" % (dest_dir, exc.strerror or exc)
        ) from exc
    timestamp = (now - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds()
    try:
        result["sha256"], result["bytes"] = write_archive(path, src, manifest, timestamp)
    except OSError as exc:
        raise BackupError("cannot write archive %s: %s" % (path, exc.strerror or exc)) from exc
    for old in pruned:
        try:
            os.unlink(old)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise BackupError(
                "archive %s was written, but removing the old archive %s failed: %s"
                % (path, old, exc.strerror or exc)
            ) from exc
    return result


def _archive_key(path: str) -> Tuple[str, int]:
    match = re.search(r"-([0-9]{8}T[0-9]{6}Z)(?:-([0-9]+))?\.tar\.gz\Z", path)
    if not match:
        return ("", 0)
    return (match.group(1), int(match.group(2) or 1))


# --- verify -----------------------------------------------------------------------------


def _damaged(path: str, exc: BaseException) -> BackupError:
    return BackupError(
        "Archive %s cannot be read (%s: %s); refusing to use it. Take a new backup or use "
        "another archive." % (path, type(exc).__name__, exc)
    )


_READ_ERRORS = (tarfile.TarError, OSError, EOFError, ValueError, zlib.error)
_RESTORE_ERRORS = (BackupError,) + _READ_ERRORS


def _open(path: str) -> tarfile.TarFile:
    if not os.path.exists(path):
        raise BackupError("archive %s does not exist" % path)
    if not os.path.isfile(path):
        raise BackupError("archive %s is not a regular file" % path)
    try:
        return tarfile.open(path, "r:gz")
    except _READ_ERRORS as exc:
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


def _member_type(member: tarfile.TarInfo) -> Optional[str]:
    if member.isreg():
        return "file"
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    return None


def _member_problems(member: tarfile.TarInfo, entry: Entry) -> List[str]:
    """What differs between ``member`` and its manifest ``entry``, except the checksum."""
    kind = _member_type(member)
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
    tar = _open(path)
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
    except _READ_ERRORS as exc:
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
    kind = _member_type(member)
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


# --- restore ----------------------------------------------------------------------------


def top_level(entries: Iterable[Entry]) -> List[str]:
    """The first path components of ``entries`` (what a restore replaces), sorted."""
    return sorted({entry["path"].split("/", 1)[0] for entry in entries})


def _kind(st: os.stat_result) -> str:
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    return _describe_stat(st)


def _snapshot(dest: str, names: Iterable[str]) -> Dict[str, os.stat_result]:
    """``lstat`` of ``dest/<name>`` and everything below it, by relative path; links
    are not followed, missing names are left out."""
    found: Dict[str, os.stat_result] = {}

    def walk(full: str, relpath: str) -> None:
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return
        found[relpath] = st
        if stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(full)):
                walk(os.path.join(full, name), relpath + "/" + name)

    for name in names:
        walk(os.path.join(dest, name), name)
    return found


def _owner_text(uid: int, gid: int) -> str:
    return "%s:%s" % (_user_name(uid) or uid, _group_name(gid) or gid)


# (type, mode, owner, size, sha256, link target); None where it does not apply
State = Tuple[str, Optional[str], Optional[str], Optional[int], Optional[str], Optional[str]]


def _expected_state(entry: Entry, as_root: bool) -> State:
    kind = entry["type"]
    owner = None
    if as_root:
        owner = _owner_text(
            resolve_uid(entry.get("user"), entry["uid"]),
            resolve_gid(entry.get("group"), entry["gid"]),
        )
    return (
        kind,
        None if kind == "symlink" else entry["mode"].zfill(4),
        owner,
        entry.get("size") if kind == "file" else None,
        entry.get("sha256") if kind == "file" else None,
        entry.get("target") if kind == "symlink" else None,
    )


def _actual_state(full: str, st: os.stat_result, as_root: bool, want: Optional[State]) -> State:
    kind = _kind(st)
    size = st.st_size if kind == "file" else None
    sha = None
    if kind == "file" and want is not None and want[0] == "file" and want[3] == size:
        sha = file_sha256(full)[0]  # only worth reading when the size matches
    return (
        kind,
        None if kind == "symlink" else "%04o" % stat.S_IMODE(st.st_mode),
        _owner_text(st.st_uid, st.st_gid) if as_root else None,
        size,
        sha,
        os.readlink(full) if kind == "symlink" else None,
    )


def describe_state(state: State) -> str:
    """One line for diff output: type, mode, owner, size, a sha256 prefix, link target."""
    kind, mode, owner, size, sha, target = state
    parts = [kind]
    if mode is not None:
        parts.append(mode)
    if owner is not None:
        parts.append(owner)
    if size is not None:
        parts.append("%d bytes" % size)
    if sha is not None:
        parts.append("sha256:%s" % sha[:12])
    if target is not None:
        parts.append("-> %s" % target)
    return " ".join(parts)


def differences(
    dest: str, entries: List[Entry], as_root: Optional[bool] = None
) -> List[Difference]:
    """How the instance directory ``dest`` differs from the manifest ``entries``.

    Compares type, sha256 and size (files), link target (symbolic links), mode (not for
    links) and, when ``as_root`` (default: running as root), the owner with user and
    group names resolved on this host (numeric ids when a name does not exist here).
    Only the top-level names the archive holds are looked at; anything below them that
    is not in ``entries`` is a difference too. Returns ``(path, before, after)`` tuples
    sorted by path, ``before``/``after`` being :func:`describe_state` lines or None for
    absent; an empty list means a restore would change nothing.
    """
    if as_root is None:
        as_root = is_root()
    wanted = {entry["path"]: _expected_state(entry, as_root) for entry in entries}
    present = _snapshot(dest, top_level(entries)) if os.path.isdir(dest) else {}
    result: List[Difference] = []
    for relpath in sorted(set(wanted) | set(present)):
        want = wanted.get(relpath)
        st = present.get(relpath)
        full = os.path.join(dest, *relpath.split("/"))
        have = _actual_state(full, st, as_root, want) if st is not None else None
        if have != want:
            result.append(
                (
                    relpath,
                    describe_state(have) if have is not None else None,
                    describe_state(want) if want is not None else None,
                )
            )
    return result


def _changed_since_verify(path: str, relpath: str) -> BackupError:
    return BackupError(
        "archive %s changed since it was verified (member %s); refusing to continue"
        % (path, relpath)
    )


def _prepare_parent(dest: str, relpath: str, checked: Set[str]) -> str:
    """Full path for ``relpath`` under ``dest`` after making sure each parent below
    ``dest`` is a real directory (created 0700 when missing), never a symbolic link."""
    parts = relpath.split("/")
    current = dest
    for depth, part in enumerate(parts[:-1]):
        current = os.path.join(current, part)
        key = "/".join(parts[: depth + 1])
        if key in checked:
            continue
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o700)
        else:
            if not stat.S_ISDIR(st.st_mode):
                raise BackupError(
                    "refusing to restore %s: %s is not a directory (a symbolic link?)"
                    % (relpath, current)
                )
        checked.add(key)
    return os.path.join(current, parts[-1])


def _set_times(full: str, mtime: float, follow: bool = True) -> None:
    if not follow and os.utime not in os.supports_follow_symlinks:
        return
    os.utime(full, (mtime, mtime), follow_symlinks=follow)


def extract(path: str, dest: str, manifest: Manifest, as_root: Optional[bool] = None) -> int:
    """Write the members of the (verified) archive ``path`` into the directory ``dest``.

    Modes are restored exactly; owners (when ``as_root``, default: running as root) by
    user/group name when the name exists on this host, else by number; modification
    times too. Nothing is written through a symbolic link; directories get their mode
    after their content. Files are checked against ``manifest`` while they are written.
    Returns the number of entries written. Raises BackupError (or OSError).
    """
    if as_root is None:
        as_root = is_root()
    entries = {entry["path"]: entry for entry in manifest["entries"]}
    dirs: List[Tuple[str, Entry, float]] = []
    checked: Set[str] = set()
    count = 0
    tar = _open(path)
    with tar:
        members = iter(tar)
        next(members, None)  # manifest.json
        for member in members:
            relpath = member.name[len(PREFIX) + 1 :]
            entry = entries.get(relpath) if member.name.startswith(PREFIX + "/") else None
            if entry is None or unsafe_reason(relpath) or _member_type(member) != entry["type"]:
                raise _changed_since_verify(path, member.name)
            full = _prepare_parent(dest, relpath, checked)
            uid = resolve_uid(entry.get("user"), entry["uid"])
            gid = resolve_gid(entry.get("group"), entry["gid"])
            mode = int(entry["mode"], 8)
            if entry["type"] == "dir":
                try:
                    st = os.lstat(full)
                except FileNotFoundError:
                    os.mkdir(full, 0o700)
                else:
                    if not stat.S_ISDIR(st.st_mode):
                        raise BackupError("refusing to restore %s: it already exists" % relpath)
                checked.add(relpath)
                dirs.append((full, entry, member.mtime))
            elif entry["type"] == "symlink":
                os.symlink(member.linkname, full)
                if as_root:
                    os.lchown(full, uid, gid)
                _set_times(full, member.mtime, follow=False)
            else:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                with os.fdopen(os.open(full, flags, 0o600), "wb") as out:
                    digest = hashlib.sha256()
                    handle = tar.extractfile(member)
                    while True:
                        chunk = handle.read(CHUNK)
                        if not chunk:
                            break
                        digest.update(chunk)
                        out.write(chunk)
                    if digest.hexdigest() != entry["sha256"]:
                        raise _changed_since_verify(path, member.name)
                    out.flush()
                    if as_root:
                        os.fchown(out.fileno(), uid, gid)
                    os.fchmod(out.fileno(), mode)  # after chown, which clears set-id bits
                _set_times(full, member.mtime)
            count += 1
    for full, entry, mtime in reversed(dirs):
        if as_root:
            os.lchown(
                full,
                resolve_uid(entry.get("user"), entry["uid"]),
                resolve_gid(entry.get("group"), entry["gid"]),
            )
        os.chmod(full, int(entry["mode"], 8))
        _set_times(full, mtime)
    return count


def _copy_owner_and_mode(source: str, target: str, as_root: bool) -> None:
    st = os.lstat(source)
    if as_root:
        os.lchown(target, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(target, stat.S_IMODE(st.st_mode))


def move(source: str, target: str, as_root: Optional[bool] = None) -> None:
    """Move ``source`` to ``target`` (which must not exist), links not followed.

    ``os.rename`` on the same file system; otherwise a copy that keeps modes, times and
    (when ``as_root``) owners, then the source is removed.
    """
    try:
        os.rename(source, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    if as_root is None:
        as_root = is_root()
    if stat.S_ISDIR(os.lstat(source).st_mode):
        shutil.copytree(source, target, symlinks=True)
        for root, dirs, files in os.walk(source):
            relroot = os.path.relpath(root, source)
            for name in dirs + files:
                _copy_owner_and_mode(
                    os.path.join(root, name), os.path.join(target, relroot, name), as_root
                )
        _copy_owner_and_mode(source, target, as_root)
        shutil.rmtree(source)
    else:
        shutil.copy2(source, target, follow_symlinks=False)
        _copy_owner_and_mode(source, target, as_root)
        os.unlink(source)


def set_aside_path(set_aside_dir: str, now: datetime.datetime) -> str:
    """The first unused ``<set_aside_dir>/<YYYYmmddTHHMMSSZ>[-N]`` for ``now``."""
    base = os.path.join(set_aside_dir, stamp(now))
    candidate = base
    counter = 1
    while os.path.lexists(candidate):
        counter += 1
        candidate = "%s-%d" % (base, counter)
    return candidate


def stage(
    path: str,
    dest: str,
    staging: str,
    instance: str,
    check_mode: bool = False,
) -> Dict[str, Any]:
    """Verify the archive ``path`` and extract it into ``staging``, unless ``dest`` matches it.

    The fast half of a restore, done while the gateway still runs: the switch
    (``module_utils/switch.py``) later renames the staged top-level entries into the
    instance directory ``dest``. ``staging`` must be absent (a leftover one is an error:
    it may hold what an interrupted run staged); it is created with mode 0700, its parent
    (created 0750 when missing, like ``dest``) must be on the file system of ``dest``.
    When ``dest`` already holds exactly the archived entries (:func:`differences` is
    empty) nothing is extracted.

    Returns the :func:`verify` result plus ``changed``, ``staged`` (``staging``, or None
    when nothing was staged), ``restored`` (entries written, or that would be in check
    mode) and ``differences``. Raises BackupError (ArchiveMismatch before anything is
    written).
    """
    validate_instance(instance)
    result = verified(path, instance)
    manifest = result["manifest"]
    as_root = is_root()
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise BackupError("dest %s exists but is not a directory" % dest)
    diffs = differences(dest, manifest["entries"], as_root)
    result.update(changed=bool(diffs), staged=None, restored=0, differences=diffs)
    if not diffs:
        return result
    if os.path.lexists(staging):
        raise BackupError(
            "the staging directory %s already exists (left by an interrupted run?); look at "
            "it, move it away, then run again" % staging
        )
    result.update(staged=staging, restored=len(manifest["entries"]))
    if check_mode:
        return result
    try:
        parent = os.path.dirname(os.path.abspath(staging))
        for directory in (dest, parent):
            if not os.path.isdir(directory):
                os.makedirs(directory, RESTORE_DIR_MODE)
                os.chmod(directory, RESTORE_DIR_MODE)
        os.mkdir(staging, SET_ASIDE_MODE)
        os.chmod(staging, SET_ASIDE_MODE)
    except OSError as exc:
        raise BackupError("cannot create the staging directory %s: %s" % (staging, exc)) from exc
    try:
        result["restored"] = extract(path, staging, manifest, as_root)
    except _RESTORE_ERRORS as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupError("staging %s into %s failed: %s" % (path, staging, exc)) from exc
    return result


def restore(
    path: str,
    dest: str,
    set_aside_dir: str,
    instance: str,
    check_mode: bool = False,
    now: Optional[datetime.datetime] = None,
) -> Dict[str, Any]:
    """Restore the archive ``path`` of ``instance`` into the instance directory ``dest``.

    The archive is verified first (ArchiveMismatch before anything is touched). When
    ``dest`` already matches the manifest (:func:`differences` is empty) nothing
    happens. Otherwise ``dest`` is created (0750) when missing, each of its top-level
    names that the archive holds is moved to ``<set_aside_dir>/<UTC timestamp>/`` (made
    0700; never deleted), and the archive is extracted (:func:`extract`).

    Returns the :func:`verify` result plus ``changed``, ``set_aside`` (the directory the
    old content went to, or None), ``restored`` (entries written, or that would be in
    check mode) and ``differences``. Raises BackupError.
    """
    validate_instance(instance)
    result = verified(path, instance)
    manifest = result["manifest"]
    entries = manifest["entries"]
    as_root = is_root()
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise BackupError("dest %s exists but is not a directory" % dest)
    diffs = differences(dest, entries, as_root)
    result.update(changed=bool(diffs), set_aside=None, restored=0, differences=diffs)
    if not diffs:
        return result

    to_move = [name for name in top_level(entries) if os.path.lexists(os.path.join(dest, name))]
    for name in to_move:
        if _inside(set_aside_dir, os.path.join(dest, name)) is not None:
            raise BackupError(
                "set_aside_dir %s is inside %s, which the restore moves aside; use a "
                "directory outside the archived content" % (set_aside_dir, os.path.join(dest, name))
            )
    now = now or utcnow()
    result["restored"] = len(entries)
    if check_mode:
        result["set_aside"] = set_aside_path(set_aside_dir, now) if to_move else None
        return result

    aside = None
    try:
        if not os.path.isdir(dest):
            os.makedirs(dest, RESTORE_DIR_MODE)
            os.chmod(dest, RESTORE_DIR_MODE)
        if to_move:
            if not os.path.isdir(set_aside_dir):
                os.makedirs(set_aside_dir, SET_ASIDE_MODE)
                os.chmod(set_aside_dir, SET_ASIDE_MODE)
            while aside is None:
                candidate = set_aside_path(set_aside_dir, now)
                try:
                    os.mkdir(candidate, SET_ASIDE_MODE)
                except FileExistsError:
                    continue
                aside = candidate
            os.chmod(aside, SET_ASIDE_MODE)
    except OSError as exc:
        raise BackupError("cannot prepare the restore into %s: %s" % (dest, exc)) from exc
    result["set_aside"] = aside
    moved: List[str] = []
    try:
        for name in to_move:
            move(os.path.join(dest, name), os.path.join(aside, name), as_root)
            moved.append(name)
        result["restored"] = extract(path, dest, manifest, as_root)
    except _RESTORE_ERRORS as exc:
        where = (
            "; the previous content moved so far (%s) is in %s" % (", ".join(moved), aside)
            if moved
            else ""
        )
        raise BackupError(
            "restoring %s into %s failed: %s. %s may be incomplete%s"
            % (path, dest, exc, dest, where)
        ) from exc
    return result

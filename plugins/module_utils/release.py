# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)
"""Release history of one OpenClaw gateway instance: file format and operations.

One JSON file per instance on the host, ``<gateway_root>/releases/<instance>.json``,
mode 0600, always replaced atomically::

    {"schema": 1, "instance": "main", "current": "<id>" | null, "previous": "<id>" | null,
     "releases": [{"id", "version", "image", "image_id", "config_sha256", "deployed_at",
                   "backup_path", "status", "note"}, ...]}

``releases`` is in deployment order, oldest first. ``status`` is one of

* ``active``: the current release (exactly one, or none in an empty history);
* ``superseded``: was active, replaced by a later deployment or a rollback to another
  good release; a candidate for going back to;
* ``failed``: did not become healthy after its deployment; the release before it was
  made current again;
* ``rolled_back``: was current and was replaced by an operator's rollback.

``current`` is the running release. ``previous`` is where a rollback goes by default:
after a deployment it is the release that was current before it; after a rollback or a
failure it is the newest ``superseded`` release deployed before the new current one
(``None`` when there is none).

Functions here never touch the file except :func:`load` and :func:`write`; the others
take a history dict and return a modified deep copy, so callers can compare before and
after (check mode, diff mode) without side effects. Pure standard library, Python 3.8+.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import fileops, names

SCHEMA = 1
FILE_MODE = 0o600
STATUSES = ("active", "superseded", "failed", "rolled_back")
FIELDS = (
    "id",
    "version",
    "image",
    "image_id",
    "config_sha256",
    "deployed_at",
    "backup_path",
    "status",
    "note",
)
VERSION_RE = re.compile(
    r"(?P<year>[0-9]{4})\.(?P<month>[1-9][0-9]?)\.(?P<day>[1-9][0-9]?)(?:-[0-9A-Za-z.]+)?\Z"
)
SHA256_RE = re.compile(r"[0-9a-f]{64}\Z")

History = Dict[str, Any]
Release = Dict[str, Any]


class ReleaseError(Exception):
    """A failure whose message says what is wrong and what to do about it."""


# --- validation -------------------------------------------------------------------------


def validate_version(version: str) -> None:
    """Raise ReleaseError unless ``version`` is an OpenClaw date version YYYY.M.D.

    A pre-release or local suffix (``-beta.1``, ``-broken``) is allowed, as in npm.
    """
    match = VERSION_RE.match(version or "") if isinstance(version, str) else None
    if match and 1 <= int(match.group("month")) <= 12 and 1 <= int(match.group("day")) <= 31:
        return
    raise ReleaseError(
        "version %r is not an OpenClaw version of the form YYYY.M.D without leading zeros "
        "and an optional -suffix (for example 2026.9.6); set openclaw_version to a version "
        "published on npm" % (version,)
    )


def validate_sha256(value: str, what: str = "config_sha256") -> None:
    """Raise ReleaseError unless ``value`` is 64 lowercase hex digits."""
    if not isinstance(value, str) or not SHA256_RE.match(value):
        raise ReleaseError(
            "%s must be a SHA-256 hex digest (64 lowercase hex digits, for example the "
            "checksum of ansible.builtin.stat with get_checksum and checksum_algorithm "
            "sha256), got %r" % (what, value)
        )


def validate_instance(instance: str) -> None:
    """Raise ReleaseError unless ``instance`` follows the instance-name rule (``names.py``)."""
    problem = names.instance_name_problem(instance)
    if problem is not None:
        raise ReleaseError(problem)


def _check_history(history: Any, path: str) -> None:
    """Raise ReleaseError if the loaded ``history`` does not follow the schema."""

    def bad(problem: str) -> ReleaseError:
        return ReleaseError(
            "release history file %s is not a valid ClawDeploy release history: %s. "
            "Repair it, or move it aside to start a new history (rollback targets in it "
            "are then forgotten)" % (path, problem)
        )

    if not isinstance(history, dict):
        raise bad("the top level is not a JSON object")
    if history.get("schema") != SCHEMA:
        raise bad("schema is %r, expected %d" % (history.get("schema"), SCHEMA))
    if not isinstance(history.get("instance"), str):
        raise bad("'instance' is missing or not a string")
    releases = history.get("releases")
    if not isinstance(releases, list):
        raise bad("'releases' is missing or not a list")
    ids = []
    for index, release in enumerate(releases):
        if not isinstance(release, dict):
            raise bad("releases[%d] is not an object" % index)
        missing = [field for field in FIELDS if field not in release]
        if missing:
            raise bad("releases[%d] lacks %s" % (index, ", ".join(missing)))
        if not isinstance(release["id"], str) or not release["id"]:
            raise bad("releases[%d].id is not a non-empty string" % index)
        if release["status"] not in STATUSES:
            raise bad(
                "releases[%d].status is %r, expected one of %s"
                % (index, release["status"], ", ".join(STATUSES))
            )
        if release["id"] in ids:
            raise bad("release id %s appears twice" % release["id"])
        ids.append(release["id"])
    for key in ("current", "previous"):
        value = history.get(key)
        if value is not None and value not in ids:
            raise bad("'%s' is %r, which is not the id of any release" % (key, value))
    active = [r["id"] for r in releases if r["status"] == "active"]
    if history.get("current") is None and active:
        raise bad("there is no current release but %s is active" % ", ".join(active))
    if history.get("current") is not None and active != [history["current"]]:
        raise bad(
            "the current release is %s but the active releases are [%s]"
            % (history["current"], ", ".join(active))
        )


# --- file -------------------------------------------------------------------------------


def empty(instance: str) -> History:
    """A history without releases."""
    return {
        "schema": SCHEMA,
        "instance": instance,
        "current": None,
        "previous": None,
        "releases": [],
    }


def load(path: str, instance: str) -> History:
    """Read the history at ``path``; an empty history when the file does not exist.

    Raises ReleaseError, naming the file, when it cannot be read, is not valid JSON, does
    not follow the schema, or belongs to another instance.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return empty(instance)
    except OSError as exc:
        raise ReleaseError(
            "cannot read release history file %s: %s" % (path, exc.strerror or exc)
        ) from exc
    try:
        history = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReleaseError(
            "release history file %s is corrupt (not valid UTF-8 JSON: %s). Repair it, or "
            "move it aside to start a new history (rollback targets in it are then "
            "forgotten)" % (path, exc)
        ) from None
    _check_history(history, path)
    if history["instance"] != instance:
        raise ReleaseError(
            "release history file %s belongs to instance %r, not %r; check the path and "
            "instance parameters" % (path, history["instance"], instance)
        )
    return history


def dumps(history: History) -> str:
    """The file's text: stable key order, two-space indent, final newline."""
    return json.dumps(history, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(path: str, history: History) -> None:
    """Replace ``path`` atomically with ``history``; the file is mode 0600 at all times
    (``fileops.atomic_write``: readers see the old or the new history, never a partial one).
    """
    fileops.atomic_write(path, dumps(history).encode("utf-8"), FILE_MODE)


# --- queries ----------------------------------------------------------------------------


def find(history: History, release_id: Optional[str]) -> Optional[Release]:
    """The release with ``release_id``, or None."""
    if release_id is None:
        return None
    for release in history["releases"]:
        if release["id"] == release_id:
            return release
    return None


def current(history: History) -> Optional[Release]:
    """The current release, or None."""
    return find(history, history.get("current"))


def previous(history: History) -> Optional[Release]:
    """The previous release, or None."""
    return find(history, history.get("previous"))


def select(history: History, target: str) -> Release:
    """The release named by ``target``: ``previous``, ``current`` or a release id.

    Raises ReleaseError saying what exists when there is no such release.
    """
    if not history["releases"]:
        raise ReleaseError(
            "the release history of instance %s is empty, so there is no release %s; "
            "deploy first" % (history["instance"], target)
        )
    if target in ("previous", "current"):
        release = find(history, history.get(target))
        if release is None:
            raise ReleaseError(
                "instance %s has no %s release (current: %s); name a release id instead. "
                "Known releases: %s"
                % (history["instance"], target, history.get("current"), describe(history))
            )
        return release
    release = find(history, target)
    if release is None:
        raise ReleaseError(
            "instance %s has no release with id %r. Known releases: %s"
            % (history["instance"], target, describe(history))
        )
    return release


def describe(history: History) -> str:
    """``id (version, status), ...`` for messages, newest first."""
    return ", ".join(
        "%s (%s, %s)" % (r["id"], r["version"], r["status"]) for r in reversed(history["releases"])
    )


def referenced_images(history: History) -> List[str]:
    """Image references (names and ids) used by releases still in the history, sorted.

    Images not in this list belong to no kept release and may be pruned.
    """
    refs = set()
    for release in history["releases"]:
        for key in ("image", "image_id"):
            if release.get(key):
                refs.add(release[key])
    return sorted(refs)


# --- operations (return modified copies) ------------------------------------------------


def _new_id(history: History, version: str, now: datetime.datetime) -> str:
    base = "%s-%s" % (names.utc_stamp(now), version)
    candidate = base
    counter = 1
    while find(history, candidate) is not None:
        counter += 1
        candidate = "%s.%d" % (base, counter)
    return candidate


def _newest_good_before(history: History, release_id: str) -> Optional[str]:
    """Id of the newest ``superseded`` release listed before ``release_id``."""
    found = None
    for release in history["releases"]:
        if release["id"] == release_id:
            break
        if release["status"] == "superseded":
            found = release["id"]
    return found


def matches(release: Optional[Release], version: str, image_id: str, config_sha256: str) -> bool:
    """True when ``release`` is this version with this image id and config checksum."""
    return (
        release is not None
        and release["version"] == version
        and release["image_id"] == image_id
        and release["config_sha256"] == config_sha256
    )


def record(
    history: History,
    version: str,
    image: str,
    image_id: str,
    config_sha256: str,
    backup_path: Optional[str] = None,
    note: Optional[str] = None,
    now: Optional[datetime.datetime] = None,
) -> Tuple[History, Release, bool]:
    """Record a deployment; return (new history, the release, changed).

    Recording the same version, image id and config checksum as the current release
    changes nothing (its image name, backup path and note are left as they are). Otherwise
    a new active release is appended, the old current one becomes ``superseded`` and
    ``previous``.
    """
    validate_version(version)
    validate_sha256(config_sha256)
    if not image:
        raise ReleaseError("image must name the image the instance runs, e.g. openclaw:2026.9.6")
    if not image_id:
        raise ReleaseError(
            "image_id must be the image's id (docker image inspect: Id, sha256:...), so a "
            "rollback can find the exact image again"
        )
    new = copy.deepcopy(history)
    old = current(new)
    if matches(old, version, image_id, config_sha256):
        return new, old, False
    now = now or names.utcnow()
    release = {
        "id": _new_id(new, version, now),
        "version": version,
        "image": image,
        "image_id": image_id,
        "config_sha256": config_sha256,
        "deployed_at": names.utc_iso(now),
        "backup_path": backup_path,
        "status": "active",
        "note": note,
    }
    if old is not None:
        old["status"] = "superseded"
    new["previous"] = old["id"] if old is not None else None
    new["current"] = release["id"]
    new["releases"].append(release)
    return new, release, True


def rollback(history: History, target: str) -> Tuple[History, Release, bool]:
    """Make ``target`` (``previous`` or an id) current; return (history, release, changed).

    The replaced current release is marked ``rolled_back``. A target that is already
    current changes nothing. A ``failed`` release cannot be a target: deploy it again.
    """
    new = copy.deepcopy(history)
    release = select(new, target)
    if release["id"] == new.get("current"):
        return new, release, False
    if release["status"] == "failed":
        raise ReleaseError(
            "release %s (%s) failed its deployment, so it is not a rollback target; pick "
            "another release (known: %s) or deploy that version again"
            % (release["id"], release["version"], describe(new))
        )
    old = current(new)
    if old is not None:
        old["status"] = "rolled_back"
    release["status"] = "active"
    new["current"] = release["id"]
    new["previous"] = _newest_good_before(new, release["id"])
    return new, release, True


def mark_failed(
    history: History, release_id: Optional[str] = None
) -> Tuple[History, Release, bool]:
    """Mark the current release failed and make ``previous`` current again.

    Returns (history, the failed release, changed). With ``release_id`` the call is
    idempotent: when that release is already marked failed nothing changes. Raises
    ReleaseError when there is no previous release to go back to.
    """
    new = copy.deepcopy(history)
    if release_id not in (None, "current"):
        named = select(new, release_id)
        if named["status"] == "failed":
            return new, named, False
        if named["id"] != new.get("current"):
            raise ReleaseError(
                "release %s is %s, not the current release (%s); only the current release "
                "can be marked failed" % (named["id"], named["status"], new.get("current"))
            )
    failed = select(new, "current")
    back = find(new, new.get("previous"))
    if back is None:
        raise ReleaseError(
            "instance %s has no previous release to go back to after %s (%s) failed; fix "
            "the deployment and deploy again, or restore a backup"
            % (new["instance"], failed["id"], failed["version"])
        )
    failed["status"] = "failed"
    back["status"] = "active"
    new["current"] = back["id"]
    new["previous"] = _newest_good_before(new, back["id"])
    return new, failed, True


def prune(history: History, keep: int) -> Tuple[History, List[Release]]:
    """Keep the newest ``keep`` releases (never removing current or previous).

    Returns (new history, removed releases, oldest first). The current and previous
    releases are kept even when that leaves more than ``keep`` releases.
    """
    if keep < 1:
        raise ReleaseError("keep must be at least 1, got %d" % keep)
    new = copy.deepcopy(history)
    protected = {new.get("current"), new.get("previous")} - {None}
    cut = max(len(new["releases"]) - keep, 0)
    removed: List[Release] = []
    kept: List[Release] = []
    for index, release in enumerate(new["releases"]):
        if index < cut and release["id"] not in protected:
            removed.append(release)
        else:
            kept.append(release)
    new["releases"] = kept
    return new, removed

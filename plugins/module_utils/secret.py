# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)
"""The logic of ``openclaw_secret``: which value a key of a dotenv file gets, and the new file.

A token lives in a dotenv file (``dotenv.py``: the ``.env`` of a Compose project, also a
systemd ``EnvironmentFile=``). Its value is, in this order: the given value, the value
of a key in another env file (``source``), the value already in the file (unless
rotated), the first real value in the ``adopt_from`` files, or a new token from
``secrets.token_urlsafe``. Placeholders of the seed templates count as absent.

Error messages (:class:`SecretError`) never hold a value. Pure standard library,
Python 3.8+.
"""

from __future__ import annotations

import copy
import os
import secrets
import stat
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import dotenv, fileops

MIN_LENGTH = 32
PLACEHOLDERS = frozenset(("", "replace_with_strong_random_token", "changeme", "change_me"))


class SecretError(Exception):
    """A failure whose message is safe to show (never holds a value)."""


class CheckModeUnknown(Exception):
    """In check mode, the value depends on a file an earlier task would have written."""


def is_placeholder(value: Optional[str]) -> bool:
    """True when ``value`` is missing or a known placeholder from the seed templates."""
    return value is None or value.strip().lower() in PLACEHOLDERS


def read_entries(path: str, what: str) -> Optional[List[dotenv.Entry]]:
    """The parsed dotenv file at ``path``; None if it does not exist.

    ``what`` names the file in errors. Raises SecretError (not a regular file, unreadable,
    not UTF-8, not parseable).
    """
    if not os.path.exists(path):
        return None
    if not os.path.isfile(path):
        raise SecretError("%s %s is not a regular file" % (what, path))
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise SecretError("cannot read %s %s: %s" % (what, path, exc.strerror)) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError("%s %s is not valid UTF-8" % (what, path)) from None
    try:
        return dotenv.parse(text)
    except ValueError as exc:
        raise SecretError("cannot parse %s %s: %s" % (what, path, exc)) from exc


def copied_value(source: Dict[str, Any], key: str, check_mode: bool) -> str:
    """The value of ``source["key"]`` (default ``key``) in the file ``source["path"]``.

    Raises CheckModeUnknown in check mode when it is not there yet, SecretError otherwise.
    """
    src_path = source["path"]
    src_key = source.get("key") or key
    try:
        dotenv.validate_key(src_key)
    except ValueError as exc:
        raise SecretError("source.key: %s" % exc) from exc
    entries = read_entries(src_path, "source file")
    if entries is None:
        if check_mode:
            raise CheckModeUnknown()
        raise SecretError(
            "source file %s does not exist; create it first (for example with an "
            "openclaw_secret task for %s)" % (src_path, src_key)
        )
    value = dotenv.get(entries, src_key)
    if is_placeholder(value):
        if check_mode:
            raise CheckModeUnknown()
        raise SecretError(
            "source file %s has no value for %s (missing, empty or a placeholder)"
            % (src_path, src_key)
        )
    return value


def adopted_value(paths: List[str], key: str) -> Tuple[Optional[str], Optional[str]]:
    """(value, file) from the first of ``paths`` with a real value, else (None, None)."""
    for candidate in paths:
        entries = read_entries(candidate, "adopt_from file")
        if entries is None:
            continue
        value = dotenv.get(entries, key)
        if not is_placeholder(value):
            return value, candidate
    return None, None


def weak_warning(key: str, where: str) -> str:
    """The warning for a kept value shorter than MIN_LENGTH (names the key, not the value)."""
    return (
        "The value of %s in %s is shorter than %d characters. Run this task once with "
        "rotate: true to replace it with a generated token (and update the clients that "
        "use it)." % (key, where, MIN_LENGTH)
    )


def choose_value(
    params: Dict[str, Any], current: Optional[str], check_mode: bool
) -> Tuple[Optional[str], str, List[str]]:
    """(value, source, warnings) for the module's ``params`` and the file's ``current`` value.

    ``source`` is ``given``, ``copied``, ``existing``, ``adopted``, ``rotated`` or
    ``generated``; ``value`` is None in check mode for a token not generated (or copied
    from a file not there yet). Raises SecretError.
    """
    key = params["key"]
    if params["value"] is not None:
        return params["value"], "given", []
    if params["source"] is not None:
        try:
            return copied_value(params["source"], key, check_mode), "copied", []
        except CheckModeUnknown:
            return None, "copied", []
    if not is_placeholder(current) and not params["rotate"]:
        weak = [weak_warning(key, params["path"])] if len(current) < MIN_LENGTH else []
        return current, "existing", weak
    if not params["rotate"]:
        adopted, where = adopted_value(params["adopt_from"], key)
        if adopted is not None:
            weak = [weak_warning(key, where)] if len(adopted) < MIN_LENGTH else []
            return adopted, "adopted", weak
    source = "rotated" if not is_placeholder(current) else "generated"
    if check_mode:
        return None, source, []
    return secrets.token_urlsafe(params["length"]), source, []


def new_entries(
    entries: List[dotenv.Entry], exists: bool, key: str, value: Optional[str]
) -> Tuple[List[dotenv.Entry], bool]:
    """(entries after setting ``key`` to ``value``, whether the file content changes).

    ``value`` None (check mode, value unknown) counts as a change. Raises SecretError for
    a value dotenv cannot write.
    """
    if value is None:
        return list(entries), True
    after = copy.deepcopy(entries)
    try:
        return after, dotenv.set(after, key, value) or not exists
    except ValueError as exc:
        raise SecretError(str(exc)) from exc


def masked_diff(
    path: str,
    entries: List[dotenv.Entry],
    exists: bool,
    after: List[dotenv.Entry],
    key: str,
    current: Optional[str],
    value: Optional[str],
    source: str,
) -> Dict[str, str]:
    """The content diff (before/after header and text) with every value masked; a
    replaced value is marked on its line."""
    annotate: Dict[str, str] = {}
    if current is not None and (value is None or value != current):
        annotate[key] = "value replaced (%s)" % source
    shown = after
    if value is None:
        shown = list(entries)
        if current is None:
            shown.append(dotenv.Entry(raw="", key=key, value=""))
    return dict(
        before_header=path,
        after_header=path,
        before=dotenv.render_masked(entries) if exists else "",
        after=dotenv.render_masked(shown, annotate),
    )


def write(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` atomically; an existing file's mode and owner are
    kept, a new file is 0600 (never readable by others). Raises OSError."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        fileops.atomic_write(path, text.encode("utf-8"), 0o600)
        return
    fileops.atomic_write(
        path, text.encode("utf-8"), stat.S_IMODE(st.st_mode), owner=(st.st_uid, st.st_gid)
    )

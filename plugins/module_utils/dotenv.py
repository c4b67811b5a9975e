# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)
"""Read and edit dotenv files without disturbing what we do not own.

The files this edits are read by two programs, so what we write must mean the same
thing to both:

* docker compose ``env_file`` / project ``.env`` syntax
  (https://docs.docker.com/compose/how-tos/environment-variables/variable-interpolation/#env-file-syntax,
  implemented by compose-go's ``dotenv`` parser): ``KEY=VAL``, optional ``export``
  prefix, ``#`` comment lines, bare values (interpolated, `` #`` starts an inline
  comment), ``'single'`` quoted values (literal) and ``"double"`` quoted values
  (backslash escapes, interpolated); quoted values may span lines.
* systemd ``EnvironmentFile=`` (systemd.exec(5)): ``KEY=VAL`` lines, ``#`` and ``;``
  comment lines, single and double quotes, backslash escapes outside single quotes,
  no variable expansion.

Writing therefore uses the intersection of both: a value is written bare when it only
holds characters that neither program treats specially (:data:`BARE_VALUE`), otherwise
single-quoted. Values that cannot be written so that both read them back identically
(a single quote, a newline or carriage return, a NUL byte, or a trailing backslash that
compose would read as an escaped closing quote) are refused with :class:`ValueError`.

Reading is more lenient and accepts bare, single- and double-quoted values and the
``export`` prefix. ``${VAR}`` interpolation is *not* performed: values are returned as
written (after unquoting), which is what matters for tokens.

Parsing keeps every line (comments, blank lines, lines we do not understand) verbatim,
so :func:`render` of an unmodified :func:`parse` result returns the input unchanged.

Error messages never include values: the files hold secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

KEY_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
"""Environment variable names accepted by both compose and systemd."""

BARE_VALUE = re.compile(r"[A-Za-z0-9_./:@+=,-]*\Z")
"""Values matching this are written without quotes."""

MASK = "********"
"""What :func:`render_masked` shows instead of a value."""

_KEY_RE = re.compile(KEY_PATTERN + r"\Z")
_ASSIGNMENT_RE = re.compile(
    r"(?P<lead>[ \t]*)(?P<export>export[ \t]+)?(?P<key>" + KEY_PATTERN + r")"
    r"[ \t]*=[ \t]*(?P<rest>.*)\Z",
    re.DOTALL,
)
_TRAILER_RE = re.compile(r"[ \t]*(#.*)?\Z", re.DOTALL)
_DOUBLE_QUOTE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$"}


@dataclass
class Entry:
    """One logical line of a dotenv file.

    ``raw`` is the exact original text including its line ending (a quoted value that
    spans several physical lines is one entry). ``key`` is ``None`` for comments, blank
    lines and lines that are not assignments. An entry whose ``dirty`` flag is set is
    rendered from ``key``/``value`` instead of ``raw``.
    """

    raw: str
    key: Optional[str] = None
    value: Optional[str] = None
    export: bool = False
    dirty: bool = False

    @property
    def is_assignment(self) -> bool:
        """True when this entry assigns a value to a key."""
        return self.key is not None


def validate_key(key: str) -> None:
    """Raise ValueError unless ``key`` is a valid variable name."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(
            "invalid environment variable name %r: it must match ^%s$" % (key, KEY_PATTERN)
        )


def validate_value(value: str, key: str = "value") -> None:
    """Raise ValueError if ``value`` cannot be written so compose and systemd agree.

    The message names the key and the offending kind of character, never the value.
    """
    if not isinstance(value, str):
        raise ValueError("the value of %s must be a string" % key)
    if "'" in value:
        problem = "a single quote (')"
    elif "\n" in value or "\r" in value:
        problem = "a line break"
    elif "\x00" in value:
        problem = "a NUL byte"
    elif value.endswith("\\"):
        problem = "a trailing backslash (compose would read it as an escaped closing quote)"
    else:
        return
    raise ValueError(
        "the value of %s contains %s; docker compose and systemd EnvironmentFile= "
        "would read it differently, so it cannot be written to a dotenv file" % (key, problem)
    )


def quote(value: str, key: str = "value") -> str:
    """Return ``value`` as written after ``KEY=``: bare if safe, else single-quoted."""
    validate_value(value, key)
    if BARE_VALUE.match(value):
        return value
    return "'" + value + "'"


def _split_line_ending(line: str) -> Tuple[str, str]:
    for ending in ("\r\n", "\n"):
        if line.endswith(ending):
            return line[: -len(ending)], ending
    return line, ""


def _physical_lines(text: str) -> List[str]:
    # str.splitlines() would also split on \v, \f, \x1c-\x1e, \x85 and \u2028/9,
    # which compose and systemd read as ordinary characters of a value.
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _find_closing_quote(text: str, quote_char: str) -> int:
    """Index of the closing quote in ``text`` (which starts after the opening one).

    Like compose-go, a quote preceded by a backslash does not close the value.
    Returns -1 when the value is not terminated in ``text``.
    """
    start = 0
    while True:
        index = text.find(quote_char, start)
        if index < 0:
            return -1
        if index > 0 and text[index - 1] == "\\":
            start = index + 1
            continue
        return index


def _unescape_double(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in _DOUBLE_QUOTE_ESCAPES:
            out.append(_DOUBLE_QUOTE_ESCAPES[text[i + 1]])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _bare_value(rest: str) -> str:
    # compose-go: " #" starts an inline comment in an unquoted value
    comment = re.search(r"[ \t]#", rest)
    if comment:
        rest = rest[: comment.start()]
    return rest.strip(" \t")


def parse(text: str) -> List[Entry]:
    """Parse dotenv ``text`` into entries, keeping every line.

    Raises ValueError (with the line number and key, never the value) when an
    assignment's quoted value is not terminated or is followed by something other than
    a comment.
    """
    lines = _physical_lines(text)
    entries: List[Entry] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        lineno = index + 1
        index += 1
        body = _split_line_ending(line)[0]
        match = _ASSIGNMENT_RE.match(body)
        if not match or body.lstrip(" \t").startswith("#"):
            entries.append(Entry(raw=line))
            continue
        key = match.group("key")
        export = bool(match.group("export"))
        rest = match.group("rest")
        if rest[:1] not in ("'", '"'):
            entries.append(Entry(raw=line, key=key, value=_bare_value(rest), export=export))
            continue

        quote_char = rest[0]
        raw = line
        quoted = rest[1:]
        closing = _find_closing_quote(quoted, quote_char)
        # a quoted value may continue on the following lines
        while closing < 0 and index < len(lines):
            raw += lines[index]
            quoted += "\n" + _split_line_ending(lines[index])[0]
            index += 1
            closing = _find_closing_quote(quoted, quote_char)
        if closing < 0:
            raise ValueError("line %d: the quoted value of %s is not terminated" % (lineno, key))
        if not _TRAILER_RE.match(quoted[closing + 1 :]):
            raise ValueError(
                "line %d: unexpected text after the quoted value of %s" % (lineno, key)
            )
        value = quoted[:closing]
        if quote_char == '"':
            value = _unescape_double(value)
        entries.append(Entry(raw=raw, key=key, value=value, export=export))
    return entries


def get(entries: Iterable[Entry], key: str) -> Optional[str]:
    """Value of ``key`` (the last assignment wins, as in compose and systemd), or None."""
    value = None
    for entry in entries:
        if entry.key == key:
            value = entry.value
    return value


def as_dict(entries: Iterable[Entry]) -> Dict[str, str]:
    """All assignments as a dict (last assignment of a key wins)."""
    result: Dict[str, str] = {}
    for entry in entries:
        if entry.key is not None and entry.value is not None:
            result[entry.key] = entry.value
    return result


def set(entries: List[Entry], key: str, value: str) -> bool:
    """Set ``key`` to ``value`` in place; return True if the entries changed.

    The last assignment of ``key`` is rewritten (keeping its ``export`` prefix and line
    ending); other lines are untouched. A missing key is appended at the end, with the
    line ending the file already uses. Raises ValueError for an
    invalid key or a value that cannot be written (see :func:`validate_value`).
    """
    validate_key(key)
    validate_value(value, key)
    last = None
    for entry in entries:
        if entry.key == key:
            last = entry
    if last is not None:
        if last.value == value:
            return False
        ending = _split_line_ending(last.raw)[1]
        last.value = value
        last.dirty = True
        last.raw = _render_assignment(last) + (ending or "\n")
        return True
    # an appended line uses the file's line ending (CRLF files stay CRLF)
    ending = "\n"
    for entry in reversed(entries):
        entry_ending = _split_line_ending(entry.raw)[1]
        if entry_ending:
            ending = entry_ending
            break
    if entries and not _split_line_ending(entries[-1].raw)[1]:
        entries[-1].raw += ending
    entry = Entry(raw="", key=key, value=value, dirty=True)
    entry.raw = _render_assignment(entry) + ending
    entries.append(entry)
    return True


def _render_assignment(entry: Entry, value_text: Optional[str] = None) -> str:
    if value_text is None:
        value_text = quote(entry.value or "", entry.key or "value")
    return "%s%s=%s" % ("export " if entry.export else "", entry.key, value_text)


def render(entries: Iterable[Entry]) -> str:
    """Text of the file: unmodified entries verbatim, modified ones re-rendered."""
    return "".join(entry.raw for entry in entries)


def render_masked(entries: Iterable[Entry], annotate: Optional[Dict[str, str]] = None) -> str:
    """Text of the file with every value replaced by :data:`MASK`, for diffs and logs.

    Comment and blank lines are kept; any other line that is not a parsed assignment is
    masked whole, since it may hold a value we failed to recognise. ``annotate`` maps a
    key to a comment appended to its line (e.g. to make a changed value visible in a
    diff, where both sides are masked).
    """
    annotate = annotate or {}
    out = []
    for entry in entries:
        if entry.key is None:
            stripped = entry.raw.strip()
            if not stripped or stripped.startswith("#"):
                out.append(entry.raw if entry.raw.endswith("\n") else entry.raw + "\n")
            else:
                out.append(MASK + "\n")
            continue
        line = _render_assignment(entry, MASK)
        if entry.key in annotate:
            line += "  # " + annotate[entry.key]
        out.append(line + "\n")
    return "".join(out)

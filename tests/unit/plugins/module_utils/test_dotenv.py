"""Tests of the dotenv reader/writer shared by the modules."""

from __future__ import annotations

import random
import secrets
import string

import pytest

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import dotenv

SEED = """\
# OpenClaw sidecar
OPENCLAW_GATEWAY_TOKEN=replace_with_strong_random_token
OPENCLAW_VERSION=2026.2.9

export EXPORTED='single quoted # not a comment'
DOUBLE="a \\"b\\" \\n c"
  SPACED = bare value   # trailing comment
; systemd-style comment
not an assignment line
MULTI='line one
line two'
EMPTY=
"""


def test_round_trip_is_identity():
    assert dotenv.render(dotenv.parse(SEED)) == SEED


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "A=1",  # no final newline
        "A=1\r\nB='x y'\r\n",  # CRLF
        "# only a comment\n\n\n",
        "A=1\nA=2\n",
    ],
)
def test_round_trip_edge_cases(text):
    assert dotenv.render(dotenv.parse(text)) == text


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("OPENCLAW_GATEWAY_TOKEN", "replace_with_strong_random_token"),
        ("OPENCLAW_VERSION", "2026.2.9"),
        ("EXPORTED", "single quoted # not a comment"),
        ("DOUBLE", 'a "b" \n c'),
        ("SPACED", "bare value"),
        ("MULTI", "line one\nline two"),
        ("EMPTY", ""),
        ("MISSING", None),
    ],
)
def test_get_reads_every_quoting_style(key, expected):
    assert dotenv.get(dotenv.parse(SEED), key) == expected


def test_parse_marks_export_and_non_assignments():
    entries = dotenv.parse(SEED)
    exported = [e for e in entries if e.key == "EXPORTED"]
    assert exported[0].export is True
    raw_lines = [e.raw for e in entries if not e.is_assignment]
    assert "; systemd-style comment\n" in raw_lines
    assert "not an assignment line\n" in raw_lines
    assert "# OpenClaw sidecar\n" in raw_lines


def test_commented_out_assignment_is_not_read():
    assert dotenv.get(dotenv.parse("#A=1\n  # A=2\n"), "A") is None


def test_last_assignment_wins():
    entries = dotenv.parse("A=first\nB=x\nA=second\n")
    assert dotenv.get(entries, "A") == "second"
    assert dotenv.as_dict(entries) == {"A": "second", "B": "x"}


def test_double_quote_escapes_and_dollar():
    entries = dotenv.parse('A="tab\\there \\$HOME \\\\ \\q"\n')
    assert dotenv.get(entries, "A") == "tab\there $HOME \\ \\q"


def test_quoted_value_with_trailing_comment():
    assert dotenv.get(dotenv.parse("A='x' # c\nB=\"y\"\t#c\n"), "A") == "x"
    assert dotenv.get(dotenv.parse("A='x' # c\nB=\"y\"\t#c\n"), "B") == "y"


def test_bare_value_keeps_hash_without_space():
    assert dotenv.get(dotenv.parse("A=abc#def\n"), "A") == "abc#def"


def test_single_quote_escaped_quote_does_not_close_like_compose():
    assert dotenv.get(dotenv.parse("A='it\\'s'\n"), "A") == "it\\'s"


@pytest.mark.parametrize(
    "text",
    ["A='never closed\nB=1\n", 'A="never closed\n'],
)
def test_unterminated_quote_is_an_error_without_value(text):
    with pytest.raises(ValueError, match=r"line 1: the quoted value of A is not terminated") as err:
        dotenv.parse(text)
    assert "never closed" not in str(err.value)


def test_text_after_closing_quote_is_an_error():
    with pytest.raises(ValueError, match="line 2: unexpected text after the quoted value of B"):
        dotenv.parse("A=1\nB='secretpart'junk\n")


def test_set_updates_in_place_and_keeps_everything_else():
    entries = dotenv.parse(SEED)
    token = secrets.token_urlsafe(32)
    assert dotenv.set(entries, "OPENCLAW_GATEWAY_TOKEN", token) is True
    text = dotenv.render(entries)
    assert text == SEED.replace("replace_with_strong_random_token", token)


def test_set_same_value_is_not_a_change():
    entries = dotenv.parse("A='a b'\n")
    assert dotenv.set(entries, "A", "a b") is False
    assert dotenv.render(entries) == "A='a b'\n"


def test_set_keeps_export_prefix_and_line_ending():
    entries = dotenv.parse("export A=1\r\nB=2\r\n")
    assert dotenv.set(entries, "A", "new value")
    assert dotenv.render(entries) == "export A='new value'\r\nB=2\r\n"


def test_set_appends_missing_key():
    entries = dotenv.parse("# header\nA=1")
    assert dotenv.set(entries, "B", "two words")
    assert dotenv.render(entries) == "# header\nA=1\nB='two words'\n"


def test_set_appends_with_the_files_line_ending():
    entries = dotenv.parse("A=1\r\nB=2")
    assert dotenv.set(entries, "C", "3")
    assert dotenv.render(entries) == "A=1\r\nB=2\r\nC=3\r\n"


def test_set_on_empty_file():
    entries = dotenv.parse("")
    assert dotenv.set(entries, "A", "x")
    assert dotenv.render(entries) == "A=x\n"


def test_set_updates_the_effective_duplicate():
    entries = dotenv.parse("A=1\nA=2\n")
    dotenv.set(entries, "A", "3")
    assert dotenv.render(entries) == "A=1\nA=3\n"
    assert dotenv.get(entries, "A") == "3"


@pytest.mark.parametrize(
    "value",
    ["", "abc", "2026.9.6", "a/b:c@d+e=f,g-h_i.j", secrets.token_urlsafe(32)],
)
def test_quote_bare(value):
    assert dotenv.quote(value) == value


@pytest.mark.parametrize(
    "value",
    ["two words", "$HOME", "a#b", 'say "hi"', "back\\slash", "tab\there", "ünïcode", "${X}", "*"],
)
def test_quote_single(value):
    assert dotenv.quote(value) == "'" + value + "'"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("it's", "single quote"),
        ("a\nb", "line break"),
        ("a\rb", "line break"),
        ("a\x00b", "NUL byte"),
        ("ends\\", "trailing backslash"),
    ],
)
def test_refused_values_name_the_problem_not_the_value(value, problem):
    with pytest.raises(ValueError) as err:
        dotenv.set([], "SECRET_KEY", value)
    message = str(err.value)
    assert problem in message
    assert "SECRET_KEY" in message
    assert value not in message


def test_refuses_non_string_value():
    with pytest.raises(ValueError, match="must be a string"):
        dotenv.validate_value(123)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["", "1ABC", "A-B", "A B", "A.B", "Ä", "A=B", None])
def test_invalid_keys_are_refused(key):
    with pytest.raises(ValueError, match="invalid environment variable name"):
        dotenv.set([], key, "x")


@pytest.mark.parametrize("key", ["A", "_", "_A1", "OPENCLAW_GATEWAY_TOKEN", "a_b"])
def test_valid_keys(key):
    dotenv.validate_key(key)


def _writable_values(count):
    rng = random.Random(20260906)
    alphabet = (
        string.ascii_letters + string.digits + ' !"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\té€\x0c\u2028'
    )
    for _index in range(count):
        value = "".join(rng.choice(alphabet) for _char in range(rng.randint(0, 40)))
        yield value.rstrip("\\")


@pytest.mark.parametrize("value", list(_writable_values(200)))
def test_every_writable_value_reads_back(value):
    entries = dotenv.parse("# keep\nOTHER=1\n")
    dotenv.set(entries, "K", value)
    reread = dotenv.parse(dotenv.render(entries))
    assert dotenv.get(reread, "K") == value
    assert dotenv.get(reread, "OTHER") == "1"


@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\t"])
def test_unusual_whitespace_is_part_of_the_value_not_a_line_break(char):
    value = "a" + char + "b"
    entries = dotenv.parse("X=1\n")
    dotenv.set(entries, "K", value)
    text = dotenv.render(entries)
    assert text == "X=1\nK='" + value + "'\n"
    reread = dotenv.parse(text)
    assert dotenv.get(reread, "K") == value
    assert len(reread) == 2


def test_render_masked_hides_every_value():
    token = secrets.token_urlsafe(32)
    entries = dotenv.parse(SEED)
    dotenv.set(entries, "OPENCLAW_GATEWAY_TOKEN", token)
    masked = dotenv.render_masked(entries, {"OPENCLAW_GATEWAY_TOKEN": "value replaced"})
    assert token not in masked
    assert "OPENCLAW_GATEWAY_TOKEN=********  # value replaced\n" in masked
    assert "OPENCLAW_VERSION=********\n" in masked
    assert "export EXPORTED=********\n" in masked
    assert "# OpenClaw sidecar\n" in masked
    # an unrecognised line could be a mangled secret: masked whole
    assert "not an assignment line" not in masked
    assert "line two" not in masked
    assert "2026.2.9" not in masked


# docker compose reading what render() writes is checked on the Molecule test host
# (molecule/demo/tests/test_default.py), where Compose v2 is installed.

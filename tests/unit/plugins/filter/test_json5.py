"""Tests of the to_json5 / from_json5 filters."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible.utils.unsafe_proxy import AnsibleUnsafeText

from ansible_collections.clawdeploy.openclaw.plugins.filter import json5 as json5_filter

REPO = Path(__file__).resolve().parents[4]

CONFIG = {
    "gateway": {
        "port": 18789,
        "bind": "loopback",
        "auth": {"mode": "token"},
        "http": {"endpoints": {"responses": {"enabled": True}}},
    },
    "agents": {"defaults": {"model": "stub/echo", "timeoutSeconds": 60.5}},
    "plugins": [],
    "needs-quotes": None,
    "empty": {},
}

EXPECTED = """\
{
  gateway: {
    port: 18789,
    bind: "loopback",
    auth: {
      mode: "token",
    },
    http: {
      endpoints: {
        responses: {
          enabled: true,
        },
      },
    },
  },
  agents: {
    defaults: {
      model: "stub/echo",
      timeoutSeconds: 60.5,
    },
  },
  plugins: [],
  "needs-quotes": null,
  empty: {},
}"""


def test_filters_are_registered():
    filters = json5_filter.FilterModule().filters()
    assert filters["to_json5"] is json5_filter.to_json5
    assert filters["from_json5"] is json5_filter.from_json5


def test_to_json5_default_style():
    assert json5_filter.to_json5(CONFIG) == EXPECTED


def test_round_trip():
    assert json5_filter.from_json5(json5_filter.to_json5(CONFIG)) == CONFIG


def test_indent_passthrough():
    text = json5_filter.to_json5({"a": [1]}, indent=4)
    assert text == "{\n    a: [\n        1,\n    ],\n}"


def test_single_line_when_indent_is_none():
    assert json5_filter.to_json5({"a": [1, 2]}, indent=None) == "{a: [1, 2]}"


def test_options():
    data = OrderedDict([("b", 1), ("a", 2)])
    assert json5_filter.to_json5(data, sort_keys=True, indent=None) == "{a: 2, b: 1}"
    assert json5_filter.to_json5(data, quote_keys=True, indent=None) == '{"b": 1, "a": 2}'
    assert json5_filter.to_json5({"a": 1}, trailing_commas=False) == "{\n  a: 1\n}"


def test_non_ascii_kept_by_default_escaped_on_request():
    assert json5_filter.to_json5({"k": "é"}, indent=None) == '{k: "é"}'
    assert json5_filter.to_json5({"k": "é"}, indent=None, ensure_ascii=True) == '{k: "\\u00e9"}'


def test_reserved_words_and_non_identifiers_are_quoted():
    text = json5_filter.to_json5({"true": 1, "a b": 2, "1x": 3}, indent=None)
    assert json5_filter.from_json5(text) == {"true": 1, "a b": 2, "1x": 3}
    assert "a b" in text and '"a b"' in text


def test_ansible_wrapped_types_are_plain():
    data = {AnsibleUnsafeText("key"): (AnsibleUnsafeText("v"), {1, 2}, datetime.date(2026, 9, 6))}
    text = json5_filter.to_json5(data, indent=None)
    assert json5_filter.from_json5(text) == {"key": ["v", [1, 2], "2026-09-06"]}


def test_unsupported_type_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="cannot represent a value of type object"):
        json5_filter.to_json5({"a": object()})


def test_from_json5_accepts_json5_syntax():
    text = """
    // comment
    {
      unquoted: 'single',
      trailing: [1, 2,],
      hex: 0x10,
      /* block */ "q": +1,
    }
    """
    assert json5_filter.from_json5(text) == {
        "unquoted": "single",
        "trailing": [1, 2],
        "hex": 16,
        "q": 1,
    }


def test_from_json5_bytes():
    assert json5_filter.from_json5(b"{a: 1}") == {"a": 1}


def test_from_json5_errors():
    with pytest.raises(AnsibleFilterError, match="from_json5: cannot parse input"):
        json5_filter.from_json5("{a: }")
    with pytest.raises(AnsibleFilterError, match="expected a string, got dict"):
        json5_filter.from_json5({"a": 1})


def test_missing_json5_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(json5_filter, "json5", None)
    for call in (lambda: json5_filter.to_json5({}), lambda: json5_filter.from_json5("{}")):
        with pytest.raises(AnsibleFilterError, match="pip install json5"):
            call()


PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


@pytest.mark.skipif(
    not PLAYBOOK.exists(), reason="ansible-playbook not next to the test interpreter"
)
def test_filters_through_ansible_templating(tmp_path):
    """The filters work on the values Ansible's templating hands them (lazy/tagged types)."""
    (tmp_path / "vars.json").write_text(json.dumps({"cfg": CONFIG, "out": str(tmp_path)}))
    (tmp_path / "play.yml").write_text(
        """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: "{{ out }}/rendered.json5"
        content: "{{ cfg | clawdeploy.openclaw.to_json5 }}"
        mode: "0600"
    - ansible.builtin.copy:
        dest: "{{ out }}/parsed.json"
        content: "{{ lookup('ansible.builtin.file', out + '/rendered.json5')
                     | clawdeploy.openclaw.from_json5 | ansible.builtin.to_json }}"
        mode: "0600"
"""
    )
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    out = subprocess.run(
        [
            str(PLAYBOOK),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            "ansible_python_interpreter=" + sys.executable,
            "-e",
            "@" + str(tmp_path / "vars.json"),
            str(tmp_path / "play.yml"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "rendered.json5").read_text() == EXPECTED
    assert json.loads((tmp_path / "parsed.json").read_text()) == CONFIG

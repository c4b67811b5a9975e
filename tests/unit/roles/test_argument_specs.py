"""Each role's meta/argument_specs.yml lists exactly the keys of its defaults/main.yml,
with the same default values (the prometheus-community check), so docs cannot drift."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"


@pytest.mark.parametrize(
    "role", sorted(p.name for p in ROLES.iterdir() if (p / "defaults").is_dir())
)
def test_argument_specs_match_defaults(role):
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert sorted(options) == sorted(defaults)
    for key, value in defaults.items():
        assert options[key].get("default") == value, key
        assert options[key].get("description"), key
        assert key.startswith(role + "_"), key

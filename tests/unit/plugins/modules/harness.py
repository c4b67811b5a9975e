"""Run an Ansible module's ``main()`` in-process and capture what it returned.

Shared by the module tests: ``exit_json``/``fail_json`` raise instead of exiting,
``warn`` is recorded, and the args carry ``_ansible_check_mode``/``_ansible_diff``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ExitJson(Exception):
    """exit_json was called."""


class FailJson(Exception):
    """fail_json was called."""


class Result:
    """What one module run produced: ``kind`` is ``exit`` or ``fail``."""

    def __init__(self, kind: str, data: dict[str, Any], warnings: list[str]):
        self.kind = kind
        self.data = data
        self.warnings = warnings

    def __getitem__(self, item: str) -> Any:
        return self.data[item]

    @property
    def changed(self) -> bool:
        return self.data["changed"]

    def text(self) -> str:
        """Everything a user could see, except a returned ``value``."""
        shown = {k: v for k, v in self.data.items() if k != "value"}
        return json.dumps(shown) + "\n".join(self.warnings)


def run_module(
    monkeypatch: Any, main: Callable[[], None], check: bool, diff: bool, args: dict[str, Any]
) -> Result:
    """Call ``main()`` with ``args``; return its Result (raises if it neither exits nor fails)."""
    warnings: list[str] = []

    def exit_json(self: Any, **kwargs: Any) -> None:
        raise ExitJson(kwargs)

    def fail_json(self: Any, msg: str, **kwargs: Any) -> None:
        kwargs["msg"] = msg
        raise FailJson(kwargs)

    def warn(self: Any, warning: str, **kwargs: Any) -> None:
        warnings.append(warning)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(basic.AnsibleModule, "warn", warn)
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
        try:
            main()
        except ExitJson as exc:
            return Result("exit", exc.args[0], warnings)
        except FailJson as exc:
            return Result("fail", exc.args[0], warnings)
    raise AssertionError("module returned without exit_json/fail_json")

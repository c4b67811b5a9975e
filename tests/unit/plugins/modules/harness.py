"""Run an Ansible module's ``main()`` in-process and capture what it returned.

Shared by the module tests: ``exit_json``/``fail_json`` raise instead of exiting,
``warn`` is recorded, and the args carry ``_ansible_check_mode``/``_ansible_diff``.
``four_way`` runs community.docker's check/apply/check/apply pattern on top of it.
"""

from __future__ import annotations

import json
import os
import stat
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


def snapshot(root: Any, times: bool = True) -> dict[str, Any]:
    """Every path below ``root`` (links not followed): type, mode, owner, content, mtime.

    Keys are paths relative to ``root``; values are ``("link", target, owner)``,
    ``("dir", mode, owner)`` or ``("file", mode, owner, content, mtime_ns)`` (without
    ``mtime_ns`` when not ``times``: an archive keeps whole seconds). An absent ``root``
    gives ``{}``.
    """
    found: dict[str, Any] = {}
    if not os.path.exists(root):
        return found
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(directory, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            mode = stat.S_IMODE(st.st_mode)
            owner = (st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(full), owner)
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", mode, owner)
            else:
                with open(full, "rb") as handle:
                    found[rel] = ("file", mode, owner, handle.read())
                if times:
                    found[rel] += (st.st_mtime_ns,)
    return found


def four_way(run: Callable[..., Result], watched: Any, **args: Any) -> list[Result]:
    """Check, apply, idempotent check, idempotent apply (community.docker's pattern).

    ``run(check=..., **args)`` runs the module; ``watched`` is the directory whose
    snapshot() must not change in either check mode run nor in the idempotent apply.
    Asserts changed, changed, not changed, not changed; returns the four Results.
    """
    before = snapshot(watched)
    first = run(check=True, **args)
    assert first.kind == "exit" and first.changed, first.data
    assert snapshot(watched) == before, "check mode changed something"
    second = run(**args)
    assert second.kind == "exit" and second.changed, second.data
    after = snapshot(watched)
    third = run(check=True, **args)
    assert third.kind == "exit" and not third.changed, third.data
    fourth = run(**args)
    assert fourth.kind == "exit" and not fourth.changed, fourth.data
    assert snapshot(watched) == after, "the idempotent run changed something"
    return [first, second, third, fourth]

#!/usr/bin/python
# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: openclaw_switch
short_description: Switch an OpenClaw gateway instance to staged files in one short stop
version_added: 0.1.0
author:
  - ClawDeploy maintainers (@clawdeploy)
description:
  - Puts the entries staged for a gateway instance live with as little downtime as the
    gateway's own start allows, in one module run on the host (no task round trips while
    the gateway is down).
  - "The steps, in order: 1. stop the gateway container when it runs (C(docker stop));
    2. move each top-level entry of O(project_src) that a top-level entry of O(staged)
    replaces (for example C(.env), C(config), C(data)) into the new directory O(set_aside_dir) by
    renaming it, and with O(snapshot) copy every other entry there too, so O(set_aside_dir) holds
    the whole stopped instance (the bulk of that copy is made with C(cp -a) before step 1
    while the gateway serves; after the stop only what changed since, by change time, is
    copied again, so the downtime does not grow with the size of the state); 3. rename the
    staged entries into O(project_src); 4. with O(start), C(docker compose up --detach
    --pull never) the project; 5. with O(backup_dir), archive O(set_aside_dir) in the format of
    M(clawdeploy.openclaw.openclaw_backup) while the new gateway starts (at a lower CPU
    priority), and with O(remove_set_aside) remove O(set_aside_dir) once the archive is written."
  - Nothing is deleted before it is archived or set aside. When moving or renaming fails,
    the moves made so far are undone and a gateway that ran is started again (RV(undone)).
    When the start fails, the instance is left switched and O(set_aside_dir) holds what was
    replaced, so the caller can switch back (with O(staged=<set_aside_dir>)).
  - Typical uses are an upgrade (stage the new C(.env) and C(config), O(snapshot=true),
    O(backup_dir), so the pre-upgrade archive is made from the quiesced snapshot after the new
    release started), a rollback or restore (stage an archive with
    M(clawdeploy.openclaw.openclaw_backup) C(state=stage) while the gateway serves, then
    switch), and a backup (no O(staged), O(snapshot=true), O(backup_dir),
    O(remove_set_aside=true), so the gateway is down for the copy only).
options:
  instance:
    description: Name of the gateway instance, for example V(main) (archive name, messages).
    type: str
    required: true
  project_src:
    description: The instance directory, for example C(/opt/openclaw-assistant/instances/main).
    type: path
    required: true
  project_name:
    description: Compose project name of the instance, for example V(openclaw-main).
    type: str
    required: true
  files:
    description: Compose files of the project, relative to O(project_src).
    type: list
    elements: str
    default: [openclaw_sidecar.compose.yml]
  container:
    description:
      - Name of the gateway container, for example V(openclaw-gateway-main). It is stopped
        by name, so a switch works when the project files are what is missing.
    type: str
    required: true
  staged:
    description:
      - Directory whose top-level entries go live, for example
        C(<project_src>/staging/next). It must be on the file system of O(project_src).
      - Without it nothing goes live (a snapshot for O(backup_dir)).
    type: path
  set_aside_dir:
    description:
      - New directory (mode C(0700)) that receives the live entries the switch replaces,
        for example C(/opt/openclaw-assistant/set-aside/main/20261201T120000Z). It must not
        exist; a leftover of an interrupted run is an error that names it.
      - Exactly one of O(set_aside_dir) and O(set_aside_root) is required.
    type: path
  set_aside_root:
    description:
      - Directory in which O(set_aside_dir) is made as a new sub-directory named after the
        UTC time, C(YYYYmmddTHHMMSSZ) (C(-2), C(-3)... added when taken), for example
        C(/opt/openclaw-assistant/set-aside/main). Created with mode C(0700) when missing.
    type: path
  snapshot:
    description:
      - Also copy every live entry that is not replaced (and not in O(exclude)) into
        O(set_aside_dir).
      - Without it, O(staged) is required (something must go live).
    type: bool
    default: false
  exclude:
    description: Top-level names of O(project_src) and O(staged) never moved or copied.
    type: list
    elements: str
    default: [staging]
  start:
    description: Start the project after the switch. When V(false) the gateway stays stopped.
    type: bool
    default: true
  stop_timeout:
    description: Seconds the gateway has to stop before it is killed.
    type: int
    default: 30
  backup_dir:
    description:
      - After the start, archive O(set_aside_dir) into this directory (needs O(snapshot)); created
        with mode C(0700) when missing.
    type: path
  backup_keep:
    description: Archives of this instance to keep in O(backup_dir); V(0) keeps all.
    type: int
    default: 0
  backup_label:
    description: Free text stored in the archive's manifest.
    type: str
  remove_set_aside:
    description:
      - Remove O(set_aside_dir) once the archive in O(backup_dir) is written (needs
        O(backup_dir)).
    type: bool
    default: false
  wait_url:
    description:
      - With O(backup_dir), the gateway's root URL, for example V(http://127.0.0.1:18789).
        The archive is written once the gateway there is live (C(GET /healthz)) or after
        O(wait_timeout) seconds, whichever comes first, so that it does not compete with
        the gateway's start for the CPU. It is written either way; RV(live) tells.
    type: str
  wait_timeout:
    description: Seconds to wait for O(wait_url) to be live.
    type: int
    default: 60
extends_documentation_fragment:
  - clawdeploy.openclaw.attributes
attributes:
  check_mode:
    support: full
    details:
      - Checks the inputs and reports what would be moved, copied and put live; stops,
        moves and starts nothing.
  diff_mode:
    support: full
    details:
      - Lists the top-level names replaced (before) and put live (after); never contents.
  idempotent:
    support: none
    details:
      - Every run stops and starts the gateway; run it only when a switch is wanted.
notes:
  - Runs on the target as root; needs Python 3.8 or later, the Docker CLI with Compose v2
    and GNU C(cp) there.
  - The moved and copied entries hold the instance's tokens; O(set_aside_dir) is made C(0700).
seealso:
  - module: clawdeploy.openclaw.openclaw_backup
"""

EXAMPLES = r"""
- name: Switch instance main to the staged .env and config, keeping a quiesced snapshot
  clawdeploy.openclaw.openclaw_switch:
    instance: main
    project_src: /opt/openclaw-assistant/instances/main
    project_name: openclaw-main
    container: openclaw-gateway-main
    staged: /opt/openclaw-assistant/instances/main/staging/next
    set_aside_dir: /opt/openclaw-assistant/instances/main/staging/before
    snapshot: true
    backup_dir: /opt/openclaw-assistant/backups
    backup_keep: 5
    backup_label: before upgrade to 2026.9.6
  register: gateway_switch

- name: Back up instance main with the gateway down only for the copy
  clawdeploy.openclaw.openclaw_switch:
    instance: main
    project_src: /opt/openclaw-assistant/instances/main
    project_name: openclaw-main
    container: openclaw-gateway-main
    set_aside_dir: /opt/openclaw-assistant/instances/main/staging/backup
    snapshot: true
    backup_dir: /opt/openclaw-assistant/backups
    remove_set_aside: true
"""

RETURN = r"""
undone:
  description:
    - With a failure, whether the instance was put back as it was (and started again if it
      ran).
  returned: failure
  type: bool
  sample: true
set_aside_dir:
  description:
    - O(set_aside_dir) (the one made in O(set_aside_root)), holding what the switch replaced
      (removed with O(remove_set_aside)).
  returned: always
  type: str
  sample: /opt/openclaw-assistant/set-aside/main/20261201T120000Z
was_running:
  description: Whether the gateway container ran before the switch.
  returned: success
  type: bool
  sample: true
started:
  description: Whether the project was started after the switch.
  returned: success
  type: bool
  sample: true
put_live:
  description: Top-level names renamed from O(staged) into O(project_src).
  returned: success
  type: list
  elements: str
  sample: [.env, config]
move_aside:
  description: Top-level names of O(project_src) moved into O(set_aside_dir).
  returned: success
  type: list
  elements: str
  sample: [.env, config]
copy:
  description: Top-level names of O(project_src) copied into O(set_aside_dir) (O(snapshot)).
  returned: success
  type: list
  elements: str
  sample: [data, openclaw_sidecar.compose.yml]
backup:
  description: The archive written from O(set_aside_dir), or V(null).
  returned: success
  type: dict
  contains:
    path:
      description: The archive.
      type: str
      sample: /opt/openclaw-assistant/backups/main-20261201T120000Z.tar.gz
    sha256:
      description: SHA-256 of the archive file.
      type: str
      sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
    files:
      description: Regular files in the archive.
      type: int
      sample: 1212
    bytes:
      description: Size of the archive in bytes.
      type: int
      sample: 15309012
    pruned:
      description: Older archives removed by O(backup_keep).
      type: list
      elements: str
      sample: []
live:
  description:
    - Whether the gateway at O(wait_url) was live before the archive was written; V(null)
      without O(wait_url).
  returned: success, not in check mode
  type: bool
  sample: true
timings:
  description:
    - Seconds spent copying while the gateway served, stopping, moving and copying what
      changed, starting, and after the start (waiting for O(wait_url), archive).
  returned: success, not in check mode
  type: dict
  sample: {precopy: 0.35, stop: 0.41, files: 0.02, start: 0.3, after_start: 3.2}
precopy_problems:
  description:
    - What the copy made while the gateway served reported (for example files that vanished
      under it); repaired by the second pass after the stop.
  returned: success, not in check mode
  type: list
  elements: str
  sample: []
window:
  description:
    - Seconds from the stop request to the return of C(docker compose up); the gateway's own
      start follows.
  returned: success, not in check mode
  type: float
  sample: 1.36
"""

import contextlib
import os
import shutil
from typing import Any, Dict, List

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import archive, names, probe
from ansible_collections.clawdeploy.openclaw.plugins.module_utils import backup as bk
from ansible_collections.clawdeploy.openclaw.plugins.module_utils import switch as sw


class _DockerCli(sw.Runtime):
    """The switch's container engine: the Docker CLI and Compose v2 plugin on the host."""

    def __init__(self, module: AnsibleModule):
        self.module = module
        self.params = module.params
        self.docker = module.get_bin_path("docker", required=True)
        self.cp = module.get_bin_path("cp", required=True)

    def _run(self, args: List[str], what: str) -> str:
        rc, out, err = self.module.run_command(args)
        if rc != 0:
            raise RuntimeError("%s (rc %d): %s" % (what, rc, (err or out).strip()[-2000:]))
        return out

    def running(self) -> bool:
        args = [self.docker, "inspect", "--format", "{{.State.Running}}", self.params["container"]]
        rc, out, _err = self.module.run_command(args)
        return rc == 0 and out.strip() == "true"

    def stop(self) -> None:
        timeout = str(self.params["stop_timeout"])
        self._run([self.docker, "stop", "--time", timeout, self.params["container"]], "docker stop")

    def start_again(self) -> None:
        self._run([self.docker, "start", self.params["container"]], "docker start")

    def up(self) -> None:
        args = [self.docker, "compose", "--ansi", "never"]
        args += ["--project-directory", self.params["project_src"]]
        args += ["--project-name", self.params["project_name"]]
        for name in self.params["files"]:
            args += ["--file", os.path.join(self.params["project_src"], name)]
        args += ["up", "--detach", "--no-color", "--quiet-pull", "--pull", "never", "--no-build"]
        args += ["--remove-orphans"]
        self._run(args, "docker compose up")

    def copy(self, source: str, target: str) -> None:
        self._run([self.cp, "-a", "--reflink=auto", "--", source, target], "cp -a %s" % source)


def _archive(module: AnsibleModule) -> Dict[str, Any]:
    params = module.params
    live = None
    if params["wait_url"]:
        seen = probe.probe_gateway(
            params["wait_url"],
            None,
            responses=False,
            deadline=params["wait_timeout"],
            interval=0.25,
            timeout=2.0,
        )
        live = seen["ok"]
    with contextlib.suppress(OSError):
        os.nice(10)  # below the gateway, which has just started beside us
    done = bk.create(
        src=params["set_aside_dir"],
        dest_dir=params["backup_dir"],
        instance=params["instance"],
        label=params["backup_label"],
        keep=params["backup_keep"],
    )
    for item in done["skipped"]:
        module.warn("not archived: %s (%s)" % (item["path"], item["reason"]))
    if params["remove_set_aside"]:
        shutil.rmtree(params["set_aside_dir"])
    result = {key: done[key] for key in ("path", "sha256", "files", "bytes", "pruned")}
    return dict(result, live=live)


def _new_set_aside_dir(directory: str, check_mode: bool) -> str:
    """A free ``<directory>/<UTC stamp>[-N]`` path; ``directory`` is made 0700 if missing."""
    if not check_mode and not os.path.isdir(directory):
        os.makedirs(directory, sw.SET_ASIDE_MODE)
        os.chmod(directory, sw.SET_ASIDE_MODE)
    return bk.set_aside_path(directory, names.utcnow())


# The argument spec, with the option dependencies it can declare.
MODULE_ARGS: Dict[str, Any] = dict(
    argument_spec=dict(
        instance=dict(type="str", required=True),
        project_src=dict(type="path", required=True),
        project_name=dict(type="str", required=True),
        files=dict(type="list", elements="str", default=["openclaw_sidecar.compose.yml"]),
        container=dict(type="str", required=True),
        staged=dict(type="path"),
        set_aside_dir=dict(type="path"),
        set_aside_root=dict(type="path"),
        snapshot=dict(type="bool", default=False),
        exclude=dict(type="list", elements="str", default=["staging"]),
        start=dict(type="bool", default=True),
        stop_timeout=dict(type="int", default=30),
        backup_dir=dict(type="path"),
        backup_keep=dict(type="int", default=0),
        backup_label=dict(type="str"),
        remove_set_aside=dict(type="bool", default=False),
        wait_url=dict(type="str"),
        wait_timeout=dict(type="int", default=60),
    ),
    required_one_of=[("set_aside_dir", "set_aside_root")],
    mutually_exclusive=[("set_aside_dir", "set_aside_root")],
    required_if=[
        # without a snapshot, something must go live
        ("snapshot", False, ("staged",)),
        ("remove_set_aside", True, ("backup_dir",)),
    ],
    supports_check_mode=True,
)


def _run(module: AnsibleModule) -> Dict[str, Any]:
    """The switch (or in check mode its plan); the module's result without ``changed``."""
    params = module.params
    archive.validate_instance(params["instance"])
    if params["set_aside_root"]:
        params["set_aside_dir"] = _new_set_aside_dir(params["set_aside_root"], module.check_mode)
    runtime = _DockerCli(module)
    args = dict(
        live=params["project_src"],
        set_aside_dir=params["set_aside_dir"],
        staged=params["staged"],
        snapshot=params["snapshot"],
        exclude=params["exclude"],
    )
    if module.check_mode:
        result = dict(sw.plan(check_parent=not params["set_aside_root"], **args))
        result.update(was_running=runtime.running(), started=False, backup=None)
        return result
    result = sw.switch(
        runtime=runtime,
        start=params["start"],
        after_start=(lambda: _archive(module)) if params["backup_dir"] else None,
        **args,
    )
    for problem in result["precopy_problems"]:
        module.warn("first copy (repaired after the stop): %s" % problem)
    result["backup"] = result.pop("after_start")
    result["live"] = result["backup"].pop("live") if result["backup"] else None
    return result


def main() -> None:
    """Module entry point."""
    module = AnsibleModule(**MODULE_ARGS)
    params = module.params
    # A value dependency the argument spec cannot state (required_if only asks for
    # presence): an archive of a partial set-aside would not be a backup.
    if params["backup_dir"] and not params["snapshot"]:
        module.fail_json(msg="backup_dir archives a complete snapshot: set snapshot=true too")
    try:
        result = _run(module)
    except sw.SwitchError as exc:
        module.fail_json(
            msg=str(exc),
            undone=exc.undone,
            set_aside_dir=exc.set_aside_dir or params["set_aside_dir"],
        )
    except (archive.BackupError, OSError) as exc:
        module.fail_json(msg=to_native(exc), undone=True, set_aside_dir=params["set_aside_dir"])
    result.update(changed=True, set_aside_dir=params["set_aside_dir"])
    if module._diff:
        result["diff"] = dict(
            before_header=params["project_src"],
            after_header="%s (from %s)" % (params["project_src"], params["staged"] or "-"),
            before="".join("%s\n" % name for name in result["move_aside"]),
            after="".join("%s\n" % name for name in result["put_live"]),
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()

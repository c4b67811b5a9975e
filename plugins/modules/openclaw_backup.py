#!/usr/bin/python
# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: openclaw_backup
short_description: Back up the directory of an OpenClaw gateway instance, or stage a backup
version_added: 0.1.0
author:
  - ClawDeploy maintainers (@clawdeploy)
description:
  - Archives one gateway instance directory (for example
    C(/opt/openclaw-assistant/instances/main), holding C(.env), C(openclaw_sidecar.compose.yml),
    C(config/) and C(data/openclaw_home/), C(data/openclaw_workspace/)) into a
    gzip-compressed tar file with a checksum manifest, or stages such an archive for
    M(clawdeploy.openclaw.openclaw_switch) to put live.
  - The module does not talk to Docker. Stop the gateway container of the instance before
    O(state=create), so the SQLite state is copied quiesced, and start it again afterwards
    (M(clawdeploy.openclaw.openclaw_switch) does both with the shortest stop).
  - O(state=create) writes C(<dest_dir>/<instance>-<UTC YYYYmmddTHHMMSSZ>.tar.gz) (when that
    name exists, C(-2), C(-3)... is added before C(.tar.gz)), mode C(0600). It is written
    to a temporary file in O(dest_dir), made C(0600) before any data is written, and
    renamed into place, so an archive under its final name is always complete. Then, with
    O(keep), older archives of the same instance are removed. It always reports a change.
  - "Archive format C(clawdeploy-backup/1): the first member is C(manifest.json), a JSON
    object with C(format) (V(clawdeploy-backup/1)), C(instance), C(created_at) (UTC,
    C(2026-11-23T17:58:00Z)), C(openclaw_version) (the C(OPENCLAW_VERSION=) of
    C(<src>/.env), or V(null)), C(label) and C(entries): one object per file, directory
    and symbolic link, sorted by C(path) (relative to the instance directory), with
    C(type) (V(file), V(dir) or V(symlink)), C(mode) (octal string such as V(0600)),
    C(uid), C(gid), C(user), C(group) (names, V(null) when the id had no name), and
    C(size) (bytes) and C(sha256) for files, C(target) for links. Then one tar member per
    entry, in the same order, named C(instance/<path>), with mode, owner (ids and names)
    and modification time of the original."
  - Symbolic links are archived as links and never followed. Links pointing outside O(src),
    sockets, FIFOs and devices are left out with a warning (RV(skipped)).
  - O(state=stage) is the half of a restore that can be done while the gateway still runs.
    It verifies the archive (a mismatch (RV(mismatches)) or an archive of another instance
    fails the task before anything is written), and unless O(dest) already holds exactly
    the archived entries (same type, checksum, link target, mode and owner), extracts it
    (modes, owners and times preserved) into the new directory O(staging) (mode C(0700))
    on the file system of O(dest), for example C(<dest>/staging/next). The module
    M(clawdeploy.openclaw.openclaw_switch) then renames the staged entries into O(dest)
    while the gateway is stopped, which takes milliseconds instead of the extraction's
    seconds.
options:
  state:
    description:
      - V(create) archives O(src) into O(dest_dir) (needs O(src) and O(dest_dir)).
      - V(stage) extracts the archive O(path) into O(staging) when O(dest) differs from it
        (needs O(path), O(dest) and O(staging)).
    type: str
    choices: [create, stage]
    default: create
  instance:
    description:
      - Name of the gateway instance, for example V(main). Stored in the manifest and part
        of the archive name; O(state=stage) refuses an archive of another instance.
    type: str
    required: true
  src:
    description:
      - With O(state=create), the instance directory to archive, for example
        C(/opt/openclaw-assistant/instances/main).
    type: path
  dest_dir:
    description:
      - With O(state=create), the directory the archive is written to, for example
        C(/opt/openclaw-assistant/backups).
      - Created with mode C(0700) when missing; its parent must exist.
      - When it lies inside O(src), it is left out of the archive.
    type: path
  exclude:
    description:
      - With O(state=create), paths relative to O(src) to leave out, with everything below
        them, for example V(staging) or V(set-aside).
      - When the archive is put live, an excluded path below a top-level directory of the
        archive (for example V(data/openclaw_home/cache)) is set aside with that directory.
    type: list
    elements: str
    default: []
  keep:
    description:
      - With O(state=create), the number of archives of this instance to keep in O(dest_dir),
        counting the one just written; older ones (by the time in their name) are removed
        and returned in RV(pruned). Only files named C(<instance>-<timestamp>[-N].tar.gz)
        are considered. The archive just written is never removed.
      - V(0) keeps all archives.
    type: int
    default: 0
  label:
    description:
      - With O(state=create), free text stored in the manifest, for example
        V(pre-upgrade to 2026.9.6).
    type: str
  path:
    description:
      - With O(state=stage), the archive, for example
        C(/opt/openclaw-assistant/backups/main-20261123T175800Z.tar.gz).
    type: path
  dest:
    description:
      - With O(state=stage), the instance directory the staged entries are meant for; it is
        compared with the archive, and created (C(0750)) when missing.
    type: path
  staging:
    description:
      - With O(state=stage), the directory to extract into. It must not exist (a leftover
        one is an error, as it may hold what an interrupted run staged) and its parent must
        be on the file system of O(dest); the parent is created (C(0750)) when missing.
    type: path
extends_documentation_fragment:
  - clawdeploy.openclaw.attributes
attributes:
  check_mode:
    support: full
    details:
      - O(state=create) writes and removes nothing; RV(path) is the name that would be
        used, RV(pruned) what would be removed; RV(sha256) and RV(bytes) are V(null) and
        no checksums are computed.
      - O(state=stage) verifies the archive and compares O(dest) with it, but extracts
        nothing.
  diff_mode:
    support: full
    details:
      - O(state=create) lists the archives of the instance in O(dest_dir) before and after.
      - O(state=stage) lists, one line per path, type, mode, owner, size and a sha256
        prefix of each entry of O(dest) that would change, before and after.
        File contents are never shown.
  idempotent:
    support: partial
    details:
      - O(state=create) writes a new archive on every run.
      - O(state=stage) changes nothing when O(dest) already matches the archive.
notes:
  - Runs on the target; needs Python 3.8 or later there and only the standard library.
  - Run it as root (C(become=true)). Owners are restored and compared only when it runs
    as root, by user and group name when the name exists on the target, else by numeric id.
  - The archive holds the instance's tokens (C(.env)); keep O(dest_dir) private. The
    module never returns file contents.
seealso:
  - module: clawdeploy.openclaw.openclaw_backup_info
  - module: clawdeploy.openclaw.openclaw_switch
"""

EXAMPLES = r"""
- name: Stop the gateway of instance main (quiesced copy)
  ansible.builtin.command:
    cmd: docker compose -f openclaw_sidecar.compose.yml stop
    chdir: /opt/openclaw-assistant/instances/main
  changed_when: true

- name: Back up instance main before the upgrade, keep the newest 5 archives
  clawdeploy.openclaw.openclaw_backup:
    instance: main
    src: /opt/openclaw-assistant/instances/main
    dest_dir: /opt/openclaw-assistant/backups
    exclude: [staging, set-aside]
    label: pre-upgrade to 2026.9.6
    keep: 5
  register: gateway_backup

- name: Check an archive
  clawdeploy.openclaw.openclaw_backup_info:
    instance: main
    path: "{{ gateway_backup.path }}"

- name: Stage it while the gateway runs (openclaw_switch puts it live)
  clawdeploy.openclaw.openclaw_backup:
    state: stage
    instance: main
    path: /opt/openclaw-assistant/backups/main-20261123T175800Z.tar.gz
    dest: /opt/openclaw-assistant/instances/main
    staging: /opt/openclaw-assistant/instances/main/staging/next
  register: gateway_staged

- name: Put the staged archive live with one short stop
  clawdeploy.openclaw.openclaw_switch:
    instance: main
    project_src: /opt/openclaw-assistant/instances/main
    project_name: openclaw-main
    container: openclaw-gateway-main
    staged: /opt/openclaw-assistant/instances/main/staging/next
    set_aside_root: /opt/openclaw-assistant/set-aside/main
  when: gateway_staged.staged
"""

RETURN = r"""
path:
  description:
    - The archive written (O(state=create); in check mode the name that would be used) or
      read.
  returned: always
  type: str
  sample: /opt/openclaw-assistant/backups/main-20261123T175800Z.tar.gz
sha256:
  description: SHA-256 hex digest of the archive file; V(null) in check mode.
  returned: when O(state=create)
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
files:
  description: Number of regular files in the archive.
  returned: always
  type: int
  sample: 42
bytes:
  description: Size of the archive file in bytes; V(null) in check mode with O(state=create).
  returned: always
  type: int
  sample: 1048576
manifest:
  description: The archive's manifest without its entries.
  returned: always
  type: dict
  contains:
    format:
      description: Archive format.
      type: str
      sample: clawdeploy-backup/1
    instance:
      description: Instance the archive belongs to.
      type: str
      sample: main
    created_at:
      description: When the archive was made (UTC).
      type: str
      sample: "2026-11-23T17:58:00Z"
    openclaw_version:
      description: C(OPENCLAW_VERSION) of the instance's C(.env) at the time, or V(null).
      type: str
      sample: "2026.9.6"
    label:
      description: The O(label) given when it was made, or V(null).
      type: str
      sample: pre-upgrade to 2026.9.6
    entries:
      description: Number of entries (files, directories and links).
      type: int
      sample: 57
pruned:
  description: Older archives removed by O(keep) (in check mode, that would be removed).
  returned: when O(state=create)
  type: list
  elements: str
  sample: [/opt/openclaw-assistant/backups/main-20261001T120000Z.tar.gz]
skipped:
  description: What O(src) holds that was not archived, with the reason.
  returned: when O(state=create)
  type: list
  elements: dict
  sample: [{path: data/openclaw_home/gateway.sock, reason: socket}]
ok:
  description: Whether the archive matches its manifest (always V(true) when the task succeeds).
  returned: when O(state=stage)
  type: bool
  sample: true
mismatches:
  description:
    - What differs between the archive and its manifest (empty on success), as returned by
      M(clawdeploy.openclaw.openclaw_backup_info); also returned with the failure.
  returned: when O(state=stage)
  type: list
  elements: dict
  sample: []
restored:
  description: Number of entries written into O(staging); in check mode, that would be; V(0)
    when O(dest) already matched.
  returned: when O(state=stage)
  type: int
  sample: 57
staged:
  description: O(staging) when the archive was extracted there (in check mode, would be), or
    V(null) when O(dest) already matched it.
  returned: when O(state=stage)
  type: str
  sample: /opt/openclaw-assistant/instances/main/staging/next
"""

from typing import Any, Dict

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import archive, stage
from ansible_collections.clawdeploy.openclaw.plugins.module_utils import backup as bk


def _listing(paths) -> str:
    return "".join("%s\n" % p for p in paths)


def _create(module: AnsibleModule) -> Dict[str, Any]:
    params = module.params
    done = bk.create(
        src=params["src"],
        dest_dir=params["dest_dir"],
        instance=params["instance"],
        exclude=params["exclude"],
        label=params["label"],
        keep=params["keep"],
        check_mode=module.check_mode,
    )
    for item in done["skipped"]:
        module.warn("not archived: %s (%s)" % (item["path"], item["reason"]))
    result = dict(
        changed=True,
        path=done["path"],
        sha256=done["sha256"],
        files=done["files"],
        bytes=done["bytes"],
        manifest=archive.summary(done["manifest"]),
        pruned=done["pruned"],
        skipped=done["skipped"],
    )
    if module._diff:
        result["diff"] = dict(
            before_header=params["dest_dir"],
            after_header=params["dest_dir"],
            before=_listing(done["archives_before"]),
            after=_listing(done["archives_after"]),
        )
    return result


def _stage(module: AnsibleModule) -> Dict[str, Any]:
    params = module.params
    done = stage.stage(
        path=params["path"],
        dest=params["dest"],
        staging=params["staging"],
        instance=params["instance"],
        check_mode=module.check_mode,
    )
    result = dict(
        changed=done["changed"],
        path=params["path"],
        ok=done["ok"],
        mismatches=done["mismatches"],
        manifest=archive.summary(done["manifest"]),
        files=done["files"],
        bytes=done["bytes"],
        restored=done["restored"],
        staged=done["staged"],
    )
    if module._diff:
        diffs = done["differences"]
        result["diff"] = dict(
            before_header=params["dest"],
            after_header="%s (from %s)" % (params["dest"], params["path"]),
            before=_listing("%s: %s" % (p, before) for p, before, _after in diffs if before),
            after=_listing("%s: %s" % (p, after) for p, _before, after in diffs if after),
        )
    return result


def main() -> None:
    """Module entry point."""
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="create", choices=["create", "stage"]),
            instance=dict(type="str", required=True),
            src=dict(type="path"),
            dest_dir=dict(type="path"),
            exclude=dict(type="list", elements="str", default=[]),
            keep=dict(type="int", default=0),
            label=dict(type="str"),
            path=dict(type="path"),
            dest=dict(type="path"),
            staging=dict(type="path"),
        ),
        required_if=[
            ("state", "create", ("src", "dest_dir")),
            ("state", "stage", ("path", "dest", "staging")),
        ],
        supports_check_mode=True,
    )
    state = module.params["state"]
    try:
        archive.validate_instance(module.params["instance"])
        result = _create(module) if state == "create" else _stage(module)
    except archive.ArchiveMismatch as exc:
        module.fail_json(
            msg=str(exc),
            path=module.params["path"],
            instance=module.params["instance"],
            ok=False,
            mismatches=exc.mismatches,
        )
    except archive.BackupError as exc:
        module.fail_json(msg=str(exc), instance=module.params["instance"])
    except OSError as exc:
        module.fail_json(
            msg="%s failed: %s" % (state, to_native(exc)), instance=module.params["instance"]
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()

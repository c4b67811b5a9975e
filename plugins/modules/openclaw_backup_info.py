#!/usr/bin/python
# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: openclaw_backup_info
short_description: Check a backup archive of an OpenClaw gateway instance against its manifest
version_added: 0.1.0
author:
  - ClawDeploy maintainers (@clawdeploy)
description:
  - Reads an archive written by M(clawdeploy.openclaw.openclaw_backup) (format
    C(clawdeploy-backup/1), described there) and checks every member against the
    checksum manifest it starts with; returns the manifest's summary.
  - Any difference (RV(mismatches)), an archive that cannot be read, and an archive of
    another instance fail the task, so a later step never uses a damaged archive.
  - Replaces C(openclaw_backup state=verify).
options:
  instance:
    description:
      - Name of the gateway instance the archive must belong to, for example V(main).
    type: str
    required: true
  path:
    description:
      - The archive, for example
        C(/opt/openclaw-assistant/backups/main-20261123T175800Z.tar.gz).
    type: path
    required: true
extends_documentation_fragment:
  - clawdeploy.openclaw.attributes
  - clawdeploy.openclaw.attributes.info_module
notes:
  - Runs on the target; needs Python 3.8 or later there and only the standard library.
  - Reading an archive of an instance's state usually needs root (C(become=true)); the
    module never returns file contents.
seealso:
  - module: clawdeploy.openclaw.openclaw_backup
"""

EXAMPLES = r"""
- name: Check the archive a rollback will restore
  clawdeploy.openclaw.openclaw_backup_info:
    instance: main
    path: /opt/openclaw-assistant/backups/main-20261123T175800Z.tar.gz
  register: gateway_archive

- name: Show which version it holds
  ansible.builtin.debug:
    msg: "{{ gateway_archive.manifest.openclaw_version }} ({{ gateway_archive.files }} files)"
"""

RETURN = r"""
path:
  description: The archive read.
  returned: always
  type: str
  sample: /opt/openclaw-assistant/backups/main-20261123T175800Z.tar.gz
ok:
  description: Whether the archive matches its manifest (always V(true) when the task succeeds).
  returned: always
  type: bool
  sample: true
mismatches:
  description:
    - Differences between the archive and its manifest, as C(path) and C(reason) (for
      example V(sha256 differs), V(missing from archive), V(not in manifest),
      V(symbolic link pointing outside the instance directory)); empty on success.
    - Also returned with the failure of a mismatching archive.
  returned: always
  type: list
  elements: dict
  sample: []
files:
  description: Number of regular files in the archive.
  returned: success
  type: int
  sample: 42
bytes:
  description: Size of the archive file in bytes.
  returned: success
  type: int
  sample: 1048576
manifest:
  description:
    - The archive's manifest without its entries, as returned by
      M(clawdeploy.openclaw.openclaw_backup).
  returned: success
  type: dict
  sample:
    format: clawdeploy-backup/1
    instance: main
    created_at: "2026-11-23T17:58:00Z"
    openclaw_version: "2026.9.6"
    label: pre-upgrade to 2026.9.6
    entries: 57
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import archive


def main() -> None:
    """Module entry point."""
    module = AnsibleModule(
        argument_spec=dict(
            instance=dict(type="str", required=True),
            path=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    path, instance = module.params["path"], module.params["instance"]
    try:
        archive.validate_instance(instance)
        checked = archive.verified(path, instance)
    except archive.ArchiveMismatch as exc:
        module.fail_json(
            msg=str(exc), path=path, instance=instance, ok=False, mismatches=exc.mismatches
        )
    except archive.BackupError as exc:
        module.fail_json(msg=str(exc), path=path, instance=instance)
    except OSError as exc:
        module.fail_json(msg="verify failed: %s" % to_native(exc), path=path, instance=instance)
    module.exit_json(
        changed=False,
        path=path,
        ok=checked["ok"],
        mismatches=checked["mismatches"],
        manifest=archive.summary(checked["manifest"]),
        files=checked["files"],
        bytes=checked["bytes"],
    )


if __name__ == "__main__":
    main()

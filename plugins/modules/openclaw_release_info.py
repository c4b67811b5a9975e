#!/usr/bin/python
# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: openclaw_release_info
short_description: Read the release history of an OpenClaw gateway instance
version_added: 0.1.0
author:
  - ClawDeploy maintainers (@clawdeploy)
description:
  - Reads the release history that M(clawdeploy.openclaw.openclaw_release) keeps for one
    gateway instance (the releases, oldest first, and which one is current and which one
    is previous) without changing anything. A missing file is an empty history.
  - A history of another instance, or one that is not valid JSON of the expected shape,
    fails the task with what is wrong.
  - Replaces C(openclaw_release state=query).
options:
  path:
    description:
      - The history file, for example C(/opt/openclaw-assistant/releases/main.json).
      - Symbolic links are followed.
    type: path
    required: true
  instance:
    description:
      - Name of the gateway instance, for example V(main). The history must be this
        instance's.
    type: str
    required: true
extends_documentation_fragment:
  - clawdeploy.openclaw.attributes
  - clawdeploy.openclaw.attributes.info_module
notes:
  - Runs on the target; needs Python 3.8 or later there and only the standard library.
seealso:
  - module: clawdeploy.openclaw.openclaw_release
"""

EXAMPLES = r"""
- name: Read the history (for the status table or a rollback)
  clawdeploy.openclaw.openclaw_release_info:
    path: /opt/openclaw-assistant/releases/main.json
    instance: main
  register: gateway_history

- name: Show the current release
  ansible.builtin.debug:
    msg: "{{ gateway_history.current.version | default('none yet') }}"
"""

RETURN = r"""
path:
  description: The history file.
  returned: always
  type: str
  sample: /opt/openclaw-assistant/releases/main.json
instance:
  description: The instance name.
  returned: always
  type: str
  sample: main
exists:
  description: Whether the history file exists (V(false) is an empty history).
  returned: success
  type: bool
  sample: true
current:
  description:
    - The current release (V(null) in an empty history), with the keys of
      M(clawdeploy.openclaw.openclaw_release)'s C(current).
  returned: success
  type: dict
  sample: {id: 20261123T175800Z-2026.9.6, version: "2026.9.6", status: active}
previous:
  description: The release a rollback goes to by default (V(null) when there is none).
  returned: success
  type: dict
  sample: null
releases:
  description: All kept releases, oldest first, with the keys shown in RV(current).
  returned: success
  type: list
  elements: dict
  sample: []
images:
  description: Image references (names and ids) of the kept releases.
  returned: success
  type: list
  elements: str
  sample: ["clawdeploy/openclaw:2026.9.6", "sha256:5b0e8a3c..."]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import release as rel


def main() -> None:
    """Module entry point."""
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            instance=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    path, instance = module.params["path"], module.params["instance"]
    try:
        rel.validate_instance(instance)
        real_path = os.path.realpath(path)
        exists = os.path.exists(real_path)
        if exists and not os.path.isfile(real_path):
            raise rel.ReleaseError("%s exists but is not a regular file" % path)
        history = rel.load(real_path, instance)
    except rel.ReleaseError as exc:
        module.fail_json(msg=str(exc), path=path, instance=instance)
    module.exit_json(
        changed=False,
        path=path,
        instance=instance,
        exists=exists,
        current=rel.current(history),
        previous=rel.previous(history),
        releases=history["releases"],
        images=rel.referenced_images(history),
    )


if __name__ == "__main__":
    main()

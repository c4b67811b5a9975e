#!/usr/bin/python
# Copyright (c) ClawDeploy maintainers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: openclaw_release
short_description: Keep the release history of an OpenClaw gateway instance for rollback
version_added: 0.1.0
author:
  - ClawDeploy maintainers (@clawdeploy)
description:
  - Keeps one JSON file per gateway instance on the host (by default
    C(<gateway_root>/releases/<instance>.json)) listing its deployments, oldest first,
    each with its OpenClaw version, image reference, image id, config checksum, time
    (UTC), the backup taken before it, a status and a note; plus which release is
    current and which one is previous.
  - O(state=present) records a deployment. Recording the same O(version), O(image_id)
    and O(config_sha256) as the current release changes nothing, so a re-run of a deploy
    play reports no change.
  - O(state=rollback) makes O(target) current and marks the release it replaces
    V(rolled_back). O(state=failed) marks the current release V(failed) and makes the
    previous one current again (automatic rollback after a failed health check).
  - M(clawdeploy.openclaw.openclaw_release_info) reads the history without changing it.
  - The module only keeps the books. Switching containers, images and state is the
    playbook's job; this module tells it which release to switch to (RV(current)) and
    which images are still needed (RV(images)).
  - The history is pruned to the newest O(keep) releases;
    the current and the previous release are never pruned. Removed releases are returned
    in RV(pruned), and image references no kept release uses in RV(prunable_images).
  - The file is written atomically (a temporary file in the same directory renamed over
    it) with mode C(0600); a wrong mode of an existing file is corrected.
options:
  path:
    description:
      - The history file, for example C(/opt/openclaw-assistant/releases/main.json).
      - Symbolic links are followed.
      - Its directory must exist (in check mode a missing directory is reported as a
        change, since an earlier task of the same run may be about to create it).
    type: path
    required: true
  instance:
    description:
      - Name of the gateway instance, for example V(main). Stored in the file and
        checked on every run, so the history of one instance is never used for another.
    type: str
    required: true
  state:
    description:
      - V(present) records a deployment (needs O(version), O(image), O(image_id) and
        O(config_sha256)).
      - V(rollback) makes O(target) the current release.
      - V(failed) marks the current release failed and makes the previous one current.
    type: str
    choices: [present, rollback, failed]
    default: present
  version:
    description:
      - OpenClaw version of the deployment, of the form C(YYYY.M.D) (npm's date
        versions, for example V(2026.9.6)).
      - Required with O(state=present).
    type: str
  image:
    description:
      - Image reference the instance runs, for example V(clawdeploy/openclaw:2026.9.6).
      - Required with O(state=present).
    type: str
  image_id:
    description:
      - Image id (C(docker image inspect) C(Id), V(sha256:...)), so a rollback finds the
        exact image again even if the tag moved.
      - Required with O(state=present).
    type: str
  config_sha256:
    description:
      - SHA-256 hex digest of the instance's rendered config file (for example the
        C(checksum) of M(ansible.builtin.stat) with C(checksum_algorithm=sha256)).
      - Required with O(state=present).
    type: str
  backup_path:
    description:
      - Backup of the instance's state taken before this deployment (by the version that
        was running then); what a rollback to the previous release restores.
      - Only used with O(state=present).
    type: path
  note:
    description:
      - Free text kept with the release, for example who deployed it or why.
      - Only used with O(state=present).
    type: str
  target:
    description:
      - With O(state=rollback), the release to make current, V(previous) (default) or a
        release id. V(previous) is relative to the current release, so each run goes one
        release further back; pass an id to make the task idempotent.
      - With O(state=failed), the id of the release that failed (default the current
        one). When given, a run after that release was already marked failed changes
        nothing.
    type: str
  keep:
    description:
      - Number of releases to keep. Older ones are removed from the history, except the
        current and the previous release.
      - At least 1.
    type: int
    default: 5
extends_documentation_fragment:
  - clawdeploy.openclaw.attributes
attributes:
  check_mode:
    support: full
    details:
      - The returned history is the one that would be written.
  diff_mode:
    support: full
    details:
      - The whole history file before and after, as JSON.
  idempotent:
    support: partial
    details:
      - O(state=rollback) with O(target=previous) and O(state=failed) without O(target)
        are relative to the current release and step back again on every run; give a
        release id to make them idempotent.
notes:
  - Runs on the target; needs Python 3.8 or later there and only the standard library.
  - The history does not hold secrets, but it is kept at C(0600) like the rest of the
    instance's files.
seealso:
  - module: clawdeploy.openclaw.openclaw_release_info
"""

EXAMPLES = r"""
- name: Record the deployment of instance main
  clawdeploy.openclaw.openclaw_release:
    path: /opt/openclaw-assistant/releases/main.json
    instance: main
    version: "2026.9.6"
    image: clawdeploy/openclaw:2026.9.6
    image_id: "{{ gateway_image.image.Id }}"
    config_sha256: "{{ gateway_config_stat.stat.checksum }}"
    backup_path: /opt/openclaw-assistant/backups/main-20261123T175800Z.tar.gz
    note: upgrade from 2026.8.2
  register: gateway_release

- name: Read the history (for the status table or a rollback)
  clawdeploy.openclaw.openclaw_release_info:
    path: /opt/openclaw-assistant/releases/main.json
    instance: main
  register: gateway_history

- name: The new release did not become healthy, go back (automatic rollback)
  clawdeploy.openclaw.openclaw_release:
    path: /opt/openclaw-assistant/releases/main.json
    instance: main
    state: failed
    target: "{{ gateway_release.release.id }}"

- name: Roll back to a named release that is still kept
  clawdeploy.openclaw.openclaw_release:
    path: /opt/openclaw-assistant/releases/main.json
    instance: main
    state: rollback
    target: 20261101T120000Z-2026.8.2
    keep: 5
  register: gateway_rollback

- name: Remove images no kept release uses
  community.docker.docker_image_remove:
    name: "{{ item }}"
  loop: "{{ gateway_rollback.prunable_images }}"
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
current:
  description: The current release after the task (V(null) in an empty history).
  returned: always
  type: dict
  sample:
    id: 20261123T175800Z-2026.9.6
    version: "2026.9.6"
    image: clawdeploy/openclaw:2026.9.6
    image_id: "sha256:5b0e8a3c..."
    config_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    deployed_at: "2026-11-23T17:58:00Z"
    backup_path: /opt/openclaw-assistant/backups/main-20261123T175800Z.tar.gz
    status: active
    note: upgrade from 2026.8.2
previous:
  description: The release a rollback goes to by default (V(null) when there is none).
  returned: always
  type: dict
  sample: null
release:
  description:
    - The release acted on. V(present) the recorded (or matching current) release;
      V(rollback) the target; V(failed) the release marked failed.
  returned: always
  type: dict
  sample: null
releases:
  description: All kept releases, oldest first, with the keys shown in RV(current).
  returned: always
  type: list
  elements: dict
  sample: []
pruned:
  description: Releases removed from the history by this task (with their image references).
  returned: always
  type: list
  elements: dict
  sample: []
images:
  description: Image references (names and ids) of the kept releases; keep these images.
  returned: always
  type: list
  elements: str
  sample: ["clawdeploy/openclaw:2026.9.6", "sha256:5b0e8a3c..."]
prunable_images:
  description: Image references of RV(pruned) releases that no kept release uses.
  returned: always
  type: list
  elements: str
  sample: []
"""

import os
import stat
from typing import Any, Dict, List, Tuple

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import release as rel


def _apply(params: Dict[str, Any], history: rel.History):
    """(new history, release acted on) for the requested state; no pruning."""
    state = params["state"]
    if state == "present":
        new, acted, _changed = rel.record(
            history,
            version=params["version"],
            image=params["image"],
            image_id=params["image_id"],
            config_sha256=params["config_sha256"],
            backup_path=params["backup_path"],
            note=params["note"],
        )
        return new, acted
    if state == "rollback":
        new, acted, _changed = rel.rollback(history, params["target"] or "previous")
        return new, acted
    new, acted, _changed = rel.mark_failed(history, params["target"])  # state failed
    return new, acted


def _check_args(params: Dict[str, Any]) -> None:
    """Raise rel.ReleaseError for an unusable argument."""
    rel.validate_instance(params["instance"])
    if params["keep"] < 1:
        raise rel.ReleaseError("keep must be at least 1, got %d" % params["keep"])
    if params["state"] == "present":
        rel.validate_version(params["version"])
        rel.validate_sha256(params["config_sha256"])


def _save(path: str, real_path: str, after: rel.History, content_changed: bool) -> None:
    """Write the history (or only correct its mode). Raises rel.ReleaseError."""
    directory = os.path.dirname(real_path)
    if not os.path.isdir(directory):
        raise rel.ReleaseError(
            "the directory %s does not exist; create it first (for example with "
            "ansible.builtin.file state=directory mode=0700)" % directory
        )
    try:
        if content_changed:
            rel.write(real_path, after)
        else:
            os.chmod(real_path, rel.FILE_MODE)
    except OSError as exc:
        raise rel.ReleaseError("cannot write %s: %s" % (path, to_native(exc))) from exc


def _diff(
    path: str, before: rel.History, after: rel.History, exists: bool, modes: Tuple[int, bool]
) -> List[Dict[str, Any]]:
    """The content diff (whole file as JSON) and, when ``modes`` says it changed, the mode."""
    mode_before, mode_changed = modes
    content_changed = after != before
    diffs: List[Dict[str, Any]] = [
        dict(
            before_header=path,
            after_header=path,
            before=rel.dumps(before) if exists else "",
            after=rel.dumps(after) if (exists or content_changed) else "",
        )
    ]
    if mode_changed:
        diffs.append(
            dict(
                before=dict(path=path, mode="%04o" % mode_before),
                after=dict(path=path, mode="%04o" % rel.FILE_MODE),
            )
        )
    return diffs


def run(module: AnsibleModule) -> Dict[str, Any]:
    """Do the work; return the result dict. Raises rel.ReleaseError on a user error."""
    params = module.params
    path = params["path"]
    _check_args(params)
    real_path = os.path.realpath(path)  # a symbolic link is followed, not replaced
    exists = os.path.exists(real_path)
    if exists and not os.path.isfile(real_path):
        raise rel.ReleaseError("%s exists but is not a regular file" % path)
    before = rel.load(real_path, params["instance"])
    after, acted = _apply(params, before)
    after, pruned = rel.prune(after, params["keep"])
    content_changed = after != before
    mode_before = stat.S_IMODE(os.stat(real_path).st_mode) if exists else rel.FILE_MODE
    mode_changed = mode_before != rel.FILE_MODE
    changed = bool(content_changed or mode_changed)
    if changed and not module.check_mode:
        _save(path, real_path, after, content_changed)
    images = rel.referenced_images(after)
    prunable = sorted(
        {r[key] for r in pruned for key in ("image", "image_id") if r.get(key)} - set(images)
    )
    result = dict(
        changed=changed,
        path=path,
        instance=params["instance"],
        current=rel.current(after),
        previous=rel.previous(after),
        release=acted,
        releases=after["releases"],
        pruned=pruned,
        images=images,
        prunable_images=prunable,
    )
    if module._diff:
        result["diff"] = _diff(path, before, after, exists, (mode_before, mode_changed))
    return result


def main() -> None:
    """Module entry point."""
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            instance=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "rollback", "failed"]),
            version=dict(type="str"),
            image=dict(type="str"),
            image_id=dict(type="str"),
            config_sha256=dict(type="str"),
            backup_path=dict(type="path"),
            note=dict(type="str"),
            target=dict(type="str"),
            keep=dict(type="int", default=5),
        ),
        required_if=[("state", "present", ("version", "image", "image_id", "config_sha256"))],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except rel.ReleaseError as exc:
        module.fail_json(
            msg=str(exc), path=module.params["path"], instance=module.params["instance"]
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()

# Copyright (c) 2026 ClawDeploy maintainers
# MIT License (see LICENSE)
"""The attribute descriptions every clawdeploy.openclaw module shares.

``extends_documentation_fragment: [clawdeploy.openclaw.attributes]`` gives the
descriptions of C(check_mode), C(diff_mode) and C(idempotent); a module still states each
attribute's C(support) and its own C(details). A module that never changes anything (the
``*_info`` modules, the probe) adds ``clawdeploy.openclaw.attributes.info_module``, which
also sets C(check_mode) and C(idempotent) to full and C(diff_mode) to N/A.
"""

from __future__ import annotations


class ModuleDocFragment:
    """Documentation fragments merged into the modules' DOCUMENTATION by ansible-doc."""

    # The descriptions; each module gives support and details.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: >-
      Can run in check mode and return a changed status prediction without modifying the
      target.
  diff_mode:
    description: >-
      Returns details on what has changed (or would change in check mode) when run in diff
      mode.
  idempotent:
    description: >-
      Running the module twice with the same arguments reports no change the second
      time.
"""

    # For *_info modules, together with the standard fragment above.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
"""

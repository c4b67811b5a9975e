#!/usr/bin/python
# Copyright (c) 2026 ClawDeploy maintainers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: openclaw_probe
short_description: Probe an OpenClaw gateway or the ClawDeploy backend-service and diagnose it
version_added: "0.1.0"
description:
  - For a gateway, sends C(GET /healthz), C(GET /readyz) and a real C(POST /v1/responses)
    (OpenResponses) request with the gateway token, and classifies the outcome into the
    ClawDeploy diagnosis taxonomy with a one-line fix.
  - A gateway 401 C({"error":{"type":"unauthorized"}}) is C(auth_failed); a 401 whose body is a
    failed response object (C(error.code=authentication_error)) means the gateway accepted the
    token but its model provider has no valid credentials, so it is C(upstream_model_error).
  - For the backend-service, sends C(GET /api/v1/status) with its bearer token.
  - Bodies are checked, not only status codes; the gateway's Control UI answers any unknown
    path with C(200 text/html).
  - Retries while the target is unreachable, until O(deadline). Never returns or logs the token.
  - Read-only; the module never changes anything.
author:
  - ClawDeploy maintainers (@clawdeploy)
extends_documentation_fragment:
  - clawdeploy.openclaw.attributes
  - clawdeploy.openclaw.attributes.info_module
options:
  url:
    description: Root URL of the gateway or backend-service, as seen from the managed host.
    type: str
    default: http://127.0.0.1:18789
  target:
    description: What is probed.
    type: str
    choices: [gateway, backend]
    default: gateway
  token:
    description:
      - Bearer token (gateway token or backend API token).
      - Prefer O(token_file) so the token never passes through Ansible variables.
    type: str
  token_file:
    description:
      - Dotenv file on the managed host to read the token from (for example the instance's C(.env)).
      - Ignored when O(token) is set.
    type: path
  token_key:
    description: Key of the token in O(token_file).
    type: str
    default: OPENCLAW_GATEWAY_TOKEN
  responses:
    description:
      - Also send a real model request through C(POST /v1/responses).
      - When false, only liveness (C(/healthz)) is checked.
    type: bool
    default: true
  model:
    description: The OpenResponses C(model) field, C(openclaw) or C(openclaw/<agentId>).
    type: str
    default: openclaw
  timeout:
    description:
      - Seconds for each HTTP request.
      - A fresh 2026.9.x gateway takes 7-13 s for its first model request.
    type: float
    default: 60
  deadline:
    description: Seconds to keep retrying while the target is unreachable; 0 tries once.
    type: float
    default: 0
  retry_on:
    description:
      - Diagnoses to retry as well until O(deadline), e.g. V(upstream_model_error) right after a
        provider key was put back (OpenClaw refuses a provider for a cooldown after an HTTP 401,
        30 s after the first).
    type: list
    elements: str
    default: []
    choices: [auth_failed, backend_unreachable, executor_not_available, network_or_unreachable, ok,
              responses_endpoint_not_enabled_or_not_found, upstream_model_error]
  interval:
    description: Seconds between attempts.
    type: float
    default: 1
  fail_on_error:
    description: Fail the task, with the diagnosis and its fix, when the diagnosis is not C(ok).
    type: bool
    default: false
notes:
  - The probe sends one model request per call when O(responses=true); a 2026.9.x gateway
    records each as a session in its agent store.
"""

EXAMPLES = r"""
- name: Wait up to 4 minutes for the gateway of instance main to answer a model request
  clawdeploy.openclaw.openclaw_probe:
    url: http://127.0.0.1:18789
    token_file: /opt/openclaw-assistant/instances/main/.env
    deadline: 240
    fail_on_error: true

- name: Liveness only
  clawdeploy.openclaw.openclaw_probe:
    url: http://127.0.0.1:18789
    responses: false
  register: live

- name: Probe the backend-service
  clawdeploy.openclaw.openclaw_probe:
    target: backend
    url: http://127.0.0.1:18889
    token_file: /opt/openclaw-assistant/backend-service/backend.env
    token_key: BACKEND_API_TOKEN
"""

RETURN = r"""
diagnosis:
  description: One of ok, auth_failed, responses_endpoint_not_enabled_or_not_found,
    network_or_unreachable, upstream_model_error, backend_unreachable.
  returned: always
  type: str
  sample: ok
ok:
  description: Whether the diagnosis is C(ok).
  returned: always
  type: bool
  sample: true
fix:
  description: The runbook's fix for the diagnosis, in one line.
  returned: always
  type: str
  sample: Nothing to fix.
detail:
  description: What was observed, with any secret masked; empty when ok.
  returned: always
  type: str
  sample: "model request failed (HTTP 401): authentication_error: 401 Incorrect API key provided"
http_status:
  description: HTTP status of the deciding request; null when nothing answered.
  returned: always
  type: int
  sample: 200
latency_ms:
  description: Duration of the deciding request in milliseconds.
  returned: always
  type: int
  sample: 412
reply:
  description: The model's output text when a gateway model request succeeded.
  returned: always
  type: str
  sample: pong
health:
  description:
    - Parsed C(/healthz) body (gateway), or the backend's own view
      (C(service), C(gateway_diagnosis)).
  returned: always
  type: dict
  sample: {"ok": true, "status": "live"}
failing:
  description: The gateway's C(/readyz) failing list (empty when ready).
  returned: always
  type: list
  elements: str
  sample: []
attempts:
  description: Number of attempts made before the result.
  returned: always
  type: int
  sample: 3
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.clawdeploy.openclaw.plugins.module_utils import dotenv
from ansible_collections.clawdeploy.openclaw.plugins.module_utils.probe import (
    DIAGNOSES,
    probe_backend,
    probe_gateway,
)


def _read_token(module: AnsibleModule) -> str | None:
    if module.params["token"]:
        return module.params["token"]
    path = module.params["token_file"]
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            value = dotenv.get(dotenv.parse(handle.read()), module.params["token_key"])
    except OSError as exc:
        module.fail_json(msg="Cannot read token_file %s: %s" % (path, exc.strerror))
    except ValueError:
        module.fail_json(msg="token_file %s is not a valid dotenv file" % path)
    if not value:
        module.fail_json(msg="%s has no %s" % (path, module.params["token_key"]))
    module.no_log_values.add(value)
    return value


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", default="http://127.0.0.1:18789"),
            target=dict(type="str", choices=["gateway", "backend"], default="gateway"),
            token=dict(type="str", no_log=True),
            token_file=dict(type="path"),
            token_key=dict(type="str", default="OPENCLAW_GATEWAY_TOKEN", no_log=False),
            responses=dict(type="bool", default=True),
            model=dict(type="str", default="openclaw"),
            timeout=dict(type="float", default=60.0),
            deadline=dict(type="float", default=0.0),
            retry_on=dict(type="list", elements="str", default=[], choices=sorted(DIAGNOSES)),
            interval=dict(type="float", default=1.0),
            fail_on_error=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    token = _read_token(module)
    params = module.params
    if params["target"] == "backend":
        result = probe_backend(
            params["url"],
            token,
            timeout=params["timeout"],
            deadline=params["deadline"],
            interval=params["interval"],
        )
    else:
        result = probe_gateway(
            params["url"],
            token,
            timeout=params["timeout"],
            deadline=params["deadline"],
            responses=params["responses"],
            model=params["model"],
            interval=params["interval"],
            retry_on=params["retry_on"],
        )
    if params["fail_on_error"] and not result["ok"]:
        module.fail_json(
            msg="%s: %s. Fix: %s" % (result["diagnosis"], result["detail"], result["fix"]),
            changed=False,
            **result,
        )
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

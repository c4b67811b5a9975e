#!/usr/bin/env bash
# The main job: deploy the whole stack (Docker engine, OpenClaw gateway sidecar, backend-
# service) onto the local demo test host, then print its status table. The host stays up:
# look around with `docker exec -it clawdeploy-demo bash`; remove it with `make demo-clean`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
"$here/bootstrap.sh"
"$here/images.sh"
# shellcheck source=env.sh
. "$here/env.sh"
cd "$repo"
molecule create -s default
molecule prepare -s default --force
molecule converge -s default
ansible-playbook -i inventories/demo/hosts.yml playbooks/status.yml

#!/usr/bin/env bash
# The main job: deploy the whole stack (Docker engine, OpenClaw gateway sidecar, backend-
# service) onto the local demo test host, then print its status table. The host stays up:
# look around with `docker exec -it clawdeploy-demo bash`; remove it with `make demo-clean`.
# Builds only what it deploys (the test host image and OpenClaw $OPENCLAW_VERSION) and
# prints each stage with the elapsed time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=stages.sh
. "$here/stages.sh"

stage "bootstrap (packages, Docker engine, Python toolchain)"
"$here/bootstrap.sh"
# shellcheck source=env.sh
. "$here/env.sh"
cd "$repo"

stage "images (test host, OpenClaw $OPENCLAW_VERSION)"
"$here/images.sh" demo

stage "test host clawdeploy-demo"
molecule create -s demo

stage "prepare the test host"
molecule prepare -s demo --force

stage "deploy (playbooks/deploy.yml)"
molecule converge -s demo

stage "status (playbooks/status.yml)"
ansible-playbook -i inventories/demo/hosts.yml playbooks/status.yml

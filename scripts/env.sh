# Source me: the environment every script runs Ansible/Molecule with.
# shellcheck shell=bash
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$repo/.venv/bin:$PATH"
export CLAWDEPLOY_CACHE="$repo/.cache"
export ANSIBLE_CONFIG="$repo/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$repo/.cache/collections"
export OPENCLAW_VERSION="${OPENCLAW_VERSION:-2026.9.6}"
export NODE_VERSION="${NODE_VERSION:-24.21.0}"
# The lifecycle scenario and bench/lifecycle_downtime.sh go from version A to B.
export CLAWDEPLOY_LIFECYCLE_FROM="${CLAWDEPLOY_LIFECYCLE_FROM:-2026.8.2}"
export CLAWDEPLOY_LIFECYCLE_TO="${CLAWDEPLOY_LIFECYCLE_TO:-$OPENCLAW_VERSION}"
export PYTHONDONTWRITEBYTECODE=1
export NO_COLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0

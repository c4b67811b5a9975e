#!/usr/bin/env bash
# Install what the demo and the tests need on this controller, idempotently:
#   Debian packages (debootstrap, docker.io, tini, git, make, postgresql for the relay's
#   tests: scripts/postgres.sh), a running Docker engine,
#   the pinned Python toolchain in .venv (requirements-dev.txt), and the symlink tree
#   .cache/collections/ansible_collections/clawdeploy/openclaw -> . that lets Ansible find
#   this checkout as the collection clawdeploy.openclaw.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../tests/hosts/lib.sh
. "$repo/tests/hosts/lib.sh"

if [ "$(id -u)" = 0 ]; then
  apt_install debootstrap docker.io tini git make curl ca-certificates shellcheck chromium \
    postgresql
fi
"$repo/tests/hosts/ensure-docker.sh"

python=${PYTHON:-python3}
stamp="$repo/.venv/.requirements.sha256"
want=$(sha256sum "$repo/requirements-dev.txt" | cut -d' ' -f1)
if [ ! -x "$repo/.venv/bin/python" ]; then
  log "creating .venv with $($python --version)"
  "$python" -m venv "$repo/.venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing the pinned toolchain into .venv"
  "$repo/.venv/bin/pip" install -q --disable-pip-version-check -r "$repo/requirements-dev.txt"
  echo "$want" >"$stamp"
fi

mkdir -p "$repo/.cache/collections/ansible_collections/clawdeploy"
ln -sfn ../../../.. "$repo/.cache/collections/ansible_collections/clawdeploy/openclaw"
log "bootstrap done"

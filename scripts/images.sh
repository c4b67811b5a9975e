#!/usr/bin/env bash
# Build (or reuse, by content key) the local images: the systemd Debian 13 test host, the
# real OpenClaw gateway image for $OPENCLAW_VERSION, and for the lifecycle scenario the
# image of $CLAWDEPLOY_LIFECYCLE_FROM and a broken release of $CLAWDEPLOY_LIFECYCLE_TO.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=env.sh
. "$here/env.sh"
"$repo/tests/hosts/build-rootfs-image.sh" host
"$repo/tests/hosts/build-openclaw-image.sh" "$OPENCLAW_VERSION"
"$repo/tests/hosts/build-openclaw-image.sh" "$CLAWDEPLOY_LIFECYCLE_FROM"
"$repo/tests/hosts/build-openclaw-image.sh" "$CLAWDEPLOY_LIFECYCLE_TO"
"$repo/tests/hosts/build-broken-openclaw-image.sh" "$CLAWDEPLOY_LIFECYCLE_TO"

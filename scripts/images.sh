#!/usr/bin/env bash
# Build (or reuse, by content key) the local images: the systemd Debian 13 test host, the
# real OpenClaw gateway image for $OPENCLAW_VERSION, and for the lifecycle scenario the
# image of $CLAWDEPLOY_LIFECYCLE_FROM and a broken release of $CLAWDEPLOY_LIFECYCLE_TO.
# Usage: images.sh [all|demo]   (demo: only the test host and $OPENCLAW_VERSION)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=env.sh
. "$here/env.sh"
which=${1:-all}
case "$which" in
  all | demo) ;;
  *) echo "usage: images.sh [all|demo]" >&2; exit 2 ;;
esac
"$repo/tests/hosts/build-rootfs-image.sh" host
"$repo/tests/hosts/build-openclaw-image.sh" "$OPENCLAW_VERSION"
[ "$which" = demo ] && exit 0
"$repo/tests/hosts/build-openclaw-image.sh" "$CLAWDEPLOY_LIFECYCLE_FROM"
"$repo/tests/hosts/build-openclaw-image.sh" "$CLAWDEPLOY_LIFECYCLE_TO"
"$repo/tests/hosts/build-broken-openclaw-image.sh" "$CLAWDEPLOY_LIFECYCLE_TO"

#!/usr/bin/env bash
# Build (or reuse, by content key) the local images: the systemd Debian 13 test host and
# the real OpenClaw gateway image for $OPENCLAW_VERSION.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=env.sh
. "$here/env.sh"
"$repo/tests/hosts/build-rootfs-image.sh" host
"$repo/tests/hosts/build-openclaw-image.sh" "$OPENCLAW_VERSION"

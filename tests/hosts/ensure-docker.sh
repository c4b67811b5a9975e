#!/usr/bin/env bash
# Make sure a Docker engine answers on this controller. When none does, install Debian's
# docker.io and start dockerd in the background (CI and fresh machines have no engine
# running, and no systemd to start one). Idempotent: a running engine is left alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

if docker info >/dev/null 2>&1; then
  log "docker engine answers"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "no docker engine answers and we are not root to start one"
command -v dockerd >/dev/null || apt_install docker.io
# docker.io recommends tini (docker-init), which the gateway containers use for `init: true`.
apt_install tini
log "starting dockerd in the background (log: /var/log/clawdeploy-dockerd.log)"
nohup dockerd >/var/log/clawdeploy-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && { log "docker engine up"; exit 0; }
  sleep 1
done
tail -n 30 /var/log/clawdeploy-dockerd.log >&2
die "dockerd did not answer within 60 s"

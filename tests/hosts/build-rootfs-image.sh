#!/usr/bin/env bash
# Build a Debian image from scratch with debootstrap + `docker import` (no registry is
# reachable here). Two flavours:
#   host  systemd test host for Molecule, able to run Docker inside it
#         -> local/clawdeploy-host-<suite>:latest
#   slim  minimal base for the Node.js / OpenClaw images
#         -> local/clawdeploy-debian-<suite>:slim
# Each image carries the label clawdeploy.key, a hash of this script and its inputs; a
# re-run with the same key costs a second. The mirror is read from this machine's apt
# sources (override with MIRROR=).
# Usage: build-rootfs-image.sh host|slim [SUITE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

flavour="${1:?usage: build-rootfs-image.sh host|slim [SUITE]}"
suite="${2:-trixie}"
case "$flavour" in
  host)
    image="local/clawdeploy-host-${suite}:latest"
    pkgs="systemd,systemd-sysv,python3,python3-apt,dbus,iproute2,ca-certificates,sudo,curl,procps"
    ;;
  slim)
    image="local/clawdeploy-debian-${suite}:slim"
    pkgs="ca-certificates"
    ;;
  *) die "unknown flavour $flavour (host|slim)" ;;
esac

mirror=$(debian_mirror) || die "no Debian mirror found in /etc/apt; set MIRROR="
key=$(content_key "$0" "$here/lib.sh" -- "$flavour" "$suite" "$pkgs")
if image_has_key "$image" "$key"; then
  log "$image is current (key $key)"
  exit 0
fi

docker info >/dev/null 2>&1 || die "no docker engine answers; run tests/hosts/ensure-docker.sh"
command -v debootstrap >/dev/null || apt_install debootstrap
[ -e "/usr/share/debootstrap/scripts/$suite" ] || die "debootstrap does not know suite $suite"

rootfs=$(mktemp -d "/var/tmp/clawdeploy-rootfs-${flavour}-${suite}.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
log "debootstrap $suite ($flavour) from the configured mirror into $rootfs"
start=$(date +%s)
debootstrap --variant=minbase --include="$pkgs" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
  || { tail -n 40 "$rootfs.log" >&2; die "debootstrap failed"; }
rm -f "$rootfs.log"
log "debootstrap took $(( $(date +%s) - start )) s"

echo "deb $mirror $suite main" >"$rootfs/etc/apt/sources.list"
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
  >"$rootfs/etc/apt/apt.conf.d/90-no-recommends"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/tmp/*
mkdir -p "$rootfs/var/lib/apt/lists/partial"
# Emptying lists/ bumps its mtime; Ansible's apt module reads that mtime for
# cache_valid_time and would skip `apt-get update`. Make the empty cache look stale.
touch -d @0 "$rootfs/var/lib/apt/lists"
rm -f "$rootfs/var/lib/apt/periodic/update-success-stamp"

changes=(--change "LABEL clawdeploy.key=$key")
if [ "$flavour" = host ]; then
  : >"$rootfs/etc/machine-id"            # systemd makes a new one at first boot
  rm -f "$rootfs/var/lib/dbus/machine-id"
  echo clawdeploy-test >"$rootfs/etc/hostname"
  # Units that cannot work, or only make noise, in a container.
  for u in systemd-firstboot.service systemd-remount-fs.service systemd-modules-load.service \
           getty.target console-getty.service systemd-logind.service apt-daily.timer \
           apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$u"
  done
  # /proc/sys is read-only in a non-privileged container: docker >= 26 then fails to start
  # containers ("failed to disable IPv6 on container's interface"); this makes it a warning.
  mkdir -p "$rootfs/etc/systemd/system/docker.service.d"
  printf '[Service]\nEnvironment=DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1\n' \
    >"$rootfs/etc/systemd/system/docker.service.d/10-test-container.conf"
  # docker import starts from an empty config; STOPSIGNAL is not accepted by dockerd 20.10's
  # import, so molecule.yml sets stop_signal instead.
  changes+=(--change 'ENV container=docker' --change 'CMD ["/lib/systemd/systemd"]')
else
  changes+=(--change 'CMD ["/bin/bash"]')
fi

old_id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
tar --numeric-owner -C "$rootfs" -c . | docker import "${changes[@]}" - "$image" >/dev/null
new_id=$(docker image inspect -f '{{.Id}}' "$image")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then docker rmi "$old_id" >/dev/null 2>&1 || true; fi
log "built $image (key $key) in $(( $(date +%s) - start )) s"

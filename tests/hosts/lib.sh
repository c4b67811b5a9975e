# Shared helpers for the test-host scripts. Source it; it defines functions only.
# shellcheck shell=bash

log() { printf '>> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The Debian mirror this machine's apt already uses (first non-security "deb" source).
# Never hard-code a mirror: CI and developer machines each have their own.
debian_mirror() {
  local f uri
  if [ -n "${MIRROR:-}" ]; then echo "$MIRROR"; return; fi
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    uri=$(awk 'BEGIN{RS=""; FS="\n"}
      { u=""; s=""; t=""; en="yes"
        for (i=1;i<=NF;i++) {
          if ($i ~ /^URIs:/)    { sub(/^URIs:[ \t]*/,"",$i); split($i,a,/[ \t]+/); u=a[1] }
          if ($i ~ /^Suites:/)  { s=$i }
          if ($i ~ /^Types:/)   { t=$i }
          if ($i ~ /^Enabled:[ \t]*no/) { en="no" } }
        if (u!="" && t ~ /(^|[ \t])deb([ \t]|$)/ && s !~ /-security/ && en=="yes") { print u; exit } }' "$f")
    if [ -n "$uri" ]; then echo "$uri"; return; fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -e "$f" ] || continue
    uri=$(sed -E 's/\[[^]]*\]//' "$f" | awk '$1=="deb" && $3 !~ /-security/ {print $2; exit}')
    if [ -n "$uri" ]; then echo "$uri"; return; fi
  done
  return 1
}

# The npm registry this machine's npm is configured with.
npm_registry() { npm config get registry 2>/dev/null | tail -n 1; }

# content_key FILE... [-- STRING...]: a short hash over files and strings; an image
# labelled with the same key was built from the same inputs and is reused.
content_key() {
  local args=() strings=() seen_sep=0 a
  for a in "$@"; do
    if [ "$a" = "--" ]; then seen_sep=1; continue; fi
    if [ "$seen_sep" = 1 ]; then strings+=("$a"); else args+=("$a"); fi
  done
  { cat "${args[@]}"; printf '%s\n' "${strings[@]}"; } | sha256sum | cut -c1-16
}

# image_has_key IMAGE KEY: true when IMAGE exists and carries label clawdeploy.key=KEY.
image_has_key() {
  local have
  have=$(docker image inspect -f '{{ index .Config.Labels "clawdeploy.key" }}' "$1" 2>/dev/null) || return 1
  [ "$have" = "$2" ]
}

apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

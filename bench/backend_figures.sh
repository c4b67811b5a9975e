#!/usr/bin/env bash
# backend-service figures on the demo test host (run `make demo` first), printed beside the
# goals of issue 11 (not pass/fail). In one run, with `wrk -t2 -d20s --latency` from inside
# the host on loopback, at -c8 then at -c64:
#   /nope           a bare FastAPI 404 (no such route): the floor of the framework
#   /healthz        no auth, no gateway call
#   /api/v1/status  with the bearer token; the probe result is cached GATEWAY_PROBE_CACHE_S
#                   and refreshed in the background, as in production
# requests/s, p50/p90/p99 latency, non-2xx answers and socket errors of each run; during
# each status run the model requests the stub provider logged (/var/log/openai-stub.jsonl,
# one line per request; POSTs are model requests) and the live probes the backend counted
# (clawdeploy_backend_gateway_probes_total of /metrics); the service's RSS (VmRSS of the
# unit's main pid) before and after the runs.
# Installs wrk (Debian package) on the test host when it is missing; changes nothing else.
# The bearer token is read inside the host (by the wrk script and by python3) and never
# printed. wrk's own reports go to .cache/logs/backend-figures/. About 2.5 minutes.
# Environment: BENCH_SECONDS (default 20) per run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=../tests/hosts/lib.sh
. "$repo/tests/hosts/lib.sh"
HOST=clawdeploy-demo
ROOT=/opt/openclaw-assistant/backend-service
ENV_FILE=$ROOT/backend.env
STUB_LOG=/var/log/openai-stub.jsonl
UNIT=clawdeploy-backend
DURATION=${BENCH_SECONDS:-20}
THREADS=2
logs=$repo/.cache/logs/backend-figures
in_host() { docker exec "$HOST" "$@"; }

in_host true 2>/dev/null || die "no demo host $HOST: run make demo first"
in_host test -f "$ENV_FILE" || die "$HOST has no $ENV_FILE: deploy the backend-service first"
mkdir -p "$logs"

# setting NAME DEFAULT: NAME from the service's settings.env (non-secret), else DEFAULT.
setting() {
  local value
  # shellcheck disable=SC2016  # expanded inside the test host
  value=$(in_host sh -c 'sed -n "s/^$1=//p" "$2" 2>/dev/null | tail -n 1' _ "$1" "$ROOT/settings.env")
  value=${value//\"/}
  value=${value//\'/}
  printf '%s\n' "${value:-$2}"
}
PORT=$(setting BACKEND_PORT 18889)
WINDOW=$(setting GATEWAY_PROBE_CACHE_S 10)
BASE=http://127.0.0.1:$PORT

# api PATH: the body of GET PATH with the bearer token; the token is read inside the host
# from the env file and goes nowhere but the request header.
api() {
  docker exec -i "$HOST" python3 - "$ENV_FILE" "$BASE$1" <<'PY'
import sys
import urllib.request

env_file, url = sys.argv[1], sys.argv[2]
token = ""
with open(env_file, encoding="utf-8") as handle:
    for line in handle:
        key, _sep, value = line.strip().partition("=")
        if key.strip() == "BACKEND_API_TOKEN":
            token = value.strip().strip("'\"")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
request = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
with opener.open(request, timeout=120) as response:
    sys.stdout.write(response.read().decode("utf-8"))
PY
}
# probes: live gateway probes the backend counted since it started.
probes() {
  api /metrics | awk '/^clawdeploy_backend_gateway_probes_total[{]/ { s += $NF } END { printf "%d\n", s }'
}
# model_requests: POSTs (model requests) in the stub provider's log so far; "none" without it.
model_requests() {
  # shellcheck disable=SC2016  # expanded inside the test host
  in_host sh -c 'if [ -f "$1" ]; then grep -c "\"method\": \"POST\"" "$1" || true; else echo none; fi' _ "$STUB_LOG"
}
rss_mib() {
  local pid
  pid=$(in_host systemctl show -p MainPID --value "$UNIT")
  if [ -z "$pid" ] || [ "$pid" = 0 ]; then die "$UNIT is not running on $HOST"; fi
  # shellcheck disable=SC2016  # an awk program
  in_host awk '/^VmRSS:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$pid/status"
}
# wrk_run CONNS PATH NAME [TOKEN_FILE]: one wrk run; prints its FIGURES line.
wrk_run() {
  local out=$logs/c$1-$3.txt line
  in_host env BENCH_TOKEN_FILE="${4:-}" wrk -t"$THREADS" -c"$1" -d"${DURATION}s" --latency \
    -s /tmp/backend_figures.lua "$BASE$2" >"$out" 2>&1 || die "wrk failed on $2 (see $out)"
  line=$(grep '^FIGURES ' "$out" | tail -n 1) || die "no figures from wrk on $2 (see $out)"
  printf '%s\n' "$line"
}
# field LINE NAME: the value of NAME=... in a FIGURES line.
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
# verdict VALUE OP LIMIT: "met" or "MISSED" (OP is <= or >=).
verdict() {
  awk -v v="$1" -v op="$2" -v l="$3" \
    'BEGIN { ok = (op == "<=") ? (v + 0 <= l + 0) : (v + 0 >= l + 0); print (ok ? "met" : "MISSED") }'
}

if ! in_host sh -c 'command -v wrk' >/dev/null; then
  log "installing wrk on $HOST (apt)"
  in_host sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk' \
    >"$logs/apt.txt" 2>&1 || die "cannot install wrk on $HOST (see $logs/apt.txt)"
fi
docker exec -i "$HOST" sh -c 'cat > /tmp/backend_figures.lua' <"$here/backend_figures.lua"
version=$(in_host curl -fsS -m 5 "$BASE/healthz" | sed -n 's/.*"version":"\([^"]*\)".*/\1/p') \
  || die "the backend-service does not answer $BASE/healthz on $HOST"
rss_before=$(rss_mib)
log "warm-up: one status request (the only one that may wait for a live probe)"
api /api/v1/status >/dev/null

declare -A fig models probed
for conns in 8 64; do
  for name in nope healthz status; do
    case $name in
      nope) path=/nope token= ;;
      healthz) path=/healthz token= ;;
      status) path=/api/v1/status token=$ENV_FILE ;;
    esac
    log "wrk -t$THREADS -c$conns -d${DURATION}s $path"
    if [ "$name" = status ]; then
      stub_before=$(model_requests)
      probes_before=$(probes)
    fi
    fig[$name.$conns]=$(wrk_run "$conns" "$path" "$name" "$token")
    if [ "$name" = status ]; then
      stub_after=$(model_requests)
      if [ "$stub_after" = none ]; then
        models[$conns]=n/a
      else
        models[$conns]=$((stub_after - stub_before))
      fi
      probed[$conns]=$(($(probes) - probes_before))
    fi
    sleep 2
  done
done
rss_after=$(rss_mib)

printf '\nbackend-service %s on %s, wrk -t%s -d%ss --latency on loopback, GATEWAY_PROBE_CACHE_S=%s\n\n' \
  "$version" "$HOST" "$THREADS" "$DURATION" "$WINDOW"
row() { printf '%-22s %5s %9s %8s %8s %8s %8s %7s %10s %7s\n' "$@"; }
row route conns "req/s" "p50 ms" "p90 ms" "p99 ms" non-2xx errors "model req" probes
for conns in 8 64; do
  for name in nope healthz status; do
    line=${fig[$name.$conns]}
    case $name in
      nope) label="/nope (404 floor)" extra=(- -) ;;
      healthz) label=/healthz extra=(- -) ;;
      status) label=/api/v1/status extra=("${models[$conns]}" "${probed[$conns]}") ;;
    esac
    row "$label" "$conns" "$(field "$line" rps)" "$(field "$line" p50_ms)" "$(field "$line" p90_ms)" \
      "$(field "$line" p99_ms)" "$(field "$line" non2xx)" "$(field "$line" errors)" "${extra[@]}"
  done
done

# Probes start at least a cache window apart, so a run of DURATION s holds at most
# floor(DURATION / WINDOW) + 1 of them (the first window may be cut by the run's start).
allowed=$(awk -v d="$DURATION" -v w="$WINDOW" 'BEGIN { printf "%d", int(d / w) + 1 }')
goal() { printf '%-52s %12s  %-34s %s\n' "$@"; }
printf '\n'
goal figure value goal verdict
for conns in 8 64; do
  status=${fig[status.$conns]}
  healthz=${fig[healthz.$conns]}
  nope=${fig[nope.$conns]}
  at="(goal at -c8)"
  [ "$conns" = 8 ] && at=""
  rate=$(ratio "$(field "$status" rps)" "$(field "$healthz" rps)")
  p99=$(field "$status" p99_ms)
  bad=$(($(field "$status" non2xx) + $(field "$status" errors)))
  goal "-c$conns status rate / healthz rate" "$rate" ">= 0.80 $at" "$(verdict "$rate" '>=' 0.80)"
  goal "-c$conns status p99 latency (ms)" "$p99" "<= 50 ms $at" "$(verdict "$p99" '<=' 50)"
  goal "-c$conns status non-2xx answers + socket errors" "$bad" "0" "$(verdict "$bad" '<=' 0)"
  if [ "${models[$conns]}" = n/a ]; then
    goal "-c$conns model requests on the stub in ${DURATION} s" "n/a" "no stub log on $HOST" "-"
  else
    goal "-c$conns model requests on the stub in ${DURATION} s" "${models[$conns]}" \
      "<= $allowed (1 per ${WINDOW} s window)" "$(verdict "${models[$conns]}" '<=' "$allowed")"
  fi
  goal "-c$conns live probes counted by the backend" "${probed[$conns]}" \
    "<= $allowed (1 per ${WINDOW} s window)" "$(verdict "${probed[$conns]}" '<=' "$allowed")"
  goal "-c$conns status rate / 404 floor rate" "$(ratio "$(field "$status" rps)" "$(field "$nope" rps)")" \
    "(reported)" "-"
  goal "-c$conns healthz rate / 404 floor rate" "$(ratio "$(field "$healthz" rps)" "$(field "$nope" rps)")" \
    "(reported)" "-"
done
goal "RSS before the runs (MiB)" "$rss_before" "(reported)" "-"
goal "RSS after the runs (MiB)" "$rss_after" "<= 80 MiB" "$(verdict "$rss_after" '<=' 80)"
printf '\n'
in_host systemd-analyze security "$UNIT" | tail -n 1

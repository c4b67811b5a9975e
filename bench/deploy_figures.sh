#!/usr/bin/env bash
# Figures of a single-host deployment, printed (not pass/fail): OpenClaw image build time
# from npm, cold converge and idempotent re-run wall times of deploy.yml on a fresh test
# host, gateway time from container start to first healthy /healthz (sampled every 100 ms),
# and the resident memory of the gateway container and of the backend-service.
# Destroys and recreates the demo test host (clawdeploy-demo). Takes about 5 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
"$repo/scripts/bootstrap.sh" >/dev/null
"$repo/scripts/images.sh" >/dev/null 2>&1
# shellcheck source=../scripts/env.sh
. "$repo/scripts/env.sh"
cd "$repo"
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
in_host() { docker exec clawdeploy-demo "$@"; }

t0=$(now)
FORCE=1 tests/hosts/build-openclaw-image.sh "$OPENCLAW_VERSION" >/dev/null 2>&1
t1=$(now)
build_s=$(secs "$t0" "$t1")

molecule destroy -s demo >/dev/null 2>&1
molecule create -s demo >/dev/null 2>&1
molecule prepare -s demo --force >/dev/null 2>&1
t0=$(now); molecule converge -s demo >/dev/null 2>&1; t1=$(now)
cold_s=$(secs "$t0" "$t1")
t0=$(now); molecule converge -s demo >/dev/null 2>&1; t1=$(now)
rerun_s=$(secs "$t0" "$t1")

# Time to first healthy /healthz: recreate the container, poll from inside the host.
# shellcheck disable=SC2016  # the script runs inside the test host, expanded there
healthy_s=$(in_host bash -c '
  cd /opt/openclaw-assistant/instances/main
  start=$(date +%s.%N)
  docker compose -f openclaw_sidecar.compose.yml up -d --force-recreate >/dev/null 2>&1
  until curl -fsS -m 1 http://127.0.0.1:18789/healthz 2>/dev/null | grep -q "\"ok\":true"; do sleep 0.1; done
  awk -v a="$start" -v b="$(date +%s.%N)" "BEGIN { printf \"%.1f\", b - a }"')

# Memory: the gateway after one model request (the status probe sends one), then at rest.
ansible-playbook -i inventories/demo/hosts.yml playbooks/status.yml >/dev/null 2>&1
sleep 5
gw_rss_kb=$(in_host docker top openclaw-gateway-main -eo pid,rss | awk 'NR > 1 { s += $2 } END { print s }')
backend_pid=$(in_host systemctl show -p MainPID --value clawdeploy-backend)
backend_rss_kb=$(in_host ps -o rss= -p "$backend_pid" | tr -d ' ')

printf '%-52s %8s\n' "figure" "value"
printf '%-52s %7ss\n' "OpenClaw $OPENCLAW_VERSION image build from npm (no cache)" "$build_s"
printf '%-52s %7ss\n' "cold converge of deploy.yml (fresh test host)" "$cold_s"
printf '%-52s %7ss\n' "idempotent re-run of deploy.yml" "$rerun_s"
printf '%-52s %7ss\n' "gateway container start -> first healthy /healthz" "$healthy_s"
printf '%-52s %6sMB\n' "gateway RSS (all processes, after one request)" "$((gw_rss_kb / 1024))"
printf '%-52s %6sMB\n' "backend-service RSS" "$((backend_rss_kb / 1024))"

#!/usr/bin/env bash
# Gateway downtime of a version change, printed (not pass/fail). On one test host
# (the lifecycle scenario's, recreated fresh) a sampler polls /health every 100 ms; the
# downtime is last ok -> first ok answer:
#   (a) our upgrade        playbooks/upgrade.yml   A -> B (image staged, quiesced backup)
#   (b) our rollback       playbooks/rollback.yml  B -> A (state restored from the backup)
#   (c) the seed's method  a stock Node image running `npm install -g openclaw@<v> &&
#                          openclaw gateway run` at container start, recreated A -> B
#   (d) the gateway's plain cold start (stopped container -> first ok), median of 3, of
#       both versions (B right after the upgrade, A after the rollback)
# and the ratios against (d) and (c). Versions: CLAWDEPLOY_LIFECYCLE_FROM/_TO
# (default 2026.8.2 -> 2026.9.6). Needs the npm registry for (c). About 8 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
"$repo/scripts/bootstrap.sh" >/dev/null
"$repo/scripts/images.sh" >/dev/null 2>&1
# shellcheck source=../scripts/env.sh
. "$repo/scripts/env.sh"
# shellcheck source=../tests/hosts/lib.sh
. "$repo/tests/hosts/lib.sh"
cd "$repo"
A=${CLAWDEPLOY_LIFECYCLE_FROM:-2026.8.2}
B=${CLAWDEPLOY_LIFECYCLE_TO:-2026.9.6}
export CLAWDEPLOY_LIFECYCLE_FROM=$A CLAWDEPLOY_LIFECYCLE_TO=$B
HOST=clawdeploy-lifecycle
inventory="${MOLECULE_EPHEMERAL_DIRECTORY:-$HOME/.ansible/tmp/molecule.lifecycle}/inventory/ansible_inventory.yml"
in_host() { docker exec "$HOST" "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

log "fresh lifecycle host at OpenClaw $A"
molecule destroy -s lifecycle >/dev/null 2>&1
molecule create -s lifecycle >/dev/null 2>&1
molecule prepare -s lifecycle >/dev/null 2>&1
molecule converge -s lifecycle >/dev/null 2>&1
[ -f "$inventory" ] || inventory=$(find "$HOME/.ansible/tmp" -path '*lifecycle*/inventory/ansible_inventory.yml' | head -n 1)
docker exec -i "$HOST" sh -c 'cat > /tmp/sampler.py' < "$here/downtime_sampler.py"

# sample PORT COMMAND...: run COMMAND while sampling http://127.0.0.1:PORT/health;
# prints the longest outage in seconds.
sample() {
  local port=$1; shift
  in_host rm -f /tmp/sampler.stop /tmp/sampler.json
  in_host sh -c "nohup python3 /tmp/sampler.py http://127.0.0.1:$port/health \
    --out /tmp/sampler.json --stop-file /tmp/sampler.stop >/dev/null 2>&1 &"
  sleep 1
  "$@" >/tmp/clawdeploy-bench-step.log 2>&1 || { cat /tmp/clawdeploy-bench-step.log >&2; die "step failed: $*"; }
  sleep 2
  in_host touch /tmp/sampler.stop
  for _try in $(seq 1 100); do in_host test -s /tmp/sampler.json && break; sleep 0.2; done
  in_host test -s /tmp/sampler.json || die "the downtime sampler on $HOST wrote no result"
  in_host python3 -c 'import json; print("%.1f" % json.load(open("/tmp/sampler.json"))["max"])'
}

log "(a) upgrade $A -> $B"
up_s=$(sample 18789 ansible-playbook -i "$inventory" playbooks/upgrade.yml -e "openclaw_version=$B")
# cold_start: median of 3 of the running instance's stopped container -> first ok /health.
cold_start() {
  # shellcheck disable=SC2016  # the script runs inside the test host, expanded there
  in_host bash -c '
    cd /opt/openclaw-assistant/instances/main
    for i in 1 2 3; do
      docker compose -f openclaw_sidecar.compose.yml stop >/dev/null 2>&1
      start=$(date +%s.%N)
      docker compose -f openclaw_sidecar.compose.yml up -d >/dev/null 2>&1
      until curl -fsS -o /dev/null -m 1 http://127.0.0.1:18789/health 2>/dev/null; do sleep 0.1; done
      awk -v a="$start" -v b="$(date +%s.%N)" "BEGIN { printf \"%.1f\n\", b - a }"
    done | sort -n | sed -n 2p'
}
log "(d) cold start of $B (3 runs)"
cold_b=$(cold_start)
log "(b) rollback $B -> $A"
down_s=$(sample 18789 ansible-playbook -i "$inventory" playbooks/rollback.yml)
log "(d) cold start of $A (3 runs)"
cold_a=$(cold_start)

log "(c) the seed's method: npm install at container start, $A -> $B (needs the npm registry)"
node_image="local/clawdeploy-node:${NODE_VERSION}"
docker save "$node_image" | docker exec -i "$HOST" docker load >/dev/null
registry=$(npm_registry)
in_host sh -c 'rm -rf /tmp/seed && mkdir -p /tmp/seed/state && cp -r /opt/openclaw-assistant/instances/main/config /tmp/seed/config'
seed_run() {
  in_host docker rm -f seed-gateway >/dev/null 2>&1 || true
  in_host docker run -d --name seed-gateway --init --user 0:0 \
    --env-file /opt/openclaw-assistant/instances/main/.env \
    -e OPENCLAW_CONFIG_PATH=/etc/openclaw/openclaw_sidecar.config.json5 -e OPENCLAW_CONFIG_READONLY=1 \
    -e OPENCLAW_STATE_DIR=/var/lib/openclaw -e OPENCLAW_NO_AUTO_UPDATE=1 \
    -e NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt -e "npm_config_registry=$registry" \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    -v /tmp/seed/config:/etc/openclaw:ro -v /tmp/seed/state:/var/lib/openclaw \
    --add-host host.docker.internal:host-gateway -p 127.0.0.1:18799:18789 "$node_image" \
    sh -c "npm install -g --no-audit --no-fund --allow-scripts=openclaw openclaw@$1 && exec openclaw gateway run" >/dev/null
}
seed_run "$A"
# shellcheck disable=SC2016  # runs inside the test host
in_host sh -c 'for i in $(seq 1 600); do curl -fsS -o /dev/null -m 1 http://127.0.0.1:18799/health 2>/dev/null && exit 0; sleep 0.5; done; exit 1' \
  || die "the seed-style gateway $A did not come up (docker logs seed-gateway on $HOST)"
seed_s=$(sample 18799 bash -c "$(declare -f seed_run in_host); HOST=$HOST registry=$registry node_image=$node_image seed_run $B
  docker exec $HOST sh -c 'until curl -fsS -o /dev/null -m 1 http://127.0.0.1:18799/health 2>/dev/null; do sleep 0.1; done'")
in_host docker rm -f seed-gateway >/dev/null

printf '%-58s %8s\n' "gateway downtime (last ok -> first ok /health, 100 ms)" "seconds"
printf '%-58s %8s\n' "(a) upgrade.yml $A -> $B" "$up_s"
printf '%-58s %8s\n' "(b) rollback.yml $B -> $A" "$down_s"
printf '%-58s %8s\n' "(c) seed method: npm install at start, $A -> $B" "$seed_s"
printf '%-58s %8s\n' "(d) plain cold start of $B (stopped -> first ok, median of 3)" "$cold_b"
printf '%-58s %8s\n' "(d) plain cold start of $A (stopped -> first ok, median of 3)" "$cold_a"
printf '%-58s %8s\n' "upgrade / cold start of $B (goal <= 1.2)" "$(ratio "$up_s" "$cold_b")"
printf '%-58s %8s\n' "rollback / cold start of $A (goal <= 1.2)" "$(ratio "$down_s" "$cold_a")"
printf '%-58s %8s\n' "seed method / upgrade (goal >= 3)" "$(ratio "$seed_s" "$up_s")"
printf '%-58s %8s\n' "seed method / rollback (goal >= 3)" "$(ratio "$seed_s" "$down_s")"

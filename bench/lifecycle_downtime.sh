#!/usr/bin/env bash
# Gateway downtime of a version change, printed (not pass/fail). On one test host
# (the lifecycle scenario's, recreated fresh) a sampler polls /health every 100 ms; the
# downtime is last ok -> first ok answer:
#   (a) our upgrade        playbooks/upgrade.yml   A -> B, BENCH_ROUNDS times (median)
#   (b) our rollback       playbooks/rollback.yml  B -> A, BENCH_ROUNDS times (median)
#   (c) the seed's method  a stock Node image running `npm install -g openclaw@<v> &&
#                          openclaw gateway run` at container start, recreated A -> B
#   (d) the gateway's plain cold start (stopped container -> first ok) of B after each
#       upgrade and of A after each rollback, twice each time (median)
#   (e) B's first start on A's state by hand: a scratch copy of the instance running A
#       (other port), stopped, .env and config switched to B, started (no snapshot, no
#       backup, no probe): the floor of any restart-based upgrade, since B migrates A's
#       state before it answers
# plus the switch window our playbooks report (stop -> `docker compose up` returned) and
# the ratios. Versions: CLAWDEPLOY_LIFECYCLE_FROM/_TO (default 2026.8.2 -> 2026.9.6).
# Needs the npm registry for (c). About 12 minutes with BENCH_ROUNDS=3.
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
ROUNDS=${BENCH_ROUNDS:-3}
export CLAWDEPLOY_LIFECYCLE_FROM=$A CLAWDEPLOY_LIFECYCLE_TO=$B
HOST=clawdeploy-lifecycle
INSTANCE=/opt/openclaw-assistant/instances/main
inventory="${MOLECULE_EPHEMERAL_DIRECTORY:-$HOME/.ansible/tmp/molecule.lifecycle}/inventory/ansible_inventory.yml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
in_host() { docker exec "$HOST" "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
list() { tr '\n' ' ' < "$1" | sed 's/ $//'; }

log "fresh lifecycle host at OpenClaw $A"
molecule destroy -s lifecycle >/dev/null 2>&1
molecule create -s lifecycle >/dev/null 2>&1
molecule prepare -s lifecycle >/dev/null 2>&1
molecule converge -s lifecycle >/dev/null 2>&1
[ -f "$inventory" ] || inventory=$(find "$HOME/.ansible/tmp" -path '*lifecycle*/inventory/ansible_inventory.yml' | head -n 1)
docker exec -i "$HOST" sh -c 'cat > /tmp/sampler.py' < "$here/downtime_sampler.py"

# sample PORT COMMAND...: run COMMAND while sampling http://127.0.0.1:PORT/health;
# prints the longest outage in seconds. COMMAND's output is in $work/step.log.
sample() {
  local port=$1; shift
  in_host rm -f /tmp/sampler.stop /tmp/sampler.json
  in_host sh -c "nohup python3 /tmp/sampler.py http://127.0.0.1:$port/health \
    --out /tmp/sampler.json --stop-file /tmp/sampler.stop >/dev/null 2>&1 &"
  sleep 1
  "$@" >"$work/step.log" 2>&1 || { cat "$work/step.log" >&2; die "step failed: $*"; }
  sleep 2
  in_host touch /tmp/sampler.stop
  for _try in $(seq 1 100); do in_host test -s /tmp/sampler.json && break; sleep 0.2; done
  in_host test -s /tmp/sampler.json || die "the downtime sampler on $HOST wrote no result"
  in_host python3 -c 'import json; print("%.1f" % json.load(open("/tmp/sampler.json"))["max"])'
}
# The switch window the playbook's openclaw_switch task returned (-v output).
window() { awk '$1 == "window:" { w = $2 } END { print w }' "$work/step.log"; }
# cold_start: the running instance's stopped container -> first ok /health, twice.
cold_start() {
  # shellcheck disable=SC2016  # the script runs inside the test host, expanded there
  in_host bash -c '
    cd /opt/openclaw-assistant/instances/main
    for i in 1 2; do
      docker compose -f openclaw_sidecar.compose.yml stop >/dev/null 2>&1
      start=$(date +%s.%N)
      docker compose -f openclaw_sidecar.compose.yml up -d >/dev/null 2>&1
      until curl -fsS -o /dev/null -m 1 http://127.0.0.1:18789/health 2>/dev/null; do sleep 0.1; done
      awk -v a="$start" -v b="$(date +%s.%N)" "BEGIN { printf \"%.1f\n\", b - a }"
    done'
}

for round in $(seq 1 "$ROUNDS"); do
  log "round $round/$ROUNDS: (a) upgrade $A -> $B"
  sample 18789 ansible-playbook -v -i "$inventory" playbooks/upgrade.yml -e "openclaw_version=$B" >>"$work/up"
  window >>"$work/up_window"
  [ "$round" = 1 ] && in_host cp "$INSTANCE/config/openclaw_sidecar.config.json5" /tmp/bench-config-b.json5
  log "round $round/$ROUNDS: (d) cold start of $B"
  cold_start >>"$work/cold_b"
  log "round $round/$ROUNDS: (b) rollback $B -> $A"
  sample 18789 ansible-playbook -v -i "$inventory" playbooks/rollback.yml >>"$work/down"
  window >>"$work/down_window"
  log "round $round/$ROUNDS: (d) cold start of $A"
  cold_start >>"$work/cold_a"
done

log "(e) $B's first start on $A's state by hand (scratch copy on port 18795)"
# The state A had before the last upgrade: that upgrade's archive (taken by A, quiesced).
archive=$(in_host sh -c 'ls -1t /opt/openclaw-assistant/backups/main-*.tar.gz | head -n 1')
# shellcheck disable=SC2016  # runs inside the test host
in_host bash -c '
  set -e
  rm -rf /tmp/bare && mkdir -p /tmp/bare && tar -xzf "$1" -C /tmp/bare --same-owner
  cd /tmp/bare/instance
  sed -i -e "s/openclaw-gateway-main/openclaw-gateway-bare/" -e "s/^name: openclaw-main/name: openclaw-bare/" \
    -e "s/:18789:18789/:18795:18789/" openclaw_sidecar.compose.yml
  docker compose -f openclaw_sidecar.compose.yml up -d >/dev/null 2>&1
  for i in $(seq 1 300); do curl -fsS -o /dev/null -m 1 http://127.0.0.1:18795/health 2>/dev/null && exit 0; sleep 0.2; done
  exit 1' _ "$archive" || die "the scratch copy of $A did not come up on $HOST"
# shellcheck disable=SC2016  # runs inside the test host
bare_s=$(sample 18795 in_host bash -c '
  set -e
  cd /tmp/bare/instance
  docker compose -f openclaw_sidecar.compose.yml stop >/dev/null 2>&1
  sed -i "s/^OPENCLAW_VERSION=.*/OPENCLAW_VERSION=$1/" .env
  cp /tmp/bench-config-b.json5 config/openclaw_sidecar.config.json5
  docker compose -f openclaw_sidecar.compose.yml up -d >/dev/null 2>&1
  until curl -fsS -o /dev/null -m 1 http://127.0.0.1:18795/health 2>/dev/null; do sleep 0.1; done' _ "$B")
in_host bash -c 'cd /tmp/bare/instance && docker compose -f openclaw_sidecar.compose.yml down >/dev/null 2>&1; rm -rf /tmp/bare'

log "(c) the seed's method: npm install at container start, $A -> $B (needs the npm registry)"
node_image="local/clawdeploy-node:${NODE_VERSION}"
docker save "$node_image" | docker exec -i "$HOST" docker load >/dev/null
registry=$(npm_registry)
in_host sh -c "rm -rf /tmp/seed && mkdir -p /tmp/seed/state && cp -r $INSTANCE/config /tmp/seed/config"
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

up_s=$(median < "$work/up")
down_s=$(median < "$work/down")
cold_b=$(median < "$work/cold_b")
cold_a=$(median < "$work/cold_a")
row() { printf '%-64s %8s  %s\n' "$1" "$2" "${3:-}"; }
row "gateway downtime (last ok -> first ok /health, 100 ms)" "seconds" "samples"
row "(a) upgrade.yml $A -> $B, median of $ROUNDS" "$up_s" "$(list "$work/up")"
row "    its switch window (stop -> compose up returned), median" "$(median < "$work/up_window")" "$(list "$work/up_window")"
row "(b) rollback.yml $B -> $A, median of $ROUNDS" "$down_s" "$(list "$work/down")"
row "    its switch window (stop -> compose up returned), median" "$(median < "$work/down_window")" "$(list "$work/down_window")"
row "(c) seed method: npm install at start, $A -> $B" "$seed_s"
row "(d) plain cold start of $B (stopped -> first ok), median" "$cold_b" "$(list "$work/cold_b")"
row "(d) plain cold start of $A (stopped -> first ok), median" "$cold_a" "$(list "$work/cold_a")"
row "(e) $B's first start on $A's state by hand (stop, swap, start)" "$bare_s"
row "upgrade / cold start of $B (goal <= 1.2)" "$(ratio "$up_s" "$cold_b")"
row "upgrade / $B's first start on $A's state by hand (e)" "$(ratio "$up_s" "$bare_s")"
row "rollback / cold start of $A (goal <= 1.2)" "$(ratio "$down_s" "$cold_a")"
row "seed method / upgrade (goal >= 3)" "$(ratio "$seed_s" "$up_s")"
row "seed method / rollback (goal >= 3)" "$(ratio "$seed_s" "$down_s")"

#!/usr/bin/env bash
# backend-service figures on the demo test host (run `make demo` first): requests/s and
# p50/p99 latency of GET /api/v1/status on loopback with the gateway up (the probe result
# is cached for GATEWAY_PROBE_CACHE_S, as in production), the service's RSS before and
# after, and systemd-analyze's exposure score of the unit. Prints figures; changes nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
host=clawdeploy-demo
docker exec "$host" true 2>/dev/null || { echo "no demo host: run make demo first" >&2; exit 1; }
# shellcheck disable=SC2016  # expanded inside the test host
rss() { docker exec "$host" bash -c 'ps -o rss= -p "$(systemctl show -p MainPID --value clawdeploy-backend)"' | awk '{ printf "%d MB", $1 / 1024 }'; }
docker exec -i "$host" sh -c "cat > /tmp/status_load.py" <"$here/status_load.py"
echo "backend-service RSS before: $(rss)"
docker exec "$host" python3 /tmp/status_load.py /opt/openclaw-assistant/backend-service/backend.env \
  --requests "${REQUESTS:-2000}" --concurrency "${CONCURRENCY:-4}"
echo "backend-service RSS after:  $(rss)"
docker exec "$host" systemd-analyze security clawdeploy-backend | tail -n 1

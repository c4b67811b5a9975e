#!/usr/bin/env bash
# Every test: lint (ruff, yamllint, role READMEs current, ansible-lint production profile),
# ansible-test sanity, the collection build, unit tests (modules, filters, backend-service,
# relay, on SQLite and a throwaway PostgreSQL), the relay end to end with two real gateways,
# then the Molecule scenarios on real systemd test hosts: demo (the whole stack:
# create, prepare, converge, idempotence, check mode, verify, destroy), build (the npm
# build image source), lifecycle (upgrade, rollback, backup, restore) and cells (colleagues'
# gateways on two test hosts: ports, a refused clash, network isolation); every play in them
# runs at -vvv and is scanned for the host's secrets.
# CLAWDEPLOY_FAST=1 stops after the unit tests (make check).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=stages.sh
. "$here/stages.sh"

stage "bootstrap"
"$here/bootstrap.sh"
# shellcheck source=env.sh
. "$here/env.sh"
cd "$repo"
mkdir -p .cache/logs

stage "lint"
ruff check .
ruff format --check .
yamllint -s .
python3 scripts/role-docs.py --check
ansible-lint

stage "ansible-test sanity"
"$here/sanity.sh"

stage "collection build"
"$here/check-build.sh"

stage "unit tests"
# The relay's tests run on SQLite and on PostgreSQL (a throwaway cluster: scripts/postgres.sh),
# which is stopped and deleted at the end of this stage, also when a test fails.
(
    trap '"$here/postgres.sh" stop' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    "$here/postgres.sh" start
    RELAY_TEST_DATABASE_URL=$("$here/postgres.sh" url)
    export RELAY_TEST_DATABASE_URL
    pytest -q tests/unit backend_service/tests relay_service/tests
)

[ "${CLAWDEPLOY_FAST:-0}" = 1 ] && exit 0

stage "images"
"$here/images.sh"

# The relay between users and two real gateways (the image above, the stub provider), both
# connector transports: relay_service/README.md, "End to end with real gateways".
stage "relay end to end"
pytest -q relay_service/tests_e2e

# Each scenario's verifier scans its own log (prepare, converge, idempotence and check run
# at -vvv) for the host's secrets: molecule/shared/plays.py.
scenario() {
    stage "molecule $1"
    export CLAWDEPLOY_MOLECULE_LOG="$repo/.cache/logs/molecule-$1.log"
    molecule test -s "$1" 2>&1 | tee "$CLAWDEPLOY_MOLECULE_LOG"
}
scenario demo
scenario build
scenario lifecycle
scenario cells

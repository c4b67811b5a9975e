#!/usr/bin/env bash
# Every test: lint (ruff, yamllint, role READMEs current, ansible-lint production profile),
# ansible-test sanity, the collection build, unit tests (modules, filters, backend-service,
# relay), then the Molecule scenarios on real systemd test hosts: default (the whole stack:
# create, prepare, converge, idempotence, check mode, verify, destroy), image_build (the npm
# build image source) and lifecycle (upgrade, rollback, backup, restore); every play in them
# runs at -vvv and is scanned for the host's secrets.
# CLAWDEPLOY_FAST=1 stops after the unit tests (make check).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# Each stage's wall time, printed at the end of the run (also when a stage fails).
stages=()
stage_name=""
stage_start=$(date +%s)
run_start=$stage_start
close_stage() {
    if [ -n "$stage_name" ]; then
        stages+=("$(printf '%-22s %5d s' "$stage_name" $(($(date +%s) - stage_start)))")
    fi
    stage_name=""
}
report() {
    status=$?
    close_stage
    printf '\n=== wall time per stage\n'
    printf '%s\n' "${stages[@]}"
    printf '%-22s %5d s (%s)\n' "total" $(($(date +%s) - run_start)) "$([ $status = 0 ] && echo passed || echo FAILED)"
}
trap report EXIT
step() {
    close_stage
    stage_name="$*"
    stage_start=$(date +%s)
    printf '\n=== %s\n' "$*"
}

step "bootstrap"
"$here/bootstrap.sh"
# shellcheck source=env.sh
. "$here/env.sh"
cd "$repo"
mkdir -p .cache/logs

step "lint"
ruff check .
ruff format --check .
yamllint -s .
python3 scripts/role-docs.py --check
ansible-lint

step "ansible-test sanity"
"$here/sanity.sh"

step "collection build"
"$here/check-build.sh"

step "unit tests"
pytest -q tests/unit backend_service/tests relay_service/tests

[ "${CLAWDEPLOY_FAST:-0}" = 1 ] && exit 0

step "images"
"$here/images.sh"

# Each scenario's verifier scans its own log (prepare, converge, idempotence and check run
# at -vvv) for the host's secrets: molecule/shared/plays.py.
scenario() {
    step "molecule $1"
    export CLAWDEPLOY_MOLECULE_LOG="$repo/.cache/logs/molecule-$1.log"
    molecule test -s "$1" 2>&1 | tee "$CLAWDEPLOY_MOLECULE_LOG"
}
scenario default
scenario image_build
scenario lifecycle

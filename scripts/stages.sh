# shellcheck shell=bash
# Stage timing for scripts/test.sh and scripts/demo.sh (sourced): `stage NAME` starts a
# stage and prints a progress line with the elapsed time of the run; on exit (also on a
# failure) every stage's wall time and the total are printed.
stages_log=()
stage_name=""
stage_start=$(date +%s)
run_start=$stage_start

close_stage() {
    if [ -n "$stage_name" ]; then
        stages_log+=("$(printf '%-54s %5d s' "$stage_name" $(($(date +%s) - stage_start)))")
    fi
    stage_name=""
}

stage_report() {
    local status=$?
    close_stage
    printf '\n=== wall time per stage\n'
    printf '%s\n' "${stages_log[@]}"
    printf '%-54s %5d s (%s)\n' "total" $(($(date +%s) - run_start)) \
        "$([ "$status" = 0 ] && echo passed || echo FAILED)"
}
trap stage_report EXIT

stage() {
    close_stage
    stage_name="$*"
    stage_start=$(date +%s)
    printf '\n=== %s (at %d s)\n' "$*" $((stage_start - run_start))
}

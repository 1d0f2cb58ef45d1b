#!/usr/bin/env bash
# Invalidates a closed pull request's SQLMesh environment `pr_<number>`: SQLMesh's janitor (the
# daily `sqlmesh_janitor` job in Dagster, or `sqlmesh janitor`) then drops its views and the tables
# no other environment uses. Needs GITHUB_PR_NUMBER and the SQLMesh state's secrets (no warehouse:
# invalidating writes state only).
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_variables GITHUB_PR_NUMBER
select_state_gateway
environment="$(current_environment)"

log "sqlmesh invalidate ${environment} (gateway ${SQLMESH_GATEWAY})"
if ! output="$(sqlmesh invalidate "${environment}" 2>&1)"; then
    # A pull request closed before its first plan has no environment: nothing to clean up.
    if grep -q "was not found" <<<"${output}"; then
        log "No SQLMesh environment ${environment}: nothing to invalidate."
        exit 0
    fi
    printf '%s\n' "${output}" >&2
    exit 1
fi
printf '%s\n' "${output}"

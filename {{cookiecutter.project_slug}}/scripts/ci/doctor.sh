#!/usr/bin/env bash
# `sqlmesh-dagster doctor` on the CI gateway (DuckDB, no credentials), after check-definitions.sh
# applied the project to that gateway's `prod` and refreshed the definitions from it: SQLMesh's
# models, audits, what is due and what prod holds, beside the Dagster definitions. One line per
# difference; any difference fails the step. The report also goes to the job summary.
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

export SQLMESH_GATEWAY="${SQLMESH_GATEWAY:-ci}"
environment="${1:-prod}"

log "sqlmesh-dagster doctor (gateway ${SQLMESH_GATEWAY}, environment ${environment})"
status=0
report="$(uv run --frozen sqlmesh-dagster doctor --environment "${environment}")" || status=$?
printf '%s\n' "${report}"
fence='```'
{
    printf '## SQLMesh and Dagster side by side (sqlmesh-dagster doctor)\n\n%s\n' "${fence}text"
    printf '%s\n' "${report}"
    printf '%s\n' "${fence}"
} >>"${SUMMARY_FILE}"
exit "${status}"

#!/usr/bin/env bash
# Prepares the Dagster defs state of the SQLMesh component (its manifest, which the code location
# loads without importing SQLMesh) from the environment this run deploys: `prod`, or the pull
# request's `pr_<number>`. `dg utils refresh-defs-state` writes it into the package
# (src/<package>/defs/.local_defs_state/), so the deploy artifact (PEX or Docker image) carries it.
# Usage: refresh-defs-state.sh [environment]
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

select_gateway
environment="${1:-$(current_environment)}"

log "dg utils refresh-defs-state (gateway ${SQLMESH_GATEWAY}, environment ${environment})"
SQLMESH_ENVIRONMENT="${environment}" uv run --frozen dg utils refresh-defs-state
test -s "${DEFS_STATE_PATH}" || {
    echo "dg utils refresh-defs-state wrote no ${DEFS_STATE_PATH}." >&2
    exit 1
}

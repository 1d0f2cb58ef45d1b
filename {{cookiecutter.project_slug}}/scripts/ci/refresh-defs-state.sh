#!/usr/bin/env bash
# Prepares the Dagster defs state of the SQLMesh components (their manifests, which the code
# locations load without importing SQLMesh) from the environment this run deploys: `prod`, or the
# pull request's `pr_<number>`. `dg utils refresh-defs-state` writes it into each location's package
# (src/<package>/defs/.local_defs_state/), so the deploy artifact (PEX or Docker image) carries it.
# Usage: refresh-defs-state.sh [environment]
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

select_gateway
environment="${1:-$(current_environment)}"

# Each code location's own (`dg utils refresh-defs-state` works on one `dg` project).
while IFS= read -r location; do
    log "dg utils refresh-defs-state in ${location} (gateway ${SQLMESH_GATEWAY}, environment ${environment})"
    (cd "${location}" && SQLMESH_ENVIRONMENT="${environment}" uv run --frozen dg utils refresh-defs-state)
done < <(code_locations)
require_defs_states

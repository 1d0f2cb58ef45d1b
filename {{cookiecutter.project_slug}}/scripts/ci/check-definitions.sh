#!/usr/bin/env bash
# Loads the Dagster definitions the way a deployment does, on the CI gateway (DuckDB, no
# credentials): apply the project to the gateway's `prod` environment, refresh the SQLMesh
# component's defs state (its manifest) from it, then `dg check defs`. Catches models that do not
# run and definitions that do not load.
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

export SQLMESH_GATEWAY="${SQLMESH_GATEWAY:-ci}"

log "sqlmesh plan prod --auto-apply (gateway ${SQLMESH_GATEWAY})"
sqlmesh plan prod --auto-apply --no-prompts
# Every code location (one, or each project of a `dg` workspace: common.sh).
while IFS= read -r location; do
    log "dg utils refresh-defs-state, dg check defs in ${location} (gateway ${SQLMESH_GATEWAY}, environment prod)"
    (cd "${location}" && SQLMESH_ENVIRONMENT=prod uv run --frozen dg utils refresh-defs-state)
    (cd "${location}" && uv run --frozen dg check defs)
done < <(code_locations)

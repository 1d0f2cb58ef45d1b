#!/usr/bin/env bash
# SQLMesh's own checks on the CI gateway (DuckDB, no credentials): lint, then the unit tests.
# Run by the pull request workflow's `checks` job; runs the same on a laptop.
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

export SQLMESH_GATEWAY="${SQLMESH_GATEWAY:-ci}"

log "sqlmesh lint (gateway ${SQLMESH_GATEWAY})"
sqlmesh lint
log "sqlmesh test (gateway ${SQLMESH_GATEWAY})"
sqlmesh test

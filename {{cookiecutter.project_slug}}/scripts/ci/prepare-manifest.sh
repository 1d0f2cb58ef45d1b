#!/usr/bin/env bash
# Prepares the manifest the Dagster code location loads (no SQLMesh at load time), from the
# environment this run deploys: `prod`, or the pull request's `pr_<number>`. The manifest lands in
# the package, so the deploy artifact (PEX or Docker image) carries it.
# Usage: prepare-manifest.sh [environment]
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

select_gateway
environment="${1:-$(current_environment)}"

log "sqlmesh-dagster prepare (gateway ${SQLMESH_GATEWAY}, environment ${environment})"
SQLMESH_ENVIRONMENT="${environment}" uv run --frozen sqlmesh-dagster prepare
test -s "${MANIFEST_PATH}" || {
    echo "sqlmesh-dagster prepare wrote no ${MANIFEST_PATH}." >&2
    exit 1
}

#!/usr/bin/env bash
# Applies the project to a SQLMesh environment: `prod` on the main branch, `pr_<number>` for a pull
# request (GITHUB_PR_NUMBER set). A pull request's environment is created with every model
# (`--include-unmodified`), so a pull request that changes no model still gets a complete
# environment for its branch deployment to read. Usage: plan-apply.sh [environment]
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

select_gateway
environment="${1:-$(current_environment)}"

options=(--auto-apply --no-prompts)
if [[ "${environment}" != "prod" ]]; then
    options+=(--include-unmodified)
fi
log "sqlmesh plan ${environment} ${options[*]} (gateway ${SQLMESH_GATEWAY})"
sqlmesh plan "${environment}" "${options[@]}"

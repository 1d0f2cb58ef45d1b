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
# (No `trap` for the temporary file: common.sh's BigQuery key file already holds the EXIT trap.)
output_file="$(mktemp)"
status=0
sqlmesh plan "${environment}" "${options[@]}" 2>&1 | tee "${output_file}" || status=$?
# The guarded state (sqlmesh-dagster state-guard) refuses the pull request role any interval that
# counts for prod. A pull request's plan computes prod's missing intervals itself when prod lags
# behind its schedule: say so, rather than leave a policy name to decode.
# (SQLMesh's console wraps long lines: the words are matched with line breaks squeezed out.)
if ((status != 0)) && tr -s '[:space:]' ' ' <"${output_file}" | grep -q "row-level security policy"; then
    echo "The plan of ${environment} tried to record intervals of a table prod uses (prod has" \
        "intervals due that its schedule has not run yet, and SQLMesh fills them from here): the" \
        "guarded SQLMesh state refuses that to the pull request role. Let prod's next run fill" \
        "them, then run this job again (docs/threat-model.md, \"Shared physical tables\")." >&2
fi
rm -f "${output_file}"
exit "${status}"

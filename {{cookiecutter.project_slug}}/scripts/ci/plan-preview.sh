#!/usr/bin/env bash
# Writes what `sqlmesh plan` would do to an environment (default: prod) into the job summary,
# without applying anything (`--explain`). Usage: plan-preview.sh [environment]
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

environment="${1:-prod}"
select_gateway

log "sqlmesh plan ${environment} --explain (gateway ${SQLMESH_GATEWAY})"
output="$(sqlmesh plan "${environment}" --explain --no-prompts 2>&1)" || {
    printf '%s\n' "${output}" >&2
    exit 1
}
# shellcheck disable=SC2016  # the backquotes are Markdown, not command substitution
{
    printf '## SQLMesh plan preview: `%s`\n\n' "${environment}"
    printf 'Nothing was applied. This is what `sqlmesh plan %s` will do when it is applied.\n\n' "${environment}"
    printf '```\n%s\n```\n' "${output}"
} >>"${SUMMARY_FILE}"

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
# The plan's text names models and columns and quotes errors, which a pull request controls: it goes
# into the summary masked (the integration's mask_secrets) and inside a fence longer than any run of
# backticks in it, so no line of it can end the block and turn into Markdown (links, mentions, HTML).
masked="$(printf '%s\n' "${output}" | mask_secrets)"
longest_run="$(printf '%s\n' "${masked}" | { grep -o '`\+' || true; } | awk '{ if (length > n) n = length } END { print n + 0 }')"
fence="$(printf '%*s' "$((longest_run < 3 ? 3 : longest_run + 1))" '' | tr ' ' '`')"
# shellcheck disable=SC2016  # the backquotes are Markdown, not command substitution
{
    printf '## SQLMesh plan preview: `%s`\n\n' "${environment}"
    printf 'Nothing was applied. This is what `sqlmesh plan %s` will do when it is applied.\n\n' "${environment}"
    printf '%s\n%s\n%s\n' "${fence}" "${masked}" "${fence}"
} >>"${SUMMARY_FILE}"

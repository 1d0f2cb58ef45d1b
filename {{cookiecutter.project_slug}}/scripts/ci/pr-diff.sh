#!/usr/bin/env bash
# Writes what a pull request changes in the data: for every model it changes, SQLMesh's table diff
# of `prod` against the pull request's environment (row counts, rows only on one side, changed rows
# per column, schema changes, a short sample) with the plan's change category and the intervals the
# prod apply will backfill. Run it after plan-apply.sh has applied the environment.
# Usage: pr-diff.sh [environment]   (default: the pull request's pr_<number>)
#
# Writes Markdown to the job summary (GITHUB_STEP_SUMMARY, else stdout) and, when PR_COMMENT_FILE
# is set, to that file, cut to fit a GitHub comment. Sample rows (production data, readable by
# everyone who can read the repository) are off unless PR_DIFF_SAMPLE_ROWS sets the rows per sample
# (a number above 0). DAGSTER_BRANCH_DEPLOYMENT_URL, when
# set, is linked at the top.
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

select_gateway
environment="${1:-$(current_environment)}"
if [[ "${environment}" == "prod" ]]; then
    echo "pr-diff.sh compares a pull request's environment with prod: pass it, e.g. pr-diff.sh pr_7." >&2
    exit 2
fi

options=(--summary-file "${SUMMARY_FILE}")
if [[ -n "${PR_COMMENT_FILE:-}" ]]; then
    options+=(--comment-file "${PR_COMMENT_FILE}")
fi
if [[ -n "${DAGSTER_BRANCH_DEPLOYMENT_URL:-}" ]]; then
    options+=(--deployment-url "${DAGSTER_BRANCH_DEPLOYMENT_URL}")
fi
log "sqlmesh-dagster pr-diff ${environment} (gateway ${SQLMESH_GATEWAY})"
# Every SQLMesh project of the code location, as the plan step applied them (common.sh).
read_sqlmesh_projects
projects=()
for folder in "${SQLMESH_PROJECTS[@]}"; do
    projects+=(--project-dir "${folder}")
done
uv run --frozen sqlmesh-dagster "${projects[@]}" pr-diff "${environment}" "${options[@]}"

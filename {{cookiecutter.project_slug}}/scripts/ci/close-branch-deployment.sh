#!/usr/bin/env bash
# Marks a closed pull request's Dagster+ branch deployment closed (Dagster+ stops it and removes it
# from the deployment list). Needs GITHUB_PR_NUMBER, the GitHub event of the closed pull request
# (GITHUB_EVENT_PATH, set by Actions), DAGSTER_CLOUD_ORGANIZATION and DAGSTER_CLOUD_API_TOKEN.
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_variables GITHUB_PR_NUMBER DAGSTER_CLOUD_ORGANIZATION DAGSTER_CLOUD_API_TOKEN
log "dagster-cloud ci branch-deployment --mark-closed (pull request ${GITHUB_PR_NUMBER})"
uv run --frozen dagster-cloud ci branch-deployment . --mark-closed \
    --organization "${DAGSTER_CLOUD_ORGANIZATION}"

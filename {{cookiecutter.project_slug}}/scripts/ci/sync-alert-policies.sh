#!/usr/bin/env bash
# Syncs alert_policies.yaml to the Dagster+ full deployment (DAGSTER_CLOUD_DEPLOYMENT, default
# prod) with the pinned `dagster-cloud deployment alert-policies sync`, once the code location is
# deployed. That command sends the file to Dagster+ unchecked, and a sync replaces every
# code-backed policy: so the file is first checked against Dagster+'s format, with its
# ${VARIABLES} (ALERT_EMAIL...) filled from the environment, into a temporary copy
# (`sqlmesh-dagster alert-policies`), and the copy is synced.
#
# Needs DAGSTER_CLOUD_ORGANIZATION, DAGSTER_CLOUD_ALERTS_TOKEN (a Dagster+ user token allowed to
# manage the deployment's alert policies, see docs/operations.md, "Alerts") and the variables the
# file names.
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_variables DAGSTER_CLOUD_ORGANIZATION DAGSTER_CLOUD_ALERTS_TOKEN
deployment="${DAGSTER_CLOUD_DEPLOYMENT:-prod}"
resolved="$(mktemp "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/alert-policies.XXXXXXXX")"
trap 'rm -f "${resolved}"' EXIT

uv run --frozen sqlmesh-dagster alert-policies alert_policies.yaml --resolve-to "${resolved}"
log "dagster-cloud deployment alert-policies sync (${deployment})"
DAGSTER_CLOUD_API_TOKEN="${DAGSTER_CLOUD_ALERTS_TOKEN}" uv run --frozen dagster-cloud deployment \
    alert-policies sync --deployment "${deployment}" --alert-policies "${resolved}"

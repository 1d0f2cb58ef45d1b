#!/usr/bin/env bash
# Materializes the SQLMesh assets through Dagster and waits for the run; Dagster runs one
# `sqlmesh run` for the selection. Usage:
#   materialize.sh local         in-process run, like the README (`dg launch --job __ASSET_JOB`:
#                                everything SQLMesh has due; MATERIALIZE_SELECTION, when set,
#                                selects assets, none of them partitioned)
#   materialize.sh dagster-plus  a run in the Dagster+ deployment (DAGSTER_CLOUD_DEPLOYMENT, default
#                                prod) of the assets in ASSET_KEYS (JSON list, see asset-keys.sh);
#                                fails when the run fails.
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mode="${1:?usage: materialize.sh local|dagster-plus}"
case "${mode}" in
local)
    if [[ -n "${MATERIALIZE_SELECTION:-}" ]]; then
        log "dg launch --assets ${MATERIALIZE_SELECTION}"
        uv run --frozen dg launch --assets "${MATERIALIZE_SELECTION}"
    else
        log "dg launch --job __ASSET_JOB"
        uv run --frozen dg launch --job __ASSET_JOB
    fi
    ;;
dagster-plus)
    require_variables DAGSTER_CLOUD_ORGANIZATION DAGSTER_CLOUD_API_TOKEN ASSET_KEYS
    export DAGSTER_CLOUD_DEPLOYMENT="${DAGSTER_CLOUD_DEPLOYMENT:-prod}"
    mapfile -t key_options < <(uv run --frozen python -c '
import json, os
for key in json.loads(os.environ["ASSET_KEYS"]):
    print("--asset-key=" + key)
')
    log "dg api run launch (${DAGSTER_CLOUD_DEPLOYMENT}, location ${CODE_LOCATION_NAME})"
    uv run --frozen dg api run launch --location "${CODE_LOCATION_NAME}" "${key_options[@]}" \
        --tag "github/run_id=${GITHUB_RUN_ID:-local}" --wait --interval 15
    ;;
*)
    echo "usage: materialize.sh local|dagster-plus" >&2
    exit 2
    ;;
esac

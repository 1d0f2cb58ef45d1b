#!/usr/bin/env bash
# Prints the Dagster+ address of the branch deployment that dagster-deploy.sh just deployed to: the
# organization's address and the branch deployment's name, both from the build state `dg plus
# deploy` leaves in DAGSTER_BUILD_STATEDIR (read with `dagster-cloud ci status`, no API call).
# Prints nothing when the state names no code location. Usage: branch-deployment-url.sh
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ -z "${DAGSTER_BUILD_STATEDIR:-}" ]]; then
    echo "Set DAGSTER_BUILD_STATEDIR to the build state folder of dg plus deploy (dagster-deploy.sh exports it)." >&2
    exit 1
fi
# `ci status` prints one JSON object per code location, each with `url` and `deployment_name`.
uv run --frozen dagster-cloud ci status --output-format json | uv run --frozen python -c '
import json, sys
locations = [json.loads(line) for line in sys.stdin if line.lstrip().startswith("{")]
if locations:
    print(locations[0]["url"].rstrip("/") + "/" + locations[0]["deployment_name"])
'

#!/usr/bin/env bash
# Prints, as one JSON list, the keys of the assets the materialize step launches (default selection
# `*`, every materializable asset of the code location), read from the definitions as deployed (needs the
# SQLMesh component's defs state). Usage: asset-keys.sh [selection]
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The gateway the defs state was prepared for (refresh-defs-state.sh): `dg` keeps a state prepared
# from the current files as it is, so this reads the one the deploy ships.
select_gateway

selection="${1:-${MATERIALIZE_SELECTION:-*}}"
uv run --frozen dg list defs --json --assets "${selection}" |
    uv run --frozen python -c '
import json, sys
assets = json.load(sys.stdin).get("assets") or []
keys = sorted(a["asset_key"] for a in assets if a.get("is_executable", True))
if not keys:
    sys.exit("The asset selection matched no asset.")
print(json.dumps(keys))
'

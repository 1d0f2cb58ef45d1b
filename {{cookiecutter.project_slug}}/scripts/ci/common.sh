# shellcheck shell=bash disable=SC2034  # sourced: its variables are used by the scripts.
# Shared settings for the scripts in scripts/ci/ (sourced, not run).
#
# The workflows in .github/workflows/ hold no project names: every value that depends on how this
# project was generated lives here, so the workflows stay plain YAML that actionlint and zizmor check
# as they are. Every script runs from the repository root, like the README's commands.

set -euo pipefail

PACKAGE_NAME="{{ cookiecutter.package_name }}"
CODE_LOCATION_NAME="{{ cookiecutter.project_slug }}"
PYTHON_VERSION="{{ cookiecutter.python_version }}"
WAREHOUSE="{{ cookiecutter.warehouse }}"
DAGSTER_PLUS_DEPLOYMENT="{{ cookiecutter.dagster_plus_deployment }}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${REPO_ROOT}"

# Where a script writes its Markdown report: the GitHub job summary in Actions, else stdout.
SUMMARY_FILE="${GITHUB_STEP_SUMMARY:-/dev/stdout}"

log() {
    printf '==> %s\n' "$*" >&2
}

# The code locations: this repository's project (`.`), or, in a `dg` workspace (dg.toml, made by
# scripts/add_code_location.py), every project in projects/ (docs/workspace.md).
code_locations() {
    local location
    if [[ ! -f dg.toml ]]; then
        echo .
        return
    fi
    for location in projects/*/; do
        if [[ -f "${location}pyproject.toml" ]]; then
            echo "${location%/}"
        fi
    done
}

# Fails unless every code location holds the defs state of its SQLMesh components (their prepared
# manifests, where `dg utils refresh-defs-state` writes them: defs/.local_defs_state/ in the
# location's package), so no deploy ships a location without it.
require_defs_states() {
    local location states
    while IFS= read -r location; do
        states="$(find "${location}"/src/*/defs/.local_defs_state -path '*SQLMeshProjectComponent__*__/state' -size +0 2>/dev/null || true)"
        if [[ -z "${states}" ]]; then
            echo "No SQLMesh component state in ${location}: run scripts/ci/refresh-defs-state.sh before deploying." >&2
            exit 1
        fi
    done < <(code_locations)
}

# The SQLMesh projects of the code locations: the folders of every SQLMeshProjectComponent in
# their defs/ (`sqlmesh-dagster projects`, in every location of a workspace), read once per
# script. Every SQLMesh command gets all of them (`sqlmesh -p <first> -p <second> ...`): projects
# that share one state (SQLMesh's multi-repo mode) are planned together, so a change in one and its
# readers in another are applied at once, before any code location deploys.
SQLMESH_PROJECTS=()
read_sqlmesh_projects() {
    if [[ -z "${SQLMESH_PROJECTS[*]:-}" ]]; then
        local folders
        folders="$(uv run --frozen sqlmesh-dagster projects)"
        mapfile -t SQLMESH_PROJECTS <<<"${folders}"
    fi
}

sqlmesh() {
    read_sqlmesh_projects
    local folder paths=()
    for folder in "${SQLMESH_PROJECTS[@]}"; do
        paths+=(-p "${folder}")
    done
    uv run --frozen sqlmesh "${paths[@]}" "$@"
}

# The workflows map the secrets and variables of this project's warehouse into the jobs that talk
# to it; optional ones that are not set arrive as empty strings. Unset them so SQLMesh's env_var()
# defaults (and libpq's) apply instead of an empty value.
unset_empty_variables() {
    local name
    for name in "$@"; do
        if [[ -z "${!name:-}" ]]; then
            unset "${name}"
        fi
    done
}
unset_empty_variables \
    SQLMESH_STATE_HOST SQLMESH_STATE_PORT SQLMESH_STATE_USER SQLMESH_STATE_PASSWORD \
    SQLMESH_STATE_DATABASE SQLMESH_STATE_SSLMODE PGSSLROOTCERT \
    MOTHERDUCK_TOKEN MOTHERDUCK_DATABASE \
    POSTGRES_HOST POSTGRES_PORT POSTGRES_USER POSTGRES_PASSWORD POSTGRES_DATABASE POSTGRES_SSLMODE \
    SNOWFLAKE_ACCOUNT SNOWFLAKE_USER SNOWFLAKE_PASSWORD SNOWFLAKE_PRIVATE_KEY SNOWFLAKE_WAREHOUSE \
    SNOWFLAKE_DATABASE SNOWFLAKE_ROLE \
    BIGQUERY_PROJECT BIGQUERY_LOCATION GOOGLE_CREDENTIALS_JSON \
    DATABRICKS_SERVER_HOSTNAME DATABRICKS_HTTP_PATH DATABRICKS_ACCESS_TOKEN DATABRICKS_CATALOG \
    DAGSTER_IMAGE_REGISTRY DAGSTER_IMAGE_REGISTRY_USERNAME DAGSTER_IMAGE_REGISTRY_PASSWORD \
    DAGSTER_CLOUD_DEPLOYMENT

# Prints stdin with the credentials in it masked: the integration's `mask_secrets`, which every
# message of the integration goes through (tokens, passwords, keys, URL passwords).
mask_secrets() {
    uv run --frozen python -c '
import sys
from '"${PACKAGE_NAME}"'.sqlmesh_integration.errors import mask_secrets
sys.stdout.write(mask_secrets(sys.stdin.read()))
'
}

# Checks that the production gateway's credentials are present before a script talks to it, so a
# missing secret fails with its name rather than with a connection error.
require_variables() {
    local name missing=()
    for name in "$@"; do
        if [[ -z "${!name:-}" ]]; then
            missing+=("${name}")
        fi
    done
    if [[ -n "${missing[*]:-}" ]]; then
        echo "Missing ${missing[*]}: set them as secrets of the job's GitHub Environment (see docs/deployment.md)." >&2
        exit 1
    fi
}

use_production_state() {
    export SQLMESH_GATEWAY=prod
    require_variables SQLMESH_STATE_HOST SQLMESH_STATE_USER SQLMESH_STATE_PASSWORD SQLMESH_STATE_DATABASE
}

use_production_gateway() {
    use_production_state
{%- if cookiecutter.warehouse == "motherduck" %}
    require_variables MOTHERDUCK_TOKEN MOTHERDUCK_DATABASE
{%- elif cookiecutter.warehouse == "postgres" %}
    require_variables POSTGRES_HOST POSTGRES_USER POSTGRES_PASSWORD POSTGRES_DATABASE
{%- elif cookiecutter.warehouse == "snowflake" %}
    require_variables SNOWFLAKE_ACCOUNT SNOWFLAKE_USER SNOWFLAKE_WAREHOUSE SNOWFLAKE_DATABASE SNOWFLAKE_ROLE
{%- elif cookiecutter.warehouse == "bigquery" %}
    require_variables BIGQUERY_PROJECT GOOGLE_CREDENTIALS_JSON
    # The service account key arrives as a secret; the Google client libraries read it from a file:
    # a new one only this user can read (mktemp), deleted when the script exits.
    local key_file
    key_file="$(mktemp "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/google-credentials.XXXXXXXX")"
    # shellcheck disable=SC2064  # expand the path now: the trap runs after this function returned
    trap "rm -f '${key_file}'" EXIT
    printf '%s' "${GOOGLE_CREDENTIALS_JSON}" >"${key_file}"
    export GOOGLE_APPLICATION_CREDENTIALS="${key_file}"
{%- elif cookiecutter.warehouse == "databricks" %}
    require_variables DATABRICKS_SERVER_HOSTNAME DATABRICKS_HTTP_PATH DATABRICKS_ACCESS_TOKEN
{%- endif %}
}

# The SQLMesh environment of the current workflow run: `pr_<number>` for a pull request (the same
# function the Dagster+ branch deployment uses at run time), `prod` otherwise.
current_environment() {
    if [[ -n "${GITHUB_PR_NUMBER:-}" ]]; then
        uv run --frozen sqlmesh-dagster environment --pull-request "${GITHUB_PR_NUMBER}"
    else
        echo prod
    fi
}

# Scripts that talk to a warehouse use the production gateway unless SQLMESH_GATEWAY names another
# one (the template's tests run them on `ci`, a DuckDB file).
select_gateway() {
    if [[ "${SQLMESH_GATEWAY:-prod}" == "prod" ]]; then
        use_production_gateway
    fi
}

# The same for scripts that only write SQLMesh state (invalidating an environment): the production
# gateway needs the state's credentials only, so the job that runs them holds no warehouse secret.
select_state_gateway() {
    if [[ "${SQLMESH_GATEWAY:-prod}" == "prod" ]]; then
        use_production_state
    fi
}

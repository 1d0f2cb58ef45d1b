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
SQLMESH_PROJECT="src/${PACKAGE_NAME}/sqlmesh_project"
# The SQLMesh component's defs state (its prepared manifest), where `dg utils refresh-defs-state`
# writes it for the key `SQLMeshProjectComponent[sqlmesh_project]`.
DEFS_STATE_PATH="src/${PACKAGE_NAME}/defs/.local_defs_state/SQLMeshProjectComponent__sqlmesh_project__/state"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${REPO_ROOT}"

# Where a script writes its Markdown report: the GitHub job summary in Actions, else stdout.
SUMMARY_FILE="${GITHUB_STEP_SUMMARY:-/dev/stdout}"

log() {
    printf '==> %s\n' "$*" >&2
}

sqlmesh() {
    uv run --frozen sqlmesh -p "${SQLMESH_PROJECT}" "$@"
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

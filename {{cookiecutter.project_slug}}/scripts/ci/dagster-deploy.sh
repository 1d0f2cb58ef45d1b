#!/usr/bin/env bash
# Deploys the code location to Dagster+ with `dg plus deploy`: the full deployment (default `prod`)
# on the main branch, the pull request's branch deployment when GITHUB_PR_NUMBER is set. In a `dg`
# workspace (dg.toml, docs/workspace.md) the same commands at the root deploy every code location
# it lists.
# Run refresh-defs-state.sh first: the SQLMesh component's state must be inside the package this
# builds.
#
# Needs DAGSTER_CLOUD_ORGANIZATION and DAGSTER_CLOUD_API_TOKEN; in GitHub Actions also the GITHUB_*
# variables the runner sets (commit, repository, run). A branch deployment's address goes to the
# step output `deployment_url` (GITHUB_OUTPUT, from branch-deployment-url.sh): the pull request's
# data diff comment links it (pr-diff.sh, pr-comment.sh), so this step needs no write access to
# the pull request.
{%- if cookiecutter.dagster_plus_deployment == "hybrid" %}
# Hybrid: DAGSTER_IMAGE_REGISTRY (the image repository, without a tag) and, for `docker login`,
# DAGSTER_IMAGE_REGISTRY_USERNAME / DAGSTER_IMAGE_REGISTRY_PASSWORD unless the runner is logged in.
{%- endif %}
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_variables DAGSTER_CLOUD_ORGANIZATION DAGSTER_CLOUD_API_TOKEN
require_defs_states

export DAGSTER_BUILD_STATEDIR="${DAGSTER_BUILD_STATEDIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/dagster-build-state}"
rm -rf "${DAGSTER_BUILD_STATEDIR}"
mkdir -p "${DAGSTER_BUILD_STATEDIR}"

deployment="${DAGSTER_CLOUD_DEPLOYMENT:-prod}"
deployment_type=full
if [[ -n "${GITHUB_PR_NUMBER:-}" ]]; then
    deployment_type=branch
elif [[ "${GITHUB_EVENT_NAME:-}" == pull_request* ]]; then
    # A guard against mistakes only: pull request code can edit this script, so what actually keeps
    # it off the full deployment is its Dagster+ token (limited to branch deployments).
    echo "A pull request may only create a branch deployment: set GITHUB_PR_NUMBER (the workflow's branch-deployment job does)." >&2
    exit 1
fi
commit="${DEPLOY_COMMIT_SHA:-${GITHUB_SHA:-$(git rev-parse HEAD)}}"
start_options=(--deployment "${deployment}" --deployment-type "${deployment_type}" --yes
    --commit-hash "${commit}")
if [[ -n "${GITHUB_REPOSITORY:-}" ]]; then
    server="${GITHUB_SERVER_URL:-https://github.com}"
    start_options+=(--git-url "${server}/${GITHUB_REPOSITORY}/tree/${commit}")
    start_options+=(--status-url "${server}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID:-0}")
fi
{%- if cookiecutter.dagster_plus_deployment == "hybrid" %}

# `dg plus deploy` reads the image repository from build.yaml; it is written from the
# DAGSTER_IMAGE_REGISTRY variable so the repository holds no registry address.
require_variables DAGSTER_IMAGE_REGISTRY
printf 'registry: %s\n' "${DAGSTER_IMAGE_REGISTRY}" >build.yaml
{%- endif %}

log "dg plus deploy start (${deployment_type}, base deployment ${deployment})"
uv run --frozen dg plus deploy start "${start_options[@]}"
{%- if cookiecutter.dagster_plus_deployment == "serverless" %}

# Serverless fast deploys: dependencies and source are built into PEX files for the deployment's
# Python; the PEX builder runs `python<version>` from PATH, so put the one uv uses there.
python_bin="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/dagster-deploy-python"
mkdir -p "${python_bin}"
ln -sf "$(uv python find "${PYTHON_VERSION}")" "${python_bin}/python${PYTHON_VERSION}"
export PATH="${python_bin}:${PATH}"
log "dg plus deploy build-and-push (serverless, PEX, Python ${PYTHON_VERSION})"
uv run --frozen dg plus deploy build-and-push --agent-type serverless \
    --build-strategy python-executable --python-version "${PYTHON_VERSION}"
{%- else %}

# Hybrid: `dg` builds the Dockerfile at the repository root and pushes the image to the registry
# named in build.yaml (written before `deploy start`, above).
if [[ -n "${DAGSTER_IMAGE_REGISTRY_USERNAME:-}" && -n "${DAGSTER_IMAGE_REGISTRY_PASSWORD:-}" ]]; then
    log "docker login ${DAGSTER_IMAGE_REGISTRY%%/*}"
    printf '%s' "${DAGSTER_IMAGE_REGISTRY_PASSWORD}" |
        docker login "${DAGSTER_IMAGE_REGISTRY%%/*}" --username "${DAGSTER_IMAGE_REGISTRY_USERNAME}" --password-stdin
fi
log "dg plus deploy build-and-push (hybrid, Docker image)"
uv run --frozen dg plus deploy build-and-push --agent-type hybrid
{%- endif %}

log "dg plus deploy finish"
uv run --frozen dg plus deploy finish

if [[ "${deployment_type}" == "branch" && -n "${GITHUB_OUTPUT:-}" ]]; then
    echo "deployment_url=$(bash scripts/ci/branch-deployment-url.sh)" >>"${GITHUB_OUTPUT}"
fi
uv run --frozen dagster-cloud ci status --output-format markdown >>"${SUMMARY_FILE}"

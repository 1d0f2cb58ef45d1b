"""Least privilege in the delivery pipeline, on every rendered variant (docs: the generated
project's docs/deployment.md, "Security model").

- Every workflow job that reads a secret other than the GITHUB_TOKEN runs in a GitHub Environment;
  pull-request jobs only in `preview`, the main pipeline only in the `main`-only environments.
- The workflows name only the chosen warehouse's secrets (the Hybrid registry's only for Hybrid);
  the branch deployment uses its own Dagster+ token and image repository.
- The Hybrid image: a digest-pinned base, a pinned uv, a non-root `USER`; `.dockerignore` patterns
  that match at any depth.
- SQLMesh's Postgres connections (state, and the Postgres warehouse) verify the server's
  certificate by default, and the mode can be changed with an environment variable.
- CI writes the BigQuery key to a new private file and removes it when the script exits.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from rendering import DEFAULT, SUPPORTED_COMBINATIONS, Combination, choices

# The workflows and the SQLMesh config do not depend on the Python version; the Dockerfile does.
VARIANTS = [
    pytest.param(c, id=c.id)
    for c in SUPPORTED_COMBINATIONS
    if c.python_version == DEFAULT.python_version
]
HYBRID_VARIANTS = [
    pytest.param(c, id=c.id)
    for c in SUPPORTED_COMBINATIONS
    if c.dagster_plus_deployment == "hybrid"
]
SECRET_RE = re.compile(r"\$\{\{\s*secrets\.(\w+)\s*\}\}")
VARIABLE_RE = re.compile(r"\$\{\{\s*vars\.(\w+)\s*\}\}")
PULL_REQUEST_ENVIRONMENTS = {"preview"}
# Both limited to `main` (docs/deployment.md); `production` also has required reviewers.
MAIN_ENVIRONMENTS = {"production", "production-ci"}
WAREHOUSE_SECRET_PREFIXES = {
    "motherduck": ("MOTHERDUCK_",),
    "postgres": ("POSTGRES_",),
    "snowflake": ("SNOWFLAKE_",),
    "bigquery": ("BIGQUERY_", "GOOGLE_"),
    "databricks": ("DATABRICKS_",),
}
REGISTRY_NAMES = ("DAGSTER_IMAGE_REGISTRY", "DAGSTER_BRANCH_IMAGE_REGISTRY")


@pytest.fixture(scope="module")
def rendered(render_project: Callable[[Combination], Path]) -> Callable[[Combination], Path]:
    return render_project


def workflow(project: Path, name: str) -> dict[str, Any]:
    data = yaml.safe_load((project / ".github" / "workflows" / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the `on:` key as True
    return data


def secrets_of(job: dict[str, Any]) -> set[str]:
    """The secrets a job reads anywhere (job env, step env, `with:`, `run:`), but GITHUB_TOKEN."""
    return set(SECRET_RE.findall(yaml.safe_dump(job))) - {"GITHUB_TOKEN"}


def environment_of(job: dict[str, Any]) -> str | None:
    environment = job.get("environment")
    return environment.get("name") if isinstance(environment, dict) else environment


def jobs(project: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name in ("pull_request.yml", "deploy.yml"):
        for job_name, job in workflow(project, name)["jobs"].items():
            yield name, job_name, job


@pytest.mark.parametrize("combination", VARIANTS)
def test_every_job_with_a_secret_runs_in_an_environment(
    combination: Combination, rendered: Callable
) -> None:
    project = rendered(combination)
    holders = 0
    for workflow_name, job_name, job in jobs(project):
        if not secrets_of(job):
            continue
        holders += 1
        allowed = (
            PULL_REQUEST_ENVIRONMENTS if workflow_name == "pull_request.yml" else MAIN_ENVIRONMENTS
        )
        assert environment_of(job) in allowed, (
            f"{workflow_name} job {job_name} reads {sorted(secrets_of(job))} "
            f"in environment {environment_of(job)!r}, not one of {sorted(allowed)}"
        )
    assert holders >= 5  # branch-deployment, close, plan, apply, deploy (+ materialize)


@pytest.mark.parametrize("combination", VARIANTS)
def test_pull_request_jobs_never_use_production(
    combination: Combination, rendered: Callable
) -> None:
    project = rendered(combination)
    text = (project / ".github" / "workflows" / "pull_request.yml").read_text()
    assert "production" not in {
        environment_of(job) for _, job in workflow(project, "pull_request.yml")["jobs"].items()
    }
    assert not re.search(r"^\s*environment:.*production", text, re.MULTILINE)
    # The branch deployment's own Dagster+ token, never the production deploy token.
    assert "secrets.DAGSTER_CLOUD_API_TOKEN " not in text
    assert "secrets.DAGSTER_CLOUD_BRANCH_DEPLOYMENT_TOKEN" in text
    deploy = workflow(project, "deploy.yml")["jobs"]
    assert environment_of(deploy["apply"]) == "production"


@pytest.mark.parametrize("combination", VARIANTS)
def test_only_the_chosen_warehouse_secrets_are_named(
    combination: Combination, rendered: Callable
) -> None:
    project = rendered(combination)
    for name in ("pull_request.yml", "deploy.yml"):
        text = (project / ".github" / "workflows" / name).read_text()
        named = set(SECRET_RE.findall(text)) | set(VARIABLE_RE.findall(text))
        for warehouse in choices("warehouse"):
            prefixes = WAREHOUSE_SECRET_PREFIXES[warehouse]
            found = {secret for secret in named if secret.startswith(prefixes)}
            if warehouse == combination.warehouse:
                assert found, f"{name} maps no {warehouse} secret"
            else:
                assert found == set(), f"{name} maps {warehouse} secrets: {sorted(found)}"
        registry = {item for item in named if item.startswith(REGISTRY_NAMES)}
        if combination.dagster_plus_deployment == "hybrid":
            assert registry, f"{name} maps no image registry"
        else:
            assert registry == set(), f"{name} maps registry settings: {sorted(registry)}"
    pull_request = (project / ".github" / "workflows" / "pull_request.yml").read_text()
    if combination.dagster_plus_deployment == "hybrid":
        # Branch images go to their own repository, never to the one production pulls from.
        assert "DAGSTER_IMAGE_REGISTRY: ${{ vars.DAGSTER_BRANCH_IMAGE_REGISTRY }}" in pull_request
        assert "vars.DAGSTER_IMAGE_REGISTRY " not in pull_request


@pytest.mark.parametrize("combination", VARIANTS)
def test_setup_uv_is_pinned_to_a_version(combination: Combination, rendered: Callable) -> None:
    project = rendered(combination)
    for _, job_name, job in jobs(project):
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("astral-sh/setup-uv@"):
                version = (step.get("with") or {}).get("version", "")
                assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{job_name}: setup-uv {version!r}"


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    logical = " ".join(line.rstrip("\\") if line.endswith("\\") else line + "\n" for line in lines)
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in logical.splitlines()
        if line.strip()
    ]


@pytest.mark.parametrize("combination", HYBRID_VARIANTS)
def test_the_image_is_pinned_and_runs_as_a_user(
    combination: Combination, rendered: Callable
) -> None:
    project = rendered(combination)
    instructions = dockerfile_instructions(project / "Dockerfile")
    args = dict(value.split("=", 1) for keyword, value in instructions if keyword == "ARG")
    [base] = [value for keyword, value in instructions if keyword == "FROM"]
    base = re.sub(r"\$\{(\w+)\}", lambda match: args[match[1]], base)
    assert re.fullmatch(
        rf"python:{re.escape(combination.python_version)}-slim@sha256:[0-9a-f]{{64}}", base
    ), base
    uv = [value for keyword, value in instructions if keyword == "RUN" and "install" in value]
    assert any(re.search(r"\buv==\d+\.\d+\.\d+\b", value) for value in uv), uv
    users = [value for keyword, value in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, users


@pytest.mark.parametrize("combination", HYBRID_VARIANTS)
def test_dockerignore_covers_nested_secrets_caches_and_databases(
    combination: Combination, rendered: Callable
) -> None:
    project = rendered(combination)
    patterns = {
        line.strip()
        for line in (project / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in ("**/.env", "**/.env.*", "**/.cache", "**/*.duckdb", "**/*.duckdb.wal"):
        assert required in patterns, f".dockerignore lacks {required}"
    assert not any(
        "local_defs_state" in pattern or "defs" in pattern.split("/") for pattern in patterns
    ), "the SQLMesh component's defs state must ship"


def sqlmesh_config(project: Path, environment: dict[str, str]) -> dict[str, Any]:
    """The project's SQLMesh settings as SQLMesh renders them, with the given environment variables.

    (`settings.yaml`, which the project's `config.py` loads.)
    """
    [config] = project.glob("src/*/sqlmesh_project/settings.yaml")

    def env_var(name: str, default: str | None = None) -> str | None:
        return environment.get(name, default)

    text = jinja2.Environment().from_string(config.read_text()).render(env_var=env_var)
    return yaml.safe_load(text)


@pytest.mark.parametrize("combination", VARIANTS)
def test_postgres_connections_verify_the_server_by_default(
    combination: Combination, rendered: Callable
) -> None:
    project = rendered(combination)
    # The gateway the deployments select (BigQuery renders define `prod` only when it is selected).
    selected = {"SQLMESH_GATEWAY": "prod"}
    prod = sqlmesh_config(project, selected)["gateways"]["prod"]
    assert prod["state_connection"]["sslmode"] == "verify-full"
    override = sqlmesh_config(project, {**selected, "SQLMESH_STATE_SSLMODE": "disable"})
    assert override["gateways"]["prod"]["state_connection"]["sslmode"] == "disable"
    if combination.warehouse == "postgres":
        assert prod["connection"]["sslmode"] == "verify-full"
        override = sqlmesh_config(project, {**selected, "POSTGRES_SSLMODE": "verify-ca"})
        assert override["gateways"]["prod"]["connection"]["sslmode"] == "verify-ca"
    # The DuckDB gateways used locally and by the CI checks have no TLS to configure.
    assert "sslmode" not in str(sqlmesh_config(project, {})["gateways"]["local"])


def test_bigquery_key_file_is_private_and_removed_on_exit(
    rendered: Callable, tmp_path: Path
) -> None:
    project = rendered(Combination(DEFAULT.python_version, "bigquery", "serverless"))
    key = '{"type": "service_account", "project_id": "demo"}'
    env = {
        "PATH": os.environ["PATH"],
        "RUNNER_TEMP": str(tmp_path),
        "GOOGLE_CREDENTIALS_JSON": key,
        "BIGQUERY_PROJECT": "demo",
        **{f"SQLMESH_STATE_{name}": "x" for name in ("HOST", "USER", "PASSWORD", "DATABASE")},
    }
    script = (
        "source scripts/ci/common.sh && use_production_gateway"
        ' && key_file="$GOOGLE_APPLICATION_CREDENTIALS"'
        ' && stat -c %a "$key_file" && cat "$key_file" && echo && echo "$key_file"'
    )
    result = subprocess.run(
        ["bash", "-c", script], cwd=project, env=env, capture_output=True, text=True, check=True
    )
    mode, content, path = result.stdout.splitlines()
    assert (mode, content) == ("600", key)
    assert Path(path).parent == tmp_path and Path(path).name != "google-credentials.json"
    assert list(tmp_path.iterdir()) == [], "the key file outlived the script"

"""Least privilege in the delivery pipeline, on every rendered variant (docs: the generated
project's docs/deployment.md, "Security model").

- Every workflow job that reads a secret other than the GITHUB_TOKEN runs in a GitHub Environment;
  pull-request jobs only in `preview`, the main pipeline only in the `main`-only environments.
- The workflows name only the chosen warehouse's secrets (the Hybrid registry's only for Hybrid);
  the branch deployment uses its own Dagster+ token and image repository.
- The Hybrid image: a digest-pinned base, uv from PyPI with every file's hash pinned, a non-root
  `USER`; `.dockerignore` patterns that match at any depth, key files included.
- SQLMesh's Postgres connections (state, and the Postgres warehouse) verify the server's
  certificate by default, and the mode can be changed with an environment variable.
- CI writes the BigQuery key to a new private file and removes it when the script exits.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dockerignore
import jinja2
import pytest
import yaml
from rendering import DEFAULT, SUPPORTED_COMBINATIONS, Combination, choices, files_of
from workflow_files import (
    SECRET_RE,
    VARIABLE_RE,
    environment_of,
    jobs,
    secrets_of,
    workflows_of,
)

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
PULL_REQUEST_ENVIRONMENTS = {"preview"}
# Both limited to `main` (docs/deployment.md); `production` also has required reviewers.
MAIN_ENVIRONMENTS = {"production", "production-ci"}
# The GitHub Environments each workflow may use: pull requests only `preview`; the main pipeline
# and the weekly settings check only environments limited to `main`.
ALLOWED_ENVIRONMENTS = {
    "pull_request.yml": PULL_REQUEST_ENVIRONMENTS,
    "deploy.yml": MAIN_ENVIRONMENTS,
    "github-settings.yml": {"github-settings"},
}
WAREHOUSE_SECRET_PREFIXES = {
    "motherduck": ("MOTHERDUCK_",),
    "postgres": ("POSTGRES_",),
    "snowflake": ("SNOWFLAKE_",),
    "bigquery": ("BIGQUERY_", "GOOGLE_"),
    "databricks": ("DATABRICKS_",),
}
REGISTRY_NAMES = ("DAGSTER_IMAGE_REGISTRY", "DAGSTER_BRANCH_IMAGE_REGISTRY")
# The jobs that read a secret, and what for (see secret_kind); `registry` on Hybrid only. No other
# job reads one.
JOB_SECRET_KINDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("pull_request.yml", "checks"): (),
    ("pull_request.yml", "branch-deployment"): ("state", "warehouse", "branch token", "registry"),
    ("pull_request.yml", "comment"): (),
    # Invalidates pr_<number> (state only: no warehouse) and closes the branch deployment: it
    # pushes no image.
    ("pull_request.yml", "close"): ("state", "branch token"),
    ("deploy.yml", "plan"): ("state", "warehouse"),
    ("deploy.yml", "apply"): ("state", "warehouse"),
    ("deploy.yml", "deploy"): ("state", "warehouse", "deploy token", "registry"),
    ("deploy.yml", "materialize"): ("deploy token",),
    # Syncs alert_policies.yaml: a Dagster+ user token that may change alert policies, nothing else.
    ("deploy.yml", "alerts"): ("alerts token",),
    ("github-settings.yml", "check"): ("settings token",),
}
SECRET_HOLDERS = [job for job, kinds in JOB_SECRET_KINDS.items() if kinds]


def environment_violations(workflows: dict[str, dict[str, Any]]) -> list[str]:
    """Every job that reads a secret outside the GitHub Environments its workflow may use."""
    violations = []
    for workflow_name, data in workflows.items():
        allowed = ALLOWED_ENVIRONMENTS[workflow_name]
        for job_name, job in data["jobs"].items():
            if secrets_of(job) and environment_of(job) not in allowed:
                violations.append(
                    f"{workflow_name} job {job_name} reads {sorted(secrets_of(job))} "
                    f"in environment {environment_of(job)!r}, not one of {sorted(allowed)}"
                )
    return violations


@pytest.mark.parametrize("combination", VARIANTS)
def test_every_job_with_a_secret_runs_in_an_environment(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    workflows = workflows_of(render_project(combination))
    assert environment_violations(workflows) == []
    holders = {(name, job) for name, data in workflows.items() for job in data["jobs"]}
    holders = {(name, job) for name, job in holders if secrets_of(workflows[name]["jobs"][job])}
    assert holders == set(SECRET_HOLDERS)


@pytest.mark.parametrize(("workflow_name", "job_name"), SECRET_HOLDERS)
def test_the_environment_policy_catches_a_job_without_one(
    default_project: Path, workflow_name: str, job_name: str
) -> None:
    """The check above fails when a secret-holding job loses its environment, or a pull request
    job asks for production's."""
    workflows = workflows_of(default_project)
    job = workflows[workflow_name]["jobs"][job_name]
    del job["environment"]
    [violation] = environment_violations(workflows)
    assert f"{workflow_name} job {job_name} reads" in violation
    job["environment"] = "production" if workflow_name == "pull_request.yml" else "preview"
    [violation] = environment_violations(workflows)
    assert f"in environment {job['environment']!r}" in violation


def secret_kind(name: str, warehouse: str) -> str:
    """What a secret is for: state, warehouse, deploy token, branch token or registry (or its name,
    for a secret none of these)."""
    if name.startswith("SQLMESH_STATE_"):
        return "state"
    if name.startswith(WAREHOUSE_SECRET_PREFIXES[warehouse]):
        return "warehouse"
    return {
        "DAGSTER_CLOUD_API_TOKEN": "deploy token",
        "DAGSTER_CLOUD_ALERTS_TOKEN": "alerts token",
        "DAGSTER_CLOUD_BRANCH_DEPLOYMENT_TOKEN": "branch token",
        "DAGSTER_IMAGE_REGISTRY_USERNAME": "registry",
        "DAGSTER_IMAGE_REGISTRY_PASSWORD": "registry",
        "GITHUB_SETTINGS_TOKEN": "settings token",
    }.get(name, name)


@pytest.mark.parametrize("combination", VARIANTS)
def test_each_job_maps_only_the_secrets_it_needs(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    """No job gets a secret for a step it does not run: the close job no registry credentials, the
    materialize job no database credentials, the checks and the comment none at all."""
    workflows = workflows_of(render_project(combination))
    sqlmesh_secrets = []
    for workflow_name, data in workflows.items():
        for job_name, job in data["jobs"].items():
            expected = set(JOB_SECRET_KINDS[workflow_name, job_name])
            if combination.dagster_plus_deployment == "serverless":
                expected.discard("registry")
            kinds = {secret_kind(name, combination.warehouse) for name in secrets_of(job)}
            assert kinds == expected, f"{workflow_name} job {job_name}"
            if "warehouse" in kinds:
                sqlmesh_secrets.append(
                    {
                        name
                        for name in secrets_of(job)
                        if secret_kind(name, combination.warehouse) in {"state", "warehouse"}
                    }
                )
    # Every job that runs SQLMesh on the warehouse gets the same, whole set of its credentials.
    assert len(sqlmesh_secrets) == 4
    assert all(names == sqlmesh_secrets[0] for names in sqlmesh_secrets), sqlmesh_secrets


@pytest.mark.parametrize("combination", VARIANTS)
def test_pull_request_jobs_never_use_production(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    text = (project / ".github" / "workflows" / "pull_request.yml").read_text()
    assert "production" not in {
        environment_of(job) for _, job in workflows_of(project)["pull_request.yml"]["jobs"].items()
    }
    assert not re.search(r"^\s*environment:.*production", text, re.MULTILINE)
    # The branch deployment's own Dagster+ token, never the production deploy token.
    assert "secrets.DAGSTER_CLOUD_API_TOKEN " not in text
    assert "secrets.DAGSTER_CLOUD_BRANCH_DEPLOYMENT_TOKEN" in text
    deploy = workflows_of(project)["deploy.yml"]["jobs"]
    assert environment_of(deploy["apply"]) == "production"


@pytest.mark.parametrize("combination", VARIANTS)
def test_only_the_chosen_warehouse_secrets_are_named(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    # The workflows that run SQLMesh or deploy (the weekly settings check does neither).
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
    settings_check = (project / ".github" / "workflows" / "github-settings.yml").read_text()
    assert set(SECRET_RE.findall(settings_check)) == {"GITHUB_SETTINGS_TOKEN"}
    pull_request = (project / ".github" / "workflows" / "pull_request.yml").read_text()
    if combination.dagster_plus_deployment == "hybrid":
        # Branch images go to their own repository, never to the one production pulls from.
        assert "DAGSTER_IMAGE_REGISTRY: ${{ vars.DAGSTER_BRANCH_IMAGE_REGISTRY }}" in pull_request
        assert "vars.DAGSTER_IMAGE_REGISTRY " not in pull_request


@pytest.mark.parametrize("combination", VARIANTS)
def test_setup_uv_is_pinned_to_a_version(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    versions = setup_uv_versions(project)
    assert versions, "no setup-uv step"
    for job_name, version in versions.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{job_name}: setup-uv {version!r}"


def setup_uv_versions(project: Path) -> dict[str, str]:
    """The `version:` of each job's setup-uv step, by job."""
    return {
        job_name: str((step.get("with") or {}).get("version", ""))
        for _, job_name, job in jobs(project)
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("astral-sh/setup-uv@")
    }


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
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    instructions = dockerfile_instructions(project / "Dockerfile")
    args = dict(value.split("=", 1) for keyword, value in instructions if keyword == "ARG")
    [base] = [value for keyword, value in instructions if keyword == "FROM"]
    base = re.sub(r"\$\{(\w+)\}", lambda match: args[match[1]], base)
    assert re.fullmatch(
        rf"python:{re.escape(combination.python_version)}-slim@sha256:[0-9a-f]{{64}}", base
    ), base
    # uv comes from PyPI with every file's hash pinned: pip installs those bytes or fails.
    pip = [
        " ".join(value.split())
        for keyword, value in instructions
        if keyword == "RUN" and "pip install" in value
    ]
    assert pip == [
        "pip install --no-cache-dir --no-deps --require-hashes -r uv-requirements.txt"
        " && rm uv-requirements.txt"
    ], pip
    assert ("COPY", "docker/uv-requirements.txt ./") in instructions
    requirements = (project / "docker" / "uv-requirements.txt").read_text()
    [pinned] = re.findall(r"^uv==(\d+\.\d+\.\d+) \\$", requirements, re.MULTILINE)
    hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})\b", requirements)
    assert len(hashes) >= 2 and len(set(hashes)) == len(hashes), hashes
    # The same uv builds the image as the workflows install (the image resolves nothing itself,
    # but a lock written by a newer uv may not be readable by an older one).
    assert set(setup_uv_versions(project).values()) == {pinned}
    users = [value for keyword, value in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, users


# Files that must never reach the image, at the top and nested ({package}: the package's folder).
LEFT_OUT_OF_THE_IMAGE = (
    ".env",
    ".env.local",
    ".envrc",
    "src/.env",
    "src/{package}/.env.production",
    "src/{package}/sqlmesh_project/.env",
    ".cache/sqlmesh/model.json",
    "src/{package}/sqlmesh_project/.cache/optimized_query/model",
    "src/{package}/defs/.cache/x",
    "local.duckdb",
    "src/{package}/sqlmesh_project/db.duckdb",
    "src/{package}/sqlmesh_project/db.duckdb.wal",
    "src/{package}/sqlmesh_project/data/ci.duckdb",
    ".venv/bin/python",
    "src/{package}/__pycache__/definitions.cpython-312.pyc",
    # Key files: private keys and service-account keys, at the top and nested.
    "snowflake_key.p8",
    "src/{package}/rsa_key.p8",
    "certs/client.pem",
    "src/{package}/sqlmesh_project/server.key",
    "keys/bundle.p12",
    "gcp-service-account.json",
    "src/{package}/my_service_account.json",
    "google-credentials.json",
    "deploy/bigquery-key.json",
)
# What the Dockerfile copies besides src/ (all of which must stay; the defs state is made in CI).
KEPT_IN_THE_IMAGE = (
    "pyproject.toml",
    "uv.lock",
    "README.md",
    "src/{package}/defs/.local_defs_state/SQLMeshProjectComponent__sqlmesh_project__/state",
)


def test_the_dockerignore_matcher_follows_docker() -> None:
    """The examples of Docker's .dockerignore reference, so the policy below can fail."""

    def ignored(path: str, *patterns: str) -> bool:
        return dockerignore.is_ignored(path, dockerignore.read_patterns("\n".join(patterns)))

    assert ignored("somedir/temporary.txt", "*/temp*") and ignored("somedir/temp", "*/temp*")
    assert not ignored("temp", "*/temp*") and not ignored("a/b/temp", "*/temp*")
    assert ignored("somedir/subdir/temporary.txt", "*/*/temp*")
    assert ignored("tempa", "temp?") and not ignored("tempab", "temp?")
    assert ignored("main.go", "**/*.go") and ignored("a/b/main.go", "**/*.go")
    # A pattern without `**` is anchored at the top of the context; a folder takes its contents.
    assert ignored(".env", ".env") and not ignored("src/.env", ".env")
    assert ignored(".cache/x/y", ".cache") and not ignored("src/.cache/x", ".cache")
    assert ignored("src/.cache/x", "**/.cache") and ignored(".cache", "**/.cache")
    # `!` re-includes; the last matching pattern wins.
    markdown = ("*.md", "!README*.md", "README-secret.md")
    assert not ignored("README.md", *markdown) and ignored("README-secret.md", *markdown)
    assert ignored("CHANGES.md", *markdown)
    assert not ignored("x", "# x") and ignored("x", "/x") and ignored("a/b", "a/./b")


@pytest.mark.parametrize("combination", HYBRID_VARIANTS)
def test_dockerignore_covers_nested_secrets_caches_and_databases(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    """By Docker's matching rules (dockerignore.py): dotenv files, caches and DuckDB files
    stay out of the image at any depth, and everything the Dockerfile copies goes in."""
    project = render_project(combination)
    patterns = dockerignore.read_patterns((project / ".dockerignore").read_text())
    [package] = [path.name for path in (project / "src").iterdir() if path.is_dir()]
    shipped = [path.as_posix() for path in files_of(project) if path.parts[0] == "src"]
    assert any(path.endswith("/definitions.py") for path in shipped), shipped
    for path in LEFT_OUT_OF_THE_IMAGE:
        path = path.format(package=package)
        assert dockerignore.is_ignored(path, patterns), f"{path} reaches the image"
    for path in (*shipped, *(path.format(package=package) for path in KEPT_IN_THE_IMAGE)):
        assert not dockerignore.is_ignored(path, patterns), f".dockerignore leaves out {path}"


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
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
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
    render_project: Callable[[Combination], Path], tmp_path: Path
) -> None:
    project = render_project(Combination(DEFAULT.python_version, "bigquery", "serverless"))
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

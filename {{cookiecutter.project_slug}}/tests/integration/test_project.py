"""Unit tests of environment naming (shared by CI and the resource) and project paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    SQLMeshProject,
    environment_from_env,
    pull_request_environment,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.cli import main
from {{ cookiecutter.package_name }}.sqlmesh_integration.errors import (
    BranchDeploymentEnvironmentError,
    mask_secrets,
)

BRANCH_DEPLOYMENT = {
    "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1",
    "DAGSTER_CLOUD_PULL_REQUEST_ID": "42",
}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "prod"),
        ({"SQLMESH_ENVIRONMENT": "dev"}, "dev"),
        (
            {"DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1", "DAGSTER_CLOUD_PULL_REQUEST_ID": "42"},
            "pr_42",
        ),
        (
            {"DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "0", "DAGSTER_CLOUD_PULL_REQUEST_ID": "42"},
            "prod",
        ),
        ({**BRANCH_DEPLOYMENT, "SQLMESH_ENVIRONMENT": "pr_42"}, "pr_42"),
    ],
    ids=["default-prod", "explicit", "branch-deployment", "full-deployment", "branch-own-explicit"],
)
def test_environment_from_env(env: dict[str, str], expected: str) -> None:
    assert environment_from_env(env) == expected


@pytest.mark.parametrize(
    ("env", "requested"),
    [
        ({**BRANCH_DEPLOYMENT, "SQLMESH_ENVIRONMENT": "prod"}, None),
        ({**BRANCH_DEPLOYMENT, "SQLMESH_ENVIRONMENT": "pr_7"}, None),
        (BRANCH_DEPLOYMENT, "prod"),
        ({"DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "true"}, None),
    ],
    ids=["variable-prod", "variable-other-pull-request", "resource-prod", "no-pull-request-id"],
)
def test_a_branch_deployment_refuses_any_environment_but_its_own(
    env: dict[str, str], requested: str | None
) -> None:
    with pytest.raises(BranchDeploymentEnvironmentError, match="branch deployment") as caught:
        environment_from_env(env, requested=requested)
    assert "prod" in str(caught.value) or "pr_7" in str(caught.value)


def test_mask_secrets() -> None:
    secret = "".join(["hun", "ter", "2"])  # built at run time: no credential literal here
    texts = {
        f"md:analytics?motherduck_token={secret}&x=1": "md:analytics?motherduck_token=***&x=1",
        f"host=db password={secret} dbname=x": "host=db password=*** dbname=x",
        f"password='{secret}'": "password=***",
        '"access_token": "' + secret + '"': '"access_token": ***',
        "postgresql://app" + ":" + secret + "@db:5432/x": "postgresql://app" + ":***@db:5432/x",
        f"SNOWFLAKE_PASSWORD={secret}": "SNOWFLAKE_PASSWORD=***",
        # Words that only mention a password stay as they are.
        "password authentication failed": "password authentication failed",
    }
    for text, masked in texts.items():
        assert mask_secrets(text) == masked


def test_pull_request_environment_refuses_non_numbers() -> None:
    assert pull_request_environment(" 7 ") == "pr_7"
    with pytest.raises(ValueError, match="is not a number"):
        pull_request_environment("7; rm -rf /")


def test_cli_prints_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["environment", "--pull-request", "12"]) == 0
    assert capsys.readouterr().out.strip() == "pr_12"


def test_cli_rejects_a_bad_pull_request_with_one_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["environment", "--pull-request", "abc"]) == 1
    assert "pass the pull request number" in capsys.readouterr().err


def test_relative_duckdb_paths_resolve_against_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    project_dir = tmp_path / "src" / "pkg" / "sqlmesh_project"
    project_dir.mkdir(parents=True)
    assert SQLMeshProject(project_dir).resolved_working_dir == tmp_path
    assert SQLMeshProject(project_dir, working_dir=Path("/elsewhere")).resolved_working_dir == Path(
        "/elsewhere"
    )


def test_relative_duckdb_paths_without_a_repository_resolve_beside_the_project(
    tmp_path: Path,
) -> None:
    project_dir = tmp_path / "copy" / "sqlmesh_project"
    project_dir.mkdir(parents=True)
    assert SQLMeshProject(project_dir).resolved_working_dir == tmp_path / "copy"


def test_only_unreachable_databases_count_as_connection_errors() -> None:
    import duckdb
    import psycopg2

    from {{ cookiecutter.package_name }}.sqlmesh_integration.connection.context import is_connection_error

    assert is_connection_error(duckdb.IOException("Could not set lock on file"))
    assert is_connection_error(psycopg2.OperationalError("connection refused"))
    assert is_connection_error(ConnectionRefusedError())
    try:
        try:
            raise TimeoutError("timed out")
        except TimeoutError as cause:
            raise RuntimeError("wrapped") from cause
    except RuntimeError as wrapped:
        assert is_connection_error(wrapped)
    assert not is_connection_error(KeyError("a bug"))
    assert not is_connection_error(duckdb.CatalogException("Table does not exist"))

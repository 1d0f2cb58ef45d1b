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
        (
            {
                "SQLMESH_ENVIRONMENT": "qa",
                "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1",
                "DAGSTER_CLOUD_PULL_REQUEST_ID": "42",
            },
            "qa",
        ),
    ],
    ids=["default-prod", "explicit", "branch-deployment", "full-deployment", "explicit-wins"],
)
def test_environment_from_env(env: dict[str, str], expected: str) -> None:
    assert environment_from_env(env) == expected


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

    from {{ cookiecutter.package_name }}.sqlmesh_integration.context import is_connection_error

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

"""Fixtures of the tests of your own SQLMesh project (`tests/project/`); see `loading.py`."""

from __future__ import annotations

import pytest

from .loading import (
    DEFS_DIR,
    GATEWAY,
    LoadedProject,
    ProjectNotTestableError,
    ProjectSource,
    load_project,
    sqlmesh_projects,
)

_ENVIRONMENT_VARIABLES = (
    "SQLMESH_ENVIRONMENT",
    "DAGSTER_CLOUD_DEPLOYMENT_NAME",
    "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT",
    "DAGSTER_CLOUD_PULL_REQUEST_ID",
    "DAGSTER_IS_DEV_CLI",
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Runs each test taking `loaded_project` once per SQLMesh project, named by its folder."""
    if "loaded_project" in metafunc.fixturenames:
        projects = sqlmesh_projects()
        metafunc.parametrize(
            "loaded_project",
            projects or [None],  # None fails in the fixture, naming what is missing
            ids=[project.name for project in projects] or ["no-project"],
            indirect=True,
            scope="session",
        )


@pytest.fixture(scope="session")
def loaded_project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> LoadedProject:
    """The project copied, applied to `prod` on the ci gateway (no backfill), and loaded."""
    source: ProjectSource | None = request.param
    if source is None:
        pytest.fail(
            f"No SQLMeshProjectComponent in a defs.yaml under {DEFS_DIR}: declare your SQLMesh "
            "project there (`uv run dg scaffold defs` with SQLMeshProjectComponent)."
        )
    with pytest.MonkeyPatch.context() as monkeypatch:
        _clear_environment(monkeypatch)
        try:
            return load_project(source, tmp_path_factory.mktemp("project"))
        except ProjectNotTestableError as error:
            pytest.fail(str(error))


@pytest.fixture(autouse=True)
def _no_deployment_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs target the copy's `prod` on the ci gateway, whatever the shell's environment says."""
    _clear_environment(monkeypatch)


def _clear_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SQLMESH_GATEWAY", GATEWAY)

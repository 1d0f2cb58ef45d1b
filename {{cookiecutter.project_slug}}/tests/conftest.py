"""Fixtures of the integration's tests (the helpers live in `support.py`).

`sample` and `applied_sample` are copies of the shop fixture project (`tests/fixtures/shop/`), never
of `src/<package>/sqlmesh_project/`: replace that one with your own models and these tests still
hold. The tests of your own project (`tests/project/`) have fixtures of their own.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProject

from .support import SHOP_PROJECT_DIR, SampleProject, prepared_manifest

_ENVIRONMENT_VARIABLES = (
    "SQLMESH_GATEWAY",
    "SQLMESH_ENVIRONMENT",
    "DAGSTER_CLOUD_DEPLOYMENT_NAME",
    "DAGSTER_IS_DEV_CLI",
)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A persistent instance (SQLite run, event and schedule storage in a folder), as `dg dev`."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.DagsterInstance.local_temp(str(home)) as local:
        yield local


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SampleProject]:
    """A fresh copy of the shop fixture project (not yet applied) on the local DuckDB gateway."""
    for name in _ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    shutil.copytree(
        SHOP_PROJECT_DIR,
        tmp_path / "sqlmesh_project",
        ignore=shutil.ignore_patterns(".dagster", ".cache", "logs", "__pycache__", "*.duckdb*"),
    )
    yield _sample_in(tmp_path)


@pytest.fixture(scope="session")
def _applied_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop fixture project applied once per session (skip_backfill), manifest prepared."""
    root = tmp_path_factory.mktemp("applied")
    shutil.copytree(
        SHOP_PROJECT_DIR,
        root / "sqlmesh_project",
        ignore=shutil.ignore_patterns(".dagster", ".cache", "logs", "__pycache__", "*.duckdb*"),
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in _ENVIRONMENT_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        applied = _sample_in(root)
        applied.plan()
        prepared_manifest(applied.project)
    return root


@pytest.fixture
def applied_sample(
    _applied_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SampleProject:
    """A copy of the shop fixture project applied to prod (nothing computed yet), manifest ready.

    The same state as `sample` followed by `sample.plan()`, without paying for the plan in every
    test: the project folder and its DuckDB file are copied from one applied per session.
    """
    for name in _ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "applied"
    shutil.copytree(_applied_template, root, ignore=shutil.ignore_patterns("*.lock", "logs"))
    return _sample_in(root)


def _sample_in(root: Path) -> SampleProject:
    project_dir = root / "sqlmesh_project"
    return SampleProject(
        root=root, project=SQLMeshProject(project_dir, gateway="local", working_dir=root)
    )

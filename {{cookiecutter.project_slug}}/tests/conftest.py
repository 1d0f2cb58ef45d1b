"""Fixtures shared by the tests (the helpers live in `support.py`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProject

from .support import PACKAGE_PROJECT_DIR, SampleProject


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SampleProject]:
    """A fresh copy of the sample project (not yet applied) on the local DuckDB gateway."""
    monkeypatch.delenv("SQLMESH_GATEWAY", raising=False)
    monkeypatch.delenv("SQLMESH_ENVIRONMENT", raising=False)
    monkeypatch.delenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", raising=False)
    project_dir = tmp_path / "sqlmesh_project"
    shutil.copytree(
        PACKAGE_PROJECT_DIR,
        project_dir,
        ignore=shutil.ignore_patterns(".dagster", ".cache", "logs", "__pycache__", "*.duckdb*"),
    )
    yield SampleProject(
        root=tmp_path,
        project=SQLMeshProject(project_dir, gateway="local", working_dir=tmp_path),
    )

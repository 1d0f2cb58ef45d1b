"""How the tests of the user's project find it (`tests/project/loading.py`): every
SQLMeshProjectComponent declared under the defs folder, subclasses included, grouped by the project
folder it loads; other components are not theirs, and a project folder that is missing is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProjectComponent

from ..project.loading import ProjectNotTestableError, sqlmesh_projects

COMPONENT = f"{SQLMeshProjectComponent.__module__}.{SQLMeshProjectComponent.__name__}"


class TeamSQLMeshComponent(SQLMeshProjectComponent):
    """A subclass of the user's own."""


def declare(defs: Path, folder: str, *documents: dict[str, Any]) -> None:
    (defs / folder).mkdir(parents=True)
    (defs / folder / "defs.yaml").write_text(yaml.safe_dump_all(documents))


def test_components_are_found_by_type_and_grouped_by_project(tmp_path: Path) -> None:
    shop, telemetry, defs = tmp_path / "shop", tmp_path / "telemetry", tmp_path / "defs"
    shop.mkdir()
    telemetry.mkdir()
    declare(defs, "shop", {"type": COMPONENT, "attributes": {"project": "../../shop"}})
    declare(
        defs,
        "split",  # two components in one file: the same project twice, and a dbt project
        {"type": COMPONENT, "attributes": {"project": "../../shop", "select": "marts.*"}},
        {"type": "dagster_dbt.DbtProjectComponent", "attributes": {"project": "../../dbt"}},
    )
    subclass = f"{__name__}.{TeamSQLMeshComponent.__name__}"
    declare(defs, "telemetry", {"type": subclass, "attributes": {"project": "../../telemetry"}})

    found = {source.project_dir: source.components for source in sqlmesh_projects(defs)}

    assert sorted(found) == [shop.resolve(), telemetry.resolve()]
    assert [document["attributes"].get("select") for document in found[shop.resolve()]] == [
        None,
        "marts.*",
    ]


def test_a_missing_project_folder_is_named(tmp_path: Path) -> None:
    declare(tmp_path / "defs", "gone", {"type": COMPONENT, "attributes": {"project": "../../gone"}})
    with pytest.raises(ProjectNotTestableError, match="gone does not exist: fix its `project`"):
        sqlmesh_projects(tmp_path / "defs")

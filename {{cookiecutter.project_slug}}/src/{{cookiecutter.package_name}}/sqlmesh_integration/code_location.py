"""The SQLMesh projects of a Dagster code location: what CI plans before the location deploys.

Every `SQLMeshProjectComponent` of the `dg` project (its `defs/` folder, loaded as `dg` loads it:
subclasses and templated paths included) names the SQLMesh project folders it loads. CI plans all
of them together, `sqlmesh -p <first> -p <second> ... plan`, as SQLMesh's multi-repo mode requires
of projects that share one state (`scripts/ci/common.sh`, `sqlmesh-dagster projects`). No SQLMesh
import: components are loaded, never built.
"""

from __future__ import annotations

import os
from pathlib import Path

from .component import SQLMeshProjectComponent
from .errors import InvalidInputError


def component_project_dirs(path_within_project: Path) -> list[Path]:
    """The SQLMesh project folders of every SQLMesh component of the `dg` project, each once.

    In the order the components load, each component's folders in its own order (the first of
    a component's list is the one whose config chooses the gateway and state).

    Raises:
        InvalidInputError: no `dg` project around `path_within_project`, or it has no SQLMesh
            component.
    """
    from dagster.components.core.component_tree import ComponentTree

    try:
        tree = ComponentTree.for_project(path_within_project.absolute())
    except Exception as error:  # Dagster's own errors carry no common base class
        raise InvalidInputError(
            f"No Dagster project loads from {path_within_project} ({error}): run the command in "
            "a `dg` project (a folder with [tool.dg] in pyproject.toml, or below one)."
        ) from error
    folders: list[Path] = []
    for component in tree.get_all_components(of_type=SQLMeshProjectComponent):
        for folder in component.sqlmesh_project.project_dirs:
            resolved = folder.resolve()
            if resolved not in folders:
                folders.append(resolved)
    if not folders:
        raise InvalidInputError(
            f"The Dagster project at {tree.project_root} has no SQLMeshProjectComponent: add one "
            "with `dg scaffold defs <package>.sqlmesh_integration.SQLMeshProjectComponent ...`."
        )
    return folders


def display_path(folder: Path, start: Path | None = None) -> str:
    """The folder relative to `start` (default: the current folder) when below it, else absolute."""
    start = (start or Path.cwd()).resolve()
    resolved = folder.resolve()
    return os.path.relpath(resolved, start) if resolved.is_relative_to(start) else str(resolved)

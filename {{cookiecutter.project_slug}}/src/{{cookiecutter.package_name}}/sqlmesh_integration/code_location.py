"""The SQLMesh projects of Dagster code locations: what CI plans before the locations deploy.

Every `SQLMeshProjectComponent` of a `dg` project (its `defs/` folder, loaded as `dg` loads it:
subclasses and templated paths included) names the SQLMesh project folders it loads; in a `dg`
workspace (`dg.toml`), every project of the workspace is read. CI plans all of them together,
`sqlmesh -p <first> -p <second> ... plan`, as SQLMesh's multi-repo mode requires of projects that
share one state (`scripts/ci/common.sh`, `sqlmesh-dagster projects`). No SQLMesh import:
components are loaded, never built.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from .component import SQLMeshProjectComponent
from .errors import InvalidInputError


def component_project_dirs(path: Path) -> list[Path]:
    """The SQLMesh project folders of every SQLMesh component, each once.

    Those of the `dg` project around `path`, or, when `path` is a `dg` workspace (a `dg.toml`
    with `directory_type = "workspace"`), of every project it lists, in its order. Within a
    project, in the order the components load, each component's folders in its own order (the
    first of a component's list is the one whose config chooses the gateway and state).

    Raises:
        InvalidInputError: no `dg` project or workspace at `path`, or no SQLMesh component in it.
    """
    folders: list[Path] = []
    for project_root in workspace_projects(path) or [path]:
        for folder in _project_component_dirs(project_root):
            if folder not in folders:
                folders.append(folder)
    if not folders:
        raise InvalidInputError(
            f"No SQLMeshProjectComponent in the Dagster project(s) at {path}: add one with "
            "`dg scaffold defs <package>.sqlmesh_integration.SQLMeshProjectComponent ...`."
        )
    return folders


def workspace_projects(path: Path) -> list[Path]:
    """The project folders a `dg` workspace at `path` lists (`dg.toml`), or [] when it is none."""
    config_path = path / "dg.toml"
    if not config_path.is_file():
        return []
    config = tomllib.loads(config_path.read_text())
    if config.get("directory_type") != "workspace":
        return []
    projects = config.get("workspace", {}).get("projects", [])
    return [(path / str(project["path"])).resolve() for project in projects]


def _project_component_dirs(path_within_project: Path) -> list[Path]:
    from dagster.components.core.component_tree import ComponentTree

    try:
        tree = ComponentTree.for_project(path_within_project.absolute())
    except Exception as error:  # Dagster's own errors carry no common base class
        raise InvalidInputError(
            f"No Dagster project loads from {path_within_project} ({error}): run the command in "
            "a `dg` project (a folder with [tool.dg] in pyproject.toml, or below one) or at the "
            "root of a `dg` workspace."
        ) from error
    return [
        folder.resolve()
        for component in tree.get_all_components(of_type=SQLMeshProjectComponent)
        for folder in component.sqlmesh_project.project_dirs
    ]


def display_path(folder: Path, start: Path | None = None) -> str:
    """The folder relative to `start` (default: the current folder) when below it, else absolute."""
    start = (start or Path.cwd()).resolve()
    resolved = folder.resolve()
    return os.path.relpath(resolved, start) if resolved.is_relative_to(start) else str(resolved)

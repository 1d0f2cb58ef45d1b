"""How the tests of your SQLMesh project find it, copy it and load it (fixtures in conftest.py).

Your SQLMesh projects are found the way Dagster finds them: every `SQLMeshProjectComponent` (or a
subclass) declared in a `defs.yaml` under `src/{{ cookiecutter.package_name }}/defs/` (the shipped one
loads `src/{{ cookiecutter.package_name }}/sqlmesh_project/`). Each project is tested on a copy, in a
temporary folder, on the `ci` gateway: the tests never touch your `local.duckdb`, your `ci.duckdb`
or the component state `dg` keeps. The components are loaded as you configured them (`select`,
`translation`, `op`, a subclass of your own...), with only the project folder, the gateway and the
state's location changed.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster.components.testing import DefsFolderSandbox, create_defs_folder_sandbox

import {{ cookiecutter.package_name }}
from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProject, SQLMeshProjectComponent
from {{ cookiecutter.package_name }}.sqlmesh_integration.connection.context import load_config, open_context

# The gateway the tests run your project on: DuckDB in a temporary folder, no credentials (the
# pull request's checks use it too). Your project needs it, with SQL that runs on DuckDB.
GATEWAY = "ci"
DEFS_DIR = Path({{ cookiecutter.package_name }}.__file__).parent / "defs"
REPOSITORY_ROOT = DEFS_DIR.parent.parent.parent
# Left behind by local use: never copied.
_NOT_SOURCE = shutil.ignore_patterns(
    ".dagster", ".cache", "logs", "__pycache__", "*.duckdb*", "*.lock", "target"
)
# Attributes a test sets itself: where the project and the state are, which gateway and environment.
_REPLACED_ATTRIBUTES = ("project", "gateway", "environment", "defs_state")


class ProjectNotTestableError(Exception):
    """The project cannot be tested as it is; the message says what to change."""


@dataclass(frozen=True)
class ProjectSource:
    """One SQLMesh project of this repository and the component declarations that load it."""

    project_dir: Path
    components: tuple[dict[str, Any], ...]  # the defs.yaml documents, attributes as written

    @property
    def name(self) -> str:
        """The project folder relative to the repository root (the tests' id)."""
        try:
            return self.project_dir.relative_to(REPOSITORY_ROOT).as_posix()
        except ValueError:
            return str(self.project_dir)


@dataclass(frozen=True)
class LoadedProject:
    """A copy of a project applied to `prod` on the ci gateway, and its Dagster definitions."""

    source: ProjectSource
    project: SQLMeshProject
    definitions: dg.Definitions


def sqlmesh_projects(defs_dir: Path = DEFS_DIR) -> list[ProjectSource]:
    """Every SQLMesh project a `SQLMeshProjectComponent` (or a subclass) in `defs_dir` loads."""
    found: dict[Path, list[dict[str, Any]]] = {}
    for defs_file in sorted(defs_dir.rglob("defs.yaml")):
        for document in yaml.safe_load_all(defs_file.read_text()):
            if not _is_sqlmesh_component(document):
                continue
            project_dir = (defs_file.parent / document["attributes"]["project"]).resolve()
            if not project_dir.is_dir():
                raise ProjectNotTestableError(
                    f"{defs_file}: the SQLMesh project {project_dir} does not exist: fix its "
                    "`project` attribute (relative to the folder of the defs.yaml)."
                )
            found.setdefault(project_dir, []).append(document)
    return [ProjectSource(path, tuple(documents)) for path, documents in found.items()]


def _is_sqlmesh_component(document: Any) -> bool:
    if not isinstance(document, dict) or not isinstance(document.get("type"), str):
        return False
    module_name, _, class_name = document["type"].rpartition(".")
    try:
        component = getattr(importlib.import_module(module_name), class_name, None)
    except (ImportError, ValueError):
        return False  # not a class path this process can import: another kind of component
    return isinstance(component, type) and issubclass(component, SQLMeshProjectComponent)


def load_project(source: ProjectSource, root: Path) -> LoadedProject:
    """The project copied into `root`, applied to `prod` on the ci gateway (no backfill), loaded.

    Raises:
        ProjectNotTestableError: the project has no ci gateway.
    """
    project_dir = root / source.project_dir.name
    shutil.copytree(source.project_dir, project_dir, ignore=_NOT_SOURCE)
    project = SQLMeshProject(project_dir, gateway=GATEWAY)
    gateways = sorted(load_config(project).gateways)
    if GATEWAY not in gateways:
        raise ProjectNotTestableError(
            f"{source.name} has no `{GATEWAY}` gateway (it has {', '.join(gateways)}): add one on "
            "DuckDB to its config, the gateway its tests and pull requests run on."
        )
    apply_to_prod(project)
    with create_defs_folder_sandbox() as sandbox:
        definitions = _definitions(sandbox, source, project_dir)
    return LoadedProject(source, project, definitions)


def apply_to_prod(project: SQLMeshProject) -> None:
    """`sqlmesh plan prod --auto-apply --skip-backfill --skip-tests`: the code, no data.

    The SQLMesh unit tests run in `tox -e sqlmesh`; here Dagster computes everything.
    """
    context = open_context(project)
    try:
        context.plan("prod", auto_apply=True, no_prompts=True, skip_backfill=True, skip_tests=True)
    finally:
        context.close()


def _definitions(
    sandbox: DefsFolderSandbox, source: ProjectSource, project_dir: Path
) -> dg.Definitions:
    """The definitions of the project's components, their state refreshed as `dg` does it.

    Each component is declared in a defs folder of its own in the sandbox, as written but for the
    replaced attributes.
    """
    for index, document in enumerate(source.components):
        attributes = {
            key: value
            for key, value in (document.get("attributes") or {}).items()
            if key not in _REPLACED_ATTRIBUTES
        }
        attributes.update(project=str(project_dir), gateway=GATEWAY)
        folder = sandbox.defs_folder_path / f"sqlmesh_{index}"
        folder.mkdir()
        (folder / "defs.yaml").write_text(
            yaml.safe_dump({**document, "attributes": attributes}, sort_keys=False)
        )
    with sandbox.build_component_tree() as tree:
        for index in range(len(source.components)):
            component = tree.load_component(sandbox.defs_folder_path / f"sqlmesh_{index}")
            assert isinstance(component, SQLMeshProjectComponent)
            # An instance of its own: `refresh_state` records the state's version in the current
            # instance's storage, which an earlier test's closed instance may have left behind.
            with dg.DagsterInstance.ephemeral():
                asyncio.run(component.refresh_state(sandbox.project_root))
        return tree.build_defs()

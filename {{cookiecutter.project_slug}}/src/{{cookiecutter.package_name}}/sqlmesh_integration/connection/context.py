"""Opening a SQLMesh `Context` for a project (imported lazily: it imports SQLMesh).

Three fixes over a bare `Context(paths=...)`:
- relative DuckDB paths resolve against the repository root (`SQLMeshProject.resolved_working_dir`)
  instead of the process's current folder, the rule the sample's `config.py` applies for the SQLMesh
  CLI, so Dagster and the CLI open the same database file wherever either was started;
- a console of ours can be installed for the context alone, without replacing SQLMesh's global
  console;
- several projects load safely in one process (`dg utils refresh-defs-state` prepares several
  components at once, in threads): SQLMesh loads a project through process-wide state (its macro,
  model and signal registries, `sys.path`, `sys.modules`, and a file lock it forks under), so
  loads take one process-wide lock (:func:`sqlmesh_lock`), and the Python modules a project's files
  import (`macros.helpers`: two projects may both have a top-level `macros` package) are dropped
  from `sys.modules` once it is loaded, so the next project imports its own.
"""

from __future__ import annotations

import sys
import threading
import typing as t
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sqlmesh.core.config import Config
from sqlmesh.core.config.connection import DuckDBConnectionConfig
from sqlmesh.core.config.loader import load_configs
from sqlmesh.core.context import Context

from ..definitions.project import SQLMeshProject, absolute_duckdb_database

if t.TYPE_CHECKING:
    from sqlmesh.core.console import Console

# Reentrant: preparing a manifest holds it around the load and the state reads that follow, and
# opens its context (which takes it too) inside.
_SQLMESH_LOCK = threading.RLock()


@contextmanager
def sqlmesh_lock() -> Iterator[None]:
    """Holds the process-wide lock that SQLMesh project loads and state reads take.

    Two SQLMesh loads at once in one process corrupt each other (registries, `sys.modules`, a
    fork while the other holds a file lock), and two first reads of one state race to set it up.
    """
    with _SQLMESH_LOCK:
        yield


def load_config(project: SQLMeshProject) -> Config:
    """Returns the project's SQLMesh config with relative DuckDB paths made absolute.

    The config of `project.project_dir`, the one that chooses the gateway, state and database.
    """
    alone = replace(project, other_project_dirs=())
    return load_configs_of(alone)[project.project_dir.absolute()]


def load_configs_of(project: SQLMeshProject) -> dict[Path, Config]:
    """The config of every folder of the project (`project_dirs`), DuckDB paths made absolute."""
    base = project.resolved_working_dir
    with sqlmesh_lock(), _project_modules_forgotten(project):
        configs = load_configs("config", Config, list(project.project_dirs))
    return {folder: _with_absolute_duckdb(config, base) for folder, config in configs.items()}


def _with_absolute_duckdb(config: Config, base: Path) -> Config:
    gateways = {
        name: gateway.model_copy(
            update={
                "connection": _absolute_duckdb(gateway.connection, base),
                "state_connection": _absolute_duckdb(gateway.state_connection, base),
            }
        )
        for name, gateway in config.gateways.items()
    }
    return config.model_copy(update={"gateways": gateways})


def open_context(
    project: SQLMeshProject,
    *,
    load: bool = True,
    console: Console | None = None,
    config: Config | None = None,
) -> Context:
    """Returns a SQLMesh context for the project.

    Args:
        project: The project.
        load: Whether to load the models from the files. A run does not need them: `Context.run`
            evaluates the snapshots stored in the environment's state.
        console: A console for this context only (SQLMesh's global console is left alone).
        config: The project's config when the caller already loaded it (:func:`load_config`), so
            a run loads it once.
    """
    configs = (
        load_configs_of(project)
        if config is None or project.other_project_dirs
        else {project.project_dir.absolute(): config}
    )
    if config is not None:
        configs[project.project_dir.absolute()] = config
    with sqlmesh_lock(), _project_modules_forgotten(project):
        context = Context(
            paths=list(project.project_dirs),
            config=configs,
            gateway=project.gateway,
            load=load,
        )
    if console is not None:
        context.console = console
    return context


@contextmanager
def _project_modules_forgotten(project: SQLMeshProject) -> Iterator[None]:
    """Drops the modules imported from the project's folders while the block ran.

    SQLMesh imports a project's Python files as top-level modules (`macros.helpers`, `config`)
    and keeps what it needs of them in the loaded models; a module left in `sys.modules` would be
    found instead of another project's module of the same name.
    """
    before = set(sys.modules)
    try:
        yield
    finally:
        folders = [folder.resolve() for folder in project.project_dirs]
        # Every new module is located before any is dropped: a namespace package recomputes its
        # `__path__` from its parent's, which must still be in `sys.modules` then.
        imported = [
            name
            for name in set(sys.modules) - before
            if any(
                Path(location).resolve().is_relative_to(folder)
                for location in _module_locations(sys.modules.get(name))
                for folder in folders
            )
        ]
        for name in imported:
            sys.modules.pop(name, None)


def _module_locations(module: object) -> list[str]:
    """A package's folders (a namespace package has no `__file__`) and a module's file."""
    try:
        folders = list(getattr(module, "__path__", ()))
    except KeyError:  # a namespace package whose parent is gone: its file-less path is moot
        folders = []
    file = getattr(module, "__file__", None)
    return [*folders, file] if file else folders


def gateway_name(project: SQLMeshProject, config: Config) -> str:
    """The gateway a context for this project uses: the one place that chooses it."""
    return project.gateway or config.default_gateway_name


def duckdb_database_path(project: SQLMeshProject, config: Config | None = None) -> Path | None:
    """The DuckDB file the project's gateway writes to, or None for other engines or in-memory."""
    config = config or load_config(project)
    gateway = config.gateways.get(gateway_name(project, config))
    connection = gateway.connection if gateway else None
    if (
        isinstance(connection, DuckDBConnectionConfig)
        and connection.database
        and connection.database != ":memory:"
    ):
        return Path(connection.database)
    return None


# DB-API's classes for "the database could not be reached or opened" (DuckDB's IOException for a
# file another process holds derives from OperationalError), and Google's for missing credentials.
_CONNECTION_ERROR_NAMES = frozenset(
    {"OperationalError", "InterfaceError", "DefaultCredentialsError", "RefreshError"}
)


def is_connection_error(error: BaseException) -> bool:
    """Whether `error` (or an error it was raised from) means a database could not be reached.

    Network and file errors (`OSError`), DB-API `OperationalError`/`InterfaceError` of any driver,
    and missing or expired Google credentials count; SQL errors, configuration errors and bugs
    do not, so they surface as what they are.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):
            return True
        if _CONNECTION_ERROR_NAMES.intersection(cls.__name__ for cls in type(current).__mro__):
            return True
        current = current.__cause__ or current.__context__
    return False


def _absolute_duckdb(connection: t.Any, base: Path) -> t.Any:
    if not isinstance(connection, DuckDBConnectionConfig) or not connection.database:
        return connection
    database = absolute_duckdb_database(connection.database, base)
    if database == connection.database:
        return connection
    return connection.model_copy(update={"database": database})

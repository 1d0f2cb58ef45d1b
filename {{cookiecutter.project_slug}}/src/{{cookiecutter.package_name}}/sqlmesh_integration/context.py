"""Opening a SQLMesh `Context` for a project (imported lazily: it imports SQLMesh).

Two fixes over a bare `Context(paths=...)`:
- relative DuckDB paths resolve against the repository root (`SQLMeshProject.resolved_working_dir`)
  instead of the process's current folder, the rule the sample's `config.py` applies for the SQLMesh
  CLI, so Dagster and the CLI open the same database file wherever either was started;
- a console of ours can be installed for the context alone, without replacing SQLMesh's global
  console.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from sqlmesh.core.config import Config
from sqlmesh.core.config.connection import DuckDBConnectionConfig
from sqlmesh.core.config.loader import load_configs
from sqlmesh.core.context import Context

from .project import SQLMeshProject

if t.TYPE_CHECKING:
    from sqlmesh.core.console import Console


def load_config(project: SQLMeshProject) -> Config:
    """Returns the project's SQLMesh config with relative DuckDB paths made absolute."""
    configs = load_configs("config", Config, [project.project_dir])
    config = next(iter(configs.values()))
    base = project.resolved_working_dir
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
    config = config or load_config(project)
    context = Context(
        paths=[project.project_dir],
        config={project.project_dir.absolute(): config},
        gateway=project.gateway,
        load=load,
    )
    if console is not None:
        context.console = console
    return context


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
    database = connection.database
    if database == ":memory:" or database.startswith(("md:", "motherduck:")) or "://" in database:
        return connection
    path = Path(database)
    if path.is_absolute():
        return connection
    return connection.model_copy(update={"database": str(base / path)})

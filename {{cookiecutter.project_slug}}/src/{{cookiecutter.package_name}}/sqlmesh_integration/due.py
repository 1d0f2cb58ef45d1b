"""Which models have intervals due, asked of SQLMesh read-only (imported lazily: imports SQLMesh).

The due-driven sensor (`automation.py`) calls :func:`find_due_models` on each tick. It computes what
`sqlmesh run` would run, with SQLMesh's own scheduler, and runs nothing:
- the environment's snapshots and their intervals, read from the state;
- auto-restatements applied in memory only (as `sqlmesh run` does for prod);
- `Scheduler.merged_missing_intervals` (crons, starts, lookbacks, `allow_partials`...);
- `Scheduler.batch_intervals`, which evaluates the models' signals and holds back intervals
  whose upstream intervals are not ready.

Only reads are issued. A local DuckDB file is open only while this read lasts (DuckDB lets one
process open a file), under the lock file runs take, without waiting for it: when a run holds the
file, the tick is skipped with a reason instead of failing or waiting, and a run that starts during
the read waits for it (runs wait for the lock).
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmesh.core import constants as sqlmesh_constants
from sqlmesh.core.config import Config
from sqlmesh.core.console import NoopConsole
from sqlmesh.core.snapshot import DeployabilityIndex, apply_auto_restatements

from .context import (
    duckdb_database_path,
    gateway_name,
    is_connection_error,
    load_config,
    open_context,
)
from .errors import (
    RunLockTimeoutError,
    SQLMeshIntegrationError,
    StateConnectionError,
    masked_cause,
)
from .locking import database_lock
from .project import SQLMeshProject
from .runner import environment_snapshots

if t.TYPE_CHECKING:
    from sqlmesh.core.snapshot import Snapshot


@dataclass(frozen=True)
class DueModels:
    """What SQLMesh would run now in an environment.

    Attributes:
        environment: The SQLMesh environment asked.
        due: The models with intervals due (ready by their signals), by SQLMesh name, each with
            the end of its last due interval (UTC, ISO format).
        identifiers: The snapshot identifier of every model in the environment, by SQLMesh name.
        busy: Why SQLMesh could not be asked (another process holds the database); None when it was.
    """

    environment: str
    due: Mapping[str, str] = field(default_factory=dict)
    identifiers: Mapping[str, str] = field(default_factory=dict)
    busy: str | None = None


def find_due_models(
    project: SQLMeshProject, environment: str, *, execution_time: datetime | None = None
) -> DueModels:
    """Asks SQLMesh which models of `environment` have intervals due, without running anything.

    Raises:
        EnvironmentNotFoundError: the environment was never applied.
        StateConnectionError: the state database or warehouse could not be reached.
    """
    config = load_config(project)  # once per tick
    gateway = gateway_name(project, config)
    database = duckdb_database_path(project, config)
    try:
        with database_lock(database, timeout_seconds=0):
            return _read_due_models(project, config, environment, gateway, execution_time)
    except RunLockTimeoutError:
        return DueModels(
            environment, busy=f"a SQLMesh run holds {database} (its lock file is taken)"
        )


def _read_due_models(
    project: SQLMeshProject,
    config: Config,
    environment: str,
    gateway: str,
    execution_time: datetime | None,
) -> DueModels:
    try:
        context = open_context(project, load=False, console=NoopConsole(), config=config)
    except Exception as error:
        return _busy_or_raise(error, environment, gateway)
    try:
        try:
            stored = environment_snapshots(context, project, environment)
            due = _due_intervals(context, environment, stored, execution_time)
        except SQLMeshIntegrationError:
            raise
        except Exception as error:
            return _busy_or_raise(error, environment, gateway)
        return DueModels(
            environment,
            due=due,
            identifiers={
                name: snapshot.snapshot_id.identifier for name, snapshot in stored.items()
            },
        )
    finally:
        context.close()


def _busy_or_raise(error: Exception, environment: str, gateway: str) -> DueModels:
    """A skip when another process holds the DuckDB file; otherwise the error, as what it is.

    Raises:
        StateConnectionError: the state database or warehouse could not be reached.
    """
    busy = _busy_reason(error)
    if busy:
        return DueModels(environment, busy=busy)
    if is_connection_error(error):
        raise StateConnectionError(gateway, error) from masked_cause(error)
    raise error  # a bug, or SQLMesh's own error: surfaced as what it is


def _due_intervals(
    context: t.Any,
    environment: str,
    stored: Mapping[str, Snapshot],
    execution_time: datetime | None,
) -> dict[str, str]:
    """The models with ready intervals, with the end of their last one (what `run` would fill)."""
    if not stored:
        return {}
    now = execution_time or datetime.now(UTC)
    scheduler = context.create_scheduler(stored.values(), context.snapshot_evaluator)
    is_prod = environment.lower() == sqlmesh_constants.PROD
    if is_prod:
        # In memory only: `sqlmesh run` writes these to the state when it runs them.
        apply_auto_restatements(scheduler.snapshots, now)
    deployability_index = (
        DeployabilityIndex.all_deployable()
        if is_prod
        else DeployabilityIndex.create(scheduler.snapshots.values())
    )
    missing = scheduler.merged_missing_intervals(
        execution_time=now, deployability_index=deployability_index
    )
    if not missing:
        return {}
    naming_info = context.state_reader.get_environment(environment).naming_info
    ready = scheduler.batch_intervals(missing, deployability_index, naming_info)
    return {
        snapshot.name: _iso(max(end for _, end in batches))
        for snapshot, batches in ready.items()
        if batches
    }


def _busy_reason(error: BaseException) -> str | None:
    """A reason to skip when `error` says another process holds the DuckDB file, else None."""
    text = str(error)
    if "lock" in text.lower() and (
        "conflicting" in text.lower() or "could not set" in text.lower()
    ):
        return f"another process holds the DuckDB file ({text.splitlines()[0]})"
    return None


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat()

"""Which models have intervals due, asked of SQLMesh read-only (imported lazily: imports SQLMesh).

The due-driven sensor (`sensor.py`) calls :func:`find_due_models` on each tick. It computes what
`sqlmesh run` would run, with SQLMesh's own scheduler, and runs nothing:
- the environment's snapshots and their intervals, read from the state;
- auto-restatements applied in memory only (as `sqlmesh run` does for prod);
- `Scheduler.merged_missing_intervals` (crons, starts, lookbacks, `allow_partials`...);
- `Scheduler.batch_intervals`, which evaluates the models' signals and holds back intervals
  whose upstream intervals are not ready.

A code server evaluates the sensor again and again: the snapshots it loaded are kept in the process,
and a tick whose environment still holds the same snapshots re-reads only their intervals (one
query) instead of loading and deserializing every model again.

Only reads are issued. A local DuckDB file is open only while this read lasts (DuckDB lets one
process open a file), under the lock file runs take, without waiting for it: when a run holds the
file, the tick is skipped with a reason instead of failing or waiting, and a run that starts during
the read waits for it (runs wait for the lock).
"""

from __future__ import annotations

import threading
import typing as t
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmesh.core import constants as sqlmesh_constants
from sqlmesh.core.config import Config
from sqlmesh.core.console import NoopConsole
from sqlmesh.core.snapshot import DeployabilityIndex, apply_auto_restatements

from ..connection.context import (
    duckdb_database_path,
    gateway_name,
    is_connection_error,
    load_config,
    open_context,
)
from ..connection.locking import database_lock
from ..definitions.project import SQLMeshProject
from ..errors import (
    EnvironmentNotFoundError,
    RunLockTimeoutError,
    SQLMeshIntegrationError,
    StateConnectionError,
    masked_cause,
)

if t.TYPE_CHECKING:
    from sqlmesh.core.context import Context
    from sqlmesh.core.environment import Environment
    from sqlmesh.core.snapshot import Snapshot


@dataclass(frozen=True)
class _LoadedSnapshots:
    """Snapshots an earlier tick loaded, with the identifiers of the environment they came from."""

    identifiers: frozenset[str]
    snapshots: dict[str, Snapshot]


# By (project folder, gateway, environment). Ticks of one sensor never overlap; the lock keeps two
# sensors on one project from refreshing the same snapshots at once.
_loaded: dict[tuple[str, str, str], _LoadedSnapshots] = {}
_loaded_lock = threading.Lock()


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
    try:
        with read_lock(project) as (config, gateway):
            return _read_due_models(project, config, environment, gateway, execution_time)
    except RunLockTimeoutError as error:
        return DueModels(environment, busy=f"a SQLMesh run holds {error.lock_path}")


@contextmanager
def read_lock(project: SQLMeshProject) -> Iterator[tuple[Config, str]]:
    """Holds the lock file runs take while the block reads SQLMesh, without waiting for it.

    A local DuckDB file is then open only while the block lasts, and a run that starts meanwhile
    waits for it (runs wait for the lock); with other engines there is no lock file. Yields the
    project's config (loaded once per read) and the gateway's name.

    Raises:
        RunLockTimeoutError: a run holds the lock (callers skip, saying so).
    """
    config = load_config(project)
    gateway = gateway_name(project, config)
    with database_lock(duckdb_database_path(project, config), timeout_seconds=0):
        yield config, gateway


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
            stored_environment = context.state_reader.get_environment(environment)
            if stored_environment is None:
                raise EnvironmentNotFoundError(environment, project.plan_command(environment))
            with _loaded_lock:
                stored = _environment_snapshots(context, project, gateway, stored_environment)
                due = _due_intervals(context, stored_environment, stored, execution_time)
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
    """A skip when another process holds the DuckDB file; otherwise the error, as what it is."""
    return DueModels(environment, busy=busy_reason_or_raise(error, gateway))


def busy_reason_or_raise(error: Exception, gateway: str) -> str:
    """Why to skip when another process holds the DuckDB file; otherwise `error`, as what it is.

    Raises:
        StateConnectionError: the state database or warehouse could not be reached.
    """
    busy = _busy_reason(error)
    if busy:
        return busy
    if is_connection_error(error):
        raise StateConnectionError(gateway, error) from masked_cause(error)
    raise error  # a bug, or SQLMesh's own error: surfaced as what it is


def loaded_snapshots(
    context: Context, project: SQLMeshProject, gateway: str, environment: Environment
) -> dict[str, Snapshot]:
    """The environment's snapshots with their current intervals, by model name (for reading only).

    Shares the snapshots this process loaded for earlier ticks (see the module's docstring).
    """
    with _loaded_lock:
        return _environment_snapshots(context, project, gateway, environment)


def _environment_snapshots(
    context: Context, project: SQLMeshProject, gateway: str, environment: Environment
) -> dict[str, Snapshot]:
    """The environment's snapshots with their current intervals, by model name.

    Loaded whole the first time and whenever the environment holds other snapshots (a plan was
    applied); otherwise the snapshots of the last tick, with their intervals read again.
    """
    key = (str(project.project_dir), gateway, environment.name)
    identifiers = frozenset(info.snapshot_id.identifier for info in environment.snapshots)
    loaded = _loaded.get(key)
    if loaded is not None and loaded.identifiers == identifiers:
        for snapshot in loaded.snapshots.values():
            # Read again from the interval records, as a fresh load would.
            snapshot.pending_restatement_intervals = []
        context.state_reader.refresh_snapshot_intervals(list(loaded.snapshots.values()))
        return loaded.snapshots
    snapshots = context.state_reader.get_snapshots(environment.snapshots)
    stored = {snapshot.name: snapshot for snapshot in snapshots.values()}
    # Auto-restatement moves a snapshot's next restatement time in memory on every tick (and
    # `sqlmesh run` moves it in the state): such environments are loaded whole on every tick.
    if not any(
        snapshot.is_model and snapshot.model.auto_restatement_cron for snapshot in stored.values()
    ):
        _loaded[key] = _LoadedSnapshots(identifiers, stored)
    else:
        _loaded.pop(key, None)
    return stored


def _due_intervals(
    context: Context,
    environment: Environment,
    stored: Mapping[str, Snapshot],
    execution_time: datetime | None,
) -> dict[str, str]:
    """The models with ready intervals, with the end of their last one (what `run` would fill)."""
    if not stored:
        return {}
    now = execution_time or datetime.now(UTC)
    scheduler = context.create_scheduler(stored.values(), context.snapshot_evaluator)
    is_prod = environment.name.lower() == sqlmesh_constants.PROD
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
    ready = scheduler.batch_intervals(missing, deployability_index, environment.naming_info)
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

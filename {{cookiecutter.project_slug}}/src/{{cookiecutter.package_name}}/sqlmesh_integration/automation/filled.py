"""What SQLMesh filled in an environment, read from its state (imported lazily: imports SQLMesh).

The mirror (`mirror.py`) calls :func:`read_filled_state` when a pass runs (a sensor tick, or
`sqlmesh-dagster mirror`), never when definitions load. It issues reads only: the environment
record (its last plan and when that plan was finalized) and the environment's snapshots with their
intervals and the time SQLMesh last wrote each table (`last_altered_ts`, which SQLMesh records with
every interval it fills and keeps when it compacts interval records).

Like the due-models read (`due.py`), a local DuckDB file is open only while the read lasts, under
the lock file runs take, without waiting: when a run (or the SQLMesh CLI) holds the file, the pass
is skipped with the reason.
"""

from __future__ import annotations

import typing as t

from sqlmesh.core import constants as sqlmesh_constants
from sqlmesh.core.config import Config
from sqlmesh.core.console import NoopConsole
from sqlmesh.core.snapshot import DeployabilityIndex

from ..connection.context import open_context
from ..definitions.project import SQLMeshProject
from ..errors import EnvironmentNotFoundError, RunLockTimeoutError, SQLMeshIntegrationError
from .due import busy_reason_or_raise, loaded_snapshots, read_lock
from .filled_state import FilledModel, FilledState

if t.TYPE_CHECKING:
    from sqlmesh.core.snapshot import Snapshot


def read_filled_state(project: SQLMeshProject, environment: str) -> FilledState:
    """Reads what SQLMesh filled in `environment`, without writing anything.

    Raises:
        EnvironmentNotFoundError: the environment was never applied.
        StateConnectionError: the state database or warehouse could not be reached.
    """
    try:
        with read_lock(project) as (config, gateway):
            return _read(project, config, environment, gateway)
    except RunLockTimeoutError as error:
        return FilledState(environment, busy=f"a SQLMesh run holds {error.lock_path}")


def _read(project: SQLMeshProject, config: Config, environment: str, gateway: str) -> FilledState:
    try:
        context = open_context(project, load=False, console=NoopConsole(), config=config)
    except Exception as error:
        return FilledState(environment, busy=busy_reason_or_raise(error, gateway))
    try:
        stored = context.state_reader.get_environment(environment)
        if stored is None:
            raise EnvironmentNotFoundError(environment, project.plan_command(environment))
        snapshots = list(loaded_snapshots(context, project, gateway, stored).values())
    except SQLMeshIntegrationError:
        raise
    except Exception as error:
        return FilledState(environment, busy=busy_reason_or_raise(error, gateway))
    finally:
        context.close()
    return FilledState(
        environment,
        plan_id=stored.plan_id,
        plan_finalized_ms=stored.finalized_ts,
        models=filled_models(snapshots, environment),
    )


def filled_models(snapshots: t.Sequence[Snapshot], environment: str) -> dict[str, FilledModel]:
    """The filled intervals of each snapshot, as the environment sees them.

    Outside prod, a snapshot that is not deployable there writes to a table of its own: its
    intervals are SQLMesh's dev intervals (the scheduler picks them the same way).
    """
    if environment.lower() == sqlmesh_constants.PROD:
        index = DeployabilityIndex.all_deployable()
    else:
        index = DeployabilityIndex.create(snapshots)
    models = {}
    for snapshot in snapshots:
        if not snapshot.is_model:
            continue  # standalone audits: checks, not assets
        representative = index.is_representative(snapshot)
        intervals = snapshot.intervals if representative else snapshot.dev_intervals
        altered = snapshot.last_altered_ts if representative else snapshot.dev_last_altered_ts
        models[snapshot.name] = FilledModel(
            name=snapshot.name,
            intervals=tuple((int(start), int(end)) for start, end in intervals),
            filled_at_ms=altered,
            snapshot_version=snapshot.version or "",
        )
    return models

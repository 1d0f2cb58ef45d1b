"""One SQLMesh run for a Dagster step: consistency check, lock, `Context.run`, streamed results.

Imported only when a run starts (it imports SQLMesh), never when definitions load.
"""

from __future__ import annotations

import logging
import threading
import typing as t
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

import dagster as dg
from sqlglot import exp

from ..connection.context import (
    duckdb_database_path,
    gateway_name,
    is_connection_error,
    load_config,
    open_context,
)
from ..connection.locking import database_lock
from ..definitions.manifest import display_name as _display
from ..definitions.partitions import epoch_ms, partition_interval, partition_keys
from ..definitions.project import SQLMeshProject
from ..errors import (
    EnvironmentNotFoundError,
    ModelRunFailedError,
    ModelsNotAppliedError,
    RunFailedError,
    StateConnectionError,
    StateTamperedError,
    masked_cause,
)
from ..metadata import METADATA_ENVIRONMENT, METADATA_INTERVAL_END, METADATA_STATUS, TAG_RESTATE
from .event_writes import NOT_READY, UP_TO_DATE
from .events import (
    DagsterEventConsole,
    RowCounter,
    RunEvent,
    RunFinished,
    audit_check_results,
)
from .restatement import restatement_plan
from .state_integrity import tampered_snapshots
from .targets import RunRequest

if t.TYPE_CHECKING:
    from sqlmesh.core.context import Context
    from sqlmesh.core.snapshot import Snapshot
    from sqlmesh.utils.date import TimeLike

logger = logging.getLogger(__name__)


def run_models(
    project: SQLMeshProject,
    request: RunRequest,
    *,
    lock_timeout_seconds: float = 3600.0,
    log: logging.Logger = logger,
) -> Iterator[RunEvent]:
    """Runs the selected models with one `Context.run`; yields results as SQLMesh reports them.

    `log` receives what a user must see in the run's log (a restatement's requester and what it
    cleared, partitions left unfilled): the step's `context.log` in Dagster.

    Raises:
        EnvironmentNotFoundError: the environment was never applied.
        ModelsNotAppliedError: a selected model's code differs from what the environment holds.
        ModelRunFailedError: SQLMesh reported failed models (after the successful ones were
            yielded).
        RunFailedError: the run failed without naming a model.
        StateConnectionError: the state database or warehouse could not be reached.
    """
    console = DagsterEventConsole({**request.downstream, **request.targets}, request.environment)
    config = load_config(project)  # once per run
    gateway = gateway_name(project, config)
    with database_lock(duckdb_database_path(project, config), lock_timeout_seconds):
        context: Context | None = None
        try:
            # A restatement selects models with SQLMesh's selector, which needs them loaded.
            load = request.restatement is not None
            context = open_context(project, load=load, console=console, config=config)
            console.row_counter = table_row_counter(context)
            stored = environment_snapshots(context, project, request.environment)
        except Exception as error:
            if context is not None:
                context.close()
            if is_connection_error(error):
                raise StateConnectionError(gateway, error) from masked_cause(error)
            raise  # a bug, or SQLMesh's own error: surfaced as what it is
        try:
            refuse_unapplied_models(project, request, stored)
            if request.targets:
                if request.restatement is not None:
                    plan = restatement_plan(context, project, request, log)
                    yield from _stream(console, request, lambda: context.apply(plan))
                else:
                    yield from _stream_run(context, request, console)
                yield from console.failure_check_results()
                yield from up_to_date_observations(request, stored, console)
                warn_unfilled_partitions(request, stored, console, log)
            if request.audit_only:
                yield from audit_filled_intervals(context, request, stored)
            if console.failures:
                raise ModelRunFailedError(
                    {_display(name): failure.cause for name, failure in console.failures.items()},
                    [_display(name) for name in console.skipped],
                    request.environment,
                )
        finally:
            context.close()


def environment_snapshots(
    context: Context, project: SQLMeshProject, environment: str
) -> dict[str, Snapshot]:
    """The snapshots applied to the environment, by model name (one state read)."""
    stored = context.state_reader.get_environment(environment)
    if stored is None:
        raise EnvironmentNotFoundError(environment, project.plan_command(environment))
    snapshots = context.state_reader.get_snapshots(stored.snapshots)
    return {snapshot.name: snapshot for snapshot in snapshots.values()}


def table_row_counter(context: Context) -> RowCounter:
    """Counts a model's rows through its view in the run's environment (what users query).

    The view, not a physical table name: it points at the table this run wrote, whichever
    (deployable or dev) table that is.
    """

    def count_rows(snapshot: Snapshot, environment_naming_info: t.Any) -> int | None:
        gateway = snapshot.model_gateway
        adapter = context.engine_adapters[gateway] if gateway else context.engine_adapter
        view = snapshot.qualified_view_name.table_for_environment(
            environment_naming_info, dialect=adapter.dialect
        )
        row = adapter.fetchone(exp.select(exp.Count(this=exp.Star())).from_(view))
        return int(row[0]) if row else None

    return count_rows


def refuse_unapplied_models(
    project: SQLMeshProject, request: RunRequest, stored: Mapping[str, Snapshot]
) -> None:
    """Raises when a selected model's code is not the code applied to the environment.

    Compares the snapshot identifier state holds with the deployed code's, then the definition
    state holds with that identifier's fingerprint (`state_integrity.py`): a definition rewritten
    in state under the code's identifier is refused too.
    """
    changed = [
        name
        for name, identifier in request.expected_identifiers.items()
        if name not in stored or stored[name].snapshot_id.identifier != identifier
    ]
    if changed:
        raise ModelsNotAppliedError(
            request.environment,
            [_display(name) for name in changed],
            project.plan_command(request.environment),
        )
    tampered = tampered_snapshots(stored[name] for name in request.expected_identifiers)
    if tampered:
        raise StateTamperedError(request.environment, [_display(name) for name in tampered])


def up_to_date_observations(
    request: RunRequest, stored: Mapping[str, Snapshot], console: DagsterEventConsole
) -> Iterator[dg.AssetObservation]:
    """An observation (and a log line) for each selected model SQLMesh ran nothing of.

    Either nothing was due, or what was due was not ready (a signal or an upstream interval held
    it back): the observation's status says which.
    """
    for name, target in request.targets.items():
        if not target.materialize:
            continue  # a node that only audits: nothing to be up to date
        if name in console.progress or name in console.failures or name in console.skipped:
            continue
        snapshot = stored.get(name)
        interval_end = _latest_interval_end(snapshot) if snapshot else None
        through = interval_end or "no interval yet (its start is in the future)"
        status = NOT_READY if name in console.not_ready else UP_TO_DATE
        description = f"Up to date through {through}; nothing was due."
        if status == NOT_READY:
            description = (
                f"Filled through {through}; the intervals due are not ready (a signal or a missing "
                "upstream interval holds them back), so nothing ran."
            )
        elif request.start is not None and request.end is not None:
            description = (
                f"Nothing missing from {request.start} to {request.end} (filled through "
                f"{through}); filled intervals are recomputed only on request (run tag "
                f"`{TAG_RESTATE}=true`)."
            )
        logger.info("%s: %s It is not reported as materialized.", _display(name), description)
        yield dg.AssetObservation(
            asset_key=target.asset_key,
            description=description,
            metadata={
                METADATA_STATUS: status,
                METADATA_INTERVAL_END: through,
                METADATA_ENVIRONMENT: request.environment,
            },
        )
    for name, progress in console.progress.items():
        if not progress.reported and name not in console.failures and name not in console.skipped:
            logger.warning(
                "SQLMesh started %s but did not finish all its intervals; it is not reported as "
                "materialized.",
                _display(name),
            )


def audit_filled_intervals(
    context: Context, request: RunRequest, stored: Mapping[str, Snapshot]
) -> Iterator[dg.AssetCheckResult]:
    """Runs the audits of the `audit_only` nodes over their filled intervals (`sqlmesh audit`).

    Nothing is evaluated or written: SQLMesh runs each audit query against the data the node
    already has, as `Context.audit` does, on the snapshot applied to the environment.
    """
    execution_time: TimeLike = request.execution_time or datetime.now(UTC)
    for name, target in request.audit_only.items():
        snapshot = stored.get(name)
        if snapshot is None or not snapshot.intervals:
            logger.warning(
                "%s has no data in `%s` yet, so its audits cannot run; checks %s are not reported.",
                _display(name),
                request.environment,
                ", ".join(check.check_name for check in target.checks),
            )
            continue
        results = context.snapshot_evaluator.audit(
            snapshot,
            snapshots=dict(stored),
            start=min(start for start, _ in snapshot.intervals),
            end=max(end for _, end in snapshot.intervals),
            execution_time=execution_time,
        )
        yield from audit_check_results(target, results)


def _include_audit_nodes(context: Context, names: set[str]) -> None:
    """Makes `Context.run`'s selection hold the audit-only nodes of this run.

    `select_models` goes through SQLMesh's model selector, which knows models only, so a standalone
    audit could never be selected. SQLMesh's scheduler runs any node named in its selection: the
    audit-only nodes (standalone audits, external models with audits) are added by name to what
    the selector returns (SQLMesh 0.236 `Context._select_models_for_run`).
    """
    select = context._select_models_for_run

    def select_with_audits(
        select_models: t.Collection[str], no_auto_upstream: bool, snapshots: t.Collection[Snapshot]
    ) -> set[str]:
        return set(select(select_models, no_auto_upstream, snapshots)) | names

    context._select_models_for_run = select_with_audits  # type: ignore[method-assign]


def _stream_run(
    context: Context, request: RunRequest, console: DagsterEventConsole
) -> Iterator[RunEvent]:
    execution_time: TimeLike = request.execution_time or datetime.now(UTC)
    models = sorted(name for name, target in request.targets.items() if target.materialize)
    _include_audit_nodes(
        context, {name for name, target in request.targets.items() if not target.materialize}
    )
    return _stream(
        console,
        request,
        lambda: context.run(
            request.environment,
            start=request.start,
            end=request.end,
            execution_time=execution_time,
            # Always an explicit selection: a step's assets definition is already subsetted,
            # and models applied to the environment but absent from this code location
            # must not run unreported.
            select_models=models,
            no_auto_upstream=True,
            # SQLMesh's janitor runs in a job of its own (janitor.py): clean-up never slows or
            # fails a model run.
            skip_janitor=True,
        ),
    )


def _stream(
    console: DagsterEventConsole, request: RunRequest, work: t.Callable[[], t.Any]
) -> Iterator[RunEvent]:
    """Runs `work` (SQLMesh's run or plan) in a thread; yields the console's events meanwhile."""
    outcome: dict[str, t.Any] = {}

    def run() -> None:
        try:
            outcome["status"] = work()
        except BaseException as error:  # re-raised in the Dagster step's thread below
            outcome["error"] = error
        finally:
            console.events.put(RunFinished())

    worker = threading.Thread(target=run, name="sqlmesh-run", daemon=True)
    worker.start()
    while True:
        event = console.events.get()
        if isinstance(event, RunFinished):
            break
        yield event
    worker.join()
    if "error" in outcome and not console.failures:  # failed models: run_models names them
        error = outcome["error"]
        raise RunFailedError(request.environment, error) from masked_cause(error)
    status = outcome.get("status")
    if status is not None and getattr(status, "is_failure", False) and not console.failures:
        raise RunFailedError(request.environment)


def warn_unfilled_partitions(
    request: RunRequest,
    stored: Mapping[str, Snapshot],
    console: DagsterEventConsole,
    log: logging.Logger = logger,
) -> None:
    """Logs the partitions of the run's range that neither were filled nor are now.

    SQLMesh leaves an interval missing when it is not ready (a signal, an upstream interval, a
    cron that has not come round); such partitions are not reported materialized.
    """
    if request.start is None or request.end is None:
        return
    start_ms, end_ms = epoch_ms(request.start), epoch_ms(request.end)
    for name, target in request.targets.items():
        snapshot = stored.get(name)
        if target.partitions_def is None or not target.materialize or snapshot is None:
            continue
        progress = console.progress.get(name)
        reported = set(progress.partition_keys) if progress is not None else set()
        unfilled = [
            key
            for key in partition_keys(target.partitions_def, start_ms, end_ms)
            if key not in reported
            and not _covered(partition_interval(target.partitions_def, key, key), snapshot)
        ]
        if unfilled:
            log.warning(
                "%s: %d partition(s) of the range are still not filled (%s): SQLMesh did not find "
                "them ready (signals, upstream intervals or cron), so they are not reported.",
                _display(name),
                len(unfilled),
                _key_ranges(unfilled),
            )


def _covered(interval: tuple[int, int], snapshot: Snapshot) -> bool:
    """Whether the snapshot's filled intervals hold the whole interval."""
    return any(start <= interval[0] and interval[1] <= end for start, end in snapshot.intervals)


def _key_ranges(keys: t.Sequence[str]) -> str:
    shown = ", ".join(keys[:5])
    return f"{shown} and {len(keys) - 5} more" if len(keys) > 5 else shown


def _latest_interval_end(snapshot: Snapshot) -> str | None:
    if not snapshot.intervals:
        return None
    end_ms = max(end for _, end in snapshot.intervals)
    return datetime.fromtimestamp(end_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

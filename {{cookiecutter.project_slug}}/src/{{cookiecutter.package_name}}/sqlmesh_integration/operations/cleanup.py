"""SQLMesh's janitor for the janitor job, and what it dropped (imported lazily: imports SQLMesh).

SQLMesh's janitor (`Context.run_janitor`, what `sqlmesh janitor` runs) does two things, both
against the gateway's state and warehouse:

- expired environments (a pull request's `pr_<number>` once closed and invalidated, or any
  environment past its `environment_ttl`): it drops their views (or their schemas, with
  `environment_suffix_target: schema`, the default) and then deletes the environment from state;
- expired snapshots (no environment uses them and their `snapshot_ttl` has passed, or right away
  with `ignore_ttl`): it drops their physical tables and deletes them from state.

SQLMesh only names what it asked the warehouse to drop (its console's cleanup progress), including
tables that never existed (a snapshot's dev table that was never built) and schemas that were
never created. So the report is read from the warehouse itself: each object is looked up right
before SQLMesh drops it, and only objects that existed are reported; environments are the ones the
state no longer holds afterwards.
"""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlglot import exp
from sqlmesh.core import constants as sqlmesh_constants
from sqlmesh.core.console import NoopConsole

from ..connection.context import (
    duckdb_database_path,
    gateway_name,
    is_connection_error,
    load_config,
    open_context,
)
from ..connection.locking import database_lock
from ..definitions.project import SQLMeshProject
from ..errors import SQLMeshIntegrationError, StateConnectionError, mask_secrets, masked_cause

if t.TYPE_CHECKING:
    from sqlmesh.core.context import Context
    from sqlmesh.core.engine_adapter.base import EngineAdapter
    from sqlmesh.core.engine_adapter.shared import DataObject

logger = logging.getLogger(__name__)


@dataclass
class JanitorReport:
    """What one janitor run dropped, as the state and the warehouse show it.

    Attributes:
        environments: Environments the state held before the run and no longer holds.
        views: Views that existed and were dropped (environment views, and the physical views of
            VIEW models), as `catalog.schema.name`.
        tables: Tables that existed and were dropped (the physical tables of expired snapshots).
        warnings: What SQLMesh warned about (a failed drop with `janitor.warn_on_delete_failure`).
    """

    environments: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: how many environments, views and tables were dropped."""
        if not (self.environments or self.views or self.tables):
            return "SQLMesh's janitor found nothing to drop."
        environments = ", ".join(self.environments) or "none"
        return (
            f"SQLMesh's janitor dropped {len(self.environments)} environment(s) ({environments}), "
            f"{len(self.views)} view(s) and {len(self.tables)} table(s)."
        )


class _JanitorConsole(NoopConsole):
    """Keeps SQLMesh's warnings (a drop that failed while `warn_on_delete_failure` is set)."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []

    def log_warning(self, short_message: str, long_message: str | None = None) -> None:
        self.warnings.append(mask_secrets(long_message or short_message))


class JanitorFailedError(SQLMeshIntegrationError):
    """SQLMesh's janitor failed; `report` holds what it dropped before.

    It stands beside the report it carries: `errors.py` sits below every layer and names none
    of their types.
    """

    def __init__(self, cause: BaseException, report: JanitorReport) -> None:
        self.report = report
        detail = mask_secrets(str(cause)).strip() or type(cause).__name__
        super().__init__(
            f"SQLMesh's janitor failed ({type(cause).__name__}): {detail}\nFix the cause (for "
            "example a warehouse role that may not drop the object named), then run the janitor "
            "job again: "
            "SQLMesh keeps in state what it could not drop and retries it."
        )


def run_janitor(
    project: SQLMeshProject,
    *,
    ignore_ttl: bool = False,
    lock_timeout_seconds: float = 3600.0,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = logger,
) -> JanitorReport:
    """Runs SQLMesh's janitor on the project's gateway; returns what it dropped.

    Args:
        project: The SQLMesh project (its gateway names the state and the warehouse).
        ignore_ttl: Also drop the tables of snapshots no environment uses before their
            `snapshot_ttl` has passed (`sqlmesh janitor --ignore-ttl`).
        lock_timeout_seconds: How long to wait for a run holding the same DuckDB file.
        log: Where each dropped object is logged (the job's `context.log` in Dagster).

    Raises:
        JanitorFailedError: SQLMesh's janitor failed; the error holds what it dropped before.
        StateConnectionError: the state database or the warehouse could not be reached.
        RunLockTimeoutError: a run held the DuckDB file for longer than `lock_timeout_seconds`.
    """
    config = load_config(project)
    gateway = gateway_name(project, config)
    report = JanitorReport()
    console = _JanitorConsole()
    failure: Exception | None = None
    with database_lock(duckdb_database_path(project, config), lock_timeout_seconds):
        try:
            context = open_context(project, load=False, console=console, config=config)
        except Exception as error:
            raise _connection_error(error, gateway) from masked_cause(error)
        try:
            before = _environment_names(context, gateway)
            # SQLMesh's own work tables in its state schema (interval compaction) are not data.
            state_schema = config.get_state_schema(gateway) or sqlmesh_constants.SQLMESH
            try:
                with _observed_drops(context, report, log, ignored_schema=state_schema):
                    context.run_janitor(ignore_ttl=ignore_ttl)
            except Exception as error:
                if is_connection_error(error):
                    raise StateConnectionError(gateway, error) from masked_cause(error)
                failure = error
            report.environments = sorted(before - _environment_names(context, gateway))
            report.warnings = console.warnings
        finally:
            context.close()
    for environment in report.environments:
        log.info("Deleted expired environment `%s` from SQLMesh state.", environment)
    for warning in report.warnings:
        log.warning("SQLMesh's janitor: %s", warning)
    if failure is not None:
        raise JanitorFailedError(failure, report) from masked_cause(failure)
    return report


def _environment_names(context: Context, gateway: str) -> set[str]:
    try:
        return {summary.name for summary in context.state_reader.get_environments_summary()}
    except Exception as error:
        raise _connection_error(error, gateway) from masked_cause(error)


def _connection_error(error: Exception, gateway: str) -> Exception:
    """A connection error as :class:`StateConnectionError`; anything else as it is."""
    return StateConnectionError(gateway, error) if is_connection_error(error) else error


@contextmanager
def _observed_drops(
    context: Context,
    report: JanitorReport,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ignored_schema: str,
) -> Iterator[None]:
    """Records every object the janitor drops that existed, on each adapter it may use.

    SQLMesh drops tables, views and schemas through the adapter's `_drop_object` (SQLMesh 0.236;
    the adapters of the supported warehouses do not bypass it): the wrapper looks the object up
    just before, and records it once the drop has succeeded. The adapters of the context and the
    snapshot evaluator's copies of them are wrapped for the janitor's run only.
    """
    adapters = {
        id(adapter): adapter
        for adapter in (
            context.engine_adapter,
            *context.engine_adapters.values(),
            *context.snapshot_evaluator.adapters.values(),
        )
    }
    for adapter in adapters.values():
        adapter._drop_object = _recording_drop(  # type: ignore[method-assign]
            adapter, report, log, ignored_schema
        )
    try:
        yield
    finally:
        for adapter in adapters.values():
            del adapter._drop_object  # back to the class's method


def _recording_drop(
    adapter: EngineAdapter,
    report: JanitorReport,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ignored_schema: str,
) -> Callable[..., None]:
    drop = adapter._drop_object

    def recording_drop(
        name: t.Any, exists: bool = True, kind: str = "TABLE", **kwargs: t.Any
    ) -> None:
        existing = [
            data_object
            for data_object in _existing_objects(adapter, name, kind)
            if data_object.schema_name.lower() != ignored_schema.lower()
        ]
        drop(name, exists=exists, kind=kind, **kwargs)
        for data_object in existing:
            qualified = ".".join(
                part
                for part in (data_object.catalog, data_object.schema_name, data_object.name)
                if part
            )
            is_view = data_object.type.is_view or data_object.type.is_materialized_view
            (report.views if is_view else report.tables).append(qualified)
            log.info("Dropped %s %s.", "view" if is_view else "table", qualified)

    return recording_drop


def _existing_objects(adapter: EngineAdapter, name: t.Any, kind: str) -> list[DataObject]:
    """The objects a drop of `name` removes: the object itself, or a schema's objects."""
    if kind.upper() == "SCHEMA":
        return list(adapter.get_data_objects(name))
    found = adapter.get_data_object(exp.to_table(name))
    return [found] if found is not None else []

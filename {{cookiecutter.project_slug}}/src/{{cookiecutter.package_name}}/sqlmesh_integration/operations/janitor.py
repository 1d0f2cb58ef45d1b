"""SQLMesh's janitor as a Dagster job of its own, on a daily schedule.

SQLMesh's `Context.run` also runs its janitor (in `prod`) unless told not to. Asset runs tell it
not to (`skip_janitor=True` in `runner.py`): clean-up costs time in every run, and a failed drop
would fail a model run. Instead the `sqlmesh_janitor` job runs it once a day: it drops the views
of expired environments (a closed pull request's `pr_<number>`) and the tables no environment uses
any more, and reports what it dropped as the metadata of its step output. A failure fails this job
alone, which the alert policies report (`alert_policies.yaml`).

Every SQLMesh component gets one, named after its op like its sensor: `sqlmesh_janitor` for the
default op `sqlmesh_models`, `<stem>_janitor` for an op `<stem>_models`. SQLMesh is imported only
when the job runs (`cleanup.py`), never when definitions load.
"""

# No `from __future__ import annotations`: Dagster checks the op's `context` and `config`
# annotations at definition time against the real classes.

from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from ..definitions.project import is_branch_deployment
from ..errors import SQLMeshIntegrationError
from ..metadata import (
    METADATA_DROPPED_ENVIRONMENTS,
    METADATA_DROPPED_TABLES,
    METADATA_DROPPED_VIEWS,
    METADATA_JANITOR_WARNINGS,
)

if TYPE_CHECKING:
    from .cleanup import JanitorReport

DEFAULT_JANITOR_NAME = "sqlmesh_janitor"
# 03:00 UTC: after the day's `@daily` runs have started, before working hours in most time zones.
DEFAULT_JANITOR_CRON = "0 3 * * *"


class SQLMeshJanitorConfig(dg.Config):
    """Run config of the janitor job (the launchpad's `ops.<job name>_op.config`)."""

    ignore_ttl: bool = Field(
        default=False,
        description=(
            "Also drop the tables of snapshots no environment uses before their snapshot_ttl has "
            "passed (`sqlmesh janitor --ignore-ttl`). A plan applying at the same time may still "
            "need them: use it when no plan runs."
        ),
    )


def janitor_name(op_name: str) -> str:
    """The janitor job's name for the SQLMesh op `op_name` (`sqlmesh_models` -> `sqlmesh_janitor`).

    Example:
        >>> janitor_name("finance_models")
        'finance_janitor'
    """
    return f"{op_name.removesuffix('_models')}_janitor"


def sqlmesh_janitor_job(
    *,
    name: str = DEFAULT_JANITOR_NAME,
    resource_key: str = "sqlmesh",
    pool: str | None = None,
) -> dg.JobDefinition:
    """A job that runs SQLMesh's janitor against the state of the resource's gateway.

    Its one op, `<name>_op`, drops expired environments and the tables no environment uses,
    and reports what it dropped: `sqlmesh/dropped_environments`, `sqlmesh/dropped_views`,
    `sqlmesh/dropped_tables` (and `sqlmesh/janitor_warnings`) on its output. When SQLMesh's janitor
    fails, the job fails with what it dropped before in the failure's metadata.

    Args:
        name: The job's name (its op's is `<name>_op`).
        resource_key: The key of the :class:`SQLMeshResource` (project, gateway).
        pool: The Dagster concurrency pool of the op (the SQLMesh step's, so that with a limit of 1
            the janitor never runs beside a model run).
    """

    @dg.op(
        name=f"{name}_op",
        required_resource_keys={resource_key},
        pool=pool,
        out=dg.Out(dg.Nothing),
        description=(
            "Runs SQLMesh's janitor: drops expired environments' views and the tables no "
            "environment uses; reports what it dropped."
        ),
    )
    def janitor_op(context: dg.OpExecutionContext, config: SQLMeshJanitorConfig) -> Any:
        # Imports SQLMesh: only when the job runs.
        from .cleanup import JanitorFailedError, run_janitor

        resource = getattr(context.resources, resource_key)
        try:
            report = run_janitor(
                resource.project,
                ignore_ttl=config.ignore_ttl,
                lock_timeout_seconds=resource.lock_timeout_seconds,
                log=context.log,
            )
        except JanitorFailedError as error:
            raise dg.Failure(
                description=str(error), metadata=janitor_metadata(error.report)
            ) from error
        except SQLMeshIntegrationError as error:
            raise dg.Failure(description=str(error)) from error
        context.log.info(report.summary())
        yield dg.Output(None, metadata=janitor_metadata(report))

    @dg.job(
        name=name,
        description=(
            "SQLMesh's janitor, once a day: drops expired environments (closed pull requests') "
            "and the tables no environment uses. Never part of a model run."
        ),
    )
    def janitor_job() -> None:
        janitor_op()

    return janitor_job


def sqlmesh_janitor_schedule(
    job: dg.JobDefinition,
    *,
    cron: str = DEFAULT_JANITOR_CRON,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING,
) -> dg.ScheduleDefinition:
    """The janitor job's daily schedule, `<job name>_schedule`, running unless switched off.

    A Dagster+ branch deployment skips its ticks: the full deployment's janitor cleans the state
    both share.

    Args:
        job: The janitor job.
        cron: When it runs (UTC).
        default_status: Whether it runs without being switched on in the UI.
    """

    @dg.schedule(
        name=f"{job.name}_schedule",
        job=job,
        cron_schedule=cron,
        default_status=default_status,
        description=f"Runs {job.name} ({cron}, UTC).",
    )
    def janitor_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if is_branch_deployment():
            return dg.SkipReason(
                "A branch deployment does not run the janitor: the full deployment's janitor "
                "cleans the SQLMesh state both share."
            )
        return dg.RunRequest()

    return janitor_schedule


def janitor_metadata(report: "JanitorReport") -> dict[str, dg.MetadataValue]:
    """The metadata of a janitor run: what it dropped, and SQLMesh's warnings."""
    return {
        METADATA_DROPPED_ENVIRONMENTS: dg.MetadataValue.json(report.environments),
        METADATA_DROPPED_VIEWS: dg.MetadataValue.json(report.views),
        METADATA_DROPPED_TABLES: dg.MetadataValue.json(report.tables),
        METADATA_JANITOR_WARNINGS: dg.MetadataValue.json(report.warnings),
    }

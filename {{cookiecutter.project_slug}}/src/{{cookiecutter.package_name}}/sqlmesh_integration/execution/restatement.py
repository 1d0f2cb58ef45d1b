"""Recomputing on request: the opt-in that turns a run into a SQLMesh restatement.

By default a run fills only what SQLMesh has missing: materializing a partition SQLMesh already
filled reports it up to date and recomputes nothing. A run recomputes (SQLMesh's own restatement,
`sqlmesh plan <env> --restate-model ...`, for the selected models over the run's partition range,
which SQLMesh cascades to the models downstream) only when asked explicitly, with either:

- the run tag `sqlmesh/restate=true` (the UI's launchpad and backfill dialog take tags), or
- the op config `restate: true` (`dg launch ... --config-json
  '{"ops": {"sqlmesh_models": {"config": {"restate": true}}}}'`).

The restatement never applies code (ADR-0008): the runner refuses when the plan would change any
model (`RestatementChangesCodeError`). It logs who asked, from the run's tags, and what SQLMesh
cleared. No SQLMesh import here: the config and the tag are part of the definitions.
"""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Mapping
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from ..definitions.manifest import display_name
from ..definitions.partitions import interval_text
from ..errors import RestatementChangesCodeError, RestatementNeedsRangeError, RestateTagError
from ..metadata import TAG_RESTATE
from .targets import ModelTarget, Restatement, RunRequest

if t.TYPE_CHECKING:
    from sqlmesh.core.context import Context
    from sqlmesh.core.plan import Plan

    from ..definitions.project import SQLMeshProject

logger = logging.getLogger(__name__)

# Dagster+ records who launched a run from the UI in this tag; open-source Dagster does not.
TAG_USER = "dagster/user"
_WHO_TAGS = (
    (TAG_USER, "user"),
    ("dagster/backfill", "backfill"),
    ("dagster/sensor_name", "sensor"),
    ("dagster/schedule_name", "schedule"),
)


class SQLMeshRunConfig(dg.Config):
    """The op config of the SQLMesh multi-asset."""

    restate: bool = Field(
        default=False,
        description=(
            "Recompute the selected models over the run's partition range through SQLMesh's "
            "restatement (cascading downstream), even where SQLMesh has the data already."
        ),
    )


def requested_restatement(
    context: dg.AssetExecutionContext,
    targets: Mapping[str, ModelTarget],
    window: dg.TimeWindow | None,
    restate: bool = False,
) -> Restatement | None:
    """The restatement a run asks for, or None for a run that only fills what is missing.

    Args:
        context: The asset step's context (its run's tags).
        targets: The selected models.
        window: The run's partition range as a time range; None for a run without one.
        restate: The op config's `restate` (or a caller's explicit request).

    Raises:
        RestateTagError: the `sqlmesh/restate` tag is neither true nor false.
        RestatementNeedsRangeError: partitioned models would be restated without a range (their
            whole history).
    """
    tags = context.run.tags
    value = tags.get(TAG_RESTATE)
    tagged = False
    if value is not None:
        normalized = value.strip().lower()
        if normalized not in ("true", "false"):
            raise RestateTagError(TAG_RESTATE, value)
        tagged = normalized == "true"
    models = [target for target in targets.values() if target.materialize]
    if not models or (not tagged and not restate):
        return None
    partitioned = [target.model_name for target in models if target.partitions_def is not None]
    if partitioned and window is None:
        raise RestatementNeedsRangeError(display_name(name) for name in partitioned)
    return Restatement(
        requested_by=requester(tags),
        source=f"run tag {TAG_RESTATE}=true" if tagged else "op config restate: true",
        run_id=context.run.run_id,
    )


def requester(tags: Mapping[str, str]) -> str:
    """Who launched a run, as its tags tell (Dagster+ names the user; the open source does not)."""
    found = [f"{label} {tags[tag]}" for tag, label in _WHO_TAGS if tags.get(tag)]
    if found:
        return ", ".join(found)
    return f"unknown (no `{TAG_USER}` tag: launched from the CLI or open-source Dagster)"


def restatement_plan(
    sqlmesh_context: Context,
    project: SQLMeshProject,
    request: RunRequest,
    log: logging.Logger = logger,
) -> Plan:
    """SQLMesh's restatement plan for the run's models and range, checked to change no code.

    SQLMesh builds it from the state alone (restatements ignore local changes); it clears the
    range for the selected models and every model downstream of them, and backfills it.

    In this module `context` is Dagster's step context; SQLMesh's is `sqlmesh_context`.

    Raises:
        RestatementChangesCodeError: the plan would change a model's code.
    """
    assert request.restatement is not None
    models = sorted(name for name, target in request.targets.items() if target.materialize)
    plan = sqlmesh_context.plan_builder(
        request.environment,
        restate_models=models,
        start=request.start,
        end=request.end,
        execution_time=request.execution_time or datetime.now(UTC),
        skip_tests=True,  # tests belong to CI's plan of the code; the code here is unchanged
        skip_linter=True,
        always_include_local_changes=False,
    ).build()
    changed = {snapshot.name for snapshot in plan.new_snapshots} | {
        snapshot_id.name for snapshot_id in plan.directly_modified
    }
    if plan.has_changes or changed:
        raise RestatementChangesCodeError(
            request.environment,
            [display_name(name) for name in changed] or ["the environment"],
            project.plan_command(request.environment),
        )
    cleared = "; ".join(
        f"{display_name(snapshot_id.name)} {interval_text(start, end)}"
        for snapshot_id, (start, end) in sorted(
            plan.restatements.items(), key=lambda item: item[0].name
        )
    )
    log.warning(
        "Restatement requested by %s (%s, Dagster run %s) in `%s`: SQLMesh clears and "
        "recomputes %s.",
        request.restatement.requested_by,
        request.restatement.source,
        request.restatement.run_id,
        request.environment,
        cleared or "nothing",
    )
    return plan

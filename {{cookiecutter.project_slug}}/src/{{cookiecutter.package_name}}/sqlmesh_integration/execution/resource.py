"""The Dagster resource that runs SQLMesh for the assets a Dagster step selected."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEvent
from pydantic import Field

from ..definitions.manifest import display_name
from ..definitions.project import SQLMeshProject, environment_from_env
from ..errors import PartitionRangeError, SQLMeshIntegrationError, UnsupportedPartitionsError
from ..metadata import (
    METADATA_AUDIT_BLOCKING,
    METADATA_AUDIT_COUNT,
    METADATA_AUDIT_NAME,
    METADATA_AUDITED_NODE,
    METADATA_FAILED_MODELS,
    METADATA_FETCH_ROW_COUNT,
    METADATA_MODEL_NAME,
    METADATA_SKIPPED_MODELS,
    METADATA_SNAPSHOT_IDENTIFIER,
    NODE_EXTERNAL,
    NODE_MODEL,
)
from .event_writes import (
    ParentVersions,
    PartitionMaterializations,
    as_evaluation,
    as_materialization,
    batched_materializations,
    repeats_latest,
    with_parent_versions,
)
from .restatement import requested_restatement
from .targets import CheckTarget, ModelTarget, RunRequest, Selection

# What a run yields to the Dagster step (DagsterEvent: a partition logged in a write batch).
StepEvent = (
    dg.MaterializeResult[Any]
    | dg.AssetMaterialization
    | dg.AssetCheckResult
    | dg.AssetObservation
    | DagsterEvent
)

# Definition metadata each materialization repeats: Dagster (and Dagster+'s column lineage view)
# reads column lineage from the latest materialization, as dagster-dbt emits it.
MATERIALIZATION_METADATA_KEYS = ("dagster/column_lineage",)


class SQLMeshResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Runs SQLMesh for a Dagster step: one `sqlmesh run` for exactly the selected models.

    It never applies code (CI does, with the SQLMesh CLI): it refuses to run models whose code
    differs from what was applied to the environment, and names the `sqlmesh plan` command that
    fixes it. The only plan it applies is a restatement a run explicitly asks for, which changes
    data, never code (`restatement.py`).

    Example:
        >>> @sqlmesh_assets(project=project)  # doctest: +SKIP
        ... def models(context: dg.AssetExecutionContext, sqlmesh: SQLMeshResource):
        ...     yield from sqlmesh.run(context)
    """

    project_dir: str = Field(description="The SQLMesh project folder (holding config.yaml).")
    other_project_dirs: list[str] = Field(
        default_factory=list,
        description=(
            "More SQLMesh project folders loaded with it (multi-repo: `sqlmesh -p a -p b`)."
        ),
    )
    gateway: str | None = Field(
        default=None,
        description="The SQLMesh gateway; None: the config's default_gateway (SQLMESH_GATEWAY).",
    )
    environment: str | None = Field(
        default=None,
        description=(
            "The SQLMesh environment; None means SQLMESH_ENVIRONMENT, the pull request's "
            "environment "
            "in a Dagster+ branch deployment, else prod."
        ),
    )
    working_dir: str | None = Field(
        default=None,
        description=(
            "The folder relative DuckDB paths in config.yaml resolve against; None means the "
            "repository root above the project (see SQLMeshProject)."
        ),
    )
    lock_timeout_seconds: float = Field(
        default=3600.0,
        description="How long a run waits for another run holding the same DuckDB file.",
    )

    @classmethod
    def for_project(cls, project: SQLMeshProject) -> SQLMeshResource:
        """A resource for a project, with default settings."""
        return cls(
            project_dir=str(project.project_dir),
            other_project_dirs=[str(folder) for folder in project.other_project_dirs],
            gateway=project.gateway,
            working_dir=str(project.working_dir) if project.working_dir else None,
        )

    @property
    def project(self) -> SQLMeshProject:
        """The SQLMesh project this resource runs."""
        return SQLMeshProject(
            Path(self.project_dir),
            gateway=self.gateway,
            working_dir=Path(self.working_dir) if self.working_dir else None,
            other_project_dirs=tuple(Path(folder) for folder in self.other_project_dirs),
        )

    def target_environment(self) -> str:
        """The SQLMesh environment runs target."""
        return environment_from_env(requested=self.environment)

    def run(
        self,
        context: dg.AssetExecutionContext,
        *,
        execution_time: datetime | None = None,
        restate: bool | None = None,
    ) -> Iterator[StepEvent]:
        """Runs SQLMesh for the step's selected assets and yields results as each model finishes.

        A run with a partition (range) runs SQLMesh over exactly that time range; a run without
        one runs whatever SQLMesh has due. Partitioned models are reported as one materialization
        per partition SQLMesh filled, as each SQLMesh batch finishes (logged as events, one
        Dagster write batch per SQLMesh batch: a step's output would stand for every partition of
        the range, filled or not; see `event_writes.py`).

        Args:
            context: The asset step's context; the selection and the partition range come from it.
            execution_time: SQLMesh's execution time; now (UTC) when None.
            restate: Recompute the selection over the range through SQLMesh's restatement (also
                asked with the run tag `sqlmesh/restate=true`; see `restatement.py`); the op
                config's `restate` when None.

        Raises:
            dagster.Failure: the run failed; its message is the integration error's, its metadata
                the failed and skipped models (see :func:`step_failure`).
        """
        specs = context.assets_def.specs_by_key
        selected = {
            key: display_name(str(specs[key].metadata[METADATA_MODEL_NAME]))
            for key in context.selected_asset_keys
        }
        materialized: set[dg.AssetKey] = set()
        try:
            for event in self._run_events(context, execution_time, restate):
                if isinstance(event, dg.AssetMaterialization | dg.MaterializeResult):
                    materialized.add(event.asset_key or dg.AssetKey([]))
                elif isinstance(event, DagsterEvent) and event.asset_key:
                    materialized.add(event.asset_key)
                yield event
        except SQLMeshIntegrationError as error:
            not_run = [name for key, name in selected.items() if key not in materialized]
            raise step_failure(error, not_run) from error

    def _run_events(
        self,
        context: dg.AssetExecutionContext,
        execution_time: datetime | None,
        restate: bool | None,
    ) -> Iterator[StepEvent]:
        """The body of :meth:`run`, raising the integration's errors as they are."""
        from .runner import run_models  # imports SQLMesh: only when a run starts

        selection = selected_targets(context)
        window = partition_window(context, selection.run)
        if restate is None:
            restate = bool((context.op_execution_context.op_config or {}).get("restate", False))
        restatement = requested_restatement(context, selection.run, window, restate)
        request = RunRequest(
            targets=selection.run,
            expected_identifiers=selection.expected_identifiers,
            environment=self.target_environment(),
            execution_time=execution_time,
            audit_only=selection.audit_only,
            start=window.start if window else None,
            end=window.end if window else None,
            restatement=restatement,
            downstream=_unselected_models(context) if restatement else {},
        )
        models = sum(1 for target in selection.run.values() if target.materialize)
        if models:
            over = f" from {window.start} to {window.end}" if window else ""
            context.log.info(
                f"SQLMesh {'restatement' if restatement else 'run'} of {models} model(s){over} "
                f"in environment `{request.environment}`."
            )
        if selection.audit_only:
            context.log.info(
                f"SQLMesh audits of {len(selection.audit_only)} node(s) over their filled "
                f"intervals in `{request.environment}` (nothing is run for them)."
            )
        selected_checks = set(context.selected_asset_check_keys)
        selected_assets = set(context.selected_asset_keys)
        parent_versions = ParentVersions(context.instance)
        # A run without a partition range over partitioned assets: Dagster 1.13 resolves the
        # partitions of a step output's or check's partitioned parents from the run's partition
        # range, which this run has none of, so results are logged as events, never outputs.
        as_events = window is None and any(
            target.partitions_def is not None for target in selection.run.values()
        )
        for event in run_models(
            self.project,
            request,
            lock_timeout_seconds=self.lock_timeout_seconds,
            log=context.log,
        ):
            # Materializations that are not the step's outputs are yielded as events (not
            # logged): in the step's own stream, they are kept when a later model fails it.
            if isinstance(event, PartitionMaterializations):
                # The partitions one SQLMesh batch filled: one Dagster write batch.
                yield from batched_materializations(
                    context,
                    [
                        with_parent_versions(materialization, context, parent_versions)
                        for materialization in event.materializations
                    ],
                )
            elif (
                isinstance(event, dg.AssetObservation)
                and window is None
                and repeats_latest(context.instance, event)
            ):
                # A routine run (no range) with nothing new since the asset's latest event: said
                # in the log, not stored again. A range asked for explicitly is always answered.
                context.log.info(f"{event.asset_key.to_user_string()}: {event.description}")
                continue
            elif isinstance(event, dg.AssetMaterialization):
                # One partition, or a model restated downstream.
                yield with_parent_versions(event, context, parent_versions)
            elif isinstance(event, dg.MaterializeResult) and (
                as_events or event.asset_key not in selected_assets
            ):
                # Or cascaded to.
                yield with_parent_versions(
                    as_materialization(event, context), context, parent_versions
                )
            elif isinstance(event, dg.AssetCheckResult) and (
                as_events or not _is_selected(event, selected_checks)
            ):
                # A check Dagster's selection cannot hold (checks of external assets are never
                # in `*`), for an audit SQLMesh ran in this run: recorded, not returned as
                # output.
                context.log_event(as_evaluation(event))
            else:
                yield event
            reported = (dg.AssetMaterialization, dg.MaterializeResult, PartitionMaterializations)
            if isinstance(event, reported) and event.asset_key:
                parent_versions.materialized(event.asset_key)  # stored once the step resumes


def step_failure(error: SQLMeshIntegrationError, not_run: list[str]) -> dg.Failure:
    """The Dagster failure of a step the integration's error stopped.

    Its description is the error's message; its metadata always names the failed and the skipped
    models (`sqlmesh/failed_models`, `sqlmesh/skipped_models`), and holds what else the error names.
    An error that names no failed model (unreachable state, a lock, a missing environment, code
    not applied, a refused restatement) failed none and skipped every selected model it kept from
    materializing.

    Args:
        error: The error that stopped the step.
        not_run: The selected models (`schema.table`) not materialized when it was raised.
    """
    named: dict[str, object] = {
        METADATA_FAILED_MODELS: [],
        METADATA_SKIPPED_MODELS: sorted(not_run),
        **error.metadata,
    }
    metadata = {
        key: dg.MetadataValue.json(value)
        if isinstance(value, list)
        else dg.MetadataValue.text(str(value))
        for key, value in named.items()
    }
    return dg.Failure(description=str(error), metadata=metadata)


def partition_window(
    context: dg.AssetExecutionContext, targets: Mapping[str, ModelTarget]
) -> dg.TimeWindow | None:
    """The time range of the run's partition (range), or None for a run without one.

    Raises:
        PartitionRangeError: the selected models have different partitions.
    """
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    definitions = {
        target.partitions_def for target in targets.values() if target.partitions_def is not None
    }
    if not definitions:
        return None  # a partitioned run of unpartitioned models only: whatever is due
    if len(definitions) > 1:
        raise PartitionRangeError(
            "The run's partition range spans models with different partitions (interval units "
            "or starts)"
        )
    (partitions_def,) = definitions
    keys = context.partition_key_range
    return dg.TimeWindow(
        partitions_def.time_window_for_partition_key(keys.start).start,
        partitions_def.time_window_for_partition_key(keys.end).end,
    )


def selected_targets(context: dg.AssetExecutionContext) -> Selection:
    """The step's selection as SQLMesh nodes, from the specs' metadata."""
    assets_def = context.assets_def
    selected_keys = set(context.selected_asset_keys)
    checks: dict[str, list[CheckTarget]] = defaultdict(list)
    check_assets: dict[str, dg.AssetKey] = {}
    node_kinds: dict[str, str] = {}
    identifiers: dict[str, str] = {}
    selected_checks = set(context.selected_asset_check_keys)
    read_by_selection = {
        dep.asset_key for key in selected_keys for dep in assets_def.specs_by_key[key].deps
    }
    # Every check of the node, selected or not (a subset's `check_specs` holds the selected ones).
    all_checks = list(assets_def.node_check_specs_by_output_name.values())
    for check_spec in all_checks:
        node_kind = str(check_spec.metadata.get(METADATA_AUDITED_NODE, NODE_MODEL))
        if check_spec.key not in selected_checks and not (
            # External tables read by the selected models are audited in the same run, as
            # `sqlmesh run` would; Dagster's `*` never selects checks of external assets.
            node_kind == NODE_EXTERNAL and check_spec.asset_key in read_by_selection
        ):
            continue
        name = str(check_spec.metadata[METADATA_MODEL_NAME])
        checks[name].append(
            CheckTarget(
                check_name=check_spec.name,
                audit_name=str(check_spec.metadata[METADATA_AUDIT_NAME]),
                blocking=bool(check_spec.metadata[METADATA_AUDIT_BLOCKING]),
            )
        )
        check_assets[name] = check_spec.asset_key
        node_kinds[name] = node_kind
        if node_kind != NODE_MODEL:
            identifiers[name] = str(check_spec.metadata.get(METADATA_SNAPSHOT_IDENTIFIER, ""))
    run: dict[str, ModelTarget] = {}
    for key in selected_keys:
        spec = assets_def.specs_by_key[key]
        name = str(spec.metadata[METADATA_MODEL_NAME])
        run[name] = _model_target(spec, tuple(checks.pop(name, ())))
        identifiers[name] = str(spec.metadata[METADATA_SNAPSHOT_IDENTIFIER])
    audit_only: dict[str, ModelTarget] = {}
    for name, node_checks in checks.items():
        node_kind = node_kinds[name]
        target = ModelTarget(
            model_name=name,
            asset_key=check_assets[name],
            checks=tuple(node_checks),
            audit_count=_audit_count(all_checks, name),
            materialize=False,
        )
        # In a step that runs models, audit nodes run with them; model checks without their
        # model, and anything in a step that runs no model, are audited only.
        if run and node_kind != NODE_MODEL:
            run[name] = target
        else:
            audit_only[name] = target
    identifiers = {
        name: identifier for name, identifier in identifiers.items() if identifier and (name in run)
    }
    return Selection(run=run, audit_only=audit_only, expected_identifiers=identifiers)


def _model_target(spec: dg.AssetSpec, checks: tuple[CheckTarget, ...] = ()) -> ModelTarget:
    partitions_def = spec.partitions_def
    if partitions_def is not None and not isinstance(
        partitions_def, dg.TimeWindowPartitionsDefinition
    ):
        raise UnsupportedPartitionsError(spec.key.to_user_string(), type(partitions_def).__name__)
    return ModelTarget(
        model_name=str(spec.metadata[METADATA_MODEL_NAME]),
        asset_key=spec.key,
        checks=checks,
        audit_count=int(spec.metadata.get(METADATA_AUDIT_COUNT, 0)),
        partitions_def=partitions_def,
        fetch_row_count=bool(spec.metadata.get(METADATA_FETCH_ROW_COUNT, False)),
        materialization_metadata={
            key: spec.metadata[key] for key in MATERIALIZATION_METADATA_KEYS if key in spec.metadata
        },
    )


def _unselected_models(context: dg.AssetExecutionContext) -> dict[str, ModelTarget]:
    """The multi-asset's models outside the selection: a restatement may cascade to them."""
    selected = set(context.selected_asset_keys)
    specs = [spec for key, spec in context.assets_def.specs_by_key.items() if key not in selected]
    return {str(spec.metadata[METADATA_MODEL_NAME]): _model_target(spec) for spec in specs}


def _audit_count(all_checks: list[dg.AssetCheckSpec], name: str) -> int:
    """The audits SQLMesh runs for a node: one check each."""
    return sum(1 for spec in all_checks if spec.metadata.get(METADATA_MODEL_NAME) == name)


def _is_selected(result: dg.AssetCheckResult, selected: set[dg.AssetCheckKey]) -> bool:
    assert result.asset_key is not None  # the event console always names the asset
    return dg.AssetCheckKey(result.asset_key, result.check_name or "") in selected

"""The Dagster resource that runs SQLMesh for the assets a Dagster step selected."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from .errors import SQLMeshIntegrationError
from .metadata import (
    METADATA_AUDIT_BLOCKING,
    METADATA_AUDIT_COUNT,
    METADATA_AUDIT_NAME,
    METADATA_AUDITED_NODE,
    METADATA_FETCH_ROW_COUNT,
    METADATA_MODEL_NAME,
    METADATA_SNAPSHOT_IDENTIFIER,
    NODE_EXTERNAL,
    NODE_MODEL,
)
from .project import SQLMeshProject, environment_from_env
from .targets import CheckTarget, ModelTarget, Selection

# Definition metadata each materialization repeats: Dagster (and Dagster+'s column lineage view)
# reads column lineage from the latest materialization, as dagster-dbt emits it.
MATERIALIZATION_METADATA_KEYS = ("dagster/column_lineage",)


class SQLMeshResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Runs SQLMesh for a Dagster step: one `sqlmesh run` for exactly the selected models.

    It never plans or applies (CI does, with the SQLMesh CLI): it refuses to run models whose code
    differs from what was applied to the environment, and names the `sqlmesh plan` command that
    fixes it.

    Example:
        >>> @sqlmesh_assets(project=project)  # doctest: +SKIP
        ... def models(context: dg.AssetExecutionContext, sqlmesh: SQLMeshResource):
        ...     yield from sqlmesh.run(context)
    """

    project_dir: str = Field(description="The SQLMesh project folder (holding config.yaml).")
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
        )

    def target_environment(self) -> str:
        """The SQLMesh environment runs target."""
        return environment_from_env(requested=self.environment)

    def run(
        self, context: dg.AssetExecutionContext, *, execution_time: datetime | None = None
    ) -> Iterator[dg.MaterializeResult[Any] | dg.AssetCheckResult | dg.AssetObservation]:
        """Runs SQLMesh for the step's selected assets and yields results as each model finishes.

        Args:
            context: The asset step's context; the selection comes from it.
            execution_time: SQLMesh's execution time; now (UTC) when None.
        """
        from .runner import RunRequest, run_models  # imports SQLMesh: only when a run starts

        selection = selected_targets(context)
        request = RunRequest(
            targets=selection.run,
            expected_identifiers=selection.expected_identifiers,
            environment=self.target_environment(),
            execution_time=execution_time,
            audit_only=selection.audit_only,
        )
        models = sum(1 for target in selection.run.values() if target.materialize)
        if models:
            context.log.info(
                f"SQLMesh run of {models} model(s) in environment `{request.environment}`."
            )
        if selection.audit_only:
            context.log.info(
                f"SQLMesh audits of {len(selection.audit_only)} node(s) over their filled "
                f"intervals in `{request.environment}` (nothing is run for them)."
            )
        selected_checks = set(context.selected_asset_check_keys)
        try:
            for event in run_models(
                self.project, request, lock_timeout_seconds=self.lock_timeout_seconds
            ):
                if isinstance(event, dg.AssetCheckResult) and not _is_selected(
                    event, selected_checks
                ):
                    # A check Dagster's selection cannot hold (checks of external assets are
                    # never in `*`), for an audit SQLMesh ran in this run: recorded, not output.
                    context.log_event(_as_evaluation(event))
                else:
                    yield event
        except SQLMeshIntegrationError as error:
            # The step fails with the error's message and the models it names as metadata.
            metadata = {
                key: dg.MetadataValue.json(value)
                if isinstance(value, list)
                else dg.MetadataValue.text(str(value))
                for key, value in error.metadata.items()
            }
            raise dg.Failure(description=str(error), metadata=metadata) from error


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
        run[name] = ModelTarget(
            model_name=name,
            asset_key=key,
            checks=tuple(checks.pop(name, ())),
            audit_count=int(spec.metadata.get(METADATA_AUDIT_COUNT, 0)),
            fetch_row_count=bool(spec.metadata.get(METADATA_FETCH_ROW_COUNT, False)),
            materialization_metadata={
                key: spec.metadata[key]
                for key in MATERIALIZATION_METADATA_KEYS
                if key in spec.metadata
            },
        )
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


def _audit_count(all_checks: list[dg.AssetCheckSpec], name: str) -> int:
    """The audits SQLMesh runs for a node: one check each."""
    return sum(1 for spec in all_checks if spec.metadata.get(METADATA_MODEL_NAME) == name)


def _is_selected(result: dg.AssetCheckResult, selected: set[dg.AssetCheckKey]) -> bool:
    assert result.asset_key is not None  # the event console always names the asset
    return dg.AssetCheckKey(result.asset_key, result.check_name or "") in selected


def _as_evaluation(result: dg.AssetCheckResult) -> dg.AssetCheckEvaluation:
    assert result.asset_key is not None and result.check_name is not None
    return dg.AssetCheckEvaluation(
        asset_key=result.asset_key,
        check_name=result.check_name,
        passed=result.passed,
        metadata=result.metadata,
        severity=result.severity,
        description=result.description,
    )

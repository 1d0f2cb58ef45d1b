"""The Dagster resource that runs SQLMesh for the assets a Dagster step selected."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from .project import SQLMeshProject, environment_from_env
from .specs import METADATA_AUDIT_BLOCKING, METADATA_AUDIT_COUNT, METADATA_AUDIT_NAME
from .targets import CheckTarget, ModelTarget
from .translator import METADATA_MODEL_NAME, METADATA_SNAPSHOT_IDENTIFIER


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

        targets, identifiers = selected_targets(context)
        request = RunRequest(
            targets=targets,
            expected_identifiers=identifiers,
            environment=self.target_environment(),
            execution_time=execution_time,
        )
        context.log.info(
            f"SQLMesh run of {len(targets)} model(s) in environment `{request.environment}`."
        )
        yield from run_models(self.project, request, lock_timeout_seconds=self.lock_timeout_seconds)


def selected_targets(
    context: dg.AssetExecutionContext,
) -> tuple[dict[str, ModelTarget], dict[str, str]]:
    """The selected models (by SQLMesh name) and their expected snapshot identifiers, from specs."""
    assets_def = context.assets_def
    checks: dict[dg.AssetKey, list[CheckTarget]] = defaultdict(list)
    for check_key in context.selected_asset_check_keys:
        check_spec = assets_def.get_spec_for_check_key(check_key)
        checks[check_key.asset_key].append(
            CheckTarget(
                check_name=check_key.name,
                audit_name=str(check_spec.metadata[METADATA_AUDIT_NAME]),
                blocking=bool(check_spec.metadata[METADATA_AUDIT_BLOCKING]),
            )
        )
    targets = {}
    identifiers = {}
    for key in context.selected_asset_keys:
        spec = assets_def.specs_by_key[key]
        name = str(spec.metadata[METADATA_MODEL_NAME])
        targets[name] = ModelTarget(
            model_name=name,
            asset_key=key,
            checks=tuple(checks[key]),
            audit_count=int(spec.metadata.get(METADATA_AUDIT_COUNT, len(checks[key]))),
        )
        identifiers[name] = str(spec.metadata[METADATA_SNAPSHOT_IDENTIFIER])
    return targets, identifiers

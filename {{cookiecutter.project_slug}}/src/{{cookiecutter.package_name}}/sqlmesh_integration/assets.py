"""`@sqlmesh_assets`: one subsettable multi-asset for all SQLMesh models, and the defs helpers."""

# No `from __future__ import annotations`: Dagster checks the asset function's `context` annotation
# at definition time against the real class, and a string annotation fails that check.

from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg

from .automation import sqlmesh_due_sensor
from .manifest import Manifest, load_manifest
from .project import SQLMeshProject
from .resource import SQLMeshResource
from .restatement import SQLMeshRunConfig
from .specs import SQLMeshSpecs, build_specs
from .translator import SQLMeshTranslator

DEFAULT_POOL = "sqlmesh"


def sqlmesh_assets(
    *,
    project: SQLMeshProject,
    specs: SQLMeshSpecs | None = None,
    manifest: Manifest | None = None,
    translator: SQLMeshTranslator | None = None,
    name: str = "sqlmesh_models",
    pool: str | None = DEFAULT_POOL,
    op_tags: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """Decorates a function into one multi-asset holding every model of the SQLMesh project.

    The multi-asset is subsettable: materializing any selection runs the decorated function once,
    and `SQLMeshResource.run` runs one `sqlmesh run` for exactly those models. Audits become asset
    checks.

    Args:
        project: The SQLMesh project.
        specs: Specs already built with :func:`project_specs` (so they are built once per load).
        manifest: The prepared manifest; read (and refreshed locally when stale) from the project
            when None.
        translator: Maps models to asset fields; the default translator when None.
        name: The op's name.
        pool: The Dagster concurrency pool of the step; runs in one pool queue when the pool is
            limited.
        op_tags: Extra op tags.

    Example:
        >>> @sqlmesh_assets(project=project)  # doctest: +SKIP
        ... def sqlmesh_models(context: dg.AssetExecutionContext, sqlmesh: SQLMeshResource):
        ...     yield from sqlmesh.run(context)
    """
    specs = specs or project_specs(project, manifest=manifest, translator=translator)

    def decorator(function: Callable[..., Any]) -> dg.AssetsDefinition:
        return dg.multi_asset(
            name=name,
            specs=specs.assets,
            check_specs=specs.checks,
            can_subset=True,
            # A backfill of a partition range is one run, so one SQLMesh run over the range.
            backfill_policy=dg.BackfillPolicy.single_run(),
            pool=pool,
            op_tags=op_tags,
            # Checks of external tables' audits sit on the external assets, outside the
            # multi-asset, so SQLMesh runs them in the same run (as dagster-dbt does for sources).
            allow_arbitrary_check_specs=True,
        )(function)

    return decorator


def sqlmesh_definitions(
    project: SQLMeshProject,
    *,
    translator: SQLMeshTranslator | None = None,
    manifest: Manifest | None = None,
    resource: SQLMeshResource | None = None,
    name: str = "sqlmesh_models",
    pool: str | None = DEFAULT_POOL,
    executor: dg.ExecutorDefinition | None = dg.in_process_executor,
    resource_key: str = "sqlmesh",
) -> dg.Definitions:
    """Everything a code location needs for a SQLMesh project, in one call.

    The models' multi-asset (with the audits as checks), the external tables as external assets, the
    `sqlmesh` resource and the due-driven sensor (:func:`sqlmesh_due_sensor`: one run of exactly
    the models SQLMesh has due, none when nothing is). To change what the step does, use
    :func:`sqlmesh_assets` with a function of your own instead.

    Runs execute in the run's own process (`executor`): the one multi-asset step gains nothing from
    a step subprocess, which costs seconds per run.

    Args:
        project: The SQLMesh project.
        translator: Maps models to asset fields; the default translator when None.
        manifest: The prepared manifest; read (and refreshed locally when stale) when None.
        resource: The resource runs use; one for `project` with defaults when None.
        name: The op's name.
        pool: The Dagster concurrency pool of the step.
        executor: The executor of this code location's jobs; `dg.in_process_executor` by default.
            None keeps Dagster's default (a subprocess per step), or pass another executor.
        resource_key: The resource's key; give each project its own when merging the definitions
            of several SQLMesh projects (see docs/integration.md).
    """
    manifest = manifest or load_manifest(project)
    specs = project_specs(project, manifest=manifest, translator=translator)
    assets = dg.multi_asset(
        name=name,
        specs=specs.assets,
        check_specs=specs.checks,
        can_subset=True,
        backfill_policy=dg.BackfillPolicy.single_run(),  # see sqlmesh_assets
        pool=pool,
        required_resource_keys={resource_key},
        allow_arbitrary_check_specs=True,  # checks on external assets: see sqlmesh_assets
    )(_run_selected_models(resource_key))
    sensor_name = "sqlmesh_due_models" if name == "sqlmesh_models" else f"{name}_due_models"
    return dg.Definitions(
        assets=[assets, *specs.external_assets, *specs.inlined_assets],
        sensors=[sqlmesh_due_sensor(assets, name=sensor_name, resource_key=resource_key)]
        if specs.assets
        else [],
        resources={resource_key: resource or SQLMeshResource.for_project(project)},
        executor=executor,
    )


def _run_selected_models(
    resource_key: str,
) -> Callable[[dg.AssetExecutionContext, SQLMeshRunConfig], Iterator[Any]]:
    """The default body of the multi-asset: `sqlmesh run` for the selected models.

    Its op config `restate: true` (or the run tag `sqlmesh/restate=true`) recomputes the run's
    partition range through SQLMesh's restatement (see `restatement.py`).
    """

    def run_selected_models(
        context: dg.AssetExecutionContext, config: SQLMeshRunConfig
    ) -> Iterator[Any]:
        resource: SQLMeshResource = getattr(context.resources, resource_key)
        yield from resource.run(context, restate=config.restate)

    return run_selected_models


def project_specs(
    project: SQLMeshProject,
    *,
    manifest: Manifest | None = None,
    translator: SQLMeshTranslator | None = None,
) -> SQLMeshSpecs:
    """The specs of a project (manifest read, and refreshed locally when stale, when not given)."""
    manifest = manifest or load_manifest(project)
    return build_specs(manifest, translator or SQLMeshTranslator(), project.project_dir)

"""`@sqlmesh_assets` and `sqlmesh_definitions`: the one place the SQLMesh multi-asset is built.

The component (`component.py`) and Python code share these: one subsettable multi-asset for the
models, the external tables as external assets, the `sqlmesh` resource, the due-driven sensor and
the in-process executor.
"""

# No `from __future__ import annotations`: Dagster checks the asset function's `context` annotation
# at definition time against the real class, and a string annotation fails that check.

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import dagster as dg

from .automation.sensor import DEFAULT_SENSOR_NAME, sqlmesh_due_sensor
from .definitions.manifest import Manifest, load_manifest
from .definitions.project import SQLMeshProject
from .definitions.specs import SQLMeshSpecs, build_specs
from .definitions.translator import SQLMeshTranslator
from .errors import InvalidInputError
from .execution.resource import SQLMeshResource
from .execution.restatement import SQLMeshRunConfig
from .operations.janitor import (
    DEFAULT_JANITOR_CRON,
    janitor_name,
    sqlmesh_janitor_job,
    sqlmesh_janitor_schedule,
)

DEFAULT_NAME = "sqlmesh_models"
DEFAULT_POOL = "sqlmesh"
DEFAULT_RESOURCE_KEY = "sqlmesh"

# The step body: yields what `SQLMeshResource.run` yields for the step's selection.
Execute = Callable[[dg.AssetExecutionContext, SQLMeshResource], Iterator[Any]]


def sqlmesh_assets(
    *,
    project: SQLMeshProject | None = None,
    specs: SQLMeshSpecs | None = None,
    manifest: Manifest | None = None,
    translator: SQLMeshTranslator | None = None,
    name: str = DEFAULT_NAME,
    pool: str | None = DEFAULT_POOL,
    op_tags: Mapping[str, Any] | None = None,
    backfill_policy: dg.BackfillPolicy | None = None,
    required_resource_keys: set[str] | None = None,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """Decorates a function into one multi-asset holding every model of the SQLMesh project.

    The multi-asset is subsettable: materializing any selection runs the decorated function once,
    and `SQLMeshResource.run` runs one `sqlmesh run` for exactly those models. Audits become asset
    checks.

    Args:
        project: The SQLMesh project (its manifest file is read when neither `specs` nor `manifest`
            is given; `uv run sqlmesh-dagster prepare` writes it).
        specs: Specs already built (so they are built once per load).
        manifest: The prepared manifest.
        translator: Maps models to asset fields; the default translator when None.
        name: The op's name.
        pool: The Dagster concurrency pool of the step; runs in one pool queue when the pool is
            limited.
        op_tags: Extra op tags.
        backfill_policy: The backfill policy of the multi-asset; a single run by default (a
            partition range is one SQLMesh run).
        required_resource_keys: Resource keys the step reads from its context (for a body that
            does not take the resource as an argument).

    Example:
        >>> @sqlmesh_assets(project=project)  # doctest: +SKIP
        ... def sqlmesh_models(context: dg.AssetExecutionContext, sqlmesh: SQLMeshResource):
        ...     yield from sqlmesh.run(context)
    """
    if specs is None:
        if project is None:
            raise InvalidInputError(
                "sqlmesh_assets has no models to define: pass project=SQLMeshProject(...)."
            )
        specs = project_specs(project, manifest=manifest, translator=translator)
    chosen_specs = specs

    def decorator(function: Callable[..., Any]) -> dg.AssetsDefinition:
        return dg.multi_asset(
            name=name,
            specs=chosen_specs.assets,
            check_specs=chosen_specs.checks,
            can_subset=True,
            # A backfill of a partition range is one run, so one SQLMesh run over the range.
            backfill_policy=backfill_policy or dg.BackfillPolicy.single_run(),
            pool=pool,
            op_tags=op_tags,
            required_resource_keys=required_resource_keys,
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
    specs: SQLMeshSpecs | None = None,
    resource: SQLMeshResource | None = None,
    name: str = DEFAULT_NAME,
    pool: str | None = DEFAULT_POOL,
    op_tags: Mapping[str, Any] | None = None,
    backfill_policy: dg.BackfillPolicy | None = None,
    executor: dg.ExecutorDefinition | None = dg.in_process_executor,
    resource_key: str | None = None,
    execute: Execute | None = None,
    janitor_cron: str | None = DEFAULT_JANITOR_CRON,
) -> dg.Definitions:
    """Everything a code location needs for a SQLMesh project, in one call.

    The models' multi-asset (with the audits as checks), the external tables as external assets, the
    `sqlmesh` resource, the due-driven sensor (:func:`sqlmesh_due_sensor`: one run of exactly
    the models SQLMesh has due, none when nothing is) and SQLMesh's janitor as a job of its own
    on a daily schedule (:func:`sqlmesh_janitor_job`; asset runs never run the janitor). The
    component builds its definitions here.

    Runs execute in the run's own process (`executor`): the one multi-asset step gains nothing from
    a step subprocess, which costs seconds per run.

    Args:
        project: The SQLMesh project.
        translator: Maps models to asset fields; the default translator when None.
        manifest: The prepared manifest; the project's manifest file when None.
        specs: Specs already built from the manifest (then `manifest` and `translator` are unused).
        resource: The resource runs use; one for `project` with defaults when None.
        name: The op's name; the sensor is `<name without _models>_due_models`
            (`sqlmesh_due_models` for the default name).
        pool: The Dagster concurrency pool of the step.
        op_tags: Extra op tags.
        backfill_policy: The backfill policy of the multi-asset.
        executor: The executor of this code location's jobs; `dg.in_process_executor` by default.
            None keeps Dagster's default (a subprocess per step), or pass another executor.
        resource_key: The resource's key; `sqlmesh` for the default name, else
            `sqlmesh_<name without _models>`, so the definitions of several SQLMesh projects merge
            (see docs/integration.md).
        execute: The step body, `execute(context, sqlmesh)`; by default it yields
            `sqlmesh.run(context)`.
        janitor_cron: When the janitor job (`<name without _models>_janitor`, `sqlmesh_janitor`
            for the default name) runs, UTC; None keeps the job without a schedule.
    """
    stem = name.removesuffix("_models")
    key = resource_key or (DEFAULT_RESOURCE_KEY if name == DEFAULT_NAME else f"sqlmesh_{stem}")
    specs = specs or project_specs(project, manifest=manifest, translator=translator)
    assets = sqlmesh_assets(
        specs=specs,
        name=name,
        pool=pool,
        op_tags=op_tags,
        backfill_policy=backfill_policy,
        required_resource_keys={key},
    )(_step(key, execute or run_selected_models))
    sensor_name = DEFAULT_SENSOR_NAME if name == DEFAULT_NAME else f"{stem}_due_models"
    janitor = sqlmesh_janitor_job(name=janitor_name(name), resource_key=key, pool=pool)
    return dg.Definitions(
        assets=[assets, *specs.external_assets, *specs.inlined_assets],
        jobs=[janitor],
        schedules=[sqlmesh_janitor_schedule(janitor, cron=janitor_cron)] if janitor_cron else [],
        sensors=[sqlmesh_due_sensor(assets, name=sensor_name, resource_key=key)]
        if specs.assets
        else [],
        resources={key: resource or SQLMeshResource.for_project(project)},
        executor=executor,
    )


def run_selected_models(
    context: dg.AssetExecutionContext, sqlmesh: SQLMeshResource
) -> Iterator[Any]:
    """The default step body: one `sqlmesh run` of the selected models.

    With the op config `restate: true` (or the run tag `sqlmesh/restate=true`) the run's partition
    range is recomputed through SQLMesh's restatement (see `restatement.py`).
    """
    yield from sqlmesh.run(context)


def _step(
    resource_key: str, execute: Execute
) -> Callable[[dg.AssetExecutionContext, SQLMeshRunConfig], Iterator[Any]]:
    # `config`: the op config (`restate`), which `SQLMeshResource.run` reads from the context.
    def step(context: dg.AssetExecutionContext, config: SQLMeshRunConfig) -> Iterator[Any]:
        yield from execute(context, getattr(context.resources, resource_key))

    return step


def project_specs(
    project: SQLMeshProject,
    *,
    manifest: Manifest | None = None,
    translator: SQLMeshTranslator | None = None,
) -> SQLMeshSpecs:
    """The specs of a project (its manifest file read and checked when `manifest` is None)."""
    manifest = manifest or load_manifest(project)
    return build_specs(manifest, translator or SQLMeshTranslator(), project.project_dir)

"""Due-driven automation: a sensor that launches one run for exactly the models SQLMesh has due.

Each tick first mirrors what SQLMesh filled outside Dagster (a CI plan's backfill, a `sqlmesh
run` from a terminal) as runless materializations (`mirror.py`), then asks SQLMesh, read-only,
which models have intervals due (crons, signals, upstream readiness: `due.py`). With nothing due
the tick is skipped with the reason, and no run is launched (on Dagster+ Serverless an empty run
still costs compute minutes). Otherwise it requests one run of
exactly the due models and their checks, and logs which models and through when.

SQLMesh is imported in the tick's evaluation only, never when definitions load. The sensor is built
from the multi-asset's specs alone (the SQLMesh name and snapshot identifier travel as metadata), so
any code that builds the specs can build it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import dagster as dg

from ..definitions.manifest import display_name as _display
from ..metadata import (
    METADATA_AUDITED_NODE,
    METADATA_MODEL_NAME,
    METADATA_SNAPSHOT_IDENTIFIER,
    NODE_MODEL,
    TAG_DUE_MODELS,
)
from .mirror import InstanceLedger, mirror_pass, summary

if TYPE_CHECKING:
    from ..execution.resource import SQLMeshResource
    from .due import DueModels

DEFAULT_SENSOR_NAME = "sqlmesh_due_models"
DEFAULT_INTERVAL_SECONDS = 60
# Runless materializations a tick reports at most; the next tick reports the rest. The daemon stores
# them one by one (about 0.1 s each on a SQLite instance): a first pass after a years-long backfill
# is spread over a few ticks.
MIRROR_EVENTS_PER_TICK = 500
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def sqlmesh_due_sensor(
    assets: dg.AssetsDefinition,
    *,
    name: str = DEFAULT_SENSOR_NAME,
    minimum_interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    resource_key: str = "sqlmesh",
    mirror: bool = True,
) -> dg.SensorDefinition:
    """A sensor that runs the SQLMesh models with intervals due, and nothing when none are.

    Each tick also reports what SQLMesh filled outside Dagster as runless materializations (see
    `mirror.py`), unless `mirror` is False.

    Args:
        assets: The SQLMesh multi-asset (its specs map SQLMesh names to asset keys).
        name: The sensor's name.
        minimum_interval_seconds: Seconds between ticks; the finest model cron is reached within
            this delay.
        default_status: Whether the sensor runs without being switched on in the UI.
        resource_key: The key of the :class:`SQLMeshResource` (project, gateway, environment).
        mirror: Report intervals SQLMesh filled outside Dagster (CI's plan, a CLI `sqlmesh run`).
    """
    keys_by_model = {str(spec.metadata[METADATA_MODEL_NAME]): spec.key for spec in assets.specs}
    identifiers = {
        str(spec.metadata[METADATA_MODEL_NAME]): str(spec.metadata[METADATA_SNAPSHOT_IDENTIFIER])
        for spec in assets.specs
    }
    check_specs = list(assets.node_check_specs_by_output_name.values())

    @dg.sensor(
        name=name,
        target=dg.AssetSelection.assets(assets),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        required_resource_keys={resource_key},
        description=(
            "Reports what SQLMesh filled outside Dagster as materializations, asks SQLMesh which "
            "models have intervals due (crons and signals) and runs exactly those in one run; "
            "skips the tick when nothing is due."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        in_flight = _run_in_flight(context, name)
        if in_flight is not None:
            return dg.SkipReason(
                f"Run {in_flight.run_id} launched by this sensor is still "
                f"{in_flight.status.value.lower()}; SQLMesh is asked again once it ends."
            )
        resource: SQLMeshResource = getattr(context.resources, resource_key)
        events = mirrored_events(context, assets, resource) if mirror else []
        from .due import find_due_models  # imports SQLMesh: only when a tick evaluates

        due = find_due_models(resource.project, resource.target_environment())
        result = due_models_result(context, due, keys_by_model, identifiers, check_specs)
        if not isinstance(result, dg.SkipReason):
            result = dg.SensorResult(
                run_requests=[
                    with_partitioned_ancestors(request, assets.specs)
                    for request in result.run_requests or []
                ]
            )
        if not events:
            return result
        if isinstance(result, dg.SkipReason):
            return dg.SensorResult(skip_reason=result, asset_events=events)
        return dg.SensorResult(run_requests=result.run_requests, asset_events=events)

    return _sensor


def mirrored_events(
    context: dg.SensorEvaluationContext, assets: dg.AssetsDefinition, resource: SQLMeshResource
) -> list[dg.AssetMaterialization]:
    """The tick's runless materializations for what SQLMesh filled outside Dagster.

    None while a run of these assets is in flight: SQLMesh records each interval before the run
    reports it, so the run's own intervals would be reported twice.
    """
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:  # a context built without an instance
        return []
    busy = run_touching(instance, assets.keys)
    if busy is not None:
        context.log.info(f"Mirror waits for run {busy.run_id}, which materializes these assets.")
        return []
    result = mirror_pass(
        assets.specs,
        resource.project,
        resource.target_environment(),
        InstanceLedger(instance),
        max_events=MIRROR_EVENTS_PER_TICK,
        skip_unchanged=True,
    )
    if result.skipped:
        context.log.info(f"Mirror skipped: {result.skipped}")
    elif result.events:
        more = f" {result.remaining} more next tick." if result.remaining else ""
        context.log.info(f"Mirrored from SQLMesh: {summary(result.events)}.{more}")
    return result.events


def with_partitioned_ancestors(
    request: dg.RunRequest, specs: Iterable[dg.AssetSpec]
) -> dg.RunRequest:
    """The run request, with every partitioned model upstream of a partitioned one it selects.

    The sensor's runs have no partition range (each runs whatever SQLMesh has due, whatever the
    models' partitions). Dagster 1.13 fails such a run at its start when it selects a partitioned
    asset and a partitioned asset it reads, left out of the selection, has materializations (it
    resolves that dependency's partitions from the run's range). Selecting those upstream models
    too avoids it; SQLMesh runs them only if they are due (otherwise they are reported up to date).
    """
    by_key = {spec.key: spec for spec in specs}
    selection = set(request.asset_selection or [])
    pending = [key for key in selection if by_key[key].partitions_def is not None]
    while pending:
        for dep in by_key[pending.pop()].deps:
            upstream = by_key.get(dep.asset_key)
            if (
                upstream is not None
                and upstream.partitions_def is not None
                and upstream.key not in selection
            ):
                selection.add(upstream.key)
                pending.append(upstream.key)
    if selection == set(request.asset_selection or []):
        return request
    return request.with_replaced_attrs(
        asset_selection=sorted(selection, key=lambda key: key.to_user_string())
    )


def due_models_result(
    context: dg.SensorEvaluationContext,
    due: DueModels,
    keys_by_model: Mapping[str, dg.AssetKey],
    identifiers: Mapping[str, str],
    check_specs: Sequence[dg.AssetCheckSpec] = (),
) -> dg.SensorResult | dg.SkipReason:
    """The tick's result for what SQLMesh has due: one run request, or a skip with its reason.

    SQLMesh's `run` also has audit nodes of their own due: standalone audits and the audits of
    external models (their checks are in `check_specs`). Their checks join the run, so that after
    it `sqlmesh run` has nothing left to do; a standalone audit's check brings the model asset it
    sits on, which SQLMesh runs only if that model is due too.
    """
    checks_by_node = audit_node_checks(check_specs)
    audit_nodes = sorted(name for name in due.due if name in checks_by_node)
    if due.busy is not None:
        return dg.SkipReason(f"SQLMesh was not asked: {due.busy}; the next tick asks again.")
    if not due.due:
        return dg.SkipReason(
            f"Nothing is due in SQLMesh environment `{due.environment}`: every model is filled "
            "through its last complete cron interval (or waits for its signals)."
        )
    absent = sorted(
        name for name in due.due if name not in keys_by_model and name not in checks_by_node
    )
    changed = sorted(
        name
        for name in due.due
        if name in keys_by_model and due.identifiers.get(name) != identifiers[name]
    )
    launch = sorted(name for name in due.due if name in keys_by_model and name not in changed)
    if absent:
        context.log.info(
            f"Due in `{due.environment}` but not assets of this code location (not run): "
            f"{_names(absent)}."
        )
    if changed:
        return dg.SkipReason(
            f"{len(changed)} due model(s) differ from what `{due.environment}` holds "
            f"({_names(changed)}): apply the deployed code with `sqlmesh plan {due.environment}`, "
            "then the next tick runs them."
        )
    if not launch and not audit_nodes:
        return dg.SkipReason(
            f"Nothing due is an asset of this code location ({len(absent)} due elsewhere)."
        )
    summary = ", ".join(
        f"{_display(name)} (through {due.due[name]})" for name in [*launch, *audit_nodes]
    )
    context.log.info(f"Due in `{due.environment}`: {summary}.")
    return dg.SensorResult(
        run_requests=[run_request(launch, audit_nodes, keys_by_model, check_specs)]
    )


def run_request(
    models: Sequence[str],
    audit_nodes: Sequence[str],
    keys_by_model: Mapping[str, dg.AssetKey],
    check_specs: Sequence[dg.AssetCheckSpec],
) -> dg.RunRequest:
    """One run of the due models, with the checks of the due audit nodes."""
    checks_by_node = audit_node_checks(check_specs)
    model_keys = set(keys_by_model.values())
    selection = {keys_by_model[name] for name in models}
    node_checks = [spec for name in audit_nodes for spec in checks_by_node[name]]
    selection |= {spec.asset_key for spec in node_checks if spec.asset_key in model_keys}
    # Checks on external assets are never among a selection's default checks: name them all.
    extra = [spec.key for spec in node_checks if spec.asset_key not in selection]
    return dg.RunRequest(
        asset_selection=sorted(selection, key=lambda key: key.to_user_string()),
        # None: the selected assets' own checks, as Dagster selects them by default.
        asset_check_keys=None
        if not extra
        else [*(spec.key for spec in check_specs if spec.asset_key in selection), *extra],
        tags={TAG_DUE_MODELS: str(len(models))},
    )


def audit_node_checks(
    check_specs: Sequence[dg.AssetCheckSpec],
) -> dict[str, list[dg.AssetCheckSpec]]:
    """The checks of SQLMesh's own audit nodes (standalone audits, external models), by name."""
    nodes: dict[str, list[dg.AssetCheckSpec]] = {}
    for spec in check_specs:
        if str(spec.metadata.get(METADATA_AUDITED_NODE, NODE_MODEL)) != NODE_MODEL:
            nodes.setdefault(str(spec.metadata[METADATA_MODEL_NAME]), []).append(spec)
    return nodes


def _run_in_flight(context: dg.SensorEvaluationContext, sensor_name: str) -> dg.DagsterRun | None:
    """A queued or running run this sensor launched, if any (one run at a time per sensor)."""
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:  # a context built without an instance
        return None
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={"dagster/sensor_name": sensor_name}, statuses=_IN_FLIGHT),
        limit=1,
    )
    return runs[0] if runs else None


def run_touching(
    instance: dg.DagsterInstance, asset_keys: Iterable[dg.AssetKey]
) -> dg.DagsterRun | None:
    """A queued or running run that materializes any of these assets, if any."""
    keys = set(asset_keys)
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=_IN_FLIGHT)):
        if run.asset_selection is None:
            if run.job_name.startswith("__ASSET_JOB"):
                return run  # the whole asset job
        elif keys.intersection(run.asset_selection):
            return run
    return None


def _names(names: Sequence[str]) -> str:
    shown = [_display(name) for name in names[:10]]
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    return ", ".join(shown) + more

"""Tests of your SQLMesh project: what the pull request's checks hold your own models to.

Like `dbt build` for a dbt project, they take whatever is in your SQLMesh project (loading.py says
how it is found) and ask SQLMesh what it would do, never a list of names or a count:

- every model SQLMesh would evaluate is exactly one Dagster asset, and every audit SQLMesh would run
  (audits of models and of external models, standalone audits; not skipped ones) exactly one check;
- the whole project materializes through Dagster on the `ci` gateway over a short date range, every
  blocking audit passes, Dagster reports materialized exactly the models SQLMesh filled, and a plain
  `sqlmesh run` over that range afterwards finds nothing to do.

They are yours: they change with your models without being edited. The integration's own tests, on
fixture projects of their own, are in `tests/integration/`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
import pytest
from sqlmesh.core.context import Context
from sqlmesh.core.snapshot import Snapshot
from sqlmesh.utils import CompletionStatus

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProject
from {{ cookiecutter.package_name }}.sqlmesh_integration.connection.context import open_context
from {{ cookiecutter.package_name }}.sqlmesh_integration.metadata import (
    METADATA_AUDIT_NAME,
    METADATA_AUDITED_NODE,
    METADATA_MODEL_NAME,
    NODE_MODEL,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.operations.doctor import diagnose, render

from ..support import step_failure_message
from .loading import LoadedProject

pytestmark = pytest.mark.slow

# How many of the latest partitions the run covers when the project's partitioned models share one
# partitioning (otherwise the run has no range: everything SQLMesh has due, as the sensor runs it).
RANGE_PARTITIONS = 3


@dataclass(frozen=True)
class Nodes:
    """SQLMesh nodes by their SQLMesh names, each counted as often as it appears."""

    models: Counter[str]  # materialized by SQLMesh (not external, not EMBEDDED)
    embedded: Counter[str]  # EMBEDDED models (no table, inlined where read); Dagster's side: every
    # asset it never materializes, external tables included
    audits: Counter[tuple[str, str]]  # (the audited node, the audit)


def sqlmesh_nodes(project: SQLMeshProject) -> Nodes:
    """What SQLMesh would evaluate and audit, from the project files."""
    context = open_context(project)
    try:
        models = dict(context.models)
        audits = Counter(
            (name, audit.name)
            for name, model in models.items()  # external models' audits included
            for audit, _ in model.audits_with_args
            if not audit.skip
        )
        audits.update(
            (audit.name, audit.name)
            for audit in context.standalone_audits.values()
            if not audit.skip
        )
        return Nodes(
            models=Counter(
                name
                for name, model in models.items()
                if not model.kind.is_external and not model.kind.is_embedded
            ),
            embedded=Counter(name for name, model in models.items() if model.kind.is_embedded),
            audits=audits,
        )
    finally:
        context.close()


def dagster_nodes(definitions: dg.Definitions) -> Nodes:
    """What the Dagster definitions show: executable assets, other assets, checks."""
    graph = definitions.resolve_asset_graph()
    executable: Counter[str] = Counter()
    shown: Counter[str] = Counter()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = node.metadata.get(METADATA_MODEL_NAME)
        if name is not None:
            (executable if node.is_executable else shown)[str(name)] += 1
    audits = Counter(
        (str(check.metadata[METADATA_MODEL_NAME]), str(check.metadata[METADATA_AUDIT_NAME]))
        for assets_def in graph.assets_defs
        for check in assets_def.check_specs
    )
    return Nodes(models=executable, embedded=shown, audits=audits)


def test_every_model_is_an_asset_and_every_audit_a_check(loaded_project: LoadedProject) -> None:
    expected = sqlmesh_nodes(loaded_project.project)
    shown = dagster_nodes(loaded_project.definitions)

    assert expected.models, "SQLMesh loads no model from the project"
    assert shown.models == expected.models, "each model SQLMesh evaluates: one executable asset"
    # Non-executable assets: EMBEDDED models (shown, never materialized) and external tables.
    assert expected.embedded - shown.embedded == Counter()
    assert shown.audits == expected.audits, "each audit SQLMesh runs: one check"


def test_the_whole_project_materializes_through_dagster(loaded_project: LoadedProject) -> None:
    definitions, project = loaded_project.definitions, loaded_project.project
    window = short_range(definitions)
    tags = (
        {
            "dagster/asset_partition_range_start": window[0],
            "dagster/asset_partition_range_end": window[1],
        }
        if window
        else {}
    )
    started = datetime.now(UTC)

    with dg.instance_for_test() as instance:
        result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, tags=tags, raise_on_error=False
        )

    evaluations = result.get_asset_check_evaluations()
    failed_blocking = sorted(
        f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}"
        for evaluation in evaluations
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    )
    assert failed_blocking == [], "blocking audits failed"
    assert result.success, step_failure_message(result)
    graph = definitions.resolve_asset_graph()
    materialized = {
        event.asset_key for event in result.get_asset_materialization_events() if event.asset_key
    }
    names = {str(graph.get(key).metadata[METADATA_MODEL_NAME]) for key in materialized}
    assert names == filled_models(project), "materialized in Dagster = filled by SQLMesh"
    # Every audit of a model SQLMesh evaluated reports a result on its asset.
    checked = {(evaluation.asset_key, evaluation.check_name) for evaluation in evaluations}
    unreported = sorted(
        f"{key.to_user_string()} {check.name}"
        for assets_def in graph.assets_defs
        for check in assets_def.check_specs
        for key in [check.asset_key]
        if key in materialized
        and check.metadata.get(METADATA_AUDITED_NODE, NODE_MODEL) == NODE_MODEL
        and (key, check.name) not in checked
    )
    assert unreported == []
    # Nothing left for SQLMesh itself over the run's range: a plain `sqlmesh run` fills nothing more
    # (intervals its signals hold back stay missing for both).
    if window is None:
        start, end = None, started
    else:
        partitions = next(iter(partitioned(definitions)))
        start = partitions.time_window_for_partition_key(window[0]).start
        end = partitions.time_window_for_partition_key(window[1]).end
    before = state_intervals(project)
    assert plain_sqlmesh_run(project, start, end) is not CompletionStatus.FAILURE
    after = state_intervals(project)
    assert sorted(name for name in after if after[name] != before.get(name)) == [], "left undone"


def test_doctor_is_clean(loaded_project: LoadedProject) -> None:
    """`sqlmesh-dagster doctor` finds no difference between SQLMesh's view and the definitions.

    Models, audits, what prod holds against the code, and work due that Dagster could not run.
    """
    diagnosis = diagnose(loaded_project.project, loaded_project.definitions, "prod")
    assert diagnosis.clean, render(diagnosis)


def partitioned(definitions: dg.Definitions) -> set[dg.TimeWindowPartitionsDefinition]:
    """The partitionings of the executable assets."""
    graph = definitions.resolve_asset_graph()
    found = set()
    for key in graph.executable_asset_keys:
        partitions_def = graph.get(key).partitions_def
        if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
            found.add(partitions_def)
    return found


def short_range(definitions: dg.Definitions) -> tuple[str, str] | None:
    """The first and last of the latest partitions, when every partitioned asset shares them.

    A run over a partition range is one `sqlmesh run` over that time range for every selected model
    (the unpartitioned ones too); models partitioned differently cannot share one range.
    """
    partitionings = partitioned(definitions)
    if len(partitionings) != 1:
        return None
    keys = next(iter(partitionings)).get_partition_keys()[-RANGE_PARTITIONS:]
    return (keys[0], keys[-1]) if keys else None


def filled_models(project: SQLMeshProject) -> set[str]:
    """The models with intervals in `prod`'s SQLMesh state (external models' audits aside)."""
    context = open_context(project, load=False)
    try:
        return {
            snapshot.name
            for snapshot in _prod_snapshots(context)
            if snapshot.is_model and not snapshot.model.kind.is_external and snapshot.intervals
        }
    finally:
        context.close()


def state_intervals(project: SQLMeshProject) -> dict[str, list[tuple[int, int]]]:
    """The intervals `prod`'s SQLMesh state records per node (models, audits), merged."""
    context = open_context(project, load=False)
    try:
        return {snapshot.name: list(snapshot.intervals) for snapshot in _prod_snapshots(context)}
    finally:
        context.close()


def _prod_snapshots(context: Context) -> list[Snapshot]:
    environment = context.state_reader.get_environment("prod")
    assert environment is not None, "the project was never applied to prod"
    return list(context.state_reader.get_snapshots(environment.snapshots).values())


def plain_sqlmesh_run(
    project: SQLMeshProject, start: datetime | None, end: datetime
) -> CompletionStatus:
    """`sqlmesh run prod` over [start, end), as due at `end`: what SQLMesh still finds to do."""
    context = open_context(project, load=False)
    try:
        return context.run("prod", start=start, end=end, execution_time=end, skip_janitor=True)
    finally:
        context.close()

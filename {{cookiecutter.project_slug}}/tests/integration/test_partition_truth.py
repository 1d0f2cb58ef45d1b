"""Partition status stays exact on long histories: Dagster's materialized partitions are SQLMesh's.

Each partitioned model's partitions that the Dagster instance holds as materialized are compared
with the days SQLMesh state records as filled, after a long fill (a year of days in batches), a
restatement of a range, and a run that fails half way through a model's batches. Real SQLMesh on
DuckDB, real Dagster runs on a persistent instance (`tests/fixtures/long_history/`). Partitions are
written to Dagster in batches (`event_writes.py`); these tests prove no batch is lost or invented.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    SQLMeshProject,
    partition_keys,
    sqlmesh_definitions,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.metadata import (
    METADATA_INTERVAL_END,
    METADATA_PARTITION_INTERVAL,
    TAG_RESTATE,
)

from ..support import SampleProject, launch, prepared_manifest, prod_snapshots

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "long_history"
EVENTS, TOTALS = "history/events", "history/totals"


@pytest.fixture(scope="module")
def _applied_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture project applied once (skip_backfill), manifest prepared."""
    root = tmp_path_factory.mktemp("long_history")
    shutil.copytree(FIXTURE, root / "sqlmesh_project")
    history = _history_in(root)
    history.plan()
    prepared_manifest(history.project)
    return root


@pytest.fixture
def history(_applied_history: Path, tmp_path: Path) -> SampleProject:
    """A copy of the applied fixture project with nothing filled yet."""
    root = tmp_path / "history"
    shutil.copytree(_applied_history, root, ignore=shutil.ignore_patterns("*.lock", "logs"))
    return _history_in(root)


def _history_in(root: Path) -> SampleProject:
    project = SQLMeshProject(root / "sqlmesh_project", gateway="local", working_dir=root)
    return SampleProject(root=root, project=project)


def sqlmesh_partitions(history: SampleProject) -> dict[str, set[str]]:
    """Per partitioned model (`history/<name>` keys): the days SQLMesh state holds as filled."""
    definitions = sqlmesh_definitions(history.project, manifest=prepared_manifest(history.project))
    (assets,) = [a for a in definitions.assets or [] if isinstance(a, dg.AssetsDefinition)]
    intervals = {snapshot.name: snapshot.intervals for snapshot in prod_snapshots(history.project)}
    filled: dict[str, set[str]] = {}
    for key, spec in assets.specs_by_key.items():
        partitions_def = spec.partitions_def
        if not isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
            continue
        name = str(spec.metadata["sqlmesh/model_name"])
        filled[key.to_user_string()] = {
            partition
            for start, end in intervals.get(name, [])
            for partition in partition_keys(partitions_def, start, end)
        }
    return filled


def dagster_partitions(instance: dg.DagsterInstance, keys: Sequence[str]) -> dict[str, set[str]]:
    """Per asset: the partitions the Dagster instance holds as materialized."""
    return {
        key: set(instance.get_materialized_partitions(dg.AssetKey.from_user_string(key)))
        for key in keys
    }


def assert_partitions_match(history: SampleProject, instance: dg.DagsterInstance) -> None:
    filled = sqlmesh_partitions(history)
    assert set(filled) == {EVENTS, TOTALS}
    assert dagster_partitions(instance, sorted(filled)) == filled


def test_a_long_fill_materializes_exactly_the_filled_days_with_small_partition_metadata(
    history: SampleProject, instance: dg.DagsterInstance
) -> None:
    result = launch(history, instance, [EVENTS, TOTALS])

    assert result.success
    filled = sqlmesh_partitions(history)
    assert len(filled[EVENTS]) == 365  # 2025, in SQLMesh batches of 120 and 30 days
    assert filled[TOTALS] == filled[EVENTS]
    assert_partitions_match(history, instance)
    # One event per partition, each with its own interval; the run's metadata only on the latest.
    events = [
        event.step_materialization_data.materialization
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey.from_user_string(TOTALS)
    ]
    assert sorted(str(event.partition) for event in events) == sorted(filled[TOTALS])
    assert all(METADATA_PARTITION_INTERVAL in event.metadata for event in events)
    with_run_metadata = [event for event in events if METADATA_INTERVAL_END in event.metadata]
    assert [event.partition for event in with_run_metadata] == [events[-1].partition]
    latest = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(TOTALS))
    assert latest is not None and latest.asset_materialization is not None
    assert METADATA_INTERVAL_END in latest.asset_materialization.metadata


def test_a_restatement_keeps_the_partitions_exact(
    history: SampleProject, instance: dg.DagsterInstance
) -> None:
    assert launch(history, instance, [EVENTS, TOTALS]).success

    result = launch(
        history,
        instance,
        [EVENTS, TOTALS],
        partition_range=("2025-03-01", "2025-03-10"),
        tags={TAG_RESTATE: "true"},
    )

    assert result.success
    restated = {
        str(event.step_materialization_data.materialization.partition)
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey.from_user_string(EVENTS)
    }
    assert restated == {f"2025-03-{day:02d}" for day in range(1, 11)}
    assert_partitions_match(history, instance)


def test_a_run_that_fails_half_way_reports_the_batches_sqlmesh_kept(
    history: SampleProject, instance: dg.DagsterInstance
) -> None:
    assert launch(history, instance, [EVENTS]).success
    (table,) = [
        f"sqlmesh__history.{row[0]}"
        for row in history.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "'sqlmesh__history' AND table_name LIKE 'history__events__%'"
        )
        if not str(row[0]).endswith("__dev")
    ]
    history.execute(f"UPDATE {table} SET label = 'not a number' WHERE ds = DATE '2025-06-15'")

    # Both selected: Dagster 1.13 refuses a run without a partition range whose only asset has a
    # partitioned parent outside the run. The parent is up to date: nothing runs for it.
    result = launch(history, instance, [EVENTS, TOTALS])

    assert not result.success
    # The parent had nothing due, and its latest materialization already says how far it is
    # filled: no observation is stored for it again (the run's log says it).
    assert result.get_asset_observation_events() == []
    filled = sqlmesh_partitions(history)
    # SQLMesh kept the batches before the one that failed (and any it ran after it).
    assert filled[TOTALS]
    assert "2025-06-15" not in filled[TOTALS]
    assert filled[TOTALS] < filled[EVENTS]
    assert_partitions_match(history, instance)

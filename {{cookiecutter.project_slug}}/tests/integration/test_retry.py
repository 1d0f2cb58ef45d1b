"""Retry from failure: a failed run re-executed as the UI's "Re-execute → From failure" does.

A real model fails in a real run (`dg launch --job __ASSET_JOB`'s path: the code location, the
in-process executor, a persistent instance): the ingestion job changed `raw.exchange_rates`'s rate
column to text, so `marts.orders` cannot multiply by it, and SQLMesh skips the two marts that read
`marts.orders`. The data is fixed, and the failed run is re-executed from failure
(`ReexecutionOptions.from_failure`: its failed step again, with the same selection). The retry
succeeds, SQLMesh fills exactly what was missing and nothing else, and Dagster reports exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import pytest

from ..support import SampleProject, prod_snapshots, short_name
from .code_location import code_location, launch, step_failure

pytestmark = pytest.mark.slow

MARTS = {"marts.orders", "marts.daily_revenue", "marts.customers"}


@dataclass(frozen=True)
class Filled:
    """What SQLMesh's state records for one model in prod."""

    intervals: tuple[tuple[int, int], ...]
    last_written_ms: int | None  # when SQLMesh last wrote the model's table


def filled(sample: SampleProject) -> dict[str, Filled]:
    """Per model (`schema.table`), from SQLMesh state: filled intervals and last write."""
    return {
        short_name(snapshot.name): Filled(
            tuple((int(start), int(end)) for start, end in snapshot.intervals),
            snapshot.last_altered_ts,
        )
        for snapshot in prod_snapshots(sample.project)
        if snapshot.is_model
    }


def covered(window: dg.TimeWindow, intervals: tuple[tuple[int, int], ...]) -> bool:
    start, end = (int(moment.timestamp() * 1000) for moment in (window.start, window.end))
    return any(low <= start and end <= high for low, high in intervals)


def filled_as_dagster(
    repository: dg.RepositoryDefinition, state: dict[str, Filled]
) -> set[tuple[str, str | None]]:
    """What SQLMesh's state says is filled, in Dagster's terms: (asset, partition or None)."""
    graph = repository.asset_graph
    result: set[tuple[str, str | None]] = set()
    for model, record in state.items():
        key = dg.AssetKey(model.split("."))
        if not graph.has(key) or not graph.get(key).is_materializable or not record.intervals:
            continue  # external tables: audited, never materialized
        partitions = graph.get(key).partitions_def
        if partitions is None:
            result.add((key.to_user_string(), None))
            continue
        assert isinstance(partitions, dg.TimeWindowPartitionsDefinition)
        result |= {
            (key.to_user_string(), partition)
            for partition in partitions.get_partition_keys()
            if covered(partitions.time_window_for_partition_key(partition), record.intervals)
        }
    return result


def materialized(instance: dg.DagsterInstance, run_id: str) -> set[tuple[str, str | None]]:
    """The run's materializations, as the instance stored them: (asset, partition or None)."""
    found = set()
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        event = record.dagster_event
        assert event is not None and event.asset_key is not None
        found.add((event.asset_key.to_user_string(), event.partition))
    return found


def observed(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    return {
        record.dagster_event.asset_key.to_user_string()
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION)
        if record.dagster_event is not None and record.dagster_event.asset_key is not None
    }


def test_retry_from_failure_fills_only_what_was_missing(
    applied_sample: SampleProject, instance: dg.DagsterInstance
) -> None:
    sample = applied_sample
    location = code_location(sample)
    repository = location.get_definition()
    assert isinstance(repository, dg.RepositoryDefinition)
    # The ingestion job now lands the rates as text: `marts.orders` fails on them.
    sample.execute("ALTER TABLE raw.exchange_rates ALTER usd_per_unit TYPE VARCHAR")

    failed = launch(location, instance, "__ASSET_JOB")

    assert not failed.success
    missing = set(sample.missing_intervals())
    assert missing == MARTS, missing
    before = filled(sample)
    assert materialized(instance, failed.run_id) == filled_as_dagster(repository, before)
    # The step's failure names the failed model and the ones SQLMesh skipped.
    _, metadata = step_failure(instance, failed.run_id)
    assert metadata["sqlmesh/failed_models"] == ["marts.orders"]
    assert set(metadata["sqlmesh/skipped_models"]) == {"marts.daily_revenue", "marts.customers"}

    sample.execute("ALTER TABLE raw.exchange_rates ALTER usd_per_unit TYPE DECIMAL(12, 6)")
    retry = launch(
        location,
        instance,
        "__ASSET_JOB",
        reexecution_options=dg.ReexecutionOptions.from_failure(failed.run_id, instance),
    )

    assert retry.success
    retry_run = instance.get_run_by_id(retry.run_id)
    assert retry_run is not None and retry_run.parent_run_id == failed.run_id
    assert retry_run.step_keys_to_execute == ["sqlmesh_models"]
    after = filled(sample)
    # SQLMesh ran only what was missing: the other models' tables were not written again.
    changed = {model for model in after if after[model] != before[model]}
    assert changed == missing, changed
    assert sample.missing_intervals() == {}
    # Dagster reported exactly what SQLMesh filled in the retry, and the others as up to date.
    filled_in_retry = filled_as_dagster(repository, after) - filled_as_dagster(repository, before)
    assert materialized(instance, retry.run_id) == filled_in_retry
    assert {asset for asset, _ in filled_in_retry} == {model.replace(".", "/") for model in MARTS}
    # The others were up to date: observed so in the retry, or not stored again when their
    # latest event (the failed run's materialization) already said the same (nothing new).
    up_to_date = {asset for asset, _ in filled_as_dagster(repository, before)}
    assert observed(instance, retry.run_id) <= up_to_date
    for asset in up_to_date - observed(instance, retry.run_id):
        latest = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(asset))
        assert latest is not None and latest.run_id == failed.run_id, asset
    # The assets' status now matches SQLMesh's state.
    for asset, partitions in _by_asset(filled_as_dagster(repository, after)).items():
        key = dg.AssetKey.from_user_string(asset)
        if partitions == {None}:
            assert instance.get_latest_materialization_event(key) is not None, asset
        else:
            assert instance.get_materialized_partitions(key) == partitions, asset


def _by_asset(pairs: set[tuple[str, str | None]]) -> dict[str, set[str | None]]:
    grouped: dict[str, set[str | None]] = {}
    for asset, partition in pairs:
        grouped.setdefault(asset, set()).add(partition)
    return grouped

"""Partitions from SQLMesh intervals.

The unit tests map hand-written models to partitions. The end-to-end tests (marked `slow`) run real
SQLMesh on DuckDB and runs on a persistent Dagster instance, and read the outcomes from SQLMesh
state, the DuckDB tables and the instance's events. Each starts from the sample applied with
`skip_backfill` (copied from one applied per session), so every interval a test finds was filled
by its runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    SQLMeshAssetProps,
    SQLMeshTranslator,
    sqlmesh_definitions,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.manifest import SQLMeshModel
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.partitions import (
    partition_interval,
    partition_keys,
    partitions_definition,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.specs import build_specs
from {{ cookiecutter.package_name }}.sqlmesh_integration.metadata import TAG_RESTATE

from ..support import (
    SampleProject,
    launch,
    prepared_manifest,
    prod_snapshots,
    step_failure_message,
)
from .test_translator import manifest as one_model_manifest

JAN_1 = 1_704_067_200_000  # 2024-01-01 00:00 UTC, epoch milliseconds
HOUR = 3_600_000
DAY = 24 * HOUR

ORDERS = "marts/orders"
UPSTREAM = [
    "seeds/raw_orders",
    "seeds/raw_payments",
    "seeds/raw_customers",
    "staging/stg_orders",
    "staging/stg_payments",
    "staging/stg_customers",
    "staging/stg_exchange_rates",
]


def partitions_of(sample: SampleProject, key: str) -> dg.PartitionsDefinition:
    """The partitions Dagster gives an asset: every interval of its model, start to end."""
    definitions = sqlmesh_definitions(sample.project, manifest=prepared_manifest(sample.project))
    node = definitions.resolve_asset_graph().get(dg.AssetKey.from_user_string(key))
    assert node.partitions_def is not None, key
    return node.partitions_def


def reported(result: dg.ExecuteInProcessResult) -> dict[str, list[str | None]]:
    """The run's materializations: asset key → the partitions reported (None: no partition)."""
    found: dict[str, list[str | None]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        found.setdefault(materialization.asset_key.to_user_string(), []).append(
            materialization.partition
        )
    return found


def filled_days(sample: SampleProject, model: str) -> list[str]:
    """The days SQLMesh state records as filled for a model (`schema.table`) in prod."""
    snapshot = _snapshot(sample, model)
    days = []
    for start, end in snapshot.intervals:
        day = datetime.fromtimestamp(start / 1000, tz=UTC)
        while day.timestamp() * 1000 < end:
            days.append(day.strftime("%Y-%m-%d"))
            day += timedelta(days=1)
    return sorted(days)


def _snapshot(sample: SampleProject, model: str) -> Any:
    snapshots = prod_snapshots(sample.project)
    (snapshot,) = [s for s in snapshots if s.name.replace('"', "").endswith(model)]
    return snapshot


def order_rows(sample: SampleProject, day: str) -> int:
    rows = sample.query(f"SELECT count(*) FROM marts.orders WHERE order_date = DATE '{day}'")
    return int(str(rows[0][0]))


def model(
    kind: str = "INCREMENTAL_BY_TIME_RANGE", unit: str = "day", **fields: object
) -> SQLMeshModel:
    return SQLMeshModel(
        name='"db"."marts"."orders"',
        catalog="db",
        schema="marts",
        table="orders",
        kind=kind,
        dialect="duckdb",
        cron="@daily",
        interval_unit=unit,
        partition_start="2024-01-01T00:00:00+00:00",
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("unit", "cron", "first_key"),
    [
        ("five_minute", "*/5 * * * *", "2024-01-01-00:00"),
        ("quarter_hour", "*/15 * * * *", "2024-01-01-00:00"),
        ("half_hour", "*/30 * * * *", "2024-01-01-00:00"),
        ("hour", "0 * * * *", "2024-01-01-00:00"),
        ("day", "0 0 * * *", "2024-01-01"),
        ("month", "0 0 1 * *", "2024-01-01"),
        ("year", "0 0 1 1 *", "2024"),
    ],
)
def test_each_interval_unit_is_a_utc_time_window_from_the_start(
    unit: str, cron: str, first_key: str
) -> None:
    partitions = partitions_definition(model(unit=unit))

    assert partitions is not None
    assert (partitions.cron_schedule, partitions.timezone) == (cron, "UTC")
    assert partitions.get_first_partition_key() == first_key


@pytest.mark.parametrize(
    "kind",
    [
        "FULL", "VIEW", "SEED", "EMBEDDED", "CUSTOM", "INCREMENTAL_BY_UNIQUE_KEY",
        "INCREMENTAL_BY_PARTITION", "INCREMENTAL_UNMANAGED", "SCD_TYPE_2", "SCD_TYPE_2_BY_COLUMN",
    ],
)  # fmt: skip
def test_kinds_not_filled_interval_by_interval_are_unpartitioned(kind: str) -> None:
    assert partitions_definition(model(kind=kind)) is None


def test_intervals_and_partition_keys_convert_both_ways() -> None:
    daily = model()

    assert partition_keys(daily, JAN_1 + DAY, JAN_1 + 4 * DAY) == [
        "2024-01-02",
        "2024-01-03",
        "2024-01-04",
    ]
    assert partition_interval(daily, "2024-01-02", "2024-01-04") == (JAN_1 + DAY, JAN_1 + 4 * DAY)
    # A partial interval (`allow_partials`) holds no whole partition, nor does one before the start.
    assert partition_keys(daily, JAN_1 + DAY, JAN_1 + DAY + 5 * HOUR) == []
    assert partition_keys(daily, JAN_1 - 3 * DAY, JAN_1 + DAY) == ["2024-01-01"]
    assert partition_keys(model(kind="FULL"), JAN_1, JAN_1 + DAY) == []
    hourly = model(unit="hour")
    assert partition_keys(hourly, JAN_1 + HOUR, JAN_1 + 3 * HOUR) == [
        "2024-01-01-01:00",
        "2024-01-01-02:00",
    ]


def test_the_translator_can_partition_a_model_or_not() -> None:
    class Unpartitioned(SQLMeshTranslator):
        def get_partitions_def(self, props: SQLMeshAssetProps) -> dg.PartitionsDefinition | None:
            return None

    incremental = model()
    manifest = one_model_manifest(incremental)
    specs = build_specs(manifest, SQLMeshTranslator(), Path("/project"))
    assert specs.assets[0].partitions_def == partitions_definition(incremental)
    assert build_specs(manifest, Unpartitioned(), Path("/project")).assets[0].partitions_def is None


@pytest.mark.slow
def test_the_daily_incremental_marts_are_partitioned_by_day_from_their_start(
    applied_sample: SampleProject,
) -> None:
    definitions = sqlmesh_definitions(applied_sample.project)
    graph = definitions.resolve_asset_graph()

    orders = graph.get(dg.AssetKey.from_user_string(ORDERS)).partitions_def
    assert isinstance(orders, dg.TimeWindowPartitionsDefinition)
    assert orders.get_first_partition_key() == "2024-01-01"
    assert orders.timezone == "UTC" and orders.cron_schedule == "0 0 * * *"
    assert graph.get(dg.AssetKey.from_user_string("marts/daily_revenue")).partitions_def == orders
    for unpartitioned in ("marts/customers", "staging/stg_orders", "seeds/raw_orders"):
        assert graph.get(dg.AssetKey.from_user_string(unpartitioned)).partitions_def is None


@pytest.mark.slow
def test_a_range_backfill_fills_exactly_its_days_and_reports_exactly_those_partitions(
    applied_sample: SampleProject, instance: dg.DagsterInstance
) -> None:
    sample = applied_sample

    result = launch(sample, instance, [ORDERS], ("2024-01-02", "2024-01-04"))

    assert result.success
    days = ["2024-01-02", "2024-01-03", "2024-01-04"]
    assert filled_days(sample, "marts.orders") == days
    assert reported(result) == {ORDERS: days}
    assert instance.get_materialized_partitions(dg.AssetKey.from_user_string(ORDERS)) == set(days)
    checks = {event.check_name for event in result.get_asset_check_evaluations()}
    assert "unique_values" in checks  # the audits ran over the range, reported as checks

    # A range that mixes filled and missing days fills (and reports) only the missing ones.
    result = launch(sample, instance, [ORDERS], ("2024-01-01", "2024-01-06"))

    assert result.success
    assert reported(result) == {ORDERS: ["2024-01-01", "2024-01-05", "2024-01-06"]}
    assert filled_days(sample, "marts.orders") == [f"2024-01-0{day}" for day in range(1, 7)]


@pytest.mark.slow
def test_a_filled_partition_is_recomputed_only_on_request(
    applied_sample: SampleProject, instance: dg.DagsterInstance
) -> None:
    sample = applied_sample
    assert launch(sample, instance, UPSTREAM).success
    assert launch(sample, instance, [ORDERS], ("2024-01-02", "2024-01-04")).success
    assert order_rows(sample, "2024-01-03") == 1
    raw_orders = _snapshot(sample, "seeds.raw_orders").table_name()
    sample.execute(f"DELETE FROM {raw_orders} WHERE order_id = 1002")  # the source changed

    result = launch(sample, instance, [ORDERS], ("2024-01-03", "2024-01-03"))

    assert result.success
    assert reported(result) == {}
    assert order_rows(sample, "2024-01-03") == 1  # nothing recomputed
    (observation,) = result.get_asset_observation_events()
    assert "recomputed only on request" in str(
        observation.asset_observation_data.asset_observation.description
    )

    result = launch(
        sample,
        instance,
        [ORDERS],
        ("2024-01-03", "2024-01-03"),
        tags={TAG_RESTATE: "true", "dagster/user": "analyst@example.com"},
    )

    assert result.success
    assert order_rows(sample, "2024-01-03") == 0  # recomputed from the changed source
    assert order_rows(sample, "2024-01-02") == 1  # outside the range: untouched
    found = reported(result)
    assert found[ORDERS] == ["2024-01-03"]
    # SQLMesh cascades a restatement downstream; Dagster reports what SQLMesh recomputed there.
    assert found["marts/daily_revenue"] == ["2024-01-03"]
    assert found["marts/customers"] == [None]
    assert filled_days(sample, "marts.orders") == ["2024-01-02", "2024-01-03", "2024-01-04"]


@pytest.mark.slow
def test_a_restatement_without_a_range_or_with_a_bad_tag_is_refused(
    applied_sample: SampleProject, instance: dg.DagsterInstance
) -> None:
    sample = applied_sample

    result = launch(sample, instance, [ORDERS], tags={TAG_RESTATE: "true"})

    assert not result.success
    assert "needs a partition range" in step_failure_message(result)
    assert filled_days(sample, "marts.orders") == []

    result = launch(sample, instance, [ORDERS], ("2024-01-03", "2024-01-03"), {TAG_RESTATE: "yes"})

    assert not result.success
    assert "set it to `true`" in step_failure_message(result)


@pytest.mark.slow
def test_an_unpartitioned_downstream_model_in_a_partitioned_run_is_reported_once(
    applied_sample: SampleProject, instance: dg.DagsterInstance
) -> None:
    sample = applied_sample
    assert launch(sample, instance, UPSTREAM).success

    result = launch(sample, instance, [ORDERS, "marts/customers"], ("2024-01-02", "2024-01-03"))

    assert result.success
    assert reported(result) == {ORDERS: ["2024-01-02", "2024-01-03"], "marts/customers": [None]}
    assert filled_days(sample, "marts.customers") == ["2024-01-02", "2024-01-03"]
    assert sample.query("SELECT count(*) FROM marts.customers")[0][0] > 0


@pytest.mark.slow
def test_a_run_without_a_range_reports_every_partition_sqlmesh_filled(
    applied_sample: SampleProject, instance: dg.DagsterInstance
) -> None:
    sample = applied_sample
    assert launch(sample, instance, [ORDERS], ("2024-01-02", "2024-01-02")).success

    result = launch(sample, instance, [*UPSTREAM, ORDERS])  # what the due sensor and CI launch

    assert result.success
    days = filled_days(sample, "marts.orders")
    assert set(days) == set(partitions_of(sample, ORDERS).get_partition_keys())  # all of them
    assert sorted(reported(result)[ORDERS]) == [day for day in days if day != "2024-01-02"]
    materialized = instance.get_materialized_partitions(dg.AssetKey.from_user_string(ORDERS))
    assert materialized == set(days)

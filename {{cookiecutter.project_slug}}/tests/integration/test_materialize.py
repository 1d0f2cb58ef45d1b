"""End to end: real SQLMesh on real DuckDB, real Dagster execution, outcomes checked in SQLMesh
state and tables.

The sample project is applied with `skip_backfill` (the plan applies code, Dagster's run computes
data), so each test sees exactly what the Dagster run made SQLMesh do.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    SQLMeshAssetProps,
    SQLMeshProject,
    SQLMeshTranslator,
    sqlmesh_definitions,
)

from ..support import (
    SampleProject,
    check_results,
    failure_models,
    materialized_keys,
    observed_keys,
    prepared_manifest,
    prod_snapshots,
    short_name,
    step_failure_message,
)

pytestmark = pytest.mark.slow

ALL_MODELS = {
    "seeds/raw_customers",
    "seeds/raw_orders",
    "seeds/raw_payments",
    "staging/stg_customers",
    "staging/stg_exchange_rates",
    "staging/stg_orders",
    "staging/stg_payments",
    "marts/orders",
    "marts/daily_revenue",
    "marts/customers",
}
MARTS = {"marts.orders", "marts.daily_revenue", "marts.customers"}


def test_full_run_materializes_every_model_and_fills_every_interval(
    applied_sample: SampleProject,
) -> None:
    """Exactly the models: the external source (`raw/exchange_rates`) is never materialized."""
    sample = applied_sample
    assert sample.missing_intervals().keys() >= MARTS

    result = sample.materialize()

    assert result.success
    assert materialized_keys(result) == ALL_MODELS
    assert sample.missing_intervals() == {}
    assert sample.query("SELECT count(*) FROM marts.customers")[0][0] > 0
    assert sample.query("SELECT count(*) FROM marts.orders")[0][0] > 0
    checks = check_results(result)
    assert checks, "audits must be reported as asset checks"
    assert all(evaluation.passed for evaluation in checks.values())
    assert ("marts/orders", "unique_values") in checks
    # The external source's audit (external_models.yaml) ran in the same `sqlmesh run`.
    assert checks[("raw/exchange_rates", "not_null")].passed
    # The metadata names what SQLMesh state holds: the table SQLMesh wrote, and (from empty, one
    # run filled them all) every interval it recorded.
    # A partitioned model carries the run's metadata on its last partition only (the one Dagster
    # shows as the latest materialization); each partition keeps its own interval.
    snapshots = prod_snapshots_by_key(sample)
    latest: dict[str, dg.AssetMaterialization] = {}
    for materialization in result.asset_materializations_for_node("sqlmesh_models"):
        latest[materialization.asset_key.to_user_string()] = materialization
    assert latest.keys() == ALL_MODELS
    for key, materialization in latest.items():
        snapshot = snapshots[key]
        metadata = materialization.metadata
        assert metadata["sqlmesh/physical_table"].value == snapshot.table_name()
        if materialization.partition is None:
            assert intervals_of(metadata["sqlmesh/intervals"].value) == [
                (start, end) for start, end in snapshot.intervals
            ]


def prod_snapshots_by_key(sample: SampleProject) -> dict[str, Any]:
    """SQLMesh's snapshots in prod, by asset key (`marts/orders`)."""
    return {
        short_name(snapshot.name).replace(".", "/"): snapshot
        for snapshot in prod_snapshots(sample.project)
    }


def intervals_of(text: str) -> list[tuple[int, int]]:
    """The `sqlmesh/intervals` metadata (`<start> to <end>` per line, UTC) in epoch milliseconds."""

    def millis(moment: str) -> int:
        parsed = datetime.strptime(moment, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1000)

    return [
        (millis(start), millis(end))
        for start, end in (line.split(" to ") for line in text.splitlines())
    ]


def test_interval_count_counts_intervals_not_batches(applied_sample: SampleProject) -> None:
    sample = applied_sample

    result = sample.materialize(["marts/orders"])

    assert result.success
    # One materialization per partition; the model's run metadata is on the last one.
    metadata = result.asset_materializations_for_node("sqlmesh_models")[-1].metadata
    days = sample.intervals()["marts.orders"]
    assert days > 1
    assert metadata["sqlmesh/interval_count"].value == days
    assert metadata["sqlmesh/batch_count"].value == 1


def test_checks_alone_audit_the_filled_intervals_without_running(
    applied_sample: SampleProject,
) -> None:
    sample = applied_sample
    assert sample.materialize().success
    before = sample.intervals()
    sample.execute("INSERT INTO raw.exchange_rates SELECT * FROM raw.exchange_rates")

    result = sample.run_checks()

    assert not result.success  # a failed blocking check fails its step, as in any Dagster run
    assert materialized_keys(result) == set()
    assert sample.intervals() == before
    checks = check_results(result)
    definitions = sqlmesh_definitions(sample.project, manifest=prepared_manifest(sample.project))
    every_check = definitions.resolve_asset_graph().asset_check_keys
    assert set(checks) == {(key.asset_key.to_user_string(), key.name) for key in every_check}
    assert all(
        evaluation.passed
        for (key, _), evaluation in checks.items()
        if key != "staging/stg_exchange_rates"
    )
    unique = checks[("staging/stg_exchange_rates", "unique_combination_of_columns")]
    assert not unique.passed  # the audit read today's data, without rebuilding anything
    assert unique.severity.value == "ERROR"


def test_subset_runs_only_the_selected_models(applied_sample: SampleProject) -> None:
    sample = applied_sample
    before = sample.intervals()

    result = sample.materialize(["seeds/raw_orders", "staging/stg_orders"])

    assert result.success
    assert materialized_keys(result) == {"seeds/raw_orders", "staging/stg_orders"}
    after = sample.intervals()
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {"seeds.raw_orders", "staging.stg_orders"}


def test_nothing_due_reports_no_materialization(applied_sample: SampleProject) -> None:
    sample = applied_sample
    assert sample.materialize().success
    before = sample.intervals()

    result = sample.materialize()

    assert result.success
    assert materialized_keys(result) == set()
    assert observed_keys(result) == ALL_MODELS
    assert check_results(result) == {}
    assert sample.intervals() == before


def test_sql_error_mid_graph_reports_upstream_only_and_rerun_heals(sample: SampleProject) -> None:
    orders = sample.models_dir / "marts" / "orders.sql"
    original = orders.read_text()
    head, _, tail = original.rpartition("SELECT")  # the outer query: a CTE column could be pruned
    broken = (
        f"{head}SELECT\n  CAST('not a number' AS INT) AS broken_column, -- Broken on purpose.{tail}"
    )
    assert broken != original
    orders.write_text(broken)
    sample.plan(skip_tests=True)

    result = sample.materialize()

    assert not result.success
    message = step_failure_message(result)
    assert "marts.orders" in message and "Conversion" in message
    assert "marts.customers" in message and "marts.daily_revenue" in message  # skipped downstream
    assert failure_models(result) == (["marts.orders"], ["marts.customers", "marts.daily_revenue"])
    assert materialized_keys(result) == ALL_MODELS - {
        "marts/orders",
        "marts/daily_revenue",
        "marts/customers",
    }
    intervals = sample.intervals()
    assert intervals["marts.orders"] == 0
    assert intervals["marts.customers"] == 0

    orders.write_text(original)
    sample.plan()
    healed = sample.materialize()

    assert healed.success
    assert materialized_keys(healed) == {"marts/orders", "marts/daily_revenue", "marts/customers"}
    assert sample.missing_intervals() == {}


def test_blocking_audit_failure_stops_the_model_and_its_downstream(
    applied_sample: SampleProject,
) -> None:
    sample = applied_sample
    assert sample.materialize(
        ["seeds/raw_orders", "seeds/raw_payments", "seeds/raw_customers"]
    ).success
    # The ingestion job lands every exchange rate twice: the staging model's blocking
    # `unique_combination_of_columns` audit fails, and nothing downstream of it may run.
    sample.execute("INSERT INTO raw.exchange_rates SELECT * FROM raw.exchange_rates")

    result = sample.materialize()

    assert not result.success
    message = step_failure_message(result)
    assert "staging.stg_exchange_rates" in message and "blocking audit" in message
    materialized = materialized_keys(result)
    assert "staging/stg_exchange_rates" not in materialized
    assert not materialized & {"marts/orders", "marts/daily_revenue", "marts/customers"}
    assert {"staging/stg_orders", "staging/stg_payments"} <= materialized
    unique = check_results(result)[("staging/stg_exchange_rates", "unique_combination_of_columns")]
    assert not unique.passed
    assert unique.severity.value == "ERROR"
    intervals = sample.intervals()
    assert intervals["staging.stg_exchange_rates"] == 0
    assert intervals["marts.orders"] == 0

    sample.execute(
        "CREATE OR REPLACE TABLE raw.exchange_rates AS SELECT DISTINCT * FROM raw.exchange_rates"
    )
    healed = sample.materialize()

    assert healed.success
    assert {"staging/stg_exchange_rates", "marts/orders", "marts/customers"} <= materialized_keys(
        healed
    )
    assert sample.missing_intervals() == {}
    assert sample.query("SELECT count(*) FROM marts.orders") == [(60,)]


def test_non_blocking_audit_failure_warns_and_still_materializes(sample: SampleProject) -> None:
    customers_seed = sample.project.project_dir / "seeds" / "raw_customers.csv"
    lines = customers_seed.read_text().splitlines()
    header = lines[0].split(",")
    email_index = header.index("email")
    first = lines[1].split(",")
    first[email_index] = "not-an-email"
    lines[1] = ",".join(first)
    customers_seed.write_text("\n".join(lines) + "\n")
    sample.plan()

    result = sample.materialize()

    assert result.success
    assert "marts/customers" in materialized_keys(result)
    checks = check_results(result)
    email_check = next(
        evaluation
        for (key, name), evaluation in checks.items()
        if key == "marts/customers" and name.endswith("non_blocking")
    )
    assert not email_check.passed
    assert email_check.severity.value == "WARN"
    assert checks[("marts/customers", "unique_values")].passed
    assert sample.missing_intervals() == {}


def test_code_changed_but_not_applied_refuses_to_run(applied_sample: SampleProject) -> None:
    sample = applied_sample
    customers = sample.models_dir / "marts" / "customers.sql"
    customers.write_text(customers.read_text().replace("SELECT", "SELECT\n  1 AS new_column,", 1))

    result = sample.materialize(["marts/customers"])

    assert not result.success
    message = step_failure_message(result)
    assert "marts.customers" in message and "sqlmesh -p" in message and "plan prod" in message
    assert materialized_keys(result) == set()
    assert sample.intervals()["marts.customers"] == 0


def test_environment_never_applied_names_the_plan_command(sample: SampleProject) -> None:
    result = sample.materialize(["seeds/raw_orders"])

    assert not result.success
    message = step_failure_message(result)
    assert "`prod` does not exist" in message and "plan prod" in message


def test_external_source_is_an_unmaterializable_upstream(sample: SampleProject) -> None:
    from {{ cookiecutter.package_name }}.sqlmesh_integration import sqlmesh_definitions

    definitions = sqlmesh_definitions(sample.project, manifest=prepared_manifest(sample.project))
    graph = definitions.resolve_asset_graph()
    external = graph.get(dg_key("raw/exchange_rates"))
    assert not external.is_materializable
    assert (
        dg_key("raw/exchange_rates") in graph.get(dg_key("staging/stg_exchange_rates")).parent_keys
    )
    # A run of every asset never materializes it: test_full_run_... checks the exact set.


def test_the_switch_stops_landing_the_sample_source(sample: SampleProject) -> None:
    """With `land_sample_sources: false` (settings.yaml), SQLMesh never lands its stand-in: the
    models read the table the ingestion job lands, and a run while that table is missing (the job
    replacing it) does not create one."""
    settings = sample.project.project_dir / "settings.yaml"
    text = settings.read_text()
    assert text.count("\n  land_sample_sources: true\n") == 1
    settings.write_text(text.replace("land_sample_sources: true", "land_sample_sources: false"))
    # The real source, landed by an ingestion job before the first plan.
    sample.execute(
        "CREATE SCHEMA raw; CREATE TABLE raw.exchange_rates AS SELECT 'chf' AS currency_code, "
        "DATE '2024-01-01' AS rate_month, CAST(1.15 AS DECIMAL(12, 6)) AS usd_per_unit"
    )
    sample.plan()

    result = sample.materialize(["staging/stg_exchange_rates"])
    assert result.success, step_failure_message(result)
    assert sample.query("SELECT * FROM staging.stg_exchange_rates") == [
        ("CHF", date(2024, 1, 1), Decimal("1.150000"))
    ]

    sample.execute("DROP TABLE raw.exchange_rates")  # the job is replacing it
    result = sample.materialize(["seeds/raw_orders"])
    assert result.success, step_failure_message(result)
    tables = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
    assert sample.query(tables) == [], "the run landed the stand-in with the switch off"


def test_custom_translator_changes_keys_and_groups(applied_sample: SampleProject) -> None:
    sample = applied_sample

    class WarehouseTranslator(SQLMeshTranslator):
        def get_asset_key(self, props: SQLMeshAssetProps) -> dg.AssetKey:
            return super().get_asset_key(props).with_prefix("warehouse")

        def get_group_name(self, props: SQLMeshAssetProps) -> str:
            return "warehouse"

    result = sample.materialize(["warehouse/seeds/raw_orders"], translator=WarehouseTranslator())

    assert result.success
    assert materialized_keys(result) == {"warehouse/seeds/raw_orders"}
    assert sample.intervals()["seeds.raw_orders"] > 0


def dg_key(text: str):  # type: ignore[no-untyped-def]
    import dagster as dg

    return dg.AssetKey.from_user_string(text)


class _Prefixed(SQLMeshTranslator):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def get_asset_key(self, props: SQLMeshAssetProps) -> dg.AssetKey:
        """Models and external tables alike: one method for every asset's key."""
        return super().get_asset_key(props).with_prefix(self.prefix)


def test_two_projects_in_one_repository(applied_sample: SampleProject, tmp_path: Path) -> None:
    """Two SQLMesh projects, each with its own definitions, merged into one code location."""
    finance = applied_sample
    marketing_root = tmp_path / "marketing"
    shutil.copytree(finance.root, marketing_root)
    marketing = SampleProject(
        root=marketing_root,
        project=SQLMeshProject(
            marketing_root / "sqlmesh_project", gateway="local", working_dir=marketing_root
        ),
    )
    samples = {"finance": finance, "marketing": marketing}
    definitions = dg.Definitions.merge(
        *(
            sqlmesh_definitions(
                sample.project,
                translator=_Prefixed(name),
                name=f"{name}_models",
                resource_key=f"sqlmesh_{name}",
            )
            for name, sample in samples.items()
        )
    )

    with dg.instance_for_test() as instance:
        result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, raise_on_error=False
        )

    assert result.success
    materialized = {
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.asset_key
    }
    assert materialized == {f"{name}/{key}" for name in samples for key in ALL_MODELS}
    for sample in samples.values():
        assert sample.missing_intervals() == {}

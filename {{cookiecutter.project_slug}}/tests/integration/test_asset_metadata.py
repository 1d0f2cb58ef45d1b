"""What the asset page shows beyond the spec's basics: column lineage, freshness, row counts and
code links, built from hand-written manifests (no SQLMesh), and the lineage SQLMesh traces."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.freshness import CronFreshnessPolicy, TimeWindowFreshnessPolicy

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshAssetProps, SQLMeshTranslator
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.freshness import (
    cron_freshness_policy,
    shifted_cron,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.manifest import (
    Manifest,
    SQLMeshExternalTable,
    SQLMeshModel,
    SQLMeshSourceRepository,
    display_name,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.specs import build_specs
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.translator import SQLMeshTranslatorSettings
from {{ cookiecutter.package_name }}.sqlmesh_integration.metadata import METADATA_FETCH_ROW_COUNT

from ..support import SampleProject, prepared_manifest
from .test_translator import manifest, model

PROJECT_DIR = Path("/project")
RATES = SQLMeshExternalTable(
    name='"db"."raw"."exchange_rates"', catalog="db", schema="raw", table="exchange_rates"
)
STAGING = model("stg_orders", "staging")
ORDERS = model(
    interval_unit="day",
    depends_on=(STAGING.name, RATES.name),
    column_lineage={
        "order_id": ((STAGING.name, "order_id"),),
        "amount_usd": ((RATES.name, "usd_per_unit"), (STAGING.name, "amount")),
        "from_elsewhere": (('"db"."other"."table"', "x"),),  # not in the project: left out
    },
)


def specs_by_key(
    *models: SQLMeshModel, translator: SQLMeshTranslator | None = None
) -> dict[str, dg.AssetSpec]:
    specs = build_specs(
        manifest(*models, externals=(RATES,)), translator or SQLMeshTranslator(), PROJECT_DIR
    )
    return {spec.key.to_user_string(): spec for spec in specs.assets}


def test_column_lineage_names_upstream_assets_by_their_keys() -> None:
    class Prefixed(SQLMeshTranslator):
        def get_asset_key(self, props: SQLMeshAssetProps) -> dg.AssetKey:
            if props.is_external:
                return super().get_asset_key(props)
            return super().get_asset_key(props).with_prefix("warehouse")

    lineage = specs_by_key(STAGING, ORDERS, translator=Prefixed())[
        "warehouse/marts/orders"
    ].metadata["dagster/column_lineage"]

    assert lineage.deps_by_column == {
        "order_id": [
            dg.TableColumnDep(dg.AssetKey(["warehouse", "staging", "stg_orders"]), "order_id")
        ],
        "amount_usd": [
            dg.TableColumnDep(dg.AssetKey(["raw", "exchange_rates"]), "usd_per_unit"),
            dg.TableColumnDep(dg.AssetKey(["warehouse", "staging", "stg_orders"]), "amount"),
        ],
    }


def test_metadata_switches_turn_lineage_row_counts_and_freshness_off() -> None:
    on = specs_by_key(STAGING, ORDERS)["marts/orders"]
    off = specs_by_key(
        STAGING,
        ORDERS,
        translator=SQLMeshTranslator(
            SQLMeshTranslatorSettings(
                enable_column_lineage=False, enable_row_count=False, freshness_grace_period=None
            )
        ),
    )["marts/orders"]

    assert "dagster/column_lineage" in on.metadata and on.metadata[METADATA_FETCH_ROW_COUNT]
    assert on.freshness_policy is not None
    assert "dagster/column_lineage" not in off.metadata
    assert METADATA_FETCH_ROW_COUNT not in off.metadata
    assert off.freshness_policy is None


def test_no_lineage_metadata_when_nothing_was_traced() -> None:
    assert "dagster/column_lineage" not in specs_by_key(STAGING)["staging/stg_orders"].metadata


def test_views_are_not_counted_and_seeds_have_no_freshness() -> None:
    specs = specs_by_key(
        model("v", "staging", kind="VIEW", interval_unit="day"),
        model("raw_orders", "seeds", kind="SEED", interval_unit="day"),
        model("ended", "marts", end="2024-01-01", interval_unit="day"),
    )

    assert METADATA_FETCH_ROW_COUNT not in specs["staging/v"].metadata
    assert specs["staging/v"].freshness_policy is not None
    assert specs["seeds/raw_orders"].freshness_policy is None
    assert specs["marts/ended"].freshness_policy is None  # no new intervals to be late for


@pytest.mark.parametrize(
    ("cron", "unit", "grace", "deadline", "window"),
    [
        ("0 0 * * *", "day", timedelta(hours=1), "0 1 * * *", timedelta(hours=1)),
        ("0 6 * * *", "day", timedelta(minutes=90), "30 7 * * *", timedelta(minutes=90)),
        ("0 * * * *", "hour", timedelta(minutes=10), "10 * * * *", timedelta(minutes=10)),
        # An hourly model cannot be two hours late for one hour: the grace is capped.
        ("0 * * * *", "hour", timedelta(hours=2), "0 * * * *", timedelta(hours=1)),
        ("*/5 * * * *", "five_minute", timedelta(hours=1), "*/5 * * * *", timedelta(minutes=5)),
        (
            "*/15 * * * *",
            "quarter_hour",
            timedelta(minutes=5),
            "5,20,35,50 * * * *",
            timedelta(minutes=5),
        ),
        ("0 0 1 * *", "month", timedelta(hours=3), "0 3 1 * *", timedelta(hours=3)),
        ("0 0 * * 0", "day", timedelta(hours=1), "0 1 * * 0", timedelta(hours=1)),
        ("30 23 * * *", "day", timedelta(hours=1), "30 0 * * *", timedelta(hours=1)),
        ("15 2 * * 1-5", "day", timedelta(minutes=30), "45 2 * * 1-5", timedelta(minutes=30)),
    ],
    ids=[
        "daily",
        "daily-at-6",
        "hourly",
        "hourly-capped",
        "five-minute",
        "quarter-hour",
        "monthly",
        "weekly",
        "daily-past-midnight",
        "weekdays",
    ],
)
def test_cron_freshness_policy(
    cron: str, unit: str, grace: timedelta, deadline: str, window: timedelta
) -> None:
    policy = cron_freshness_policy(cron, unit, grace)

    assert isinstance(policy, CronFreshnessPolicy)
    # `*/5` shifted by its own 5 minutes is the same ticks, written as a list.
    fives = ",".join(str(minute) for minute in range(0, 60, 5))
    assert (policy.deadline_cron, policy.lower_bound_delta) == (
        deadline.replace("*/5", fives),
        window,
    )
    assert policy.timezone == "UTC"


def test_a_shift_that_cannot_be_a_cron_falls_back_to_a_time_window() -> None:
    # Friday 23:00 plus two hours is Saturday: weekdays 1-5 cannot say it.
    assert shifted_cron("0 23 * * 1-5", 120) is None
    policy = cron_freshness_policy("0 23 * * 1-5", "day", timedelta(hours=2))

    assert isinstance(policy, TimeWindowFreshnessPolicy)
    assert policy.fail_window.to_timedelta() == timedelta(days=1, hours=2)


def test_cron_timezone_and_bad_grace_period() -> None:
    policy = cron_freshness_policy("0 0 * * *", "day", timedelta(hours=1), "Europe/Paris")
    assert isinstance(policy, CronFreshnessPolicy) and policy.timezone == "Europe/Paris"
    assert cron_freshness_policy("0 0 * * *", None, timedelta(hours=1)) is None
    with pytest.raises(ValueError, match="at least one minute"):
        cron_freshness_policy("0 0 * * *", "day", timedelta(seconds=10))


def test_aliases_are_expanded_before_the_shift() -> None:
    spec = specs_by_key(model(cron="@hourly", interval_unit="hour"))["marts/orders"]
    assert isinstance(spec.freshness_policy, CronFreshnessPolicy)
    assert spec.freshness_policy.deadline_cron == "0 * * * *"


DAGSTER_PLUS_GIT_VARIABLES = (
    "DAGSTER_CLOUD_DEPLOYMENT_NAME",
    "DAGSTER_CLOUD_GIT_URL",
    "DAGSTER_CLOUD_GIT_SHA",
    "DAGSTER_CLOUD_GIT_BRANCH",
)


def code_link(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], repository: SQLMeshSourceRepository | None
) -> dg.UrlCodeReference | dg.LocalFileCodeReference:
    for name in DAGSTER_PLUS_GIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    orders = model(file_path="models/marts/orders.sql")
    with_repository = Manifest(**{**vars(manifest(orders)), "repository": repository})
    spec = SQLMeshTranslator().get_asset_spec(
        SQLMeshAssetProps(orders, with_repository, PROJECT_DIR)
    )
    (reference,) = spec.metadata["dagster/code_references"].code_references
    return reference  # type: ignore[no-any-return]


REPOSITORY = SQLMeshSourceRepository(
    project_path="src/shop/sqlmesh_project",
    url="https://github.com/acme/shop",
    revision="c0ffee",
)


def test_code_link_is_the_local_file_outside_dagster_plus(monkeypatch: pytest.MonkeyPatch) -> None:
    reference = code_link(monkeypatch, {}, REPOSITORY)

    assert isinstance(reference, dg.LocalFileCodeReference)
    assert reference.file_path == "/project/models/marts/orders.sql"


def test_code_link_is_the_file_on_github_in_dagster_plus(monkeypatch: pytest.MonkeyPatch) -> None:
    deployed = {"DAGSTER_CLOUD_DEPLOYMENT_NAME": "prod"}
    from_dagster_plus = {
        **deployed,
        # What `dg plus deploy start --git-url` was given: the tree at the commit.
        "DAGSTER_CLOUD_GIT_URL": "https://github.com/acme/shop/tree/abc123",
        "DAGSTER_CLOUD_GIT_SHA": "abc123",
    }
    path = "src/shop/sqlmesh_project/models/marts/orders.sql"

    reference = code_link(monkeypatch, from_dagster_plus, REPOSITORY)
    assert isinstance(reference, dg.UrlCodeReference)
    assert reference.url == f"https://github.com/acme/shop/blob/abc123/{path}"
    # Without Dagster+'s variables, what CI recorded when it prepared the manifest.
    reference = code_link(monkeypatch, deployed, REPOSITORY)
    assert isinstance(reference, dg.UrlCodeReference)
    assert reference.url == f"https://github.com/acme/shop/blob/c0ffee/{path}"
    # Nothing known about the repository: the local link, never a wrong one.
    assert isinstance(code_link(monkeypatch, deployed, None), dg.LocalFileCodeReference)


def test_column_lineage_is_traced_when_the_manifest_is_prepared(
    applied_sample: SampleProject,
) -> None:
    manifest = prepared_manifest(applied_sample.project)
    lineage = {
        model.view_name: {
            column: {(display_name(upstream), name) for upstream, name in sources}
            for column, sources in model.column_lineage.items()
        }
        for model in manifest.models
    }

    customers = lineage["marts.customers"]
    assert customers["full_name"] == {("staging.stg_customers", "full_name")}
    assert customers["lifetime_value_usd"] == {
        ("marts.orders", "amount_usd"),
        ("marts.orders", "is_returned"),
    }
    assert lineage["staging.stg_customers"]["full_name"] == {
        ("seeds.raw_customers", "first_name"),
        ("seeds.raw_customers", "last_name"),
    }
    # Through to the external source.
    assert lineage["staging.stg_exchange_rates"]["usd_per_unit"] == {
        ("raw.exchange_rates", "usd_per_unit")
    }
    assert lineage["seeds.raw_customers"] == {}  # a seed reads a file, not a table

"""Unit tests of the translator and the spec builder, on hand-written manifests (no SQLMesh)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshAssetProps, SQLMeshTranslator
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.manifest import (
    Manifest,
    SQLMeshAudit,
    SQLMeshColumn,
    SQLMeshExternalTable,
    SQLMeshModel,
    SQLMeshStandaloneAudit,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.selection import select_manifest
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.specs import build_specs, check_names
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.translator import (
    SQLMeshTranslatorSettings,
    dagster_cron,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.errors import SelectionError

PROJECT_DIR = Path("/project")


def model(table: str = "orders", schema: str = "marts", **fields: object) -> SQLMeshModel:
    defaults: dict[str, object] = {
        "name": f'"db"."{schema}"."{table}"',
        "catalog": "db",
        "schema": schema,
        "table": table,
        "kind": "FULL",
        "dialect": "duckdb",
        "cron": "@daily",
        "snapshot_identifier": "111",
        "snapshot_version": "222",
    }
    defaults.update(fields)
    return SQLMeshModel(**defaults)  # type: ignore[arg-type]


def external(table: str = "rates", **fields: object) -> SQLMeshExternalTable:
    """An external table in schema `raw`."""
    return SQLMeshExternalTable(
        name=f'"db"."raw"."{table}"',
        catalog="db",
        schema="raw",
        table=table,
        **fields,  # type: ignore[arg-type]
    )


def manifest(
    *models: SQLMeshModel,
    externals: tuple[SQLMeshExternalTable, ...] = (),
    standalone_audits: tuple[SQLMeshStandaloneAudit, ...] = (),
) -> Manifest:
    return Manifest(
        standalone_audits=standalone_audits,
        project_fingerprint="x",
        gateway="local",
        engine="duckdb",
        dialect="duckdb",
        default_catalog="db",
        sqlmesh_version="0.236.4",
        models=models,
        external_tables=externals,
    )


def props(node: SQLMeshModel | SQLMeshExternalTable) -> SQLMeshAssetProps:
    """The props of one model or external table, in a manifest of its own."""
    if isinstance(node, SQLMeshModel):
        return SQLMeshAssetProps(node, manifest(node), PROJECT_DIR)
    return SQLMeshAssetProps(node, manifest(externals=(node,)), PROJECT_DIR)


def test_default_fields() -> None:
    orders = model(
        description="One row per order.",
        owner="analytics",
        tags=("finance", "dagster:group=money"),
        columns=(SQLMeshColumn("order_id", "INT", "Order id."),),
        grains=("order_id",),
        file_path="models/marts/orders.sql",
        physical_table="sqlmesh__marts.marts__orders__222",
    )
    spec = SQLMeshTranslator().get_asset_spec(props(orders))

    assert spec.key == dg.AssetKey(["marts", "orders"])
    assert spec.group_name == "money"  # the dagster:group tag overrides the schema
    assert spec.description == "One row per order."
    assert spec.owners == ["team:analytics"]
    assert spec.tags["finance"] == ""
    assert not any(key.startswith("dagster:") for key in spec.tags)
    assert spec.kinds == {"sqlmesh", "duckdb"}
    assert spec.code_version == "222"
    assert spec.skippable
    assert spec.metadata["sqlmesh/model_name"] == '"db"."marts"."orders"'
    assert spec.metadata["dagster/table_name"] == "marts.orders"
    assert spec.metadata["sqlmesh/physical_table"] == "sqlmesh__marts.marts__orders__222"
    assert spec.metadata["sqlmesh/grain"] == "order_id"
    schema = spec.metadata["dagster/column_schema"]
    assert [(c.name, c.type, c.description) for c in schema.columns] == [
        ("order_id", "INT", "Order id.")
    ]
    references = spec.metadata["dagster/code_references"].code_references
    assert references[0].file_path == "/project/models/marts/orders.sql"


def test_email_owner_and_no_owner() -> None:
    translator = SQLMeshTranslator()
    assert translator.get_owners(props(model(owner="ana@example.com"))) == ["ana@example.com"]
    assert translator.get_owners(props(model())) == []


def test_tag_overrides_for_key_and_automation() -> None:
    orders = model(
        tags=("dagster:key=warehouse/orders", "dagster:automation=on_cron"), cron="@hourly"
    )
    eager = model(tags=("dagster:automation=eager",))
    translator = SQLMeshTranslator()

    assert translator.get_asset_key(props(orders)) == dg.AssetKey(["warehouse", "orders"])
    # on_cron ticks on the model's own cron (`@hourly` as five fields).
    assert translator.get_automation_condition(props(orders)) == dg.AutomationCondition.on_cron(
        "0 * * * *"
    )
    assert translator.get_automation_condition(props(eager)) == dg.AutomationCondition.eager()
    assert translator.get_automation_condition(props(model())) is None  # the due sensor runs it
    with pytest.raises(ValueError, match="use on_cron or eager"):
        translator.get_automation_condition(props(model(tags=("dagster:automation=sometimes",))))


def test_settings_switch_features_off() -> None:
    orders = model(
        tags=("dagster:group=money",),
        columns=(SQLMeshColumn("order_id", "INT"),),
        file_path="models/orders.sql",
    )
    translator = SQLMeshTranslator(
        SQLMeshTranslatorSettings(
            enable_tag_overrides=False, enable_code_references=False, enable_column_schema=False
        )
    )
    spec = translator.get_asset_spec(props(orders))

    assert spec.group_name == "marts"
    assert "dagster/column_schema" not in spec.metadata
    assert "dagster/code_references" not in spec.metadata


def test_subclass_overrides_one_field() -> None:
    class Prefixed(SQLMeshTranslator):
        def get_asset_key(self, props: SQLMeshAssetProps) -> dg.AssetKey:
            return super().get_asset_key(props).with_prefix("warehouse")

        def get_owners(self, props: SQLMeshAssetProps) -> list[str]:
            return ["team:sources"] if props.is_external else super().get_owners(props)

    rates = external(audits=(SQLMeshAudit("not_null", blocking=True),))
    staging = model("stg_orders", "staging", depends_on=(rates.name,), owner="analytics")
    orders = model(depends_on=(staging.name,))
    specs = build_specs(manifest(staging, orders, externals=(rates,)), Prefixed(), PROJECT_DIR)

    assert [spec.key.to_user_string() for spec in specs.assets] == [
        "warehouse/staging/stg_orders",
        "warehouse/marts/orders",
    ]
    assert [dep.asset_key for dep in specs.assets[1].deps] == [
        dg.AssetKey(["warehouse", "staging", "stg_orders"])
    ]
    # The same methods translate the external table: its key, its owners, its check and the deps.
    (source,) = specs.external_assets
    assert source.key == dg.AssetKey(["warehouse", "raw", "rates"])
    assert source.owners == ["team:sources"] and specs.assets[0].owners == ["team:analytics"]
    assert [dep.asset_key for dep in specs.assets[0].deps] == [source.key]
    assert [check.asset_key for check in specs.checks] == [source.key]


def test_external_tables_get_the_same_fields_without_the_model_only_ones() -> None:
    rates = external(columns=(SQLMeshColumn("rate", "DECIMAL", "Rate."),))
    translator = SQLMeshTranslator()
    spec = translator.get_external_asset_spec(props(rates))

    assert spec.key == dg.AssetKey(["raw", "rates"])
    assert spec.group_name == "sources"
    assert spec.description == "`raw.rates`: read by SQLMesh models, built outside SQLMesh."
    assert spec.kinds == {"sqlmesh", "duckdb"}
    assert spec.owners == [] and translator.get_tags(props(rates)) == {}
    assert spec.metadata["sqlmesh/model_name"] == rates.name
    assert [c.name for c in spec.metadata["dagster/column_schema"].columns] == ["rate"]
    assert translator.get_code_version(props(rates)) is None
    assert translator.get_freshness_policy(props(rates)) is None
    assert translator.get_partitions_def(props(rates)) is None
    with pytest.raises(ValueError, match="get_external_asset_spec"):
        translator.get_asset_spec(props(rates))
    with pytest.raises(ValueError, match="get_asset_spec"):
        translator.get_external_asset_spec(props(model()))


def test_specs_deps_checks_and_external_tables() -> None:
    rates = SQLMeshExternalTable(
        name='"db"."raw"."exchange_rates"',
        catalog="db",
        schema="raw",
        table="exchange_rates",
        columns=(SQLMeshColumn("rate", "DECIMAL"),),
    )
    orders = model(
        depends_on=(rates.name,),
        audits=(
            SQLMeshAudit("not_null", blocking=True, arguments={"columns": "[order_id]"}),
            SQLMeshAudit("accepted_range", blocking=False),
        ),
    )
    specs = build_specs(manifest(orders, externals=(rates,)), SQLMeshTranslator(), PROJECT_DIR)

    assert [dep.asset_key for dep in specs.assets[0].deps] == [
        dg.AssetKey(["raw", "exchange_rates"])
    ]
    assert [(check.name, check.blocking) for check in specs.checks] == [
        ("not_null", True),
        ("accepted_range", False),
    ]
    assert specs.checks[0].asset_key == dg.AssetKey(["marts", "orders"])
    assert [spec.key for spec in specs.external_assets] == [dg.AssetKey(["raw", "exchange_rates"])]
    definitions = dg.Definitions(assets=specs.external_assets)
    assert (
        not definitions.resolve_asset_graph()
        .get(dg.AssetKey(["raw", "exchange_rates"]))
        .is_materializable
    )


def test_embedded_models_are_shown_but_never_materializable() -> None:
    tiers = model("tiers", "staging", kind="EMBEDDED")
    summary = model("summary", depends_on=(tiers.name,))
    specs = build_specs(manifest(tiers, summary), SQLMeshTranslator(), PROJECT_DIR)

    assert [spec.key for spec in specs.assets] == [dg.AssetKey(["marts", "summary"])]
    assert [spec.key for spec in specs.inlined_assets] == [dg.AssetKey(["staging", "tiers"])]
    inlined = specs.inlined_assets[0]
    assert inlined.metadata["sqlmesh/inlined_into"] == "marts.summary"
    assert "dagster/table_name" not in inlined.metadata
    assert [dep.asset_key for dep in specs.assets[0].deps] == [dg.AssetKey(["staging", "tiers"])]
    graph = dg.Definitions(assets=specs.inlined_assets).resolve_asset_graph()
    assert not graph.get(dg.AssetKey(["staging", "tiers"])).is_materializable


def test_external_audits_and_standalone_audits_become_checks() -> None:
    rates = external(audits=(SQLMeshAudit("not_null", blocking=True),))
    orders = model("orders", depends_on=(rates.name,))
    customers = model("customers", depends_on=(orders.name,))
    both = SQLMeshStandaloneAudit(
        name="orders_have_customers",
        blocking=False,
        depends_on=(customers.name, orders.name),
    )
    specs = build_specs(
        manifest(orders, customers, externals=(rates,), standalone_audits=(both,)),
        SQLMeshTranslator(),
        PROJECT_DIR,
    )

    checks = {(check.asset_key.to_user_string(), check.name): check for check in specs.checks}
    assert set(checks) == {("raw/rates", "not_null"), ("marts/customers", "orders_have_customers")}
    standalone = checks[("marts/customers", "orders_have_customers")]
    assert not standalone.blocking
    assert [dep.asset_key for dep in standalone.additional_deps] == [
        dg.AssetKey(["marts", "orders"])
    ]


def test_repeated_audits_get_numbered_check_names() -> None:
    audits = (
        SQLMeshAudit("not_null", True, {"columns": "[a]"}),
        SQLMeshAudit("not_null", True, {"columns": "[b]"}),
        SQLMeshAudit("unique_values", True),
    )
    assert [name for name, _ in check_names(audits)] == [
        "not_null_1",
        "not_null_2",
        "unique_values",
    ]


def test_two_models_with_one_key_are_refused() -> None:
    first = model("orders", "marts")
    second = model("orders", "marts", name='"other"."marts"."orders"')
    with pytest.raises(ValueError, match="both map to asset key"):
        build_specs(manifest(first, second), SQLMeshTranslator(), PROJECT_DIR)


def test_cron_aliases() -> None:
    assert dagster_cron("@daily") == "0 0 * * *"
    assert dagster_cron("*/5 * * * *") == "*/5 * * * *"


def test_sqlmesh_selectors_pick_models_their_upstream_and_tables_without_sqlmesh() -> None:
    raw = model("raw_orders", "seeds")
    staged = model("stg_orders", "staging", depends_on=(raw.name, '"db"."raw"."rates"'))
    orders = model("orders", depends_on=(staged.name,), tags=("finance",))
    revenue = model("revenue", depends_on=(orders.name,))
    rates = SQLMeshExternalTable(
        name='"db"."raw"."rates"', catalog="db", schema="raw", table="rates"
    )
    full = manifest(raw, staged, orders, revenue, externals=(rates,))

    def selected(select: str | None, exclude: str | None = None) -> list[str]:
        return [item.view_name for item in select_manifest(full, select, exclude).models]

    assert select_manifest(full, None, None) is full
    assert selected("+marts.orders") == ["seeds.raw_orders", "staging.stg_orders", "marts.orders"]
    assert selected("staging.*+", "marts.revenue") == ["staging.stg_orders", "marts.orders"]
    assert selected("tag:finance, db.marts.revenue") == ["marts.orders", "marts.revenue"]
    assert select_manifest(full, "marts.*", None).external_tables == ()
    assert select_manifest(full, "staging.*", None).external_tables == (rates,)
    with pytest.raises(SelectionError, match="matches no model"):
        selected("marts.nothing")
    with pytest.raises(SelectionError, match="not evaluated here"):
        selected("marts.* & tag:finance")

"""What the due-driven sensor requests when SQLMesh's own audit nodes are due (no SQLMesh run)."""

from __future__ import annotations

import dagster as dg

from {{ cookiecutter.package_name }}.sqlmesh_integration.automation.sensor import run_request
from {{ cookiecutter.package_name }}.sqlmesh_integration.metadata import (
    METADATA_AUDITED_NODE,
    METADATA_MODEL_NAME,
    NODE_EXTERNAL,
    NODE_MODEL,
    NODE_STANDALONE,
)

ORDERS, CUSTOMERS = dg.AssetKey(["marts", "orders"]), dg.AssetKey(["marts", "customers"])
RATES = dg.AssetKey(["raw", "exchange_rates"])
KEYS = {'"db"."marts"."orders"': ORDERS, '"db"."marts"."customers"': CUSTOMERS}


def check(name: str, asset: dg.AssetKey, node: str, node_kind: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=name,
        asset=asset,
        metadata={METADATA_MODEL_NAME: node, METADATA_AUDITED_NODE: node_kind},
    )


CHECKS = [
    check("not_null", ORDERS, '"db"."marts"."orders"', NODE_MODEL),
    check("unique", CUSTOMERS, '"db"."marts"."customers"', NODE_MODEL),
    check("totals_match", CUSTOMERS, "totals_match", NODE_STANDALONE),
    check("rates_positive", RATES, '"db"."raw"."exchange_rates"', NODE_EXTERNAL),
]


def test_due_models_only_use_the_default_checks() -> None:
    request = run_request(['"db"."marts"."orders"'], [], KEYS, CHECKS)
    assert request.asset_selection == [ORDERS]
    assert request.asset_check_keys is None  # Dagster's default: the selected assets' checks


def test_a_due_standalone_audit_brings_the_model_its_check_sits_on() -> None:
    request = run_request(['"db"."marts"."orders"'], ["totals_match"], KEYS, CHECKS)
    assert set(request.asset_selection or []) == {ORDERS, CUSTOMERS}
    assert request.asset_check_keys is None


def test_a_due_external_audit_names_every_check() -> None:
    request = run_request(['"db"."marts"."orders"'], ['"db"."raw"."exchange_rates"'], KEYS, CHECKS)
    assert request.asset_selection == [ORDERS]
    assert set(request.asset_check_keys or []) == {
        dg.AssetCheckKey(ORDERS, "not_null"),
        dg.AssetCheckKey(RATES, "rates_positive"),
    }

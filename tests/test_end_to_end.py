"""End to end on DuckDB in the rendered defaults, with real tools (uv, SQLMesh CLI, `dg launch`).

The session's `installed_project` is the output of the README's demo command, which runs the
generated README's quickstart verbatim (uv sync, sqlmesh plan, dg launch). These tests check what
that left in SQLMesh state and in the tables, then run a subset on a fresh database and check that
only the subset ran.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from projects import Project

pytestmark = pytest.mark.slow

PROBE = Path(__file__).parent / "state_probe.py"
ALL_MODELS = {
    "seeds.raw_customers",
    "seeds.raw_orders",
    "seeds.raw_payments",
    "staging.stg_customers",
    "staging.stg_exchange_rates",
    "staging.stg_orders",
    "staging.stg_payments",
    "marts.orders",
    "marts.daily_revenue",
    "marts.customers",
}
# What the sample seeds produce after a full backfill (see the sample project's seeds).
EXPECTED_ROWS = {
    "marts.orders": 60,
    "marts.daily_revenue": 54,
    "marts.customers": 20,
    "staging.stg_orders": 60,
    "seeds.raw_orders": 60,
}


def state(project: Project) -> dict[str, object]:
    result = project.run(["uv", "run", "--no-sync", "python", str(PROBE), project.package_name])
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def plan_command(project: Project) -> str:
    return next(command for command in project.readme_commands() if " plan prod " in command)


def test_quickstart_materialized_every_model_through_dagster(installed_project: Project) -> None:
    found = state(installed_project)

    assert found["missing"] == {}, "SQLMesh state still has missing intervals"
    covered = found["covered_days"]
    assert isinstance(covered, dict)
    assert {name for name, days in covered.items() if days > 0} == ALL_MODELS
    assert found["rows"] == EXPECTED_ROWS
    assert Decimal(str(found["net_revenue_usd"])) == Decimal("6029.61")
    assert Decimal(str(found["lifetime_value_usd"])) == Decimal("6029.61")


def test_subset_runs_only_the_selected_models(installed_project: Project) -> None:
    project = installed_project
    for leftover in project.path.glob("local.duckdb*"):
        leftover.unlink()
    project.run(plan_command(project))
    assert state_covered(project) == set()

    launch = project.run("uv run dg launch --assets seeds/raw_orders,staging/stg_orders")

    assert state_covered(project) == {"seeds.raw_orders", "staging.stg_orders"}
    assert launch.stderr.count("ASSET_MATERIALIZATION") == 2

    project.run("uv run dg launch --job __ASSET_JOB")
    found = state(project)
    assert found["missing"] == {}
    assert found["rows"] == EXPECTED_ROWS


def state_covered(project: Project) -> set[str]:
    covered = state(project)["covered_days"]
    assert isinstance(covered, dict)
    return {name for name, days in covered.items() if days > 0}

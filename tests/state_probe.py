"""Run in a rendered project (`uv run python state_probe.py <package>`): print SQLMesh state, JSON.

The end-to-end tests read outcomes where they live: intervals and missing intervals from SQLMesh
state (through the generated project's own context helper, so relative DuckDB paths resolve as in
Dagster), row counts and sums from the DuckDB file.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import duckdb

TABLES = (
    "marts.orders",
    "marts.daily_revenue",
    "marts.customers",
    "staging.stg_orders",
    "seeds.raw_orders",
)


def main(package: str) -> None:
    context_module = importlib.import_module(f"{package}.sqlmesh_integration.context")
    project_module = importlib.import_module(f"{package}.sqlmesh_integration.project")
    project = project_module.SQLMeshProject(Path("src") / package / "sqlmesh_project")
    context = context_module.open_context(project, load=False)
    try:
        environment = context.state_reader.get_environment("prod")
        snapshots = context.state_reader.get_snapshots(environment.snapshots) if environment else {}
        covered_days = {
            _short(snapshot.name): sum(end - start for start, end in snapshot.intervals)
            / 86_400_000
            for snapshot in snapshots.values()
        }
        missing = (
            context.scheduler(environment="prod").merged_missing_intervals() if environment else {}
        )
        missing_count = {
            _short(snapshot.name): len(found) for snapshot, found in missing.items() if found
        }
    finally:
        context.close()
    with duckdb.connect("local.duckdb", read_only=True) as connection:
        rows = {
            table: connection.sql(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES
        }
        net_revenue = connection.sql(
            "SELECT sum(net_revenue_usd) FROM marts.daily_revenue"
        ).fetchone()[0]
        lifetime_value = connection.sql(
            "SELECT sum(lifetime_value_usd) FROM marts.customers"
        ).fetchone()[0]
    print(
        json.dumps(
            {
                "covered_days": covered_days,
                "missing": missing_count,
                "rows": rows,
                "net_revenue_usd": str(net_revenue),
                "lifetime_value_usd": str(lifetime_value),
            }
        )
    )


def _short(name: str) -> str:
    return ".".join(part.strip('"') for part in name.split(".")[-2:])


if __name__ == "__main__":
    main(sys.argv[1])

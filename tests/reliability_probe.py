"""Run in a rendered project (`.venv/bin/python reliability_probe.py <package>`): print JSON.

SQLMesh state of `prod` (days covered and missing intervals per model) and, for each mart, its row
count and its count of distinct grain values, read through SQLMesh's own engine adapter so the same
probe works on DuckDB and on Postgres. The gateway is the config's default (SQLMESH_GATEWAY).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

MARTS = {
    "marts.orders": "order_id",
    "marts.daily_revenue": "revenue_date",
    "marts.customers": "customer_id",
}


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
        rows = {}
        for table, grain in MARTS.items():
            count, distinct = context.engine_adapter.fetchone(
                f"SELECT COUNT(*), COUNT(DISTINCT {grain}) FROM {table}"
            )
            rows[table] = [int(count), int(distinct)]
    finally:
        context.close()
    print(
        json.dumps(
            {
                "covered_days": covered_days,
                "missing": {_short(s.name): len(found) for s, found in missing.items() if found},
                "rows": rows,
            }
        )
    )


def _short(name: str) -> str:
    return ".".join(part.strip('"') for part in name.split(".")[-2:])


if __name__ == "__main__":
    main(sys.argv[1])

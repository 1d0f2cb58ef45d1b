"""Run in a rendered project (`python state_probe.py <package>`): print SQLMesh state as JSON.

The end-to-end and reliability tests read outcomes where they live: the models SQLMesh runs (the
oracle for what Dagster must materialize: see `outcomes.model_keys`), days covered and missing
intervals per model from SQLMesh state, and row counts, distinct grain values and revenue sums from
the tables. Everything goes through the generated project's own context helper (relative DuckDB
paths resolve as in Dagster) and SQLMesh's engine adapter, so the probe works on DuckDB and on
Postgres alike. The gateway is the config's default (SQLMESH_GATEWAY). With DAGSTER_HOME set, also
what each run of that Dagster instance reported: the assets it materialized and observed.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

TABLES = (
    "marts.orders",
    "marts.daily_revenue",
    "marts.customers",
    "staging.stg_orders",
    "seeds.raw_orders",
)
GRAINS = {
    "marts.orders": "order_id",
    "marts.daily_revenue": "revenue_date",
    "marts.customers": "customer_id",
}


def main(package: str) -> None:
    context_module = importlib.import_module(f"{package}.sqlmesh_integration.connection.context")
    project_module = importlib.import_module(f"{package}.sqlmesh_integration.definitions.project")
    project = project_module.SQLMeshProject(Path("src") / package / "sqlmesh_project")
    context = context_module.open_context(project, load=False)
    try:
        environment = context.state_reader.get_environment("prod")
        snapshots = context.state_reader.get_snapshots(environment.snapshots) if environment else {}
        missing = (
            context.scheduler(environment="prod").merged_missing_intervals() if environment else {}
        )
        adapter = context.engine_adapter
        found = {
            # What `sqlmesh run prod` evaluates into a table or view: neither external nor EMBEDDED.
            "models": sorted(
                _short(s.name) for s in snapshots.values() if s.is_model and not s.is_symbolic
            ),
            # External models with audits: SQLMesh runs their audits (and records intervals).
            "audited_sources": sorted(
                _short(s.name)
                for s in snapshots.values()
                if s.is_model and s.model.kind.is_external and s.model.audits
            ),
            "covered_days": {
                _short(snapshot.name): sum(end - start for start, end in snapshot.intervals)
                / 86_400_000
                for snapshot in snapshots.values()
            },
            "missing": {
                _short(s.name): len(intervals) for s, intervals in missing.items() if intervals
            },
            "rows": {
                table: int(adapter.fetchone(f"SELECT COUNT(*) FROM {table}")[0]) for table in TABLES
            },
            "grains": {
                table: int(adapter.fetchone(f"SELECT COUNT(DISTINCT {grain}) FROM {table}")[0])
                for table, grain in GRAINS.items()
            },
            "net_revenue_usd": str(
                adapter.fetchone("SELECT SUM(net_revenue_usd) FROM marts.daily_revenue")[0]
            ),
            "lifetime_value_usd": str(
                adapter.fetchone("SELECT SUM(lifetime_value_usd) FROM marts.customers")[0]
            ),
        }
    finally:
        context.close()
    if os.environ.get("DAGSTER_HOME"):
        found["runs"] = dagster_runs()
    print(json.dumps(found))


def dagster_runs() -> list[dict[str, object]]:
    """Every run of the instance at DAGSTER_HOME: its status and the asset keys it reported."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.get() as instance:
        runs = []
        for run in instance.get_runs():
            reported: dict[str, set[str]] = {"materialized": set(), "observed": set()}
            for record in instance.all_logs(run.run_id):
                event = record.dagster_event
                if event is None or event.asset_key is None:
                    continue
                if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                    reported["materialized"].add(event.asset_key.to_user_string())
                elif event.event_type == DagsterEventType.ASSET_OBSERVATION:
                    reported["observed"].add(event.asset_key.to_user_string())
            runs.append({"status": run.status.value, **{k: sorted(v) for k, v in reported.items()}})
        return runs


def _short(name: str) -> str:
    return ".".join(part.strip('"') for part in name.split(".")[-2:])


if __name__ == "__main__":
    main(sys.argv[1])

"""Run in a rendered project (`python kitchen_sink_probe.py <package> [--graph]`): SQLMesh state
and the last Dagster run's events, as JSON.

For every node of the prod environment (models, external models, standalone audits): its kind,
the intervals SQLMesh state holds, its interval unit, the audits SQLMesh runs for it and the
physical table SQLMesh writes (none for external and EMBEDDED models and audits). With
DAGSTER_HOME set, also the latest run's materializations (with their partition and metadata),
observations and check evaluations, read from the Dagster instance. With `--graph`, also every
asset of the code location's definitions (loaded as `dg` loads them, from the prepared state):
whether Dagster can execute it, and the SQLMesh kind its metadata names.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any


def sqlmesh_state(package: str) -> dict[str, Any]:
    context_module = importlib.import_module(f"{package}.sqlmesh_integration.connection.context")
    project_module = importlib.import_module(f"{package}.sqlmesh_integration.definitions.project")
    project = project_module.SQLMeshProject(Path("src") / package / "sqlmesh_project")
    from sqlmesh.core.snapshot.definition import expand_range

    context = context_module.open_context(project, load=False)
    try:
        environment = context.state_reader.get_environment("prod")
        snapshots = context.state_reader.get_snapshots(environment.snapshots)
        nodes = {}
        for snapshot in snapshots.values():
            node = snapshot.node
            audits = [
                audit.name for audit, _ in getattr(node, "audits_with_args", []) if not audit.skip
            ]
            nodes[snapshot.name] = {
                "kind": "AUDIT" if snapshot.is_audit else str(snapshot.model_kind_name),
                "intervals": sorted([int(start), int(end)] for start, end in snapshot.intervals),
                "interval_unit": str(node.interval_unit.value),
                "interval_count": sum(
                    len(expand_range(start, end, node.interval_unit)) - 1
                    for start, end in snapshot.intervals
                ),
                "audits": [snapshot.name] if snapshot.is_audit else audits,
                "table": (
                    snapshot.table_name()
                    if snapshot.is_model and not snapshot.is_symbolic
                    else None
                ),
            }
        return nodes
    finally:
        context.close()


def dagster_run() -> dict[str, Any] | None:
    from dagster import DagsterEventType, DagsterInstance

    instance = DagsterInstance.get()
    runs = instance.get_runs(limit=1)
    if not runs:
        return None
    run = runs[0]
    materializations = []
    observations = []
    checks = []
    for record in instance.all_logs(run.run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            materializations.append(
                {
                    "asset": materialization.asset_key.to_user_string(),
                    "partition": materialization.partition,
                    "metadata": {
                        key: value.value
                        for key, value in materialization.metadata.items()
                        if isinstance(value.value, (int, str, float, bool))
                    },
                }
            )
        elif event.event_type == DagsterEventType.ASSET_OBSERVATION:
            observation = event.asset_observation_data.asset_observation
            observations.append(observation.asset_key.to_user_string())
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            checks.append(
                {
                    "asset": evaluation.asset_key.to_user_string(),
                    "check": evaluation.check_name,
                    "passed": evaluation.passed,
                }
            )
    return {
        "status": run.status.value,
        "materializations": materializations,
        "observations": observations,
        "checks": checks,
    }


def asset_graph(package: str) -> dict[str, Any]:
    definitions = importlib.import_module(f"{package}.definitions").defs()
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        kind = node.metadata.get("sqlmesh/kind")
        assets[key.to_user_string()] = {
            "executable": node.is_executable,
            "kind": getattr(kind, "value", kind),
        }
    return assets


def main(package: str, *options: str) -> None:
    found: dict[str, Any] = {"nodes": sqlmesh_state(package)}
    if os.environ.get("DAGSTER_HOME"):
        found["run"] = dagster_run()
    if "--graph" in options:
        found["assets"] = asset_graph(package)
    print(json.dumps(found))


if __name__ == "__main__":
    main(*sys.argv[1:])

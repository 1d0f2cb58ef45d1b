"""End to end on DuckDB in the rendered defaults, with real tools (uv, SQLMesh CLI, `dg launch`).

The session's `installed_project` is the output of the README's demo command, which runs the
generated README's quickstart verbatim (uv sync, sqlmesh plan, dg launch). These tests check what
that left in SQLMesh state and in the tables, then run a subset on a fresh database and check that
only the subset ran. The models a run must cover are SQLMesh's (`outcomes.py`), the rows the seeds'.

The tests run in any order: what the demo left is read once, by the first test that needs it
(`quickstart_outcome`), before the subset test replaces the database.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from typing import Any

import pytest
from outcomes import expected_rows, materialized, probe
from projects import Project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quickstart_outcome(installed_project: Project) -> dict[str, Any]:
    """SQLMesh state and the tables as the demo's quickstart left them (read once, before any test
    of this module changes them)."""
    return probe(installed_project)


def plan_command(project: Project) -> str:
    return next(command for command in project.readme_commands() if " plan prod " in command)


def test_quickstart_materialized_every_model_through_dagster(
    installed_project: Project, quickstart_outcome: dict[str, Any]
) -> None:
    found = quickstart_outcome

    assert found["missing"] == {}, "SQLMesh state still has missing intervals"
    # Every model SQLMesh runs, and the audits of the external sources (external_models.yaml),
    # which SQLMesh ran in the same runs and recorded intervals for.
    covered = {name for name, days in found["covered_days"].items() if days > 0}
    assert covered == {*found["models"], *found["audited_sources"]}
    assert found["audited_sources"], "the sample audits its external source"
    assert found["rows"] == expected_rows(installed_project)
    assert Decimal(str(found["net_revenue_usd"])) == Decimal("6029.61")
    assert Decimal(str(found["lifetime_value_usd"])) == Decimal("6029.61")


def test_subset_runs_only_the_selected_models(
    installed_project: Project, quickstart_outcome: dict[str, Any]
) -> None:
    """On a fresh database (the demo's was read by `quickstart_outcome` first)."""
    project = installed_project
    for leftover in project.path.glob("local.duckdb*"):
        leftover.unlink()
    project.run(plan_command(project))
    assert state_covered(project) == set()

    launch = project.run("uv run dg launch --assets seeds/raw_orders,staging/stg_orders")

    assert state_covered(project) == {"seeds.raw_orders", "staging.stg_orders"}
    assert materialized(launch.stderr) == {"seeds.raw_orders", "staging.stg_orders"}

    project.run("uv run dg launch --job __ASSET_JOB")
    found = probe(project)
    assert found["missing"] == {}
    assert found["rows"] == expected_rows(project)


def state_covered(project: Project) -> set[str]:
    covered = probe(project)["covered_days"]
    return {name for name, days in covered.items() if days > 0}


SECOND_CONFIG = """\
gateways:
  local:
    connection:
      type: duckdb
      database: metrics.duckdb
default_gateway: local
model_defaults:
  dialect: duckdb
  start: '2024-01-01'
"""
SECOND_MODEL = """\
MODEL (name metrics.numbers, kind FULL, cron '@daily', grain n);
SELECT 1 AS n UNION ALL SELECT 2 AS n
"""


def test_scaffolded_second_component_checks_and_materializes(installed_project: Project) -> None:
    """`dg scaffold defs` a second SQLMesh project beside the sample, check it, materialize it."""
    project = installed_project
    package = project.package_name
    second = project.path / "src" / package / "metrics_project"
    defs_folder = project.path / "src" / package / "defs" / "metrics"
    (second / "models").mkdir(parents=True)
    (second / "config.yaml").write_text(SECOND_CONFIG)
    (second / "models" / "numbers.sql").write_text(SECOND_MODEL)
    try:
        project.run(
            f"uv run dg scaffold defs {package}.sqlmesh_integration.SQLMeshProjectComponent "
            f"metrics --project-path src/{package}/metrics_project"
        )
        written = (defs_folder / "defs.yaml").read_text()
        assert "project: ../../metrics_project" in written and "name: metrics_models" in written
        project.run("uv run dg check yaml")
        project.run("uv run dg check defs")
        listed = json.loads(project.run("uv run dg list defs --json").stdout)
        keys = {asset["asset_key"] for asset in listed["assets"]}
        assert {"metrics/numbers", "marts/customers"} <= keys, keys
        sensors = {sensor["name"] for sensor in listed["sensors"]}
        assert {"metrics_due_models", "sqlmesh_due_models"} <= sensors, sensors

        project.run(
            f"uv run sqlmesh -p src/{package}/metrics_project plan prod --auto-apply --no-prompts "
            "--skip-backfill"
        )
        launch = project.run("uv run dg launch --assets metrics/numbers")
        assert materialized(launch.stderr) == {"metrics.numbers"}
        count = project.run(
            [
                *("uv", "run", "--no-sync", "python", "-c"),
                "import duckdb; c = duckdb.connect('metrics.duckdb', read_only=True); "
                "print(c.sql('SELECT count(*) FROM metrics.metrics.numbers').fetchone()[0], "
                "c.sql(\"SELECT count(*) FROM sqlmesh._intervals WHERE name LIKE '%numbers%'\")"
                ".fetchone()[0])",
            ]
        ).stdout.split()
        assert count[0] == "2", count
        assert int(count[1]) >= 1, "SQLMesh state records no interval of the model"
    finally:
        shutil.rmtree(second, ignore_errors=True)
        shutil.rmtree(defs_folder, ignore_errors=True)
        state = project.defs_state_dir / "SQLMeshProjectComponent__metrics_project__"
        shutil.rmtree(state, ignore_errors=True)
        for leftover in project.path.glob("metrics.duckdb*"):
            leftover.unlink()

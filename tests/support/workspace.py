"""The generated README's workspace block, and what docs/workspace.md says follows it.

On a copy of the demo's sources (test_readme_commands.py runs it once per test run): the README's
commands turn the project into a `dg` workspace with a second code location, `analytics`, and check
both locations with `dg check defs`. Then, as CI and a user would:
- `sqlmesh-dagster projects` at the workspace root lists both locations' SQLMesh projects (what
  every CI SQLMesh command gets), and both are planned together (multi-repo, one state);
- scripts/ci/refresh-defs-state.sh refreshes each location's defs state;
- the `dagster_cloud.yaml` that `dg plus deploy` writes from the workspace lists both locations;
- `dg launch` materializes the first location, then the second, whose model reads the first's
  `marts.customers` across the two locations: a dependency on its asset key (the edge of the asset
  graph), never an asset of the second location, and its rows are the first's, counted.
"""

from __future__ import annotations

import json

import readme
from projects import Project

LOCATION = "analytics"
# The `dagster_cloud.yaml` `dg plus deploy` writes for a workspace (dagster-dg-cli's own function).
CLOUD_YAML_PROBE = """
import json, tempfile
from pathlib import Path
import yaml
from dagster_dg_cli.cli.utils import create_temp_dagster_cloud_yaml_file
from dagster_dg_core.config import normalize_cli_config
from dagster_dg_core.context import DgContext
context = DgContext.for_workspace_or_project_environment(Path.cwd(), normalize_cli_config({}, None))
with tempfile.TemporaryDirectory() as folder:
    written = yaml.safe_load(Path(create_temp_dagster_cloud_yaml_file(context, folder)).read_text())
print(json.dumps(written["locations"]))
"""
ROWS_PROBE = """
import duckdb
with duckdb.connect("{database}", read_only=True) as connection:
    customers = connection.sql("SELECT count(*) FROM marts.customers").fetchone()[0]
    counted = connection.sql(
        "SELECT sum(customers) FROM {location}.customers_by_segment"
    ).fetchone()[0]
print(customers, counted)
"""


def add_code_location_and_materialize(project: Project) -> None:
    """Runs the README's workspace block on `project` (a copy), then checks and materializes."""
    block = next(
        commands
        for commands in readme.bash_blocks(project.path / "README.md")
        if any("add_code_location.py" in command for command in commands)
    )
    for command in block:
        project.run(command)
    first = f"projects/{project.path.name}"
    assert (project.path / "dg.toml").is_file()
    assert (project.path / first / "src" / project.package_name / "definitions.py").is_file()

    listed = project.run("uv run --frozen sqlmesh-dagster projects").stdout.split()
    projects = [
        f"{first}/src/{project.package_name}/sqlmesh_project",
        f"projects/{LOCATION}/src/{LOCATION}/sqlmesh_project",
    ]
    assert listed == projects, listed
    paths = " ".join(f"-p {folder}" for folder in projects)
    project.run(
        f"uv run --frozen sqlmesh {paths} plan prod --auto-apply --no-prompts --skip-backfill"
    )
    project.run("bash scripts/ci/refresh-defs-state.sh prod", env={"SQLMESH_GATEWAY": "local"})
    for location in (first, f"projects/{LOCATION}"):
        states = list((project.path / location).glob("src/*/defs/.local_defs_state/*/state"))
        assert len(states) == 1 and states[0].stat().st_size, location

    probe = project.run(["uv", "run", "--frozen", "python", "-c", CLOUD_YAML_PROBE])
    locations = json.loads(probe.stdout.splitlines()[-1])
    assert [entry["location_name"] for entry in locations] == [project.path.name, LOCATION]
    assert [entry["code_source"]["module_name"] for entry in locations] == [
        f"{project.package_name}.definitions",
        f"{LOCATION}.definitions",
    ]

    # The second location depends on the first's asset by key; it never defines it.
    definitions = json.loads(
        project.run(f"uv run --frozen dg list defs --json --target-path projects/{LOCATION}").stdout
    )
    assets = {asset["asset_key"]: asset for asset in definitions["assets"]}
    assert assets[f"{LOCATION}/customers_by_segment"]["dependency_keys"] == ["marts/customers"]
    assert not assets["marts/customers"]["is_executable"]

    # A materialization across both locations: the first location's run, then the second's.
    first_run = project.run(f"uv run --frozen dg launch --target-path {first} --job __ASSET_JOB")
    assert "Materialized value marts customers." in first_run.stderr, first_run.stderr[-3000:]
    second_run = project.run(
        f"uv run --frozen dg launch --target-path projects/{LOCATION} --job __ASSET_JOB"
    )
    assert second_run.stderr.count("ASSET_MATERIALIZATION") == 1, second_run.stderr[-3000:]
    assert "RUN_SUCCESS" in second_run.stderr
    database = project.path / first / "local.duckdb"
    rows = ROWS_PROBE.format(database=database, location=LOCATION)
    customers, counted = project.run(["uv", "run", "--frozen", "python", "-c", rows]).stdout.split()
    assert int(customers) > 0 and counted == customers, (customers, counted)

"""The first push deploys: the defaults' deploy workflow on empty production databases.

A `warehouse=postgres` render keeps the sample and its shipped `prod` gateway, pointed at two empty
databases on the test server (the warehouse and SQLMesh state), created for this test and dropped
after it. The deploy workflow's own steps run in order, read from `.github/workflows/deploy.yml`
and classified as test_ci_commands.py does: plan preview, apply, refresh the defs state (the
Dagster+ deploy itself is skipped), then the materialize step as it is, `materialize.sh
dagster-plus`, against a Dagster+ stand-in (fake_dagster_plus.py) that records the launch and
runs it locally with the defs state the deploy job prepared, as the deployed code location would.
Outcomes are read where they live: the environment in the state database, the launched keys against
the models SQLMesh runs, intervals in SQLMesh state, rows in the warehouse against the seeds.

The sample lands its external source itself (`before_all` in settings.yaml) and never shadows a
real table: a row added to that table by someone else is still there after the next run.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import fake_dagster_plus
import pytest
from outcomes import asset_keys, expected_rows, probe
from postgres import POSTGRES_DSN, postgres_sql
from projects import Project, copy_project, require_python
from rendering import Combination
from test_ci_commands import DAGSTER_PLUS_VARIABLES, classify, load_jobs, step_command

pytestmark = pytest.mark.slow

POSTGRES = Combination("3.12", "postgres", "serverless")


@pytest.fixture
def project(render_project: Callable[[Combination], Path], tmp_path: Path) -> Project:
    path = render_project(POSTGRES)
    # A copy: the session's render is shared with the render and secrets scans, which must see
    # the project as cookiecutter wrote it, not the lock file and manifest this test writes.
    python = require_python(POSTGRES.python_version)  # the default version: the demo needs it too
    project = copy_project(
        Project(path, path.name.replace("-", "_"), python, render=POSTGRES.id), tmp_path
    )
    project.run("uv sync")  # writes uv.lock, which the workflow's `uv sync --locked` needs
    return project


@pytest.fixture
def production(project: Project) -> Iterator[dict[str, str]]:
    """Two empty databases (warehouse, state) and the variables the workflow maps from secrets."""
    parts = urlsplit(POSTGRES_DSN)
    suffix = uuid.uuid4().hex[:12]
    server = {
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 5432),
        "user": unquote(parts.username or "postgres"),
        # The scripts require a password; the test server trusts local connections.
        "password": unquote(parts.password or "") or "unused-with-trust-auth",
        "maintenance": parts.path.lstrip("/") or "postgres",
        "warehouse": f"first_deploy_warehouse_{suffix}",
        "state": f"first_deploy_state_{suffix}",
    }
    for database in (server["warehouse"], server["state"]):
        postgres_sql(project, server, f'CREATE DATABASE "{database}"')
    try:
        yield server
    finally:
        for database in (server["warehouse"], server["state"]):
            postgres_sql(project, server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def secrets(server: dict[str, str]) -> dict[str, str]:
    common = {"host": server["host"], "port": server["port"], "user": server["user"]}
    return {
        **{f"POSTGRES_{key.upper()}": value for key, value in common.items()},
        "POSTGRES_PASSWORD": server["password"],
        "POSTGRES_DATABASE": server["warehouse"],
        "POSTGRES_SSLMODE": "disable",  # the test server has no TLS
        **{f"SQLMESH_STATE_{key.upper()}": value for key, value in common.items()},
        "SQLMESH_STATE_PASSWORD": server["password"],
        "SQLMESH_STATE_DATABASE": server["state"],
        "SQLMESH_STATE_SSLMODE": "disable",
    }


def run_job(project: Project, jobs: dict, name: str, env: dict[str, str], log: list[str]) -> None:
    """Runs a job's `run:` steps as CI does (Dagster+ API calls skipped or faked)."""
    for step in jobs[name]["steps"]:
        if "run" not in step:
            continue
        action = classify(step["run"])
        if action.startswith("skip"):
            log.append(f"{name}: skipped `{step['run']}` ({action})")
            continue
        command = step_command(project, step["run"], action)
        log.append(f"{name}: {command}")
        project.run(command, env=env, timeout=1800)


def landed_sample_rows(project: Project) -> int:
    """Rows of the stand-in `raw.exchange_rates` the sample lands (settings.yaml, `before_all`)."""
    text = (project.sqlmesh_project / "settings.yaml").read_text()
    return len(re.findall(r"\('[A-Z]{3}', '\d{4}-\d{2}-\d{2}', [\d.]+\)", text))


def test_defaults_deploy_to_empty_production_databases(
    project: Project, production: dict[str, str], tmp_path: Path
) -> None:
    jobs = load_jobs(project.path, "deploy.yml")
    assert list(jobs) == ["plan", "apply", "deploy", "materialize", "alerts"]
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    env = {
        **secrets(production),
        "CI": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    log: list[str] = []

    def warehouse(sql: str) -> str:
        return postgres_sql(project, production, sql, production["warehouse"])

    def environments() -> str:
        sql = "SELECT name FROM sqlmesh._environments ORDER BY name"
        return postgres_sql(project, production, sql, production["state"])

    run_job(project, jobs, "plan", env, log)
    assert "Explained plan" in summary.read_text()
    tables = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts'"
    assert warehouse(tables) == "[(0,)]", "the preview applied something"

    run_job(project, jobs, "apply", env, log)
    assert environments() == "[('prod',)]"
    landed = landed_sample_rows(project)
    assert landed and warehouse("SELECT count(*) FROM raw.exchange_rates") == f"[({landed},)]"

    run_job(project, jobs, "deploy", env, log)
    assert '"gateway": "prod"' in project.defs_state.read_text()
    keys = next(
        line.removeprefix("keys=")
        for line in reversed(output.read_text().splitlines())
        if line.startswith("keys=")
    )

    # The deployed code location: its defs state is the one the deploy job prepared (a stale or
    # missing one is an error in a deployment), and its runtime variables select the prod gateway.
    deployed_state = tmp_path / "deployed-defs-state"
    shutil.copytree(project.defs_state_dir, deployed_state)
    launches = tmp_path / "dagster-plus-launches.jsonl"
    fake_dagster_plus.install(project, launches, deployed_state)
    runtime = {**env, **DAGSTER_PLUS_VARIABLES, "SQLMESH_GATEWAY": "prod", "ASSET_KEYS": keys}
    run_job(project, jobs, "materialize", runtime, log)
    found = probe(project, runtime)
    (launch,) = fake_dagster_plus.launches(launches)
    # Exactly the models SQLMesh runs: no external source, which Dagster+ would refuse.
    assert set(launch["asset_keys"]) == asset_keys(found["models"]), launch
    assert found["missing"] == {}, "SQLMesh state still has missing intervals"
    assert found["rows"] == expected_rows(project)

    # Someone else's table is never replaced: a row added to it survives the next run.
    warehouse("INSERT INTO raw.exchange_rates VALUES ('CHF', '2024-01-01', 1.15)")
    run_job(project, jobs, "materialize", runtime, log)
    assert len(fake_dagster_plus.launches(launches)) == 2
    count = warehouse("SELECT count(*) FROM raw.exchange_rates")
    assert count == f"[({landed + 1},)]", count
    print("\n".join(log))

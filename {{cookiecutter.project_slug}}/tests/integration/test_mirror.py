"""The mirror, for real: the SQLMesh CLI fills intervals outside Dagster (a plan's backfill, then a
`sqlmesh run`), the due-driven sensor's tick and `sqlmesh-dagster mirror` report them into a
persistent Dagster instance, and what Dagster shows is checked against the intervals in SQLMesh's
state.

One scenario per module (a single applied project, in order): plan, two mirror passes, the CLI
mirror into a second instance, a CLI run, a pass, a partitioned Dagster run, a last pass. Each test
asserts one stage's recorded outcome.
"""

# No `from __future__ import annotations`: Dagster checks the asset function's `context` annotation
# against the real class.
import dataclasses
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    SQLMeshProject,
    SQLMeshResource,
    SQLMeshTranslator,
    build_specs,
    sqlmesh_assets,
    sqlmesh_due_sensor,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.automation.mirror import InstanceLedger, mirror_pass
from {{ cookiecutter.package_name }}.sqlmesh_integration.cli import main as cli_main
from {{ cookiecutter.package_name }}.sqlmesh_integration.connection.context import open_context

from ..support import AUDITED_SOURCES, SHOP_PROJECT_DIR, prepared_manifest

pytestmark = pytest.mark.slow

PARTITIONED = ("marts/orders", "marts/daily_revenue")
DAY = timedelta(days=1)
CI_URL = "https://github.com/acme/data/actions/runs/42"


@dataclasses.dataclass
class Scenario:
    """What each stage left in SQLMesh's state and in Dagster."""

    root: Path
    project: SQLMeshProject
    instance: dg.DagsterInstance
    specs: dict[str, dg.AssetSpec]
    stages: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


def sqlmesh_cli(project: SQLMeshProject, *arguments: str) -> None:
    """Runs the SQLMesh CLI of this environment on the project (as CI and users do)."""
    executable = Path(sys.executable).parent / "sqlmesh"
    subprocess.run(
        [str(executable), "-p", str(project.project_dir), "--gateway", "local", *arguments],
        check=True,
        capture_output=True,
        cwd=project.working_dir,
    )


def filled_state(project: SQLMeshProject) -> dict[str, Any]:
    """SQLMesh's state: per model (asset key form), its intervals and last write; the last plan."""
    context = open_context(project, load=False)
    try:
        environment = context.state_reader.get_environment("prod")
        assert environment is not None
        snapshots = context.state_reader.get_snapshots(environment.snapshots)
        models = {
            "/".join(part.strip('"') for part in snapshot.name.split(".")[-2:]): {
                "intervals": list(snapshot.intervals),
                "last_altered_ts": snapshot.last_altered_ts,
            }
            for snapshot in snapshots.values()
            if snapshot.is_model
        }
        return {"models": models, "finalized_ts": environment.finalized_ts}
    finally:
        context.close()


def days(intervals: list[tuple[int, int]]) -> set[str]:
    """The daily partition keys of SQLMesh intervals (computed here, not by the mirror)."""
    keys = set()
    for start, end in intervals:
        day = datetime.fromtimestamp(start / 1000, tz=UTC)
        while day.timestamp() * 1000 < end:
            keys.add(day.strftime("%Y-%m-%d"))
            day += DAY
    return keys


def materializations(instance: dg.DagsterInstance, key: str) -> list[dg.AssetMaterialization]:
    records = instance.fetch_materializations(dg.AssetKey.from_user_string(key), limit=10_000)
    return [
        record.asset_materialization
        for record in records.records
        if record.asset_materialization is not None
    ]


def source(event: dg.AssetMaterialization) -> str:
    value = event.metadata["sqlmesh/source"]
    return str(getattr(value, "value", value))


def partitioned_definitions(project: SQLMeshProject, execution_time: datetime) -> dg.Definitions:
    """The sample's assets (daily partitions on its time-range models) and the sensor."""
    specs = build_specs(prepared_manifest(project), SQLMeshTranslator(), project.project_dir)

    @sqlmesh_assets(project=project, specs=specs)
    def sqlmesh_models(
        context: dg.AssetExecutionContext, sqlmesh: SQLMeshResource
    ) -> Iterator[Any]:
        yield from sqlmesh.run(context, execution_time=execution_time)

    return dg.Definitions(
        assets=[sqlmesh_models, *specs.external_assets],
        sensors=[sqlmesh_due_sensor(sqlmesh_models)],
        resources={"sqlmesh": SQLMeshResource.for_project(project)},
        executor=dg.in_process_executor,
    )


def mirror_tick(scenario: Scenario) -> list[dg.AssetMaterialization]:
    """One evaluation of the due sensor; its asset events are stored as the daemon stores them."""
    definitions = partitioned_definitions(scenario.project, datetime.now(UTC))
    sensor = definitions.resolve_sensor_def("sqlmesh_due_models")
    context = dg.build_sensor_context(
        instance=scenario.instance,
        resources={"sqlmesh": definitions.resources["sqlmesh"]},
        definitions=definitions,
    )
    data = sensor.evaluate_tick(context)
    events = list(data.asset_events)
    for event in events:  # dagster/_daemon/sensor.py: instance.report_runless_asset_event
        scenario.instance.report_runless_asset_event(event)
    return [event for event in events if isinstance(event, dg.AssetMaterialization)]


def record(scenario: Scenario, stage: str, events: list[dg.AssetMaterialization]) -> None:
    scenario.stages[stage] = {
        "events": events,
        "state": filled_state(scenario.project),
        "partitions": {
            key: set(
                scenario.instance.get_materialized_partitions(dg.AssetKey.from_user_string(key))
            )
            for key in PARTITIONED
        },
        "latest": {key: materializations(scenario.instance, key)[:1] for key in scenario.specs},
    }


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("mirror")
    shutil.copytree(
        SHOP_PROJECT_DIR,
        root / "sqlmesh_project",
        ignore=shutil.ignore_patterns(".dagster", ".cache", "logs", "__pycache__", "*.duckdb*"),
    )
    project = SQLMeshProject(root / "sqlmesh_project", gateway="local", working_dir=root)
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ("SQLMESH_GATEWAY", "SQLMESH_ENVIRONMENT", "DAGSTER_CLOUD_DEPLOYMENT_NAME"):
            monkeypatch.delenv(name, raising=False)
        for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
            monkeypatch.delenv(name, raising=False)
        (root / "dagster_home").mkdir()
        with dg.DagsterInstance.local_temp(str(root / "dagster_home")) as instance:
            definitions = partitioned_definitions(project, datetime.now(UTC))
            specs = {
                spec.key.to_user_string(): spec
                for spec in definitions.resolve_assets_def(dg.AssetKey(["marts", "orders"])).specs
            }
            scenario = Scenario(root=root, project=project, instance=instance, specs=specs)
            _play(scenario, monkeypatch)
            yield scenario


def _play(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    project = scenario.project
    # CI's apply: a plan that backfills (three days, so the test stays small).
    sqlmesh_cli(
        project,
        "plan",
        "prod",
        "--auto-apply",
        "--no-prompts",
        "--skip-tests",
        "--execution-time",
        "2024-01-04",
    )
    capped = mirror_pass(
        scenario.specs.values(), project, "prod", InstanceLedger(scenario.instance), max_events=2
    )
    record(scenario, "plan", mirror_tick(scenario))
    scenario.stages["plan"]["capped"] = capped
    record(scenario, "second pass", mirror_tick(scenario))

    # The CI step: `sqlmesh-dagster mirror` into another instance, with the CI run's URL.
    cli_home = scenario.root / "cli_home"
    cli_home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(cli_home))
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/data")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    arguments = ["--project-dir", str(project.project_dir), "mirror"]
    passes = []
    for _ in range(2):
        exit_code = cli_main(arguments)
        with dg.DagsterInstance.get() as cli_instance:
            passes.append(
                (exit_code, {key: materializations(cli_instance, key) for key in scenario.specs})
            )
    scenario.stages["cli"] = {"passes": passes}
    for name in ("DAGSTER_HOME", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name)

    # A `sqlmesh run prod --end 2024-01-04` from a terminal, which fills the next day: the call
    # the CLI makes (janitor included), in this process to spare a second CLI start.
    context = open_context(project)
    try:
        assert not context.run("prod", end="2024-01-04").is_failure
    finally:
        context.close()
    descriptor = os.open(scenario.root / "local.duckdb.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a run holds it
        scenario.stages["locked"] = {"events": mirror_tick(scenario)}
    finally:
        os.close(descriptor)
    record(scenario, "run", mirror_tick(scenario))

    # Dagster's own run of the day after, as a partitioned run.
    filled = scenario.stages["run"]["state"]["models"]["marts/orders"]["intervals"]
    day = datetime.fromtimestamp(max(end for _, end in filled) / 1000, tz=UTC)
    definitions = partitioned_definitions(project, day + DAY)
    job = definitions.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=scenario.instance,
        asset_selection=[dg.AssetKey.from_user_string(key) for key in PARTITIONED],
        partition_key=day.strftime("%Y-%m-%d"),
    )
    assert result.success
    record(scenario, "dagster run", mirror_tick(scenario))
    scenario.stages["dagster run"]["day"] = day.strftime("%Y-%m-%d")


def test_the_plans_intervals_show_as_materialized_partitions(scenario: Scenario) -> None:
    stage = scenario.stages["plan"]
    for key in PARTITIONED:
        expected = days(stage["state"]["models"][key]["intervals"])
        assert len(expected) == 3
        assert stage["partitions"][key] == expected
    assert {source(event) for event in stage["events"]} == {"plan"}
    assert all("sqlmesh/plan_id" in event.metadata for event in stage["events"])


def test_unpartitioned_models_get_one_materialization_from_the_plan(scenario: Scenario) -> None:
    stage = scenario.stages["plan"]
    filled = {
        key
        for key, model in stage["state"]["models"].items()
        if model["intervals"] and key not in AUDITED_SOURCES  # audited, never materialized
    }
    for key in set(scenario.specs) - set(PARTITIONED):
        latest = stage["latest"][key]
        assert bool(latest) == (key in filled), key
        assert all(source(event) == "plan" for event in latest)
    unpartitioned = [event for event in stage["events"] if event.partition is None]
    assert len(unpartitioned) == len(filled - set(PARTITIONED))


def test_a_capped_pass_leaves_the_rest_for_the_next(scenario: Scenario) -> None:
    capped = scenario.stages["plan"]["capped"]
    assert len(capped.events) == 2
    assert capped.remaining == len(scenario.stages["plan"]["events"]) - 2


def test_a_second_pass_adds_nothing(scenario: Scenario) -> None:
    assert scenario.stages["second pass"]["events"] == []
    assert scenario.stages["second pass"]["partitions"] == scenario.stages["plan"]["partitions"]


def test_the_cli_mirror_reports_once_with_the_ci_run_url(scenario: Scenario) -> None:
    (first_exit, first), (second_exit, second) = scenario.stages["cli"]["passes"]
    assert first_exit == second_exit == 0
    plan_state = scenario.stages["plan"]["state"]["models"]
    for key in scenario.specs:
        # The CLI builds the project's own specs (partitioned or not): one event per partition
        # or one for the asset, whenever SQLMesh filled the model.
        assert bool(first[key]) == bool(plan_state[key]["intervals"]), key
        assert all(source(event) == "plan" for event in first[key])
        assert all(event.metadata["sqlmesh/ci_run_url"].value == CI_URL for event in first[key])
        assert len(second[key]) == len(first[key]), f"the second CLI pass reported {key} again"


def test_a_cli_run_is_mirrored_as_a_run(scenario: Scenario) -> None:
    stage = scenario.stages["run"]
    before = scenario.stages["plan"]["partitions"]
    state = stage["state"]
    for key in PARTITIONED:
        new = days(state["models"][key]["intervals"]) - before[key]
        assert new, "the run filled a new day"
        assert stage["partitions"][key] == before[key] | new
        assert {
            event.partition for event in stage["events"] if event.asset_key.to_user_string() == key
        } == new
    ran = {
        key
        for key, model in state["models"].items()
        if (model["last_altered_ts"] or 0) > state["finalized_ts"]
    }
    assert "marts/customers" in ran
    assert {event.asset_key.to_user_string() for event in stage["events"]} == ran & set(
        scenario.specs
    )
    assert {source(event) for event in stage["events"]} == {"run"}
    assert "sqlmesh/plan_id" not in stage["events"][0].metadata


def test_a_pass_while_a_run_holds_the_database_reports_nothing(scenario: Scenario) -> None:
    assert scenario.stages["locked"]["events"] == []
    assert scenario.stages["run"]["events"], "the next pass reports what the locked one skipped"


def test_what_dagster_materialized_is_not_reported_again(scenario: Scenario) -> None:
    stage = scenario.stages["dagster run"]
    day = stage["day"]
    for key in PARTITIONED:
        assert day in days(stage["state"]["models"][key]["intervals"])
        assert day in stage["partitions"][key]
        records = materializations(scenario.instance, key)
        assert sum(1 for event in records if event.partition == day) == 1
    assert stage["events"] == []

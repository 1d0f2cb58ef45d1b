"""The janitor job: SQLMesh's janitor in a job of its own, never inside a model run.

A closed pull request's environment (`pr_1`, invalidated as CI's close job does) with a model
change of its own is left behind; a model run keeps it; the `sqlmesh_janitor` job, executed on a
persistent instance like `dg launch --job sqlmesh_janitor`, drops its views and the table it built,
keeps prod's, and reports exactly what disappeared from the warehouse and the state.
"""

from __future__ import annotations

import time
from typing import Any

import dagster as dg
import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import sqlmesh_definitions
from {{ cookiecutter.package_name }}.sqlmesh_integration.connection.context import open_context

from ..support import SampleProject, prepared_manifest
from .code_location import code_location, launch, step_failure

pytestmark = pytest.mark.slow

Objects = set[tuple[str, str, str]]  # (schema, name, type) in the DuckDB file


def objects(sample: SampleProject) -> Objects:
    """Every table and view of the warehouse (the DuckDB file), SQLMesh's state tables aside."""
    rows = sample.query(
        "SELECT table_catalog || '.' || table_schema, table_name, table_type "
        "FROM information_schema.tables WHERE table_schema <> 'sqlmesh'"
    )
    return {(str(schema), str(name), str(kind)) for schema, name, kind in rows}


def environments(sample: SampleProject) -> set[str]:
    return {str(name) for (name,) in sample.query("SELECT name FROM sqlmesh._environments")}


def pull_request_environment_left_behind(sample: SampleProject) -> None:
    """`pr_1` with its own version of `marts.customers`, planned, then closed (invalidated).

    Its snapshots expire one second after they are written (`snapshot_ttl`), so the janitor may
    drop the table it built; prod's snapshots stay in use by prod.
    """
    settings = sample.project.project_dir / "settings.yaml"
    settings.write_text(settings.read_text() + "\nsnapshot_ttl: in 1 second\n")
    customers = sample.models_dir / "marts" / "customers.sql"
    original = customers.read_text()
    head, _, tail = original.rpartition("SELECT")
    customers.write_text(f"{head}SELECT\n  1 AS pull_request_column, /* Added in pr_1. */{tail}")
    context = open_context(sample.project)
    try:
        context.plan("pr_1", auto_apply=True, no_prompts=True, skip_tests=True)
        context.invalidate_environment("pr_1")  # what scripts/ci/invalidate-environment.sh does
        pull_request, prod = (
            context.state_reader.get_environment(name) for name in ("pr_1", "prod")
        )
        assert pull_request is not None and prod is not None
        own = set(pull_request.snapshots) - set(prod.snapshots)  # the changed model's
        snapshots = context.state_reader.get_snapshots(own).values()
        assert snapshots
        expires = max(snapshot.expiration_ts for snapshot in snapshots) / 1000
    finally:
        context.close()
    customers.write_text(original)  # merged elsewhere; the deployed code is prod's
    settings.write_text(settings.read_text().replace("\nsnapshot_ttl: in 1 second\n", ""))
    time.sleep(max(0.0, expires - time.time()) + 0.1)  # until SQLMesh considers them expired


def output_metadata(instance: dg.DagsterInstance, run_id: str) -> dict[str, Any]:
    (event,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT)
    assert event.dagster_event is not None
    data = event.dagster_event.step_output_data
    return {key: value.value for key, value in data.metadata.items()}


def reported(metadata: dict[str, Any], dropped: Objects) -> None:
    """The janitor's metadata names exactly the views and tables that left the warehouse."""
    for key, kind in (("sqlmesh/dropped_views", "VIEW"), ("sqlmesh/dropped_tables", "BASE TABLE")):
        assert sorted(metadata[key]) == sorted(
            f"{schema}.{name}" for schema, name, object_kind in dropped if object_kind == kind
        ), key


def test_the_janitor_job_drops_what_expired_and_reports_it(
    applied_sample: SampleProject, instance: dg.DagsterInstance
) -> None:
    sample = applied_sample
    location = code_location(sample)
    repository = location.get_definition()
    assert "sqlmesh_janitor" in {job.name for job in repository.get_all_jobs()}  # loads them all
    schedule = repository.get_schedule_def("sqlmesh_janitor_schedule")
    assert schedule.job_name == "sqlmesh_janitor" and schedule.cron_schedule == "0 3 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    prod = objects(sample)
    pull_request_environment_left_behind(sample)
    start = objects(sample)
    pr_views = {obj for obj in start if obj[0].endswith("__pr_1")}
    ((schema, pr_table, _),) = {  # the table pr_1 built for its version of marts.customers
        obj for obj in start - prod if obj[0].endswith(".sqlmesh__marts") and obj[2] == "BASE TABLE"
    }
    assert pr_views and pr_table.startswith("marts__customers__")
    # The warehouse refuses one drop (as a role without the right would): a view stands where the
    # janitor expects the table.
    table, kept = (f'{schema.split(".")[1]}."{name}"' for name in (pr_table, f"{pr_table}_kept"))
    sample.execute(f'ALTER TABLE {table} RENAME TO "{pr_table}_kept"')
    sample.execute(f"CREATE VIEW {table} AS SELECT 1 AS blocking_the_drop")

    # A model run in prod no longer runs SQLMesh's janitor, so its failure cannot fail the run,
    # and the expired environment stays until the janitor job runs.
    run = launch(
        location, instance, "__ASSET_JOB", asset_selection=[dg.AssetKey(["seeds", "raw_customers"])]
    )
    assert run.success
    assert "pr_1" in environments(sample) and pr_views <= objects(sample)

    before = objects(sample)
    failed = launch(location, instance, "sqlmesh_janitor")

    assert not failed.success
    after_failure = objects(sample)
    assert environments(sample) == {"prod"} and not after_failure & pr_views
    message, metadata = step_failure(instance, failed.run_id)
    assert pr_table in message and "run the janitor job again" in message, message
    assert metadata["sqlmesh/dropped_environments"] == ["pr_1"]
    reported(metadata, before - after_failure)

    # The cause fixed, the next run drops what the failed one could not.
    sample.execute(f"DROP VIEW {table}")
    sample.execute(f'ALTER TABLE {kept} RENAME TO "{pr_table}"')
    before = objects(sample)
    result = launch(location, instance, "sqlmesh_janitor")

    assert result.success
    after = objects(sample)
    assert (schema, pr_table, "BASE TABLE") in before - after
    assert prod <= after, "the janitor dropped something prod uses"
    metadata = output_metadata(instance, result.run_id)
    assert metadata["sqlmesh/dropped_environments"] == []
    reported(metadata, before - after)
    assert metadata["sqlmesh/janitor_warnings"] == []
    for view_schema, name, kind in prod:
        if kind == "VIEW" and view_schema.split(".")[1] in {"seeds", "staging", "marts"}:
            sample.query(f'SELECT count(*) FROM {view_schema.split(".")[1]}."{name}"')

    again = launch(location, instance, "sqlmesh_janitor")
    assert again.success and objects(sample) == after
    assert output_metadata(instance, again.run_id) == {
        "sqlmesh/dropped_environments": [],
        "sqlmesh/dropped_views": [],
        "sqlmesh/dropped_tables": [],
        "sqlmesh/janitor_warnings": [],
    }


def test_each_sqlmesh_project_gets_its_own_janitor(applied_sample: SampleProject) -> None:
    """Named after the op, like the sensor, so that several projects' definitions merge
    (tests/test_materialize.py merges two)."""
    manifest = prepared_manifest(applied_sample.project)
    scheduled = {}
    for name in ("sqlmesh", "finance"):
        definitions = sqlmesh_definitions(
            applied_sample.project, manifest=manifest, name=f"{name}_models"
        )
        (schedule,) = definitions.schedules or []
        assert isinstance(schedule, dg.ScheduleDefinition)
        assert definitions.resolve_job_def(schedule.job_name)
        scheduled[schedule.name] = schedule.job_name
    assert scheduled == {
        "sqlmesh_janitor_schedule": "sqlmesh_janitor",
        "finance_janitor_schedule": "finance_janitor",
    }
    unscheduled = sqlmesh_definitions(applied_sample.project, manifest=manifest, janitor_cron=None)
    assert unscheduled.resolve_job_def("sqlmesh_janitor") and not list(unscheduled.schedules or [])


def test_a_branch_deployment_skips_the_janitor_schedule(
    applied_sample: SampleProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The full deployment's janitor cleans the state a branch deployment shares with it."""
    definitions = sqlmesh_definitions(
        applied_sample.project, manifest=prepared_manifest(applied_sample.project)
    )
    schedule = definitions.resolve_schedule_def("sqlmesh_janitor_schedule")

    def tick() -> Any:
        with dg.instance_for_test() as instance:
            context = dg.build_schedule_context(instance=instance)
            return schedule.evaluate_tick(context)

    assert schedule.job_name == "sqlmesh_janitor" and len(tick().run_requests or []) == 1
    monkeypatch.setenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "1")
    skipped = tick()
    assert not skipped.run_requests and "branch deployment" in (skipped.skip_message or "")

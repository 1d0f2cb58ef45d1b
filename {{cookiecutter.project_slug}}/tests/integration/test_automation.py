"""The due-driven sensor, evaluated for real: Dagster's tick evaluation on a persistent instance,
real SQLMesh state on the sample's DuckDB file, what is due checked against SQLMesh itself.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from typing import Any

import dagster as dg
import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import sqlmesh_definitions
from {{ cookiecutter.package_name }}.sqlmesh_integration.automation.sensor import DEFAULT_SENSOR_NAME

from ..support import AUDITED_SOURCES, SampleProject, prepared_manifest
from .test_partitions import filled_days

pytestmark = pytest.mark.slow

SensorTick = Any  # dagster's SensorExecutionData (not exported)

MARTS = {"marts/orders", "marts/daily_revenue", "marts/customers"}


def tick(sample: SampleProject, instance: dg.DagsterInstance) -> SensorTick:
    """One evaluation of the sensor as the daemon runs it (the real evaluation function)."""
    definitions = sqlmesh_definitions(sample.project, manifest=prepared_manifest(sample.project))
    sensor = definitions.resolve_sensor_def(DEFAULT_SENSOR_NAME)
    context = dg.build_sensor_context(
        instance=instance,
        resources={"sqlmesh": definitions.resources["sqlmesh"]},
        definitions=definitions,
    )
    return sensor.evaluate_tick(context)


def requested_keys(data: SensorTick) -> set[str]:
    (request,) = data.run_requests or []
    return {key.to_user_string() for key in request.asset_selection or []}


def launch(
    sample: SampleProject, instance: dg.DagsterInstance, data: SensorTick
) -> dg.ExecuteInProcessResult:
    """Executes the tick's run request on the instance, tagged as the daemon tags it."""
    (request,) = data.run_requests or []
    definitions = sqlmesh_definitions(sample.project, manifest=prepared_manifest(sample.project))
    job = definitions.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        asset_selection=list(request.asset_selection or []),
        tags={**request.tags, "dagster/sensor_name": DEFAULT_SENSOR_NAME},
        raise_on_error=False,
    )


def test_due_models_get_one_run_which_leaves_nothing_due(
    applied_sample: SampleProject, instance: dg.DagsterInstance
) -> None:
    sample = applied_sample
    due = {name.replace(".", "/") for name in sample.missing_intervals()} - AUDITED_SOURCES
    assert due >= MARTS

    data = tick(sample, instance)

    assert data.skip_message is None
    assert requested_keys(data) == due
    result = launch(sample, instance, data)
    assert result.success
    assert sample.missing_intervals() == {}
    # The run has no partition range; the daily marts are reported per day SQLMesh filled.
    orders = instance.get_materialized_partitions(dg.AssetKey(["marts", "orders"]))
    assert orders == set(filled_days(sample, "marts.orders")) != set()

    data = tick(sample, instance)

    assert not data.run_requests
    assert data.skip_message is not None and "Nothing is due" in data.skip_message


def test_only_the_models_still_due_are_requested(
    applied_sample: SampleProject, instance: dg.DagsterInstance
) -> None:
    sample = applied_sample
    due = {name.replace(".", "/") for name in sample.missing_intervals()} - AUDITED_SOURCES
    assert sample.materialize(sorted(due - MARTS)).success
    assert {name.replace(".", "/") for name in sample.missing_intervals()} == MARTS

    assert requested_keys(tick(sample, instance)) == MARTS


def test_a_tick_after_a_plan_reads_the_new_snapshots(
    applied_sample: SampleProject, instance: dg.DagsterInstance
) -> None:
    """Ticks keep the snapshots they loaded (re-reading intervals) until a plan changes them."""
    sample = applied_sample
    assert sample.materialize().success
    assert not tick(sample, instance).run_requests  # the code server now holds the snapshots

    customers = sample.models_dir / "marts" / "customers.sql"
    customers.write_text(
        customers.read_text().replace(
            "\nSELECT\n", "\nSELECT\n  1 AS revision, /* A new column. */\n", 1
        )
    )
    sample.plan(skip_tests=True)  # a new version of marts.customers (not backfilled)

    assert set(sample.missing_intervals()) == {"marts.customers"}
    assert requested_keys(tick(sample, instance)) == {"marts/customers"}


def test_a_run_holding_the_lock_file_skips_the_tick(
    applied_sample: SampleProject, instance: dg.DagsterInstance
) -> None:
    sample = applied_sample
    descriptor = os.open(sample.root / "local.duckdb.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)

        data = tick(sample, instance)
    finally:
        os.close(descriptor)

    assert not data.run_requests
    assert data.skip_message is not None and "a SQLMesh run holds" in data.skip_message
    assert tick(sample, instance).run_requests, "the next tick asks again"


def test_another_process_holding_the_database_skips_the_tick(
    applied_sample: SampleProject, instance: dg.DagsterInstance
) -> None:
    sample = applied_sample
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('open', flush=True); "
            "sys.stdin.read()",
            str(sample.root / "local.duckdb"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"

        data = tick(sample, instance)
    finally:
        holder.communicate("")

    assert not data.run_requests
    assert data.skip_message is not None
    assert "another process holds the DuckDB file" in data.skip_message


def test_a_run_in_flight_from_the_sensor_skips_the_tick(
    applied_sample: SampleProject, instance: dg.DagsterInstance
) -> None:
    sample = applied_sample
    run = instance.add_run(
        dg.DagsterRun(
            job_name="__ASSET_JOB",
            status=dg.DagsterRunStatus.STARTED,
            tags={"dagster/sensor_name": DEFAULT_SENSOR_NAME},
        )
    )

    data = tick(sample, instance)

    assert not data.run_requests
    assert data.skip_message is not None and run.run_id in data.skip_message


def test_definitions_with_the_sensor_load_without_sqlmesh(applied_sample: SampleProject) -> None:
    code = (
        "import sys; from pathlib import Path; "
        "from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProject, "
        "sqlmesh_definitions; "
        "project = SQLMeshProject(Path(sys.argv[1]), gateway='local', "
        "working_dir=Path(sys.argv[2])); "
        "defs = sqlmesh_definitions(project); "
        f"defs.resolve_sensor_def('{DEFAULT_SENSOR_NAME}'); "
        "print(sorted(name for name in sys.modules "
        "if name.split('.')[0] in {'sqlmesh', 'sqlglot'}))"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(applied_sample.project.project_dir),
            str(applied_sample.root),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]", result.stdout

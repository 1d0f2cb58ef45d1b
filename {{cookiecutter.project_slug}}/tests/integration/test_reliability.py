"""Reliability drills: an unreachable state database; Dagster's report against SQLMesh state.

The other drills are in test_materialize.py (a SQL error and a blocking audit mid-graph, each
healed by a rerun; code changed but not applied) and, where they need several processes, a Dagster
instance or a PostgreSQL server, in the template's own test suite (concurrent runs, a run killed
with SIGKILL, SQLMesh state in Postgres).
"""

from __future__ import annotations

import re
import socket

import dagster as dg
import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    SQLMeshProject,
    sqlmesh_definitions,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.manifest import write_manifest
from {{ cookiecutter.package_name }}.sqlmesh_integration.execution import runner
from {{ cookiecutter.package_name }}.sqlmesh_integration.prepare.manifest_builder import prepare_manifest

from ..support import (
    AUDITED_SOURCES,
    SampleProject,
    failure_models,
    materialized_keys,
    sqlmesh_model_keys,
    step_failure_message,
)
from .test_materialize import ALL_MODELS

pytestmark = pytest.mark.slow


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def add_gateway(sample: SampleProject, name: str, body: str) -> None:
    """Adds a gateway to the copied project's settings.yaml (the shipped one is not touched)."""
    config = sample.project.project_dir / "settings.yaml"
    text = config.read_text()
    assert "\ngateways:\n" in text
    indented = "".join(f"    {line}\n" if line else "\n" for line in body.strip().splitlines())
    config.write_text(text.replace("\ngateways:\n", f"\ngateways:\n  {name}:\n{indented}", 1))


def deployed_job_on_postgres_state(
    sample: SampleProject,
    monkeypatch: pytest.MonkeyPatch,
    gateway: str,
    host: str,
    password: str = "",
) -> dg.JobDefinition:
    """The SQLMesh job of a deployment whose gateway keeps SQLMesh state in Postgres at `host`.

    As in a deployment: the gateway comes from SQLMESH_GATEWAY, and the manifest was prepared in CI
    (here without the state, which preparing tolerates).
    """
    add_gateway(
        sample,
        gateway,
        f"""
connection:
  type: duckdb
  database: local.duckdb
state_connection:
  type: postgres
  host: "{host}"
  port: {closed_port()}
  user: sqlmesh
  password: "{password}"
  database: sqlmesh_state
""",
    )
    monkeypatch.setenv("SQLMESH_GATEWAY", gateway)
    project = SQLMeshProject(sample.project.project_dir, working_dir=sample.root)
    manifest = prepare_manifest(project)  # the state is unreachable: prepared from the code
    models = sqlmesh_model_keys(sample.project)
    assert {f"{model.schema}/{model.table}" for model in manifest.models} == models
    write_manifest(project.resolved_manifest_path, manifest)
    monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", "prod")
    definitions = sqlmesh_definitions(project)  # the code location loads from the manifest alone
    return definitions.resolve_implicit_global_asset_job_def()


def test_unreachable_state_database_loads_definitions_and_fails_the_run_naming_it(
    sample: SampleProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = deployed_job_on_postgres_state(sample, monkeypatch, "unreachable_state", "127.0.0.1")
    keys = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert keys == sqlmesh_model_keys(sample.project)

    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)

    assert not result.success
    assert materialized_keys(result) == set()
    message = step_failure_message(result)
    assert "StateConnectionError" in message
    assert "gateway `unreachable_state`" in message
    assert re.search(r"127\.0\.0\.1.*port \d+", message), message
    # No model failed; every selected one was skipped: the failure names them as metadata.
    assert failure_models(result) == ([], sorted(key.replace("/", ".") for key in ALL_MODELS))


def test_a_credential_in_a_failed_connection_never_reaches_the_dagster_events(
    sample: SampleProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state host set to a whole DSN (a common mistake): the driver quotes it, password too."""
    secret = "".join(["s3", "cr3t", "-Pa55"])  # built at run time: no credential literal here
    dsn = "postgresql://sqlmesh" + ":" + secret + "@127.0.0.1:5432/sqlmesh_state"
    job = deployed_job_on_postgres_state(sample, monkeypatch, "leaky_state", dsn, secret)

    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        records = instance.all_logs(result.run_id)

    assert not result.success
    message = step_failure_message(result)
    # The real driver error, masked: the failure still says what went wrong and where.
    assert "could not translate host name" in message
    assert "postgresql://sqlmesh" + ":***@127.0.0.1" in message
    event_text = "\n".join(dg.serialize_value(record) for record in records)
    assert "could not translate host name" in event_text
    assert secret not in event_text


def test_a_branch_deployment_pointed_at_prod_fails_before_touching_it(
    applied_sample: SampleProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "1")
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", "42")
    monkeypatch.setenv("SQLMESH_ENVIRONMENT", "prod")

    result = applied_sample.materialize()

    assert not result.success
    assert materialized_keys(result) == set()
    message = step_failure_message(result)
    assert "BranchDeploymentEnvironmentError" in message
    assert "only use SQLMesh environment `pr_42`, not `prod`" in message
    assert failure_models(result) == ([], sorted(key.replace("/", ".") for key in ALL_MODELS))
    assert set(applied_sample.intervals().values()) == {0}, "prod was computed"


def test_nothing_is_reported_materialized_that_sqlmesh_did_not_record(
    applied_sample: SampleProject,
) -> None:
    """Blocking audit mid-graph, then the healed rerun: Dagster's materializations match the state.

    A model is reported materialized exactly when SQLMesh recorded new intervals for it in that run.
    """
    sample = applied_sample
    seeds = ["seeds/raw_orders", "seeds/raw_payments", "seeds/raw_customers"]
    assert sample.materialize(seeds).success
    sample.execute("INSERT INTO raw.exchange_rates SELECT * FROM raw.exchange_rates")

    for heal in (False, True):
        if heal:
            sample.execute(
                "CREATE OR REPLACE TABLE raw.exchange_rates AS "
                "SELECT DISTINCT * FROM raw.exchange_rates"
            )
        before = sample.intervals()
        result = sample.materialize()
        after = sample.intervals()

        recorded = {
            name.replace(".", "/") for name, days in after.items() if days != before.get(name)
        }
        assert materialized_keys(result) == recorded - AUDITED_SOURCES
        assert result.success is heal
    assert sample.missing_intervals() == {}


def test_a_bug_while_reading_state_surfaces_as_itself(
    applied_sample: SampleProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a database that cannot be reached is reported as StateConnectionError."""

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug in the integration")

    monkeypatch.setattr(runner, "environment_snapshots", broken)
    result = applied_sample.materialize()

    assert not result.success
    message = step_failure_message(result)
    assert "a bug in the integration" in message
    assert "StateConnectionError" not in message

"""Test support for the integration's tests: a fixture SQLMesh project copied into a temporary
folder, applied and run for real.

The integration's tests never use the SQLMesh project of this repository (`src/<package>/
sqlmesh_project/`, yours to replace): they run on fixture projects under `tests/fixtures/`.
`tests/fixtures/shop/` is the sample shop as the template shipped it. Every test gets its own copy
and its own DuckDB file, so tests never touch the developer's `local.duckdb` and can break models or
data freely. Planning is done with the SQLMesh API (what `sqlmesh plan` does); materializing goes
through Dagster (`execute_in_process` of the real assets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    SQLMeshProject,
    SQLMeshTranslator,
    sqlmesh_definitions,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.connection.context import open_context
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.manifest import (
    Manifest,
    load_manifest,
    write_manifest,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.errors import SQLMeshIntegrationError
from {{ cookiecutter.package_name }}.sqlmesh_integration.prepare.manifest_builder import prepare_manifest

if TYPE_CHECKING:
    from sqlmesh.core.snapshot import Snapshot

FIXTURES_DIR = Path(__file__).parent / "fixtures"
# The sample shop as the template shipped it (copied here when the project was generated): the
# project most of the integration's tests run on.
SHOP_PROJECT_DIR = FIXTURES_DIR / "shop"
# The shop's external sources with audits (external_models.yaml): nodes with intervals of their
# own in SQLMesh state, audited in the runs of the models that read them, never materialized.
AUDITED_SOURCES = frozenset({"raw/exchange_rates"})


@dataclass
class SampleProject:
    """A copy of a fixture SQLMesh project (the shop unless a test says otherwise) with its own
    DuckDB file."""

    root: Path
    project: SQLMeshProject

    @property
    def models_dir(self) -> Path:
        return self.project.project_dir / "models"

    def plan(self, *, skip_backfill: bool = True, skip_tests: bool = False) -> None:
        """Applies the project to prod, like `sqlmesh plan prod --auto-apply --no-prompts`."""
        context = open_context(self.project)
        try:
            context.plan(
                "prod",
                auto_apply=True,
                no_prompts=True,
                skip_backfill=skip_backfill,
                skip_tests=skip_tests,
            )
        finally:
            context.close()

    def materialize(
        self,
        selection: Sequence[str] | None = None,
        translator: SQLMeshTranslator | None = None,
    ) -> dg.ExecuteInProcessResult:
        """Materializes assets through Dagster; `selection` holds asset keys like `marts/orders`."""
        definitions = sqlmesh_definitions(
            self.project,
            translator=translator,
            manifest=prepared_manifest(self.project),
        )
        job = definitions.resolve_implicit_global_asset_job_def()
        keys = (
            [dg.AssetKey.from_user_string(key) for key in selection]
            if selection is not None
            else None
        )
        with dg.instance_for_test() as instance:
            return job.execute_in_process(
                instance=instance, asset_selection=keys, raise_on_error=False
            )

    def run_checks(self) -> dg.ExecuteInProcessResult:
        """Executes every asset check alone (a job selecting only checks, like the UI's Execute)."""
        definitions = dg.Definitions.merge(
            sqlmesh_definitions(self.project, manifest=prepared_manifest(self.project)),
            dg.Definitions(
                jobs=[dg.define_asset_job("checks", selection=dg.AssetSelection.all_asset_checks())]
            ),
        )
        with dg.instance_for_test() as instance:
            return definitions.resolve_job_def("checks").execute_in_process(
                instance=instance, raise_on_error=False
            )

    def query(self, sql: str) -> list[tuple[object, ...]]:
        """Runs a read-only query on the project's DuckDB file."""
        with duckdb.connect(str(self.root / "local.duckdb"), read_only=True) as connection:
            return connection.sql(sql).fetchall()

    def execute(self, sql: str) -> None:
        """Runs a statement on the project's DuckDB file (to break or heal data)."""
        with duckdb.connect(str(self.root / "local.duckdb")) as connection:
            connection.execute(sql)

    def intervals(self) -> dict[str, float]:
        """Days of data SQLMesh state records per model (`schema.table`) in prod."""
        return {
            short_name(snapshot.name): sum(end - start for start, end in snapshot.intervals)
            / 86_400_000
            for snapshot in prod_snapshots(self.project)
        }

    def missing_intervals(self) -> dict[str, int]:
        """Models (`schema.table`) with intervals due but missing in prod, from SQLMesh state."""
        context = open_context(self.project, load=False)
        try:
            missing = context.scheduler(environment="prod").merged_missing_intervals()
            return {
                short_name(snapshot.name): len(found)
                for snapshot, found in missing.items()
                if found
            }
        finally:
            context.close()


def prod_snapshots(project: SQLMeshProject) -> list[Snapshot]:
    """The snapshots SQLMesh state holds for `prod` (the project must have been applied)."""
    context = open_context(project, load=False)
    try:
        environment = context.state_reader.get_environment("prod")
        assert environment is not None, "the project was never applied to prod"
        return list(context.state_reader.get_snapshots(environment.snapshots).values())
    finally:
        context.close()


def sqlmesh_model_keys(project: SQLMeshProject, *, external: bool = False) -> set[str]:
    """The asset keys (`schema/table`, the default translation) of the models SQLMesh loads.

    What tests compare Dagster's assets with, as sets, instead of counting them: the project's
    models that are not external, or with `external` its external models (external_models.yaml).
    """
    context = open_context(project)
    try:
        return {
            short_name(model.fqn).replace(".", "/")
            for model in context.models.values()
            if model.kind.is_external is external
        }
    finally:
        context.close()


def launch(
    sample: SampleProject,
    instance: dg.DagsterInstance,
    selection: Sequence[str],
    partition_range: tuple[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of the selected assets on `instance`, tagged as a partition-range launch tags it."""
    definitions = sqlmesh_definitions(sample.project, manifest=prepared_manifest(sample.project))
    run_tags = dict(tags or {})
    if partition_range is not None:
        run_tags["dagster/asset_partition_range_start"] = partition_range[0]
        run_tags["dagster/asset_partition_range_end"] = partition_range[1]
    return definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey.from_user_string(key) for key in selection],
        tags=run_tags,
        raise_on_error=False,
    )


def prepared_manifest(project: SQLMeshProject) -> Manifest:
    """The project's manifest file, prepared again when a test edited the project (or none exists).

    What `uv run sqlmesh-dagster prepare` does, only when needed: tests edit models between runs.
    """
    try:
        return load_manifest(project)
    except SQLMeshIntegrationError:
        manifest = prepare_manifest(project)
        write_manifest(project.resolved_manifest_path, manifest)
        return manifest


def materialized_keys(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.asset_key
    }


def check_results(
    result: dg.ExecuteInProcessResult,
) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    evaluations = {}
    for event in result.get_asset_check_evaluations():
        evaluations[(event.asset_key.to_user_string(), event.check_name)] = event
    return evaluations


def observed_keys(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        event.asset_key.to_user_string()
        for event in result.get_asset_observation_events()
        if event.asset_key
    }


def failure_models(result: dg.ExecuteInProcessResult) -> tuple[list[str], list[str]]:
    """The failed and the skipped models the step's failure names in its metadata."""
    failures = [event for event in result.all_events if event.is_step_failure]
    assert failures, "expected the SQLMesh step to fail"
    user_failure = failures[0].step_failure_data.user_failure_data
    assert user_failure is not None, "the step failed with an error, not a dagster.Failure"
    metadata = user_failure.metadata
    return metadata["sqlmesh/failed_models"].value, metadata["sqlmesh/skipped_models"].value


def step_failure_message(result: dg.ExecuteInProcessResult) -> str:
    failures = [event for event in result.all_events if event.is_step_failure]
    assert failures, "expected the SQLMesh step to fail"
    error = failures[0].step_failure_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def short_name(name: str) -> str:
    """A SQLMesh name as `schema.table` (no catalog, no quotes)."""
    return ".".join(part.strip('"') for part in name.split(".")[-2:])

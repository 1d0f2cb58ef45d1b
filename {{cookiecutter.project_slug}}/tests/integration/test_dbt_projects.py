"""A dbt-format project run by SQLMesh's dbt loader, end to end through Dagster.

`tests/fixtures/dbt_shop/` is a small dbt project (`dbt_project.yml`, a profile, and the
`sqlmesh.yaml` that `sqlmesh init -t dbt` writes): seeds, a source with tests, a view, a table, an
ephemeral model, an incremental model by unique key and one by day (microbatch), a snapshot (SCD
type 2), generic tests, two `relationships` tests and a singular test. A copy of it is applied
once; then Dagster materializes everything (the asset job, as `dg launch --job __ASSET_JOB` does)
while a second copy of the same applied state gets a plain `sqlmesh run`.

SQLMesh is the oracle: the models and tests it loaded, the intervals it recorded, the tables it
wrote. The project also holds a dangling symlink, as a dbt checkout may.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from sqlmesh.utils import CompletionStatus

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProject, sqlmesh_definitions
from {{ cookiecutter.package_name }}.sqlmesh_integration.connection.context import open_context
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.manifest import Manifest
from {{ cookiecutter.package_name }}.sqlmesh_integration.operations.doctor import diagnose

from ..support import prepared_manifest, prod_snapshots

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parents[1] / "fixtures" / "dbt_shop"
GATEWAY = "local"  # the profile's target: SQLMesh's dbt loader names the gateway after it
SQLMESH = Path(sys.executable).parent / "sqlmesh"


@dataclass(frozen=True)
class DbtShop:
    """The applied fixture (for Dagster), and a copy of its state (for a plain `sqlmesh run`)."""

    project: SQLMeshProject
    plain_root: Path
    models: dict[str, str]  # SQLMesh name -> kind, as SQLMesh loaded them
    audits: Counter[tuple[str, str]]  # (node, audit) SQLMesh runs

    @property
    def root(self) -> Path:
        return self.project.resolved_working_dir

    def asset(self, name: str) -> str:
        return "/".join(part.strip('"') for part in name.split(".")[-2:])


def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SQLMESH_GATEWAY", "SQLMESH_ENVIRONMENT", "DAGSTER_CLOUD_DEPLOYMENT_NAME"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def dbt_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbtShop]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _clean_environment(monkeypatch)
        root = tmp_path_factory.mktemp("dbt")
        project_dir = root / "dbt_shop"
        shutil.copytree(FIXTURE, project_dir, ignore=shutil.ignore_patterns("target", "logs"))
        # A dangling symlink beside dbt_project.yml, as a checkout may hold (it crashed every
        # definitions load once). dbt itself fails on one inside `models/`.
        (project_dir / "notes.md").symlink_to(root / "missing.md")
        project = SQLMeshProject(project_dir, gateway=GATEWAY, working_dir=root)
        # SQLMesh 0.236.4 fingerprints a dbt model of kind INCREMENTAL_BY_TIME_RANGE differently
        # on a load without its model cache (`.cache/`) than on every load after it: warm the
        # cache first, as any earlier command would (docs/integration.md, "Bring your dbt project").
        open_context(project).close()
        context = open_context(project)
        try:
            context.plan("prod", auto_apply=True, no_prompts=True, skip_backfill=True)
            models = {
                name: model.kind.name.value
                for name, model in context.models.items()
                if not model.kind.is_external
            }
            audits: Counter[tuple[str, str]] = Counter(
                (name, audit.name)
                for name, model in context.models.items()
                if not model.kind.is_embedded
                for audit, _ in model.audits_with_args
                if not audit.skip
            )
            audits.update(
                (audit.name, audit.name)
                for audit in context.standalone_audits.values()
                if not audit.skip
            )
        finally:
            context.close()
        plain_root = tmp_path_factory.mktemp("dbt_plain")
        shutil.copytree(root, plain_root, dirs_exist_ok=True, symlinks=True)
        yield DbtShop(project, plain_root, models, audits)


@pytest.fixture(scope="module")
def manifest(dbt_shop: DbtShop) -> Manifest:
    return prepared_manifest(dbt_shop.project)


@pytest.fixture(scope="module")
def dagster_run(dbt_shop: DbtShop, manifest: Manifest) -> Iterator[dg.ExecuteInProcessResult]:
    """Everything materialized through Dagster once, on a persistent instance."""
    definitions = sqlmesh_definitions(dbt_shop.project, manifest=manifest)
    job = definitions.resolve_implicit_global_asset_job_def()
    home = dbt_shop.root / "dagster_home"
    home.mkdir()
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        yield job.execute_in_process(instance=instance, raise_on_error=False)


def test_every_dbt_model_is_an_asset_and_every_test_a_check(
    dbt_shop: DbtShop, manifest: Manifest
) -> None:
    definitions = sqlmesh_definitions(dbt_shop.project, manifest=manifest)
    graph = definitions.resolve_asset_graph()
    assets_defs = {
        spec.metadata["sqlmesh/model_name"]: assets_def
        for assets_def in graph.assets_defs
        for spec in assets_def.specs
    }
    kinds = set(dbt_shop.models.values())
    assert {"SEED", "VIEW", "FULL", "EMBEDDED", "INCREMENTAL_BY_UNIQUE_KEY"} <= kinds, kinds
    assert {"INCREMENTAL_BY_TIME_RANGE", "SCD_TYPE_2_BY_TIME"} <= kinds, kinds
    for name, kind in dbt_shop.models.items():
        # The ephemeral model is listed (its lineage), never materialized.
        assert assets_defs[name].is_executable == (kind != "EMBEDDED"), name
    checks = Counter(
        (str(check.metadata["sqlmesh/model_name"]), str(check.metadata["sqlmesh/audit_name"]))
        for assets_def in graph.assets_defs
        for check in assets_def.check_specs
    )
    assert checks == dbt_shop.audits
    on = {check.name: check for d in graph.assets_defs for check in d.check_specs}
    relationships = on["relationships_orders_customer_id__customer_id__ref_customers_"]
    # On the model holding the foreign key, with the referenced model as a dependency.
    assert relationships.asset_key == dg.AssetKey(["main_marts", "orders"])
    assert {dep.asset_key for dep in relationships.additional_deps} == {
        dg.AssetKey(["main_marts", "customers"])
    }
    assert on["assert_orders_are_paid"].asset_key == dg.AssetKey(["main_marts", "orders"])
    source_checks = {
        name for name, check in on.items() if check.asset_key == dg.AssetKey(["raw", "payments"])
    }
    assert source_checks == {
        "source_unique_raw_payments_payment_id",
        "source_not_null_raw_payments_payment_id",
        "source_not_null_raw_payments_amount",
    }
    assert not assets_defs['"local"."raw"."payments"'].is_executable  # the source: external


def test_dagster_runs_what_sqlmesh_would_and_reports_each_node_once(
    dbt_shop: DbtShop, manifest: Manifest, dagster_run: dg.ExecuteInProcessResult
) -> None:
    result = dagster_run
    assert result.success
    materialized = Counter(
        (event.asset_key.to_user_string(), event.partition)
        for event in result.get_asset_materialization_events()
        if event.asset_key
    )
    assert all(count == 1 for count in materialized.values()), materialized
    tables = {name for name, kind in dbt_shop.models.items() if kind != "EMBEDDED"}
    assert {asset for asset, _ in materialized} == {dbt_shop.asset(name) for name in tables}
    intervals = _intervals(dbt_shop.project)
    for name in tables:
        partitions = [p for asset, p in materialized if asset == dbt_shop.asset(name)]
        if dbt_shop.models[name] == "INCREMENTAL_BY_TIME_RANGE":
            assert len(partitions) == intervals[name], name  # one per day SQLMesh filled
        else:
            assert partitions == [None], name
    # Each check result, as the SQLMesh audit its check spec stands for.
    graph = sqlmesh_definitions(dbt_shop.project, manifest=manifest).resolve_asset_graph()
    audits = {
        check.key: (
            str(check.metadata["sqlmesh/model_name"]),
            str(check.metadata["sqlmesh/audit_name"]),
        )
        for assets_def in graph.assets_defs
        for check in assets_def.check_specs
    }
    evaluations = Counter(
        audits[dg.AssetCheckKey(event.asset_key, event.check_name)]
        for event in result.get_asset_check_evaluations()
    )
    assert evaluations == dbt_shop.audits
    assert all(event.passed for event in result.get_asset_check_evaluations())


def test_the_data_equals_a_plain_sqlmesh_run_and_nothing_is_left_to_do(
    dbt_shop: DbtShop, dagster_run: dg.ExecuteInProcessResult
) -> None:
    assert dagster_run.success
    started = datetime.now(UTC)
    subprocess.run(
        [str(SQLMESH), "-p", "dbt_shop", "run", "prod"],
        cwd=dbt_shop.plain_root,
        check=True,
        capture_output=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SQLMESH_")},
    )
    tables = sorted(name for name, kind in dbt_shop.models.items() if kind != "EMBEDDED")
    assert _rows(dbt_shop.root / "local.duckdb", tables) == _rows(
        dbt_shop.plain_root / "local.duckdb", tables
    )
    context = open_context(dbt_shop.project)
    try:
        status = context.run("prod", end=started)
    finally:
        context.close()
    assert status == CompletionStatus.NOTHING_TO_DO


def test_doctor_finds_no_difference(
    dbt_shop: DbtShop, manifest: Manifest, dagster_run: dg.ExecuteInProcessResult
) -> None:
    assert dagster_run.success
    definitions = sqlmesh_definitions(dbt_shop.project, manifest=manifest)

    diagnosis = diagnose(dbt_shop.project, definitions, "prod")

    assert diagnosis.clean, "\n".join(diagnosis.lines())
    assert diagnosis.counts["models"] == len(dbt_shop.models)
    assert diagnosis.counts["audits"] == sum(dbt_shop.audits.values())


def _intervals(project: SQLMeshProject) -> dict[str, int]:
    """Intervals SQLMesh recorded per model in prod (days, for a daily model)."""
    return {
        snapshot.name: sum(end - start for start, end in snapshot.intervals)
        // snapshot.node.interval_unit.milliseconds
        for snapshot in prod_snapshots(project)
        if snapshot.is_model and not snapshot.model.kind.is_symbolic
    }


def _rows(database: Path, tables: list[str]) -> dict[str, list[tuple[object, ...]]]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return {
            table: connection.sql(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            for table in tables
        }

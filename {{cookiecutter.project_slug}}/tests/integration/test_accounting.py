"""Every node SQLMesh would run reaches Dagster exactly once, or the load says which and why.

A node that cannot be mapped is made by hand here: a standalone audit whose query reads no table
(its check would have no asset to sit on), and two audits whose checks would share a name. Both stop
the load with an error naming the node. The doctor then reports, one line each, what differs between
SQLMesh and a code location that leaves a model out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    SQLMeshProjectComponent,
    SQLMeshTranslator,
    sqlmesh_definitions,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.manifest import (
    Manifest,
    SQLMeshAudit,
    SQLMeshModel,
    SQLMeshStandaloneAudit,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.selection import select_manifest
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.specs import build_specs
from {{ cookiecutter.package_name }}.sqlmesh_integration.errors import UnmappedNodeError
from {{ cookiecutter.package_name }}.sqlmesh_integration.operations.doctor import diagnose
from {{ cookiecutter.package_name }}.sqlmesh_integration.prepare.manifest_builder import prepare_manifest

from ..support import SampleProject, prepared_manifest

READS_NOTHING = """AUDIT (
  name reads_nothing,
  standalone true
);

SELECT 1 AS id WHERE FALSE
"""


def test_a_standalone_audit_with_no_table_to_sit_on_stops_the_load(
    sample: SampleProject, tmp_path: Path
) -> None:
    (sample.project.project_dir / "audits" / "reads_nothing.sql").write_text(READS_NOTHING)
    component = SQLMeshProjectComponent(project=str(sample.project.project_dir), gateway="local")

    with pytest.raises(UnmappedNodeError) as raised:
        component.write_state_to_path(tmp_path / "state")

    message = str(raised.value)
    assert message.startswith("SQLMesh standalone audit `reads_nothing` cannot be shown"), message
    assert "it reads no table" in message and "`skip true`" in message, message
    assert not (tmp_path / "state").exists(), "nothing half-written"
    # Skipped, SQLMesh never runs it: then there is nothing to show, and the project loads.
    audit = sample.project.project_dir / "audits" / "reads_nothing.sql"
    audit.write_text(READS_NOTHING.replace("standalone true", "standalone true,\n  skip true"))
    manifest = prepare_manifest(sample.project, read_state=False)
    assert "reads_nothing" not in {audit.name for audit in manifest.standalone_audits}


def test_two_audits_that_would_be_one_check_stop_the_load(tmp_path: Path) -> None:
    model = SQLMeshModel(
        name='"db"."marts"."orders"',
        catalog="db",
        schema="marts",
        table="orders",
        kind="FULL",
        dialect="duckdb",
        cron="@daily",
        audits=(SQLMeshAudit(name="unique_values", blocking=True),),
        snapshot_identifier="1",
    )
    manifest = Manifest(
        project_fingerprint="x",
        gateway="local",
        engine="duckdb",
        dialect="duckdb",
        default_catalog="db",
        sqlmesh_version="0",
        models=(model,),
        standalone_audits=(
            SQLMeshStandaloneAudit(
                name="unique_values",
                blocking=False,
                depends_on=(model.name,),
                snapshot_identifier="2",
            ),
        ),
    )

    with pytest.raises(UnmappedNodeError, match=r"audit `unique_values` of .* same check"):
        build_specs(manifest, SQLMeshTranslator(), tmp_path)


def test_doctor_names_each_difference(applied_sample: SampleProject) -> None:
    project = applied_sample.project
    manifest = prepared_manifest(project)
    everything = sqlmesh_definitions(project, manifest=manifest)
    assert diagnose(project, everything, "prod").clean

    # A code location that leaves a model out, and a model changed without a plan.
    partial = sqlmesh_definitions(
        project, manifest=select_manifest(manifest, None, "marts.customers")
    )
    customers = applied_sample.models_dir / "marts" / "customers.sql"
    customers.write_text(customers.read_text().replace("order_count >= 4", "order_count >= 3"))

    diagnosis = diagnose(project, partial, "prod")

    lines = diagnosis.lines()
    assert not diagnosis.clean
    different = [line for line in lines if line.startswith("DIFFERENT ")]
    customers_name = next(name for name in _model_names(manifest) if name.endswith('"customers"'))
    assert f"DIFFERENT models: `{customers_name}`: SQLMesh evaluates it, Dagster has no asset" in (
        "\n".join(different)
    )
    assert any(
        line.startswith("DIFFERENT audits: audit ") and "customers" in line for line in lines
    )
    assert any(
        line.startswith(f"DIFFERENT prod: `{customers_name}` differs from what `prod` holds")
        for line in lines
    ), lines
    assert lines[-1].startswith(f"{len(different)} difference(s)"), lines


def _model_names(manifest: Manifest) -> list[str]:
    return [model.name for model in manifest.models]

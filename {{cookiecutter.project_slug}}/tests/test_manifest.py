"""The prepared manifest: fresh, stale, missing, corrupt, and SQLMesh failing while preparing."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration.errors import (
    ManifestInvalidError,
    ManifestMissingError,
    ManifestStaleError,
    ProjectLoadError,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.manifest import (
    Manifest,
    load_manifest,
    read_manifest,
)

from .support import SampleProject

pytestmark = pytest.mark.slow


def deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", "prod")


def test_fresh_manifest_is_read_without_sqlmesh(sample: SampleProject) -> None:
    manifest = load_manifest(sample.project)  # missing locally: prepared
    assert {model.view_name for model in manifest.models} >= {"marts.orders", "seeds.raw_orders"}
    assert [table.name.split(".")[-1] for table in manifest.external_tables] == ['"exchange_rates"']
    assert not (sample.root / "local.duckdb").exists(), "loading must not create the database"

    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProject, sqlmesh_definitions
        project = SQLMeshProject(Path({str(sample.project.project_dir)!r}), gateway="local")
        definitions = sqlmesh_definitions(project)
        print(len(definitions.resolve_asset_graph().get_all_asset_keys()))
        print("sqlmesh" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"SQLMESH_MANIFEST_REFRESH": "never", "PATH": ""},
    )
    count, sqlmesh_imported = result.stdout.split()
    assert int(count) == len(manifest.models) + len(manifest.external_tables)
    assert sqlmesh_imported == "False"


def test_stale_manifest_refreshes_locally(sample: SampleProject) -> None:
    load_manifest(sample.project)
    customers = sample.models_dir / "marts" / "customers.sql"
    customers.write_text(customers.read_text().replace("One row per customer", "Each customer", 1))

    refreshed = load_manifest(sample.project)

    description = refreshed.model(refreshed_name(refreshed, "customers")).description or ""
    assert description.startswith("Each customer")
    assert read_manifest(sample.project) == refreshed


def test_stale_or_missing_manifest_in_a_deployment_names_the_fix(
    sample: SampleProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed(monkeypatch)
    with pytest.raises(ManifestMissingError, match="sqlmesh-dagster prepare"):
        load_manifest(sample.project)

    monkeypatch.delenv("DAGSTER_CLOUD_DEPLOYMENT_NAME")
    load_manifest(sample.project)
    (sample.models_dir / "marts" / "customers.sql").write_text(
        (sample.models_dir / "marts" / "customers.sql").read_text() + "\n"
    )
    deployed(monkeypatch)
    with pytest.raises(ManifestStaleError, match="sqlmesh-dagster prepare"):
        load_manifest(sample.project)


def test_corrupt_manifest(sample: SampleProject, monkeypatch: pytest.MonkeyPatch) -> None:
    path = sample.project.resolved_manifest_path
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": 999}))

    assert load_manifest(sample.project).models  # locally: prepared again
    path.write_text("{not json")
    deployed(monkeypatch)
    with pytest.raises(ManifestInvalidError, match="cannot be read"):
        load_manifest(sample.project)


def test_sqlmesh_failing_at_load_serves_the_last_good_manifest(
    sample: SampleProject, caplog: pytest.LogCaptureFixture
) -> None:
    good = load_manifest(sample.project)
    orders = sample.models_dir / "marts" / "orders.sql"
    orders.write_text(orders.read_text().replace("MODEL (", "MODEL ((", 1))  # a syntax error

    with caplog.at_level(logging.WARNING):
        served = load_manifest(sample.project)

    assert served == good
    assert "serving the last good one" in caplog.text


def test_sqlmesh_failing_with_no_manifest_names_the_model(sample: SampleProject) -> None:
    orders = sample.models_dir / "marts" / "orders.sql"
    orders.write_text(orders.read_text().replace("MODEL (", "MODEL ((", 1))

    with pytest.raises(ProjectLoadError, match="sqlmesh-dagster prepare"):
        load_manifest(sample.project)
    assert not sample.project.resolved_manifest_path.exists(), "nothing half-written"


def refreshed_name(manifest: Manifest, table: str) -> str:
    return next(model.name for model in manifest.models if model.table == table)

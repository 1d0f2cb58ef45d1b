"""The prepared manifest: fresh, stale, missing, corrupt, and SQLMesh failing while preparing."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import prepare
from {{ cookiecutter.package_name }}.sqlmesh_integration.errors import (
    ManifestInvalidError,
    ManifestMissingError,
    ManifestStaleError,
    ProjectLoadError,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.manifest import (
    Manifest,
    load_manifest,
    project_fingerprint,
    read_manifest,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.targets import display_name

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


def test_data_files_never_change_the_fingerprint(sample: SampleProject) -> None:
    before = project_fingerprint(sample.project)
    project_dir = sample.project.project_dir
    # `sqlmesh init` names its DuckDB file db.db; any name, even none, is still data.
    for name in ("db.db", "warehouse", "state.sqlite", "local.duckdb"):
        with duckdb.connect(str(project_dir / name)) as connection:
            connection.execute("CREATE TABLE t AS SELECT 1 AS a")
    (project_dir / "db.db.wal").write_bytes(b"\x00" * 64)
    (project_dir / "old.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)

    assert project_fingerprint(sample.project) == before
    (project_dir / "models" / "marts" / "orders.sql").write_text(
        (project_dir / "models" / "marts" / "orders.sql").read_text() + "\n"
    )
    assert project_fingerprint(sample.project) != before, "a source change must still count"


def test_stale_manifest_refreshes_while_a_run_holds_the_database(
    applied_sample: SampleProject, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Loading definitions never opens the DuckDB file (nor the state it holds) to refresh."""
    load_manifest(applied_sample.project)
    customers = applied_sample.models_dir / "marts" / "customers.sql"
    customers.write_text(customers.read_text().replace("One row per customer", "Each customer", 1))
    held = tmp_path / "held"
    # Another process holds DuckDB's write lock, as a running `sqlmesh run` does.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, pathlib, sys, time\n"
            "connection = duckdb.connect(sys.argv[1])\n"
            "pathlib.Path(sys.argv[2]).write_text('held')\n"
            "time.sleep(600)\n",
            str(applied_sample.root / "local.duckdb"),
            str(held),
        ]
    )
    try:
        for _ in range(600):
            if held.exists() or holder.poll() is not None:
                break
            time.sleep(0.1)
        assert held.exists(), "the holder process could not open the database"
        with caplog.at_level(logging.WARNING):
            refreshed = load_manifest(applied_sample.project)
    finally:
        holder.kill()
        holder.wait()

    description = refreshed.model(refreshed_name(refreshed, "customers")).description or ""
    assert description.startswith("Each customer")
    assert "lock" not in caplog.text and "not reachable" not in caplog.text, caplog.text


def test_a_bug_while_refreshing_is_raised_not_hidden_behind_the_last_manifest(
    sample: SampleProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_manifest(sample.project)
    (sample.models_dir / "marts" / "orders.sql").write_text(
        (sample.models_dir / "marts" / "orders.sql").read_text() + "\n"
    )

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the integration")

    monkeypatch.setattr(prepare, "_model_entry", broken)
    with pytest.raises(RuntimeError, match="a bug in the integration"):
        load_manifest(sample.project)


def refreshed_name(manifest: Manifest, table: str) -> str:
    return next(model.name for model in manifest.models if model.table == table)


def test_column_lineage_is_traced_when_the_manifest_is_prepared(
    applied_sample: SampleProject,
) -> None:
    manifest = load_manifest(applied_sample.project)
    lineage = {
        model.view_name: {
            column: {(display_name(upstream), name) for upstream, name in sources}
            for column, sources in model.column_lineage.items()
        }
        for model in manifest.models
    }

    customers = lineage["marts.customers"]
    assert customers["full_name"] == {("staging.stg_customers", "full_name")}
    assert customers["lifetime_value_usd"] == {
        ("marts.orders", "amount_usd"),
        ("marts.orders", "is_returned"),
    }
    assert lineage["staging.stg_customers"]["full_name"] == {
        ("seeds.raw_customers", "first_name"),
        ("seeds.raw_customers", "last_name"),
    }
    # Through to the external source.
    assert lineage["staging.stg_exchange_rates"]["usd_per_unit"] == {
        ("raw.exchange_rates", "usd_per_unit")
    }
    assert lineage["seeds.raw_customers"] == {}  # a seed reads a file, not a table

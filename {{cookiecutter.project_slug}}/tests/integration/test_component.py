"""SQLMeshProjectComponent: scaffolded, loaded from its defs state, materialized; and the decorator.

The component is scaffolded into a Dagster sandbox project (a `defs/` folder of its own) pointing at
a copy of the sample SQLMesh project, loaded the way `dg` loads it, and run in process.
"""

from __future__ import annotations

import ast
import asyncio
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
import duckdb
import pytest
import yaml
from dagster.components.testing import DefsFolderSandbox, create_defs_folder_sandbox
from dagster.components.utils.project_paths import get_local_state_path

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    SQLMeshProjectComponent,
    SQLMeshResource,
    sqlmesh_assets,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.manifest import project_fingerprint
from {{ cookiecutter.package_name }}.sqlmesh_integration.errors import ProjectLoadError

from ..support import SampleProject, materialized_keys, prepared_manifest, sqlmesh_model_keys

pytestmark = pytest.mark.slow

FIX = "dg utils refresh-defs-state"  # what the errors of a missing or stale state name


class LoggedSQLMeshComponent(SQLMeshProjectComponent):
    """A subclass with a step body of its own (the documented way to change `execute`)."""

    steps: ClassVar[list[set[str]]] = []

    def execute(self, context: dg.AssetExecutionContext, sqlmesh: SQLMeshResource) -> Iterator[Any]:
        type(self).steps.append({key.to_user_string() for key in context.selected_asset_keys})
        yield from super().execute(context, sqlmesh)


@pytest.fixture
def sandbox() -> Iterator[DefsFolderSandbox]:
    with create_defs_folder_sandbox() as folder:
        yield folder


def scaffold(sandbox: DefsFolderSandbox, sample: SampleProject) -> Path:
    """`dg scaffold defs ...SQLMeshProjectComponent sqlmesh --project-path <sample>`."""
    return sandbox.scaffold_component(
        component_cls=SQLMeshProjectComponent,
        defs_path="sqlmesh",
        scaffold_params={"project_path": str(sample.project.project_dir), "gateway": "local"},
    )


def edit(defs_path: Path, **attributes: Any) -> None:
    """Sets attributes (and `type`) in a scaffolded defs.yaml."""
    document = yaml.safe_load((defs_path / "defs.yaml").read_text())
    document["type"] = attributes.pop("type", document["type"])
    document["attributes"].update(attributes)
    (defs_path / "defs.yaml").write_text(yaml.safe_dump(document))


def raises_naming(pattern: str) -> Any:
    """Asserts the block raises an error whose message (or a cause's) matches `pattern`."""

    @contextmanager
    def check() -> Iterator[None]:
        with pytest.raises(Exception) as raised:
            yield
        messages = []
        error: BaseException | None = raised.value
        while error is not None:
            messages.append(str(error))
            error = error.__cause__ or error.__context__
        assert re.search(pattern, "\n".join(messages), re.DOTALL), messages

    return check()


@contextmanager
def loaded(
    sandbox: DefsFolderSandbox, defs_path: Path, *, refresh: bool = True
) -> Iterator[tuple[SQLMeshProjectComponent, dg.Definitions]]:
    """The component and its definitions; with `refresh`, after `dg utils refresh-defs-state`."""
    with sandbox.build_component_tree() as tree:
        component = tree.load_component(defs_path)
        assert isinstance(component, SQLMeshProjectComponent)
        if refresh:
            asyncio.run(component.refresh_state(sandbox.project_root))
        yield component, tree.build_defs(defs_path)


def state_path(sandbox: DefsFolderSandbox, component: SQLMeshProjectComponent) -> Path:
    with sandbox.build_component_tree():  # the defs module must be importable
        return get_local_state_path(component.defs_state_config.key, sandbox.project_root)


def test_scaffolded_component_selects_translates_and_runs_its_own_step(
    applied_sample: SampleProject, sandbox: DefsFolderSandbox
) -> None:
    defs_path = scaffold(sandbox, applied_sample)
    written = yaml.safe_load((defs_path / "defs.yaml").read_text())
    assert written["type"].endswith(".SQLMeshProjectComponent")
    assert (defs_path / written["attributes"]["project"]).resolve() == (
        applied_sample.project.project_dir.resolve()
    ), "the project path is relative to the defs.yaml folder"
    assert written["attributes"]["op"] == {"name": "sqlmesh_models"}

    edit(
        defs_path,
        type=f"{__name__}.LoggedSQLMeshComponent",
        select="+marts.customers",
        # `{` `{ model.table }` `}`, spelled out: cookiecutter renders this file.
        translation={"key": "shop/{" + "{ model.table }" + "}", "group_name": "shop"},
        op={"name": "shop_models", "tags": {"team": "data"}},
    )
    LoggedSQLMeshComponent.steps.clear()
    with loaded(sandbox, defs_path) as (_, definitions):
        graph = definitions.resolve_asset_graph()
        keys = {key.to_user_string() for key in graph.executable_asset_keys}
        assert "shop/customers" in keys and "shop/stg_customers" in keys
        assert "shop/daily_revenue" not in keys, keys
        assert {graph.get(key).group_name for key in graph.executable_asset_keys} == {"shop"}
        # The translation applies to the external source too, and its checks follow its key.
        rates = graph.get(dg.AssetKey(["shop", "exchange_rates"]))
        assert not rates.is_materializable and rates.group_name == "shop"
        assert {key.name for key in graph.asset_check_keys if key.asset_key == rates.key}
        assert definitions.resolve_sensor_def("shop_due_models")
        job = definitions.resolve_implicit_global_asset_job_def()
        with dg.instance_for_test() as instance:
            result = job.execute_in_process(instance=instance, raise_on_error=False)

    assert result.success
    assert materialized_keys(result) == keys
    assert LoggedSQLMeshComponent.steps == [keys], "one step, through the subclass's execute"
    assert applied_sample.query("SELECT count(*) FROM marts.customers") == [(20,)]
    assert "marts.customers" not in applied_sample.missing_intervals()


def test_missing_stale_or_unreadable_state_is_an_error_naming_the_fix(
    sample: SampleProject, sandbox: DefsFolderSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs_path = scaffold(sandbox, sample)
    with raises_naming(f"No SQLMesh manifest.*{FIX}"), loaded(sandbox, defs_path, refresh=False):
        pass
    # A Dagster+ deployment never prepares its own state, even under a `dg` command.
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", "prod")
    with raises_naming(f"No SQLMesh manifest.*{FIX}"), loaded(sandbox, defs_path, refresh=False):
        pass
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI")
    monkeypatch.delenv("DAGSTER_CLOUD_DEPLOYMENT_NAME")

    with loaded(sandbox, defs_path) as (component, definitions):
        keys = definitions.resolve_asset_graph().executable_asset_keys
        assert {key.to_user_string() for key in keys} == sqlmesh_model_keys(sample.project)
    path = state_path(sandbox, component)
    customers = sample.models_dir / "marts" / "customers.sql"
    customers.write_text(customers.read_text() + "\n")
    with raises_naming(f"other project files.*{FIX}"), loaded(sandbox, defs_path, refresh=False):
        pass

    path.write_text("{not json")
    with raises_naming(f"cannot be read.*{FIX}"), loaded(sandbox, defs_path, refresh=False):
        pass


def test_state_loads_without_sqlmesh_or_the_database(sample: SampleProject, tmp_path: Path) -> None:
    component = SQLMeshProjectComponent(project=str(sample.project.project_dir), gateway="local")
    path = tmp_path / "state"
    component.write_state_to_path(path)
    assert not (sample.root / "local.duckdb").exists(), "preparing must not create the database"

    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProjectComponent
        project = {str(sample.project.project_dir)!r}
        component = SQLMeshProjectComponent(project=project, gateway="local")
        definitions = component.build_defs_from_state(None, Path({str(path)!r}))
        keys = definitions.resolve_asset_graph().get_all_asset_keys()
        print(sorted(key.to_user_string() for key in keys))
        roots = ("sqlmesh", "sqlglot")
        print(sorted(name for name in sys.modules if name.split(".")[0] in roots))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PATH": ""}
    )
    keys, imported = result.stdout.strip().splitlines()
    models, external = (sqlmesh_model_keys(sample.project, external=flag) for flag in (False, True))
    assert set(ast.literal_eval(keys)) == models | external
    assert imported == "[]"


def test_dev_refresh_reads_files_while_a_run_holds_the_database(
    applied_sample: SampleProject,
    sandbox: DefsFolderSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`dg dev` refreshes the state as it loads, from the files: it never opens the DuckDB file."""
    defs_path = scaffold(sandbox, applied_sample)
    customers = applied_sample.models_dir / "marts" / "customers.sql"
    customers.write_text(customers.read_text().replace("One row per customer", "Each customer", 1))
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")  # what every `dg` command sets
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
        with loaded(sandbox, defs_path, refresh=False) as (_, definitions):
            key = dg.AssetKey(["marts", "customers"])
            spec = definitions.resolve_assets_def(key).specs_by_key[key]
    finally:
        holder.kill()
        holder.wait()
    assert (spec.description or "").startswith("Each customer")


def test_a_model_sqlmesh_cannot_load_is_named_when_preparing(sample: SampleProject) -> None:
    orders = sample.models_dir / "marts" / "orders.sql"
    orders.write_text(orders.read_text().replace("MODEL (", "MODEL ((", 1))
    component = SQLMeshProjectComponent(project=str(sample.project.project_dir), gateway="local")

    with pytest.raises(ProjectLoadError, match=r"orders\.sql"):
        component.write_state_to_path(sample.root / "state")
    assert not (sample.root / "state").exists(), "nothing half-written"


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


def test_the_decorator_for_python_code(applied_sample: SampleProject) -> None:
    project = applied_sample.project

    # The step reads the resource from its context: this module's annotations are strings, which
    # Dagster does not accept on a step's parameters.
    @sqlmesh_assets(
        project=project,
        manifest=prepared_manifest(project),
        name="python_models",
        required_resource_keys={"sqlmesh"},
    )
    def python_models(context):  # type: ignore[no-untyped-def]
        context.log.info("my own step")
        yield from context.resources.sqlmesh.run(context)

    definitions = dg.Definitions(
        assets=[python_models], resources={"sqlmesh": SQLMeshResource.for_project(project)}
    )
    job = definitions.resolve_implicit_global_asset_job_def()
    selection = [dg.AssetKey(["seeds", "raw_orders"]), dg.AssetKey(["staging", "stg_orders"])]
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance, asset_selection=selection, raise_on_error=False
        )

    assert result.success
    assert materialized_keys(result) == {"seeds/raw_orders", "staging/stg_orders"}
    assert applied_sample.query("SELECT count(*) FROM staging.stg_orders") == [(60,)]

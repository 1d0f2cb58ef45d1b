"""SQLMesh multi-repo: two projects sharing one state, `repo_2` reading `repo_1`'s `bronze.a`.

On the fixture `tests/fixtures/multi_repo/`, planned together as SQLMesh's multi-repo mode plans
(`sqlmesh -p repo_1 -p repo_2 plan prod`):
- the documented route (docs/integration.md, "One component per project") runs as written with the
  real `dg` and SQLMesh CLIs in a copy of this repository whose sample is replaced by `repo_1`: both
  components' state refreshed by `dg utils refresh-defs-state` (in threads, in one process), every
  model materialized once and every audit checked once (sets from SQLMesh), the cross-project
  dependencies edges of the asset graph, the tables equal to a plain multi-repo `sqlmesh run`'s from
  the same state, and nothing left for a plain `sqlmesh run` afterwards;
- one component over both folders materializes the same;
- `select`/`exclude` keep a left-out model as a dependency, never drop it;
- the two projects load concurrently in one process, again and again, without an error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from sqlglot import exp

import {{ cookiecutter.package_name }}
from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    SQLMeshProject,
    SQLMeshProjectComponent,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.connection.context import open_context
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.manifest import Manifest
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.selection import select_manifest
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.specs import build_specs
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.translator import SQLMeshTranslator
from {{ cookiecutter.package_name }}.sqlmesh_integration.prepare.manifest_builder import prepare_manifest

pytestmark = pytest.mark.slow

REPOSITORY_ROOT = Path(__file__).parents[2]
PACKAGE_NAME = {{ cookiecutter.package_name }}.__name__
FIXTURE = Path(__file__).parents[1] / "fixtures" / "multi_repo"
DATABASE = "multi_repo.duckdb"  # both configs' DuckDB file, relative to the folder above them
# The cross-project references of the fixture: (reader, read) as asset keys.
CROSS_PROJECT_EDGES = {("silver/c", "bronze/a"), ("silver/e", "bronze/a")}
_NOT_COPIED = shutil.ignore_patterns(
    ".local_defs_state", ".dagster", ".cache", "logs", "__pycache__", "*.duckdb*", "*.lock"
)
_ENVIRONMENT_VARIABLES = ("SQLMESH_GATEWAY", "SQLMESH_ENVIRONMENT", "DAGSTER_CLOUD_DEPLOYMENT_NAME")


def both(root: Path) -> SQLMeshProject:
    """Both projects in one context, as `sqlmesh -p repo_1 -p repo_2` loads them."""
    return SQLMeshProject(root / "repo_1", other_project_dirs=(root / "repo_2",), working_dir=root)


@pytest.fixture(scope="module")
def _applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture planned to prod once per module (skip_backfill): tables empty, state applied."""
    root = tmp_path_factory.mktemp("multi_repo")
    shutil.copytree(FIXTURE, root, dirs_exist_ok=True, ignore=_NOT_COPIED)
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in _ENVIRONMENT_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        context = open_context(both(root))
        try:
            context.plan("prod", auto_apply=True, no_prompts=True, skip_backfill=True)
        finally:
            context.close()
    return root


@pytest.fixture
def applied(_applied: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the applied fixture: `repo_1/`, `repo_2/` and their DuckDB file."""
    for name in _ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "applied"
    shutil.copytree(_applied, root, ignore=shutil.ignore_patterns("*.lock", "logs", ".cache"))
    return root


def sqlmesh_nodes(project: SQLMeshProject) -> tuple[set[str], set[str]]:
    """What SQLMesh would run: the models (as asset keys) and the audits (by name) of both."""
    context = open_context(project)
    try:
        models = {
            f"{table.db}/{table.name}"
            for model in context.models.values()
            if not model.kind.is_external
            for table in [exp.to_table(model.fqn)]
        }
        audits = {
            audit.name for model in context.models.values() for audit, _ in model.audits_with_args
        } | set(context.standalone_audits)
        return models, audits
    finally:
        context.close()


def row_counts(database: Path, models: set[str]) -> dict[str, int]:
    counts = {}
    with duckdb.connect(str(database), read_only=True) as connection:
        for key in sorted(models):
            (count,) = connection.sql(f"SELECT count(*) FROM {key.replace('/', '.')}").fetchall()
            counts[key] = int(count[0])
    return counts


def plain_sqlmesh_run(root: Path, folders: list[str]) -> str:
    """`sqlmesh -p <folder> ... run` with the CLI, from `root` (DuckDB paths resolve there)."""
    command = [str(Path(sys.executable).parent / "sqlmesh")]
    for folder in folders:
        command += ["-p", folder]
    result = subprocess.run(
        [*command, "run"], cwd=root, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def assert_nothing_to_do(project: SQLMeshProject) -> None:
    """A plain `sqlmesh run` afterwards has nothing to run."""
    from sqlmesh.utils import CompletionStatus

    context = open_context(project)
    try:
        assert context.run("prod") == CompletionStatus.NOTHING_TO_DO
    finally:
        context.close()


def documented_commands(heading: str) -> list[str]:
    """The ```bash block under `heading` in docs/integration.md, one command a line."""
    # The repository's docs/: beside this project, or at the root of the `dg` workspace it is in.
    docs = next(
        folder / "docs" / "integration.md"
        for folder in (REPOSITORY_ROOT, *REPOSITORY_ROOT.parents)
        if (folder / "docs" / "integration.md").is_file()
    )
    text = docs.read_text()
    section = text[text.index(heading) :]
    block = section[section.index("```bash\n") + len("```bash\n") :]
    return [line for line in block[: block.index("```")].splitlines() if line.strip()]


def run_as_written(
    command: str, cwd: Path, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """A documented `uv run <tool> ...` command, with this environment's `<tool>`."""
    prefix = "uv run "
    assert command.startswith(prefix), command
    tool, _, arguments = command.removeprefix(prefix).partition(" ")
    executable = Path(sys.executable).parent / tool
    result = subprocess.run(
        f"{executable} {arguments}",
        shell=True,
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture
def render(tmp_path: Path) -> Iterator[Path]:
    """A copy of this repository (pyproject.toml, src/): `repo_1` as its sample, `repo_2` beside."""
    render = tmp_path / "render"
    render.mkdir()
    shutil.copy2(REPOSITORY_ROOT / "pyproject.toml", render)
    shutil.copytree(REPOSITORY_ROOT / "src", render / "src", ignore=_NOT_COPIED)
    package = render / "src" / PACKAGE_NAME
    shutil.rmtree(package / "sqlmesh_project")
    shutil.copytree(FIXTURE / "repo_1", package / "sqlmesh_project", ignore=_NOT_COPIED)
    shutil.copytree(FIXTURE / "repo_2", package / "repo_2", ignore=_NOT_COPIED)
    (render / "dagster_home").mkdir()
    (render / "dagster_home" / "dagster.yaml").write_text("")  # Dagster's defaults
    yield render


def test_the_documented_route_with_one_component_per_project(
    render: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(render / "dagster_home"),
        # The copy's package, not the installed one: its defs/, its SQLMesh projects.
        "PYTHONPATH": os.pathsep.join([str(render / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    package = f"src/{PACKAGE_NAME}"
    commands = documented_commands("### One component per project")
    assert [command.split()[2:4] for command in commands] == [
        ["dg", "scaffold"],
        ["sqlmesh", "-p"],
        ["dg", "utils"],
        ["dg", "launch"],
    ]
    plain = tmp_path / "plain"  # the same state, for a plain `sqlmesh run`
    for command in commands:
        result = run_as_written(command, render, environment)
        if " plan prod " in command:
            shutil.copytree(render / "src", plain / "src", ignore=_NOT_COPIED)
            shutil.copy2(render / DATABASE, plain / DATABASE)
        if "refresh-defs-state" in command:
            states = render / package / "defs" / ".local_defs_state"
            for key in ("sqlmesh_project", "repo_2"):
                assert (states / f"SQLMeshProjectComponent__{key}__" / "state").stat().st_size
            output = result.stdout + result.stderr
            assert "Error" not in output, output

    project = SQLMeshProject(
        render / package / "sqlmesh_project",
        other_project_dirs=(render / package / "repo_2",),
    )
    models, audits = sqlmesh_nodes(project)
    listed = json.loads(run_as_written("uv run dg list defs --json", render, environment).stdout)
    edges = {
        (asset["asset_key"], dependency)
        for asset in listed["assets"]
        for dependency in asset["dependency_keys"]
    }
    assert edges >= CROSS_PROJECT_EDGES, edges
    executable = {asset["asset_key"] for asset in listed["assets"] if asset["is_executable"]}
    assert executable == models

    # Every model materialized once and every audit checked once, in one run of two steps.
    monkeypatch.setenv("DAGSTER_HOME", environment["DAGSTER_HOME"])
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_run_records()
        assert run.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        materialized = Counter(
            event.dagster_event.asset_key.to_user_string()
            for event in instance.all_logs(
                run.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            )
            if event.dagster_event and event.dagster_event.asset_key
        )
        evaluations = [
            event.dagster_event.event_specific_data
            for event in instance.all_logs(
                run.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if event.dagster_event
        ]
    assert materialized == Counter(models), materialized
    checked = Counter(evaluation.check_name for evaluation in evaluations)
    assert checked == Counter(audits), checked
    assert all(evaluation.passed for evaluation in evaluations)

    # The data of a plain multi-repo `sqlmesh run` from the same state, and nothing left after.
    plain_sqlmesh_run(plain, [f"{package}/sqlmesh_project", f"{package}/repo_2"])
    expected = row_counts(plain / DATABASE, models)
    assert row_counts(render / DATABASE, models) == expected
    assert all(expected.values()), expected
    assert_nothing_to_do(project)


def test_one_component_over_both_folders(applied: Path) -> None:
    project = both(applied)
    models, audits = sqlmesh_nodes(project)
    plain = applied.parent / "plain"  # the same state, for a plain `sqlmesh run`
    shutil.copytree(applied, plain)
    component = SQLMeshProjectComponent(project=[str(applied / "repo_1"), str(applied / "repo_2")])
    state = applied / "state"
    component.write_state_to_path(state)
    definitions = component.build_defs_from_state(None, state)  # type: ignore[arg-type]
    graph = definitions.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.executable_asset_keys} == models
    edges = {
        (key.to_user_string(), parent.to_user_string())
        for key in graph.executable_asset_keys
        for parent in graph.get(key).parent_keys
    }
    assert edges >= CROSS_PROJECT_EDGES
    assert {key.name for key in graph.asset_check_keys} == audits

    with dg.instance_for_test() as instance:
        result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance
        )
    materialized = Counter(
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.asset_key
    )
    assert materialized == Counter(models)
    checked = Counter(event.check_name for event in result.get_asset_check_evaluations())
    assert checked == Counter(audits)

    plain_sqlmesh_run(plain, ["repo_1", "repo_2"])
    expected = row_counts(plain / DATABASE, models)
    assert row_counts(applied / DATABASE, models) == expected
    assert all(expected.values()), expected
    assert_nothing_to_do(project)


def manifest_of(root: Path, repository: str) -> Manifest:
    return prepare_manifest(SQLMeshProject(root / repository, working_dir=root), read_state=True)


def keys_and_deps(manifest: Manifest, root: Path) -> dict[str, set[str]]:
    specs = build_specs(manifest, SQLMeshTranslator(), root)
    return {
        spec.key.to_user_string(): {dep.asset_key.to_user_string() for dep in spec.deps}
        for spec in specs.assets
    }


def test_each_project_keeps_its_own_models_and_select_keeps_every_edge(applied: Path) -> None:
    first, second = manifest_of(applied, "repo_1"), manifest_of(applied, "repo_2")
    assert keys_and_deps(first, applied) == {"bronze/a": set(), "bronze/b": {"bronze/a"}}
    assert keys_and_deps(second, applied) == {
        "silver/c": {"bronze/a"},
        "silver/d": {"silver/c"},
        "silver/e": {"bronze/a", "silver/c"},
    }
    assert [audit.name for audit in second.standalone_audits] == ["e_matches_a"]
    assert first.standalone_audits == ()

    # A model left out by `select` or `exclude` stays a dependency of the models that read it.
    assert keys_and_deps(select_manifest(second, "silver.e", None), applied) == {
        "silver/e": {"bronze/a", "silver/c"}
    }
    assert keys_and_deps(select_manifest(second, None, "silver.c"), applied) == {
        "silver/d": {"silver/c"},
        "silver/e": {"bronze/a", "silver/c"},
    }
    # The standalone audit is kept with the model its check is on, in exactly one of two halves.
    halves = [select_manifest(second, "silver.c", None), select_manifest(second, None, "silver.c")]
    assert [len(half.standalone_audits) for half in halves] == [0, 1]


def test_two_projects_load_concurrently_and_one_after_the_other(applied: Path) -> None:
    """What `dg utils refresh-defs-state` does with two components: prepare both in threads."""

    def prepare(repository: str) -> list[str]:
        return [model.name for model in manifest_of(applied, repository).models]

    expected = {repository: prepare(repository) for repository in ("repo_1", "repo_2")}
    for _ in range(5):
        with ThreadPoolExecutor(max_workers=2) as pool:
            prepared = dict(zip(expected, pool.map(prepare, expected), strict=True))
        assert prepared == expected
    # Both projects' `macros.helpers` are their own, whichever loaded first.
    assert prepare("repo_2") == expected["repo_2"] and prepare("repo_1") == expected["repo_1"]

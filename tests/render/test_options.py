"""Every option works without production credentials: each render passes its own checks.

For each render below, as a new user and the pull request's `checks` job would, with no production
credential in the environment:
1. `uv sync`, and `scripts/ci/check-definitions.sh` on the `ci` gateway (plan, refresh the defs
   state, `dg check defs`): the warehouse's configuration loads, plans and serves definitions;
2. in the first render of each Python version, also the README's quickstart on the local gateway
   (`sqlmesh plan`, `dg launch`; before the check) and the generated tests not marked slow.

Each render also checks that its environment runs the chosen Python. A Python version uv cannot find
is skipped with the sentence that says how to install it, so the test report lists plainly what was
not exercised, and fails where `CI` is set: CI runs every render (the template README names the
Pythons the whole suite needs; the default version is the demo's, which fails when it is missing).

One render per warehouse is enough. The warehouse is the only option that changes the SQLMesh
configuration (the prod gateway, its connector extra and what loading the config builds); the Python
version and the Dagster+ deployment change the interpreter and the deploy files, not the SQLMesh
project, so they are spread over these renders and every choice of every option runs at least once.
The quickstart runs once per Python version, not per warehouse: it plans and runs on the local
DuckDB gateway, whose files and settings are the same whatever the warehouse (the `prod` gateway is
what differs, and check-definitions.sh loads and plans the whole configuration in every render).
The defaults (MotherDuck) are not repeated here: the demo runs their quickstart,
test_ci_commands.py their `checks` job and test_readme_commands.py their whole test
suite. The slow generated tests run only there: they drive the integration on the local DuckDB
gateway, and the integration, the tests and the local gateway are the same files in every render
(checked below). The fast ones run here once per Python version: they depend on the interpreter,
not on the warehouse (they never load the project's settings). uv's cache is shared, so each
install takes seconds.

One render runs the quickstart's plan from inside the SQLMesh project folder (`cd ... && sqlmesh
plan`, as SQLMesh users do) and Dagster from the repository root: they must use one database.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from projects import Project, copy_project, python_or_skip
from rendering import DEFAULT, SUPPORTED_COMBINATIONS, Combination, choices, files_of

pytestmark = pytest.mark.slow

SHOP_SETTINGS = Path("tests", "fixtures", "shop", "settings.yaml")
RENDERS = [
    Combination("3.11", "postgres", "hybrid"),
    Combination("3.13", "snowflake", "serverless"),
    Combination("3.11", "bigquery", "serverless"),
    Combination("3.13", "databricks", "hybrid"),
]
# The render whose quickstart plans from inside the SQLMesh project folder.
PLANS_FROM_PROJECT_FOLDER = "snowflake"
# The renders that run the quickstart and the fast generated tests: the first of each Python
# version.
RUNS_QUICKSTART_AND_FAST_TESTS = [
    next(c for c in RENDERS if c.python_version == version)
    for version in dict.fromkeys(c.python_version for c in RENDERS)
]
# Production settings a developer's shell might hold: none may reach these checks.
PRODUCTION_VARIABLES = (
    "SQLMESH_STATE_HOST",
    "SQLMESH_STATE_USER",
    "SQLMESH_STATE_PASSWORD",
    "SQLMESH_STATE_DATABASE",
    "MOTHERDUCK_TOKEN",
    "POSTGRES_HOST",
    "POSTGRES_PASSWORD",
    "SNOWFLAKE_ACCOUNT",
    "SNOWFLAKE_PASSWORD",
    "SNOWFLAKE_PRIVATE_KEY",
    "BIGQUERY_PROJECT",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CREDENTIALS_JSON",
    "DATABRICKS_SERVER_HOSTNAME",
    "DATABRICKS_ACCESS_TOKEN",
)


def test_the_renders_cover_every_choice_of_every_option() -> None:
    """Every `python_version` choice is installed and loaded (`dg check defs`) by a render here."""
    covered = [DEFAULT, *RENDERS]
    assert all(combination in SUPPORTED_COMBINATIONS for combination in RENDERS)
    for option in ("warehouse", "python_version", "dagster_plus_deployment"):
        chosen = {getattr(combination, option) for combination in covered}
        assert chosen == set(choices(option)), option
    assert len({combination.warehouse for combination in covered}) == len(covered)
    assert {c.python_version for c in RUNS_QUICKSTART_AND_FAST_TESTS} == {
        c.python_version for c in RENDERS
    }
    # The render that plans from the SQLMesh project folder runs the quickstart.
    assert any(c.warehouse == PLANS_FROM_PROJECT_FOLDER for c in RUNS_QUICKSTART_AND_FAST_TESTS)


def test_renders_differ_from_the_defaults_only_outside_the_integration_and_its_tests(
    render_project: Callable[[Combination], Path],
) -> None:
    """Why the slow generated tests need not run per warehouse (see the module docstring)."""
    default = render_project(DEFAULT)
    for combination in RENDERS:
        project = render_project(combination)
        for relative in files_of(default):
            # The shop fixture is the sample as rendered: its settings.yaml holds the chosen
            # warehouse's `prod` gateway, which the integration's tests never use (they run on
            # its DuckDB gateways).
            if relative == SHOP_SETTINGS:
                continue
            if relative.parts[0] == "tests" or "sqlmesh_integration" in relative.parts:
                assert (project / relative).read_bytes() == (default / relative).read_bytes(), (
                    f"{relative} differs in {combination.id}"
                )


@pytest.mark.parametrize("combination", [pytest.param(c, id=c.id) for c in RENDERS])
def test_generated_checks_pass_without_credentials(
    combination: Combination,
    render_project: Callable[[Combination], Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name in PRODUCTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    python = python_or_skip(combination.python_version)
    rendered = render_project(combination)
    # A copy: the session's render is shared with the render and secrets scans, which must see
    # the project as cookiecutter wrote it, not the manifest and databases this test writes.
    project = copy_project(
        Project(
            path=rendered,
            package_name=rendered.name.replace("-", "_"),
            python=python,
            render=combination.id,
        ),
        tmp_path,
    )
    sync, plan, launch = project.readme_commands()[:3]
    assert sync == "uv sync" and " plan prod " in plan and launch.startswith("uv run dg launch")

    project.run(sync)
    ran = project.run(["uv", "run", "python", "-c", "import sys; print(sys.version_info[:2])"])
    version = tuple(int(part) for part in combination.python_version.split("."))
    assert ran.stdout.strip() == str(version), ran.stdout
    quickstart = combination in RUNS_QUICKSTART_AND_FAST_TESTS
    if quickstart:
        if combination.warehouse == PLANS_FROM_PROJECT_FOLDER:
            folder = f"src/{project.package_name}/sqlmesh_project"
            plan = f"cd {folder} && " + plan.replace(f" -p {folder}", "")
        project.run(plan)
        # Dagster refuses to run an environment its database does not hold: a plan that wrote
        # another database file would fail here.
        project.run(launch)
        assert (project.path / "local.duckdb").is_file()
        assert not list(project.sqlmesh_project.glob("*.duckdb")), "a second local database"

    project.run("bash scripts/ci/check-definitions.sh", env={"SQLMESH_GATEWAY": "ci"})
    if quickstart:
        project.run(["uv", "run", "--frozen", "pytest", "-m", "not slow", "-q"])

"""Every command in a ```bash block of both READMEs is run by a test.

The template README's demo command is run here; its test command is the one .ci/run runs (checked
below), i.e. the command that runs this suite. The generated README's commands are run on the
installed default project unless another test of the run (the end-to-end tests, or the demo
here, which runs the quickstart block) already ran them through `installed_project.run`. Those
that only read the project's files (its own test suite, which works in temporary folders) or
change them run on a copy of its sources instead, beside the tests of the installed project.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import readme
from projects import (
    GENERATED_README,
    Project,
    find_python,
    project_env,
    python_or_skip,
    run_demo,
)
from rendering import DEFAULT, TEMPLATE_DIR, choices
from replaced_samples import REPLACEMENTS, adapt_the_sample, replace_the_sample
from template_update import CHECK_COMMAND, UPDATE_COMMAND, update_an_earlier_project
from workspace import add_code_location_and_materialize

TEMPLATE_README = TEMPLATE_DIR / "README.md"
TEST_COMMAND = "bash scripts/test.sh"


def test_template_readme_has_exactly_the_two_setup_commands() -> None:
    assert readme.commands(TEMPLATE_README) == [readme.DEMO_COMMAND, TEST_COMMAND]


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run ends with the README's test command verbatim, and the workflow runs .ci/run.

    Besides starting the test Postgres, .ci/run does nothing the README does not tell a user to do:
    in particular it selects no Python (no PYENV_VERSION, no UV_PYTHON).
    """
    script = (TEMPLATE_DIR / ".ci" / "run").read_text()
    for setting in ("PYENV_VERSION", "UV_PYTHON", "export ", "CI="):
        assert setting not in script, f".ci/run sets {setting.strip()}, which the README never says"
    last_command = [
        line.strip()
        for line in script.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ][-1]
    assert last_command == TEST_COMMAND
    assert "bash .ci/run" in (TEMPLATE_DIR / ".github" / "workflows" / "ci.yml").read_text()


def test_readme_names_the_pythons_the_whole_suite_needs() -> None:
    """Every `python_version` choice: the README says so and how to get them, and the template's
    CI installs exactly those before `.ci/run` (on CI a missing one fails: projects.python_or_skip).
    """
    versions = choices("python_version")
    text = " ".join(TEMPLATE_README.read_text().split())
    listed = ", ".join(sorted(versions)[:-1]) + f" and {sorted(versions)[-1]}"
    assert f"The whole suite needs Python {listed}" in text
    assert f"`uv python install {' '.join(sorted(versions))}`" in text
    workflow = (TEMPLATE_DIR / ".github" / "workflows" / "ci.yml").read_text()
    assert f"run: uv python install {' '.join(sorted(versions))}\n" in workflow


def test_generated_readme_commands_are_all_known(default_project: Path) -> None:
    """A new README command fails here until it is given a runner in GENERATED below."""
    commands = [
        re.sub(r"src/\w+/sqlmesh_project", "src/<pkg>/sqlmesh_project", c)
        for c in readme.commands(default_project / "README.md")
    ]
    assert commands == list(GENERATED)


@pytest.mark.slow
def test_demo_command(installed_project: Project) -> None:
    """The README's demo renders the defaults and runs the generated quickstart to the end.

    The `installed_project` fixture runs it (once per test run) and checks that it ran exactly the
    generated README's first block; here we only confirm it was recorded.
    """
    assert readme.was_run(readme.DEMO_COMMAND, readme.TEMPLATE)
    quickstart = installed_project.readme_commands()[:3]
    assert all(readme.was_run(command, GENERATED_README) for command in quickstart)


def _uv_managed_copy(python: str, folder: Path) -> None:
    """Lays out the Python `python` in `folder` as uv lays out the Pythons it installs."""
    base = Path(
        subprocess.run(
            [python, "-c", "import sys; print(sys.base_prefix)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    listed = subprocess.run(
        ["uv", "python", "list", python, "--only-installed", "--output-format", "json"],
        capture_output=True,
        text=True,
        check=True,
        env=project_env(),
    )
    key = json.loads(listed.stdout)[0]["key"]  # e.g. cpython-3.11.7-linux-x86_64-gnu
    (folder / key).mkdir(parents=True)
    for part in ("bin", "lib", "include"):
        if (base / part).exists():
            (folder / key / part).symlink_to(base / part)


def _only_uv_managed(pythons: Path) -> dict[str, str]:
    """A machine whose only Pythons are uv's own installs (in `pythons`): no downloads."""
    return {
        "UV_PYTHON_INSTALL_DIR": str(pythons),
        "UV_PYTHON_PREFERENCE": "only-managed",
        "UV_PYTHON_DOWNLOADS": "never",
    }


def _another_python() -> str:
    """An interpreter of another version than the demo project's: the tests' own when it is one,
    else one of the other `python_version` choices."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" != DEFAULT.python_version:
        return str(
            Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        )
    others = [version for version in choices("python_version") if version != DEFAULT.python_version]
    found = [python for python in map(find_python, others) if python]
    return found[0] if found else python_or_skip(others[0])


def test_demo_names_a_missing_python(tmp_path: Path) -> None:
    """Where the project's Python is missing, the demo says which one and how to get it, and stops.

    The machine is one where uv finds only its own installs, and those hold one Python of another
    version (cookiecutter runs on it): the tests' own, or another supported one when the tests run
    on the project's.
    """
    _uv_managed_copy(_another_python(), tmp_path / "pythons")
    env = _only_uv_managed(tmp_path / "pythons")
    result = run_demo(tmp_path / "demo", env, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"Python {DEFAULT.python_version} (the project's .python-version) is not installed: "
        f"install it with `uv python install {DEFAULT.python_version}` or "
        f"`pyenv install {DEFAULT.python_version}`, then run this again."
    )
    assert "$ uv sync" not in result.stdout  # nothing of the quickstart ran


@pytest.mark.slow
def test_demo_where_uv_manages_the_only_pythons(tmp_path: Path) -> None:
    """The demo passes verbatim where uv's own installs are the only Pythons: no pyenv on PATH
    (only uv and the system's tools), no interpreter download; the project runs uv's Python."""
    python = python_or_skip(DEFAULT.python_version)
    pythons = tmp_path / "pythons"
    _uv_managed_copy(python, pythons)
    found = subprocess.run(  # the uv binary itself, as the demo finds it (never a pyenv shim)
        ["bash", "-c", 'source scripts/uv.sh && find_uv && echo "$uv_bin"'],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        text=True,
        check=True,
        env=project_env(),
    )
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "uv").symlink_to(found.stdout.strip().splitlines()[-1])
    env = {**_only_uv_managed(pythons), "PATH": f"{tools}:/usr/bin:/bin"}

    result = run_demo(tmp_path / "demo", env, timeout=1500)

    assert result.returncode == 0, result.stdout[-10000:] + result.stderr[-10000:]
    assert "$ uv run dg launch --job __ASSET_JOB" in result.stdout
    project = next(child for child in (tmp_path / "demo").iterdir() if child.is_dir())
    home = next(
        line.split("=", 1)[1].strip()
        for line in (project / ".venv" / "pyvenv.cfg").read_text().splitlines()
        if line.startswith("home")
    )
    assert Path(home).is_relative_to(pythons), home


def _run(project: Project, command: str) -> None:
    project.run(command)


# The webserver's view of the code locations: load status, and the assets of a loaded one.
LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename
    ... on RepositoryLocation { repositories { assetNodes { assetKey { path } } } }
    ... on PythonError { message } } } } } }
"""


def _free_port() -> int:
    """A port nothing listens on now (never Dagster's default 3000, which another test may use)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port != 3000:
            return port


def _code_location(port: int, name: str) -> dict[str, Any] | None:
    """The webserver's entry for code location `name`; None while the webserver or it is not up."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": LOCATIONS_QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            workspace = json.load(reply)["data"]["workspaceOrError"]
    except OSError:
        return None
    entries = {entry["name"]: entry for entry in workspace.get("locationEntries", [])}
    return entries.get(name)


def _serve_until_ready(project: Project, command: str) -> None:
    """`uv run dg dev` on a free port: covered once the webserver's GraphQL says the project's code
    location loaded and serves the models its defs state names, then stopped.

    The port comes from DAGSTER_WEBSERVER_PORT (dagster-webserver reads its options from
    DAGSTER_WEBSERVER_* variables), so the command runs as the README writes it.
    """
    port = _free_port()
    env = {"DAGSTER_WEBSERVER_PORT": str(port), "DAGSTER_WEBSERVER_HOST": "127.0.0.1"}
    process = subprocess.Popen(
        command,
        shell=True,
        cwd=project.path,
        env=project_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    location = project.path.name  # the code location `dg dev` serves: the project's name
    try:
        deadline = time.monotonic() + 600  # a safety net against a hang, not a timed assertion
        entry = None
        while time.monotonic() < deadline and process.poll() is None:
            entry = _code_location(port, location)
            if entry is not None and entry["loadStatus"] == "LOADED":
                break
            time.sleep(2)
        assert entry is not None and entry["loadStatus"] == "LOADED", (
            f"`{command}` never loaded code location {location} (exit {process.poll()}): {entry}"
        )
        loaded = entry["locationOrLoadError"]
        assert loaded["__typename"] == "RepositoryLocation", loaded
        served = {
            "/".join(node["assetKey"]["path"])
            for repository in loaded["repositories"]
            for node in repository["assetNodes"]
        }
        manifest = json.loads(project.defs_state.read_text())
        models = {f"{model['schema']}/{model['table']}" for model in manifest["models"]}
        assert models and models <= served, served
        readme.record(command, project.coverage_context(env))
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C, as a user stops it
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        if not readme.was_run(command, project.coverage_context(env)):
            print(output[-20000:])


def _with_the_sample_replaced(project_copy: Project, command: str) -> None:
    """The project's tests on a copy whose sample was replaced, as users do on day one.

    The README's `uv run pytest` (the whole suite, the longest command: on a loaded machine well
    over the 20 minutes `run` allows by default) runs once, on the sample adapted as the README
    invites (replaced_samples.py): the integration's tests on their fixture projects, the project's
    tests on the adapted models. Then each project that replaces the sample folder whole runs the
    tests that change with it, `tests/project/`, and each runs `tox -e sqlmesh` (SQLMesh's unit
    tests and linter). `tox -e lint` is left to the README's own run: ruff and mypy never read the
    SQLMesh project.
    """
    adapt_the_sample(project_copy)
    project_copy.run(command, timeout=3600)
    project_copy.run("uv run tox -e sqlmesh")
    for name in REPLACEMENTS:
        replace_the_sample(project_copy, name)
        project_copy.run("uv run pytest tests/project")
        project_copy.run("uv run tox -e sqlmesh")


def _in_a_git_copy(project_copy: Project, command: str) -> None:
    """Commit hooks look at the files git knows and may fix files: run them on a fresh copy."""
    project_copy.run("git init -q && git add -A")
    project_copy.run(command)


def _data_diff_in_a_copy(project_copy: Project, command: str) -> None:
    """The README's diff of `dev` against `prod`, on a copy with prod applied and a mart changed.

    Runs the command's whole block (apply `dev`, then diff), so both commands are recorded.
    """
    project = project_copy
    project.run(
        f"uv run sqlmesh -p src/{project.package_name}/sqlmesh_project plan prod"
        " --auto-apply --no-prompts"
    )
    customers = project.sqlmesh_project / "models" / "marts" / "customers.sql"
    text = customers.read_text()
    assert "order_history.order_count >= 4" in text
    customers.write_text(text.replace("order_count >= 4", "order_count >= 3"))
    block = next(b for b in readme.bash_blocks(project.path / "README.md") if command in b)
    outputs = [project.run(line).stdout for line in block]
    assert "## Data diff: `prod` → `dev`" in outputs[-1], outputs[-1]
    assert "### `marts.customers` (breaking)" in outputs[-1], outputs[-1]
    assert "Rows that differ, per column: `customer_segment`" in outputs[-1], outputs[-1]


def _workspace_in_a_copy(project_copy: Project, command: str) -> None:
    """The workspace block on a copy: a second code location, checked and materialized."""
    add_code_location_and_materialize(project_copy)


def _update_from_an_earlier_template(project_copy: Project, command: str) -> None:
    """The update block on a project of its own: rendered at an earlier template commit, its
    models changed, updated to this checkout (template_update.py; the assertions on the
    outcome are test_template_update.py's)."""
    update_an_earlier_project(project_copy.path.parent / "update")


# The generated README's commands in README order ("<pkg>" stands for the package), with how to run
# each; `_run` runs it in the installed default project, the runners in ON_A_COPY on a copy.
GENERATED = {
    "uv sync": _run,
    (
        "uv run sqlmesh -p src/<pkg>/sqlmesh_project plan prod --auto-apply --no-prompts"
        " --skip-backfill"
    ): _run,
    "uv run dg launch --job __ASSET_JOB": _run,
    "uv run pytest": _with_the_sample_replaced,
    "uv run dg dev": _serve_until_ready,
    "uv run tox -e lint,sqlmesh": _run,
    "uv run pre-commit run --all-files": _in_a_git_copy,
    (
        "uv run sqlmesh -p src/<pkg>/sqlmesh_project plan dev --auto-apply --no-prompts"
        " --include-unmodified"
    ): _data_diff_in_a_copy,
    "uv run sqlmesh-dagster pr-diff dev": _data_diff_in_a_copy,
    "uv run sqlmesh-dagster doctor": _run,
    "uv run python scripts/add_code_location.py analytics": _workspace_in_a_copy,
    "uv sync --all-packages": _workspace_in_a_copy,
    "uv run dg check defs --use-active-venv": _workspace_in_a_copy,
    CHECK_COMMAND: _update_from_an_earlier_template,
    UPDATE_COMMAND: _update_from_an_earlier_template,
}
# Runners that work on a fresh copy of the project instead of the installed one. Each starts from
# the demo's sources and runs what it needs itself (the data diff runs its whole block).
ON_A_COPY = (
    _with_the_sample_replaced,
    _in_a_git_copy,
    _data_diff_in_a_copy,
    _workspace_in_a_copy,
    _update_from_an_earlier_template,
)


@pytest.mark.slow
@pytest.mark.parametrize("pattern", [p for p, run in GENERATED.items() if run not in ON_A_COPY])
def test_generated_readme_command(pattern: str, installed_project: Project) -> None:
    installed = installed_project
    assert installed.coverage_context() == GENERATED_README
    command = pattern.replace("<pkg>", installed.package_name)
    assert command in installed.readme_commands()
    if readme.was_run(command, GENERATED_README):
        return  # already run (and asserted on) by another test of this run
    # A command may need the ones before it in its block (launch needs plan): run those first.
    block = next(b for b in readme.bash_blocks(installed.path / "README.md") if command in b)
    for earlier in block[: block.index(command)]:
        if not readme.was_run(earlier, GENERATED_README):
            installed.run(earlier)
    GENERATED[pattern](installed, command)
    assert readme.was_run(command, GENERATED_README)


def _runs_on_a_copy() -> list[Any]:
    """One run per runner in ON_A_COPY, with the README commands it covers (the data diff two)."""
    patterns: dict[Callable[[Project, str], None], list[str]] = {}
    for pattern, runner in GENERATED.items():
        if runner in ON_A_COPY:
            patterns.setdefault(runner, []).append(pattern)
    return [
        pytest.param(runner, covered, id=runner.__name__.strip("_"))
        for runner, covered in patterns.items()
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("runner", "patterns"), _runs_on_a_copy())
def test_generated_readme_commands_on_a_copy(
    runner: Callable[[Project, str], None], patterns: list[str], project_copy: Project
) -> None:
    """Not in the `installed` group (conftest.py): they run beside the installed project's tests."""
    assert project_copy.coverage_context() == GENERATED_README
    commands = [pattern.replace("<pkg>", project_copy.package_name) for pattern in patterns]
    assert set(commands) <= set(project_copy.readme_commands())
    if all(readme.was_run(command, GENERATED_README) for command in commands):
        return  # already run (and asserted on) by another test of this run
    runner(project_copy, commands[0])
    assert all(readme.was_run(command, GENERATED_README) for command in commands)


def test_a_command_counts_only_once_its_test_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    """`record` keeps a command pending; a failed phase drops it, a passed one makes it count."""
    monkeypatch.setattr(readme, "RECORD_FILE", None)
    monkeypatch.setattr(readme, "_EXECUTED", [])
    monkeypatch.setattr(readme, "_PENDING", [])
    readme.record("uv  run   something", GENERATED_README)
    assert readme.was_run("uv run something", GENERATED_README)  # the running test sees it
    readme.settle(passed=False)
    assert not readme.was_run("uv run something", GENERATED_README)
    readme.record("uv run something", GENERATED_README)
    readme.settle(passed=True)
    assert readme.was_run("uv run something", GENERATED_README)


def test_a_command_counts_only_where_it_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same text run on another render, SQLMesh project or gateway covers nothing here."""
    monkeypatch.setattr(readme, "RECORD_FILE", None)
    monkeypatch.setattr(readme, "_EXECUTED", [])
    monkeypatch.setattr(readme, "_PENDING", [])
    elsewhere = [
        Project(Path("p"), "p", "python", render="py3.11-postgres-hybrid"),
        Project(Path("p"), "p", "python", render=DEFAULT.id, models="kitchen sink"),
    ]
    for project in elsewhere:
        readme.record("uv run dg launch --job __ASSET_JOB", project.coverage_context())
    on_ci = Project(Path("p"), "p", "python", render=DEFAULT.id)
    ci_gateway = on_ci.coverage_context({"SQLMESH_GATEWAY": "ci"})
    readme.record("uv run dg launch --job __ASSET_JOB", ci_gateway)
    readme.settle(passed=True)
    assert not readme.was_run("uv run dg launch --job __ASSET_JOB", GENERATED_README)
    readme.record("uv run dg launch --job __ASSET_JOB", on_ci.coverage_context())
    readme.settle(passed=True)
    assert readme.was_run("uv run dg launch --job __ASSET_JOB", GENERATED_README)

"""Session fixtures: every render happens once per session, and one installed default project.

`render_project(combination)` renders a combination on first use and returns the cached folder
afterwards. `installed_project` is the output of the README's demo command (the defaults rendered,
installed with `uv sync` and run through the quickstart); the end-to-end tests and the
README-command tests use it. uv's cache is shared, so installs take seconds when warm."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import readme
from projects import Project, find_python, project_env
from rendering import DEFAULT, TEMPLATE_DIR, Combination, render


@pytest.fixture(scope="session")
def render_project(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Combination], Path]:
    """Render a combination once per session; later calls return the same folder."""
    cache: dict[Combination, Path] = {}

    def _render(combination: Combination) -> Path:
        if combination not in cache:
            cache[combination] = render(
                tmp_path_factory.mktemp(combination.id), combination.extra_context()
            )
        return cache[combination]

    return _render


@pytest.fixture(scope="session")
def default_project(render_project: Callable[[Combination], Path]) -> Path:
    """The defaults rendered once (not installed)."""
    return render_project(DEFAULT)


@pytest.fixture(scope="session")
def installed_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The template README's demo command, run once per session; returns the project it made.

    The demo renders the defaults and runs the generated README's quickstart verbatim (uv sync,
    sqlmesh plan, dg launch), so the project is installed and its local DuckDB holds the sample
    data. Tests that need other data start from a fresh database (see test_end_to_end.py).
    """
    if shutil.which("uv") is None:
        pytest.fail("uv is not on PATH; install it with `python3 -m pip install uv`")
    find_python(DEFAULT.python_version)
    output = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        [*shlex.split(readme.DEMO_COMMAND), str(output)],
        cwd=TEMPLATE_DIR,
        env=project_env({"TMPDIR": str(output)}),
        capture_output=True,
        text=True,
        timeout=1500,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"{result.stdout[-20000:]}\n{result.stderr[-20000:]}"
    path = next(child for child in output.iterdir() if child.is_dir())
    ran = [line[2:] for line in result.stdout.splitlines() if line.startswith("$ ")]
    assert ran == readme.bash_blocks(path / "README.md")[0], "the demo must run the quickstart"
    readme.record(readme.DEMO_COMMAND)
    for command in ran:
        readme.record(command)
    package_name = path.name.replace("-", "_")
    return Project(path=path, package_name=package_name, python=find_python(DEFAULT.python_version))


@pytest.fixture
def project_copy(installed_project: Project, tmp_path: Path) -> Project:
    """A copy of the installed project's sources for a test that edits files (no .venv, no data)."""
    ignore = shutil.ignore_patterns(".venv", ".tox", "*.duckdb*", ".dagster_home", ".cache", "logs")
    target = tmp_path / installed_project.path.name
    shutil.copytree(installed_project.path, target, ignore=ignore)
    return Project(target, installed_project.package_name, installed_project.python)

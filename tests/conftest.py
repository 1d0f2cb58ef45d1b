"""Session fixtures: every render happens once per session, and one installed default project.

`render_project(combination)` renders a combination on first use and returns the cached folder
afterwards. `installed_project` renders the defaults and runs `uv sync` once (uv's cache is
shared, so this takes seconds when warm); the end-to-end tests and the README-command tests use it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from projects import Project, find_python
from rendering import DEFAULT, Combination, render


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
    """The defaults rendered into their own folder and installed with `uv sync` (once per session).

    A separate render from `default_project`, since the tests that use it change it (databases,
    .venv, Dagster home).
    """
    if shutil.which("uv") is None:
        pytest.fail("uv is not on PATH; install it with `python3 -m pip install uv`")
    path = render(tmp_path_factory.mktemp("installed"))
    package_name = path.name.replace("-", "_")
    project = Project(
        path=path, package_name=package_name, python=find_python(DEFAULT.python_version)
    )
    # The README's first command, verbatim: .python-version makes uv pick the chosen interpreter
    # (the one find_python just checked is there).
    project.run("uv sync")
    return project


@pytest.fixture
def project_copy(installed_project: Project, tmp_path: Path) -> Project:
    """A copy of the installed project's sources for a test that edits files (no .venv, no data)."""
    ignore = shutil.ignore_patterns(".venv", ".tox", "*.duckdb*", ".dagster_home", ".cache", "logs")
    target = tmp_path / installed_project.path.name
    shutil.copytree(installed_project.path, target, ignore=ignore)
    return Project(target, installed_project.package_name, installed_project.python)

"""Every `python_version` choice installs and loads, on the Pythons this machine has.

The default version is the demo's (conftest's `installed_project`, which fails when its Python is
missing). The other choices are rendered and installed here with the generated README's `uv sync`,
which finds the interpreter the way a user's does; a version uv cannot find is skipped with the
sentence that says how to install it, so the test report lists plainly what was not exercised.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import Project, find_python, python_missing
from rendering import DEFAULT, Combination, choices, render

pytestmark = pytest.mark.slow

OTHER_VERSIONS = [v for v in choices("python_version") if v != DEFAULT.python_version]


@pytest.mark.parametrize("version", OTHER_VERSIONS)
def test_project_installs_and_loads_on(version: str, tmp_path: Path) -> None:
    python = find_python(version)
    if python is None:
        pytest.skip(python_missing(version))
    combination = Combination(version, DEFAULT.warehouse, DEFAULT.dagster_plus_deployment)
    path = render(tmp_path, combination.extra_context())
    project = Project(path, path.name.replace("-", "_"), python)
    project.run("uv sync")
    ran = project.run(["uv", "run", "python", "-c", "import sys; print(sys.version_info[:2])"])
    assert ran.stdout.strip() == str(tuple(int(part) for part in version.split("."))), ran.stdout
    checked = project.run("uv run dg check defs")
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr

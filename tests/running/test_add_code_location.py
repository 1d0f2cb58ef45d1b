"""The generated `scripts/add_code_location.py` on a rendered copy, without installing anything.

Bad names stop before anything is written, with one sentence naming the fix; a good one lays out
the `dg` workspace (`dg.toml`, the uv workspace, the moved project, the new location) as
docs/workspace.md describes it. The workspace installed, checked and materialized is
workspace.py's (run for the generated README's workspace block).
"""

from __future__ import annotations

import importlib.util
import shutil
import tomllib
from pathlib import Path
from types import ModuleType

import pytest


def load_script(project: Path) -> ModuleType:
    path = project / "scripts" / "add_code_location.py"
    spec = importlib.util.spec_from_file_location("add_code_location", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def project(default_project: Path, tmp_path: Path) -> Path:
    copy = tmp_path / default_project.name
    shutil.copytree(default_project, copy)
    return copy


def files_of(folder: Path) -> set[str]:
    """Every path below `folder`, Python's bytecode cache left out."""
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if "__pycache__" not in path.parts
    }


@pytest.mark.parametrize(
    ("name", "sentence"),
    [
        ("Analytics", "is not a package name"),
        ("class", "is not a package name"),
        ("sqlmesh", "is taken"),
        ("acme_data_platform", "is taken"),
    ],
)
def test_a_bad_name_writes_nothing(
    project: Path, name: str, sentence: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = files_of(project)
    assert load_script(project).main([name]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and sentence in error and error.count("\n") == 1, error
    assert files_of(project) == before


def test_the_workspace_layout(project: Path) -> None:
    script = load_script(project)
    package = script.PACKAGE_NAME
    assert script.main(["analytics"]) == 0

    workspace = tomllib.loads((project / "dg.toml").read_text())
    assert workspace["directory_type"] == "workspace"
    assert workspace["workspace"]["projects"] == [
        {"path": f"projects/{project.name}"},
        {"path": "projects/analytics"},
    ]
    root = tomllib.loads((project / "pyproject.toml").read_text())
    assert root["tool"]["uv"]["workspace"]["members"] == ["projects/*"]
    assert root["project"]["dependencies"] == [project.name, "analytics"]
    first = project / "projects" / project.name
    assert (first / "src" / package / "sqlmesh_integration" / "component.py").is_file()
    assert not (project / "src").exists() and not (project / "uv.lock").exists()
    # The integration is a dependency of the new location, never a copy.
    location = tomllib.loads((project / "projects" / "analytics" / "pyproject.toml").read_text())
    assert location["project"]["dependencies"] == [project.name]
    assert location["tool"]["dg"]["project"]["code_location_name"] == "analytics"
    assert not list((project / "projects" / "analytics").rglob("sqlmesh_integration"))
    # Root files now name the moved project's folders.
    hooks = (project / ".pre-commit-config.yaml").read_text()
    assert f"sqlmesh -p projects/{project.name}/src/{package}/sqlmesh_project" in hooks
    workflow = (project / ".github" / "workflows" / "pull_request.yml").read_text()
    assert f"tox -c projects/{project.name}/tox.ini -e py,lint" in workflow

    # A second location later: listed in both files, the first location left as it is.
    assert script.main(["finance"]) == 0
    assert [
        entry["path"]
        for entry in tomllib.loads((project / "dg.toml").read_text())["workspace"]["projects"]
    ] == [f"projects/{project.name}", "projects/analytics", "projects/finance"]
    assert script.main(["finance"]) == 1  # exists already

"""Adds a Dagster code location with a SQLMesh project of its own, as a `dg` workspace.

Run from the repository root, then install and check (docs/workspace.md):

    uv run python scripts/add_code_location.py analytics
    uv sync --all-packages
    uv run dg check defs --use-active-venv

The first time, the repository becomes a `dg` workspace:
- this project moves to `projects/{{ cookiecutter.project_slug }}/` (its pyproject.toml, src/,
  tests/ and tox.ini), a code location as before;
- `dg.toml` at the root lists every project of `projects/`, each a code location: `dg dev`,
  `dg check defs` and `dg plus deploy` run at the root load or deploy them all;
- `pyproject.toml` at the root becomes the uv workspace: one `uv.lock` and one `.venv` for every
  location, with the dev tools and the resolution date.

Then `projects/<name>/` is added: a `dg` project (package `<name>`, code location `<name>`) with its
own SQLMesh project (`src/<name>/sqlmesh_project/`) and a `SQLMeshProjectComponent` for it. Its
SQLMesh config is the first project's with its own `project` name: the same gateways and one shared
state, SQLMesh's multi-repo mode, so CI plans both together (`sqlmesh-dagster projects`) and a
model of the new location can read the first location's models; its starter model reads
`marts.customers`, an edge across the two code locations. The integration is not copied: the new
package depends on this project's package, where the integration lives (a uv workspace
dependency), so one copy serves every location.
"""

from __future__ import annotations

import argparse
import keyword
import re
import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_SLUG = "{{ cookiecutter.project_slug }}"
PACKAGE_NAME = "{{ cookiecutter.package_name }}"
FIRST_LOCATION = Path("projects") / PROJECT_SLUG
# What moves into projects/<slug>/: the project itself. The rest (workflows, CI scripts, docs,
# the README, dagster_home/, the Dockerfile, pre-commit) serves the whole repository.
PROJECT_FILES = ("pyproject.toml", "src", "tests", "tox.ini")
# Root files whose paths name the project's source folder.
ROOT_FILES_WITH_PATHS = (
    ".pre-commit-config.yaml",
    ".github/workflows/pull_request.yml",
    "README.md",
)

WORKSPACE_DG_TOML = """\
# The `dg` workspace: every project below is a code location (docs/workspace.md).
directory_type = "workspace"

[workspace]
projects = [
<projects>]
"""

WORKSPACE_PYPROJECT = """\
# The uv workspace of every code location in projects/: one uv.lock and one .venv for all of them
# (`uv sync` installs every location), the dev tools, and the resolution date. Each location's own
# pyproject.toml holds its dependencies and its [tool.dg] project settings (docs/workspace.md).
[project]
name = "<slug>-workspace"
version = "0.1.0"
requires-python = "<requires_python>"
dependencies = [
<members>]

[dependency-groups]
dev = [
<dev>]

[tool.uv]
package = false
exclude-newer = "<exclude_newer>"

[tool.uv.workspace]
members = ["projects/*"]

[tool.uv.sources]
<sources>
[tool.ruff]
line-length = 100
extend-exclude = ["projects/*/src/*/sqlmesh_project"]
"""

LOCATION_PYPROJECT = """\
[project]
name = "<name>"
version = "0.1.0"
description = "The <name> code location: its own SQLMesh project, on the shared integration."
requires-python = "<requires_python>"
# The integration lives in the first project's package: a dependency, not a copy.
dependencies = ["<slug>"]

[tool.uv.sources]
<slug> = { workspace = true }

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/<name>"]
# The SQLMesh component's state (`dg utils refresh-defs-state`) is git-ignored; it ships anyway.
artifacts = ["src/<name>/defs/.local_defs_state/**"]

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "<name>"
code_location_name = "<name>"
registry_modules = ["<package>.sqlmesh_integration"]
"""

DEFINITIONS = '''\
"""The <name> code location: everything is discovered from `defs/`."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """Loads every definition in the `defs/` folder."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
'''

DEFS_YAML = """\
# The <name> SQLMesh project as Dagster assets (docs/integration.md), in the <name> code location.
type: <package>.sqlmesh_integration.SQLMeshProjectComponent
attributes:
  project: ../../sqlmesh_project
  op:
    name: <name>_models
"""

SQLMESH_CONFIG = '''\
"""The SQLMesh config of <name>: the first project's, under a project name of its own.

The same gateways, model defaults and state as `<package>/sqlmesh_project` (SQLMesh's multi-repo
mode): CI plans both projects together, and models here may read that project's models. The
linter's rules are SQLMesh's built-in ones: that project's custom rules live in its own folder.
"""

from __future__ import annotations

from sqlmesh.core.config import LinterConfig

from <package>.sqlmesh_project.config import config as platform_config

config = platform_config.model_copy(update={"project": "<name>", "linter": LinterConfig()})
'''

STARTER_MODEL = """\
MODEL (
  name <name>.customers_by_segment,
  kind FULL,
  cron '@daily',
  grain customer_segment,
  description 'Customers per segment, read across code locations from marts.customers.',
  audits (not_null(columns := (customer_segment)))
);

SELECT
  customer_segment,
  COUNT(*) AS customers
FROM marts.customers
GROUP BY
  customer_segment
"""


def main(argv: list[str] | None = None) -> int:
    """Runs the command; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="The new code location and its package (snake_case).")
    name = parser.parse_args(argv).name
    problem = name_problem(name)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    if not (ROOT / "dg.toml").exists():
        make_workspace()
    add_location(name)
    write_workspace_files()
    print(
        f"Added the code location `{name}` in projects/{name}/. Next: `uv sync --all-packages`, "
        "then `uv run dg check defs --use-active-venv` (docs/workspace.md)."
    )
    return 0


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a new code location, or None."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        return f"{name!r} is not a package name: use lowercase letters, digits and underscores."
    if name in (PACKAGE_NAME, PROJECT_SLUG, "sqlmesh", "dagster", "tests"):
        return f"{name!r} is taken (this project, a dependency or tests): choose another name."
    if (ROOT / "projects" / name).exists():
        return f"projects/{name} exists already: choose another name."
    return None


def make_workspace() -> None:
    """Moves this project into projects/<slug>/ and points the root files at it."""
    target = ROOT / FIRST_LOCATION
    target.mkdir(parents=True)
    for name in PROJECT_FILES:
        if (ROOT / name).exists():
            shutil.move(ROOT / name, target / name)
    (ROOT / "uv.lock").unlink(missing_ok=True)  # the workspace's lock replaces it (`uv sync`)
    # The README stays at the root, for the whole repository.
    pyproject = target / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('readme = "README.md"\n', ""))
    source = f"src/{PACKAGE_NAME}/"
    for relative in ROOT_FILES_WITH_PATHS:
        path = ROOT / relative
        if path.exists():
            text = path.read_text()
            text = re.sub(rf"(?<![\w/]){re.escape(source)}", f"{FIRST_LOCATION}/{source}", text)
            text = text.replace("tox -e py,lint", f"tox -c {FIRST_LOCATION}/tox.ini -e py,lint")
            path.write_text(text)


def add_location(name: str) -> None:
    """Writes projects/<name>/: a dg project with its own SQLMesh project and component."""
    first = tomllib.loads((ROOT / FIRST_LOCATION / "pyproject.toml").read_text())
    location = ROOT / "projects" / name
    package = location / "src" / name
    sqlmesh_project = package / "sqlmesh_project"
    (package / "defs" / "sqlmesh").mkdir(parents=True)
    (sqlmesh_project / "models" / name).mkdir(parents=True)
    files = {
        location / "pyproject.toml": LOCATION_PYPROJECT,
        package / "__init__.py": "",
        package / "definitions.py": DEFINITIONS,
        package / "defs" / "__init__.py": "",
        package / "defs" / "sqlmesh" / "defs.yaml": DEFS_YAML,
        sqlmesh_project / "config.py": SQLMESH_CONFIG,
        sqlmesh_project / "models" / name / "customers_by_segment.sql": STARTER_MODEL,
    }
    for path, template in files.items():
        path.write_text(
            template.replace("<name>", name)
            .replace("<slug>", PROJECT_SLUG)
            .replace("<package>", PACKAGE_NAME)
            .replace("<requires_python>", first["project"]["requires-python"])
        )


def write_workspace_files() -> None:
    """dg.toml and the uv workspace's pyproject.toml, listing every project in projects/."""
    first = tomllib.loads((ROOT / FIRST_LOCATION / "pyproject.toml").read_text())
    projects = sorted(
        path.parent.relative_to(ROOT).as_posix()
        for path in (ROOT / "projects").glob("*/pyproject.toml")
    )
    members = [tomllib.loads((ROOT / path / "pyproject.toml").read_text()) for path in projects]
    names = [member["project"]["name"] for member in members]
    (ROOT / "dg.toml").write_text(
        WORKSPACE_DG_TOML.replace(
            "<projects>", "".join('    { path = "' + path + '" },\n' for path in projects)
        )
    )
    (ROOT / "pyproject.toml").write_text(
        WORKSPACE_PYPROJECT.replace("<slug>", PROJECT_SLUG)
        .replace("<requires_python>", first["project"]["requires-python"])
        .replace("<members>", "".join(f'    "{name}",\n' for name in names))
        .replace("<dev>", "".join(f'    "{item}",\n' for item in first["dependency-groups"]["dev"]))
        .replace("<exclude_newer>", first["tool"]["uv"]["exclude-newer"])
        .replace("<sources>", "".join(name + " = { workspace = true }\n" for name in names))
    )


if __name__ == "__main__":
    raise SystemExit(main())

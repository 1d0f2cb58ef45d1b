"""SQLMesh projects in place of the sample, as users replace it on day one.

The generated project's own tests must pass whatever a user does to their SQLMesh project
(`src/<package>/sqlmesh_project/`): the integration's tests run on fixture projects of their own,
and the tests of the user's project (`tests/project/`) adapt to the models they find. Two ways
users take, each a project here:

- `adapt_the_sample`: the README's invitation taken. The three marts are replaced by one new mart
  with its audits (`projects/adapted_sample/`) and the marts' SQLMesh unit tests are removed: fewer
  models, another name, no incremental model left. The sample's config and staging models stay.
- `replace_the_sample(project, "telemetry")`: a project of its own in place of the whole folder
  (`projects/telemetry/`): a `config.yaml` instead of the sample's `config.py`, other names, an
  hourly incremental model, a Python model and a standalone audit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from projects import Project

PROJECTS_DIR = Path(__file__).parent / "projects"
# Projects that replace the sample folder whole (folders of PROJECTS_DIR).
REPLACEMENTS = ("telemetry",)


def adapt_the_sample(project: Project) -> None:
    """The sample's marts replaced by one new mart, and the marts' unit tests removed."""
    sample = project.sqlmesh_project
    marts = sorted((sample / "models" / "marts").glob("*.sql"))
    assert marts, f"the sample in {sample} has no marts to replace"
    for mart in marts:
        mart.unlink()
    (sample / "tests" / "test_marts.yaml").unlink()
    shutil.copytree(PROJECTS_DIR / "adapted_sample", sample, dirs_exist_ok=True)


def replace_the_sample(project: Project, name: str) -> None:
    """The SQLMesh project `name` (a folder of PROJECTS_DIR) in place of the sample folder."""
    shutil.rmtree(project.sqlmesh_project)
    shutil.copytree(PROJECTS_DIR / name, project.sqlmesh_project)

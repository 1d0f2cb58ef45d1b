"""Copy the sample into the tests' fixtures, remove what the chosen options do not need, then print
the next commands.

Cookiecutter renders this file and runs it inside the generated project. Each step has one named
function; `main()` reads like a decision table. Tests import this file by path and call the
functions on a scratch folder.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

# Files only a Dagster+ Hybrid deployment uses: the Docker image, its build context filter, the
# hash-pinned uv it installs (docker/), and the configs of its two agents (agents/).
HYBRID_ONLY = ("Dockerfile", ".dockerignore", "docker", "agents")
# Where the integration's tests find the sample shop (tests/support.py, SHOP_PROJECT_DIR).
SHOP_FIXTURE = Path("tests") / "fixtures" / "shop"


def remove_paths(project_dir: Path, patterns: Iterable[str]) -> list[Path]:
    """Delete every file or folder under project_dir matching one of the glob patterns.

    Returns:
        The removed paths, so callers and tests can see what went away.
    """
    removed: list[Path] = []
    for pattern in patterns:
        for path in sorted(project_dir.glob(pattern)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    return removed


def copy_sample_to_test_fixtures(project_dir: Path, package_name: str) -> Path:
    """Copy the rendered sample SQLMesh project to tests/fixtures/shop/ and return the copy.

    The generated project holds the sample twice, and the two part ways on purpose: the one in
    src/<package>/sqlmesh_project/ is the user's, to adapt or replace; the fixture is what the
    integration's own tests run on, so they keep passing whatever the user does to theirs. The
    template keeps a single sample: the fixture is copied from it here, never kept twice.
    """
    target = project_dir / SHOP_FIXTURE
    shutil.copytree(project_dir / "src" / package_name / "sqlmesh_project", target)
    return target


def remove_hybrid_files(project_dir: Path) -> list[Path]:
    """Remove the Docker image files a Serverless deployment does not build."""
    return remove_paths(project_dir, HYBRID_ONLY)


def next_steps(project_slug: str, package_name: str) -> str:
    """Return the commands a user runs next, the generated README's quickstart."""
    project = f"src/{package_name}/sqlmesh_project"
    return "\n".join(
        [
            f"Created {project_slug}. Next:",
            f"  cd {project_slug}",
            "  uv sync",
            f"  uv run sqlmesh -p {project} plan prod --auto-apply --no-prompts --skip-backfill",
            "  uv run dg launch --job __ASSET_JOB",
            "  uv run dg dev        # the Dagster UI at http://127.0.0.1:3000",
            "See README.md for tests, deployment and operations.",
        ]
    )


def main(context: Mapping[str, str], project_dir: Path) -> int:
    """Copy the tests' fixture, apply the option decisions to project_dir, print the next steps."""
    copy_sample_to_test_fixtures(project_dir, context["package_name"])
    if context["dagster_plus_deployment"] == "serverless":
        remove_hybrid_files(project_dir)
    print(next_steps(context["project_slug"], context["package_name"]))
    return 0


# Cookiecutter replaces the placeholder with the whole context as JSON (see pre_gen_project.py).
RENDERED_CONTEXT = r"""{{ cookiecutter | tojson }}"""

if __name__ == "__main__":
    sys.exit(main(json.loads(RENDERED_CONTEXT), Path.cwd()))

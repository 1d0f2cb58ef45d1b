"""Copy the sample into the tests' fixtures, remove what the chosen options do not need, record the
template commit for updates (.cruft.json), then print the next commands.

Cookiecutter renders this file and runs it inside the generated project. Each step has one named
function; `main()` reads like a decision table. Tests import this file by path and call the
functions on a scratch folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

# Files only a Dagster+ Hybrid deployment uses: the Docker image, its build context filter, the
# hash-pinned uv it installs (docker/), and the configs of its two agents (agents/).
HYBRID_ONLY = ("Dockerfile", ".dockerignore", "docker", "agents")
# Where the integration's tests find the sample shop (tests/support.py, SHOP_PROJECT_DIR).
SHOP_FIXTURE = Path("tests") / "fixtures" / "shop"
# What cruft reads to update the project from a newer template (README: Taking template updates).
CRUFT_FILE = ".cruft.json"
# Keys cookiecutter adds to the context that describe this machine, not the user's answers.
MACHINE_KEYS = ("_template", "_output_dir", "_repo_dir", "_checkout")


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


def _git(repo_dir: str, *args: str) -> str | None:
    """The output of `git -C repo_dir ARGS`, or None when git fails (not a repository)."""
    try:
        result = subprocess.run(
            ["git", "-C", repo_dir, *args], capture_output=True, text=True, check=False
        )
    except OSError:  # no git at all
        return None
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def template_source(context: Mapping[str, object]) -> tuple[str, str] | None:
    """Where the template came from, as cruft can clone it again, and the commit rendered.

    A local template is its absolute path; a cloned one (a URL, or an abbreviation such as gh:)
    the URL cookiecutter cloned, read from its clone. None when there is nothing cruft could
    clone: a relative local path (the hook runs in the project folder, so it cannot resolve it),
    a zip file, or a folder outside git.
    """
    template, repo_dir = context.get("_template"), context.get("_repo_dir")
    if not isinstance(template, str) or not isinstance(repo_dir, str):
        return None
    commit = _git(repo_dir, "rev-parse", "HEAD")
    if commit is None or _git(repo_dir, "rev-parse", "--show-prefix") is not None:
        return None  # outside git, or a folder inside another repository (not its root)
    local = Path(template).expanduser()
    if local.is_dir():
        return (str(local), commit) if local.is_absolute() else None
    if not Path(repo_dir).is_absolute():
        return None
    url = _git(repo_dir, "remote", "get-url", "origin")
    return (url, commit) if url else None


def cruft_state(context: Mapping[str, object], template: str, commit: str) -> dict[str, object]:
    """The .cruft.json `cruft create` writes for this render: the template, its commit, the
    answers (cruft renders both commits with them on `cruft update`)."""
    answers = {key: value for key, value in context.items() if key not in MACHINE_KEYS}
    return {
        "template": template,
        "commit": commit,
        "checkout": None,
        "context": {"cookiecutter": {**answers, "_template": template, "_commit": commit}},
        "directory": None,
    }


def write_cruft_file(project_dir: Path, context: Mapping[str, object]) -> Path | None:
    """Write .cruft.json for a render by cookiecutter; return it, or None when none is written.

    cruft's own renders (`cruft create`, and `cruft update`'s renders of both commits) carry
    `_commit` in the context: cruft keeps .cruft.json itself there, so the hook writes none.
    """
    if "_commit" in context:
        return None
    source = template_source(context)
    if source is None:
        return None
    path = project_dir / CRUFT_FILE
    text = json.dumps(cruft_state(context, *source), ensure_ascii=False, indent=2)
    path.write_text(text + "\n", encoding="utf-8")
    return path


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
    """Copy the tests' fixture, apply the option decisions to project_dir, record the template
    commit, print the next steps."""
    copy_sample_to_test_fixtures(project_dir, context["package_name"])
    if context["dagster_plus_deployment"] == "serverless":
        remove_hybrid_files(project_dir)
    if write_cruft_file(project_dir, context) is None and "_commit" not in context:
        print(
            f"No {CRUFT_FILE}: render from a git URL or an absolute path to take template updates."
        )
    print(next_steps(context["project_slug"], context["package_name"]))
    return 0


# Cookiecutter replaces the placeholder with the whole context as JSON (see pre_gen_project.py).
RENDERED_CONTEXT = r"""{{ cookiecutter | tojson }}"""

if __name__ == "__main__":
    sys.exit(main(json.loads(RENDERED_CONTEXT), Path.cwd()))

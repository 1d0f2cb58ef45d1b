"""A user's project taken from an earlier template commit to this checkout's, through cruft.

The generated README's "Taking template updates" runs `cruft check` and `cruft update`: cruft
renders the commit `.cruft.json` records and the template's latest with the user's answers (both
renders run the hooks, so both hold `tests/fixtures/shop/` and only the chosen deployment's files)
and applies the difference to the project with `git apply -3`. `update_an_earlier_project` plays a
user through it:

1. the template as this checkout holds it, in a git clone (uncommitted and untracked changes
   committed there), since cruft clones the template and renders commits, not folders;
2. the defaults rendered at EARLIER_COMMIT, committed as a user would, linked with `cruft link`
   where that template wrote no `.cruft.json` (projects generated before it did);
3. the sample adapted as the README invites (the marts replaced: replaced_samples.py), a
   staging model edited and the README's title changed (the template changes the README too),
   committed;
4. the README's commands: `check` (out of date), `update`, `check` again (up to date).

test_template_update.py asserts on the outcome; test_readme_commands.py runs it for the
README's commands when no other test of the run did.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from projects import Project, require_python
from rendering import DEFAULT, TEMPLATE_DIR, files_of, render
from replaced_samples import adapt_the_sample

# The template at the start of wave 3 (2026-12), from before it wrote `.cruft.json`: a project
# generated then must take today's template as well as one generated later.
EARLIER_COMMIT = "99f83cd"
# The generated README's commands (cruft and the cookiecutter it renders with, pinned).
CRUFT = "uvx --with cookiecutter==2.7.1 cruft==2.16.0"
CHECK_COMMAND = f"{CRUFT} check"
UPDATE_COMMAND = f"{CRUFT} update --skip-apply-ask"
CRUFT_FILE = Path(".cruft.json")
# The user's edit of a staging model, kept through the update.
STAGING_MODEL = Path("models") / "staging" / "stg_orders.sql"
STAGING_EDIT = ("LOWER(status) AS status", "TRIM(LOWER(status)) AS status")
# The user's edit of the README's first line, a file the template changes too (elsewhere).
README_EDIT = ("# Acme Data Platform\n", "# Acme Data Platform (our fork)\n")
# Where the integration lives in a render: compared whole, whatever its modules are.
INTEGRATION = "sqlmesh_integration"

_GIT = (
    "git",
    "-c",
    "user.name=Template Test",
    "-c",
    "user.email=template-test@example.com",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "init.defaultBranch=main",
)


def git(cwd: Path, *args: str) -> str:
    """`git ARGS` in cwd with a test identity; its output, stripped. Fails on a non-zero exit."""
    result = subprocess.run([*_GIT, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"`git {' '.join(args)}` failed in {cwd}:\n{result.stderr}")
    return result.stdout.strip()


def template_clone(target: Path) -> str:
    """Clone this checkout's repository to `target`, its branch `template-head` holding the
    checkout as it is now (changes not committed yet are committed there); return that commit."""
    try:
        git(TEMPLATE_DIR, "cat-file", "-e", f"{EARLIER_COMMIT}^{{commit}}")
    except AssertionError:
        pytest.fail(
            f"commit {EARLIER_COMMIT} is not in this checkout's history: clone the template "
            "whole (actions/checkout: fetch-depth: 0), not shallow"
        )
    git(target.parent, "clone", "--quiet", "--no-checkout", str(TEMPLATE_DIR), str(target))
    git(
        target, "checkout", "--quiet", "-B", "template-head", git(TEMPLATE_DIR, "rev-parse", "HEAD")
    )
    listed = git(TEMPLATE_DIR, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for tracked in git(target, "ls-files", "-z").split("\0"):
        if tracked:
            (target / tracked).unlink()
    for relative in filter(None, listed.split("\0")):
        source = TEMPLATE_DIR / relative
        if source.is_file() or source.is_symlink():  # a tracked file deleted here is left out
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative, follow_symlinks=False)
    git(target, "add", "--all")
    if git(target, "status", "--porcelain"):
        git(target, "commit", "--quiet", "-m", "The checkout's changes not committed yet")
    return git(target, "rev-parse", "HEAD")


def _committed(repo: Path, commit: str, name: str) -> bytes | None:
    """The bytes of file `name` at `commit` of `repo`, or None when it has no such file."""
    shown = subprocess.run(["git", "show", f"{commit}:{name}"], cwd=repo, capture_output=True)
    return shown.stdout if shown.returncode == 0 else None


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under folder (outside tool-made folders, see files_of) with its bytes."""
    return {path.as_posix(): (folder / path).read_bytes() for path in files_of(folder)}


@dataclass(frozen=True)
class Update:
    """What the update scenario leaves for the assertions."""

    project: Project  # the user's project, updated (changes staged, not committed)
    fresh: Path  # the defaults rendered from the template's head: what a new user gets
    head: str  # the template commit updated to
    adapted: dict[str, bytes | None]  # the user's files as they committed them (None: deleted)
    generated: dict[str, bytes | None]  # the same files as generated (None: added by the user)
    checks: tuple[subprocess.CompletedProcess[str], ...]  # `check` before and after the update


def update_an_earlier_project(folder: Path) -> Update:
    """Play a user from a render of EARLIER_COMMIT to the template's head (module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    template = folder / "template"
    head = template_clone(template)
    fresh = render(folder / "fresh", DEFAULT.extra_context(), template_dir=template)

    git(template, "checkout", "--quiet", EARLIER_COMMIT)
    path = render(folder / "user", DEFAULT.extra_context(), template_dir=template)
    git(template, "checkout", "--quiet", "template-head")
    project = Project(
        path=path,
        package_name=path.name.replace("-", "_"),
        python=require_python(DEFAULT.python_version),
        render=DEFAULT.id,
    )
    # cruft reads the cookiecutter config a user has: here one inside the test's folder.
    env = {"COOKIECUTTER_CONFIG": str(folder / "cookiecutterrc.yaml")}
    (folder / "cookiecutterrc.yaml").write_text(
        f"cookiecutters_dir: {json.dumps(str(folder / 'cookiecutters'))}\n"
        f"replay_dir: {json.dumps(str(folder / 'replay'))}\n"
    )
    git(path, "init", "--quiet")
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "-m", "Generated from the template")
    if not (path / CRUFT_FILE).exists():
        link = f"{CRUFT} link {template} --checkout {EARLIER_COMMIT} --no-input --default-config"
        project.run(link, env=env)
        git(path, "add", "--all")
        git(path, "commit", "--quiet", "-m", "Linked to the template it was generated from")
    generated = git(path, "rev-parse", "HEAD")

    adapt_the_sample(project)
    staging = project.sqlmesh_project / STAGING_MODEL
    text = staging.read_text()
    assert STAGING_EDIT[0] in text, f"{staging} no longer has the line the user edits"
    staging.write_text(text.replace(*STAGING_EDIT))
    readme = path / "README.md"
    assert readme.read_text().startswith(README_EDIT[0]), f"{readme} starts otherwise"
    readme.write_text(readme.read_text().replace(*README_EDIT, 1))
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "-m", "Our models")
    changed = git(path, "diff", "--name-only", generated, "HEAD").splitlines()
    adapted = {
        name: (path / name).read_bytes() if (path / name).exists() else None for name in changed
    }
    generated_files = {name: _committed(path, generated, name) for name in changed}

    before = project.run(CHECK_COMMAND, env=env, check=False)
    project.run(UPDATE_COMMAND, env=env)
    after = project.run(CHECK_COMMAND, env=env, check=False)
    return Update(project, fresh, head, adapted, generated_files, (before, after))

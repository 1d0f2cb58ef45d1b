"""A project generated from an earlier template commit, its models changed by the user, takes this
checkout's template with the generated README's cruft commands (template_update.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from template_update import (
    CRUFT_FILE,
    INTEGRATION,
    README_EDIT,
    STAGING_EDIT,
    STAGING_MODEL,
    Update,
    git,
    tree,
    update_an_earlier_project,
)

pytestmark = pytest.mark.slow  # cruft and the project's own tests run

# `git status --porcelain` codes of a path left unmerged.
UNMERGED = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}


@pytest.fixture(scope="module")
def update(tmp_path_factory: pytest.TempPathFactory) -> Update:
    return update_an_earlier_project(tmp_path_factory.mktemp("update"))


def test_check_says_out_of_date_before_and_up_to_date_after(update: Update) -> None:
    before, after = update.checks
    assert before.returncode == 1, before.stdout + before.stderr
    assert after.returncode == 0, after.stdout + after.stderr


def test_no_conflict_outside_the_files_the_user_changed(update: Update) -> None:
    path = update.project.path
    status = git(path, "status", "--porcelain", "--untracked-files=all").splitlines()
    unmerged = [line[3:] for line in status if line[:2] in UNMERGED]
    rejected = [p.as_posix() for p in path.rglob("*.rej") if ".git" not in p.parts]
    mine = set(update.adapted)
    assert [name for name in unmerged if name not in mine] == []
    assert [name for name in rejected if name.removesuffix(".rej") not in mine] == []


def test_the_users_model_changes_are_intact(update: Update) -> None:
    """What the user changed is as they committed it where the template changed none of it (the
    marts replaced, one deleted); the edited staging model keeps the edit in any case."""
    path = update.project.path
    assert None in update.adapted.values(), "the user deleted none of the sample's files"
    for name, content in update.adapted.items():
        fresh = (update.fresh / name).read_bytes() if (update.fresh / name).exists() else None
        if fresh == update.generated[name]:  # the template left this file as it was
            now = (path / name).read_bytes() if (path / name).exists() else None
            assert now == content, f"the update changed {name}, which only the user had changed"
    staging = update.project.sqlmesh_project / STAGING_MODEL
    assert STAGING_EDIT[1] in staging.read_text()


def test_a_file_both_changed_merges_where_the_changes_do_not_overlap(update: Update) -> None:
    """The README: the user's title, and the template's new section below it."""
    generated = (update.generated["README.md"] or b"").decode()
    assert "## Taking template updates" not in generated, "the template did not change the README"
    readme = (update.project.path / "README.md").read_text()
    assert readme.startswith(README_EDIT[1])
    assert readme.replace(*README_EDIT[::-1], 1) == (update.fresh / "README.md").read_text()


def test_everything_else_is_a_fresh_render_of_the_template(update: Update) -> None:
    """Files the user did not touch, the integration among them, are what a new project gets."""
    ignored = {*update.adapted, CRUFT_FILE.as_posix()}
    updated = {k: v for k, v in tree(update.project.path).items() if k not in ignored}
    fresh = {k: v for k, v in tree(update.fresh).items() if k not in ignored}
    assert sorted(k for k in updated.keys() | fresh.keys() if updated.get(k) != fresh.get(k)) == []
    package = update.project.package_name
    integration = Path("src") / package / INTEGRATION
    staged = git(update.project.path, "diff", "--cached", "--name-only", "--", str(integration))
    assert staged, f"the update changed nothing in {integration}: the test proves nothing"
    assert tree(update.project.path / integration) == tree(update.fresh / integration)


def test_cruft_file_records_the_new_commit_as_a_fresh_render_does(update: Update) -> None:
    """cruft's record after the update is the one the post-gen hook writes in a new render."""
    updated = json.loads((update.project.path / CRUFT_FILE).read_text())
    assert updated["commit"] == update.head
    assert updated == json.loads((update.fresh / CRUFT_FILE).read_text())


def test_the_updated_project_passes_its_checks(update: Update) -> None:
    """Its definitions load and its own tests pass on the user's models, after the update."""
    project = update.project
    project.run("uv sync")
    project.run("uv run dg check defs")
    project.run("uv run pytest tests/project -x -q -p no:cacheprovider")

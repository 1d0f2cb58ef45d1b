"""The pre-gen hook rejects bad inputs with one sentence, leaving nothing; hook function units."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from rendering import (
    COOKIECUTTER_JSON,
    DEFAULT,
    OPTIONS,
    PROJECT_TEMPLATE_DIR,
    TEMPLATE_DIR,
    UNSUPPORTED_COMBINATIONS,
    choices,
    load_hook,
    render,
)

pre_gen = load_hook("pre_gen_project")
post_gen = load_hook("post_gen_project")

# (id, extra_context, variable the message must name). At least one of each kind of bad input.
INVALID_INPUTS = [
    ("empty-project-name", {"project_name": "", "project_slug": "acme"}, "project_name"),
    ("blank-project-name", {"project_name": "   ", "project_slug": "acme"}, "project_name"),
    ("project-name-with-quote", {"project_name": 'Acme "Data"'}, "project_name"),
    ("slug-with-slash", {"project_slug": "acme/data"}, "project_slug"),
    ("slug-nested-slashes", {"project_slug": "a/b/c"}, "project_slug"),
    ("slug-parent-dir", {"project_slug": "../escape"}, "project_slug"),
    ("slug-dot-dot-inside", {"project_slug": "a/../b"}, "project_slug"),
    ("slug-backslash", {"project_slug": "acme\\data"}, "project_slug"),
    ("slug-with-space", {"project_slug": "acme data"}, "project_slug"),
    ("slug-uppercase", {"project_slug": "AcmeData"}, "project_slug"),
    ("slug-leading-digit", {"project_slug": "1acme"}, "project_slug"),
    ("slug-non-ascii", {"project_slug": "café-data"}, "project_slug"),
    ("slug-double-hyphen", {"project_slug": "acme--data"}, "project_slug"),
    ("package-with-hyphen", {"package_name": "acme-data"}, "package_name"),
    ("package-leading-digit", {"package_name": "1acme"}, "package_name"),
    ("package-non-ascii", {"package_name": "données"}, "package_name"),
    ("package-keyword", {"package_name": "import"}, "package_name"),
    ("package-soft-keyword", {"package_name": "match"}, "package_name"),
    ("package-shadows-dagster", {"package_name": "dagster"}, "package_name"),
    ("package-shadows-sqlmesh", {"package_name": "sqlmesh"}, "package_name"),
    ("package-shadows-tests", {"package_name": "tests"}, "package_name"),
    ("package-shadows-stdlib", {"package_name": "json"}, "package_name"),
    ("slug-shadows-via-package", {"project_slug": "duckdb"}, "package_name"),
    ("github-without-owner", {"github_repository": "acme-data"}, "github_repository"),
    ("github-three-parts", {"github_repository": "acme/data/platform"}, "github_repository"),
    ("github-bad-owner", {"github_repository": "-acme/data"}, "github_repository"),
    ("email-without-at", {"author_email": "data-platform.example.com"}, "author_email"),
    ("email-with-space", {"author_email": "data platform@example.com"}, "author_email"),
    ("description-with-newline", {"description": "line one\nline two"}, "description"),
    ("author-with-backslash", {"author_name": "Data\\Team"}, "author_name"),
]


def _sentence(stderr: str) -> str:
    lines = [
        line for line in stderr.splitlines() if line.startswith("ERROR: ") and "hook" not in line
    ]
    assert len(lines) == 1, stderr
    return lines[0].removeprefix("ERROR: ")


def _nothing_left(output_dir: Path) -> bool:
    # Separator slugs: a detached helper of the hook removes the parent folders cookiecutter made
    # once cookiecutter has deleted the project folder; it finishes within milliseconds.
    deadline = time.monotonic() + 30
    while any(output_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(output_dir.iterdir())


@pytest.mark.parametrize(
    ("extra_context", "variable"),
    [pytest.param(context, variable, id=case) for case, context, variable in INVALID_INPUTS],
)
def test_invalid_input_fails_in_pre_gen_hook_with_one_sentence(
    extra_context: dict[str, str], variable: str, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    output_dir = tmp_path / "out"
    with pytest.raises(FailedHookException):
        render(output_dir, extra_context)
    sentence = _sentence(capfd.readouterr().err)
    assert sentence.startswith(f"{variable} "), sentence
    assert sentence.endswith("."), sentence
    assert "; " in sentence  # what is wrong; what to change
    assert _nothing_left(output_dir)
    assert not (tmp_path / "escape").exists()


def test_at_least_twelve_kinds_of_invalid_input() -> None:
    kinds = {case.rsplit("-", 1)[0] for case, _, _ in INVALID_INPUTS}
    assert len(INVALID_INPUTS) >= 12 and len(kinds) >= 12


@pytest.mark.parametrize("option", OPTIONS)
def test_unknown_choice_fails_before_anything_is_written(option: str, tmp_path: Path) -> None:
    # cookiecutter 2.7.1 itself refuses an extra_context value outside a choice list.
    output_dir = tmp_path / "out"
    with pytest.raises(ValueError, match=option):
        render(output_dir, {option: "unsupported-value"})
    assert not any(output_dir.iterdir())


@pytest.mark.parametrize("option", OPTIONS)
def test_unknown_choice_from_a_replay_file_fails_in_the_hook(
    option: str, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    # A replay file skips cookiecutter's choice check, so the hook's own check is what stops it.
    from cookiecutter.main import cookiecutter
    from rendering import TEMPLATE_DIR

    context = {key: value for key, value in COOKIECUTTER_JSON.items() if not key.startswith("_")}
    context.update({o: choices(o)[0] for o in OPTIONS})
    context.update(project_slug="acme", package_name="acme", github_repository="acme/acme")
    context[option] = "unsupported-value"
    replay = tmp_path / "replay.json"
    replay.write_text(json.dumps({"cookiecutter": context}))
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE_DIR), replay=str(replay), output_dir=str(output_dir))
    sentence = _sentence(capfd.readouterr().err)
    assert sentence.startswith(f"{option} 'unsupported-value' is not supported; choose one of ")
    assert _nothing_left(output_dir)


def test_a_combination_the_table_lists_fails_the_render_and_leaves_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """Each combination the pre-gen hook's table lists fails a real render, with its reason.

    Today the table is empty (every combination is supported), so a copy of the template whose
    table lists the defaults' warehouse and deployment plays one; the real ones come on top.
    """
    template = tmp_path / "template"
    template.mkdir()
    for part in ("cookiecutter.json", "hooks", PROJECT_TEMPLATE_DIR.name):
        source = TEMPLATE_DIR / part
        if source.is_dir():
            shutil.copytree(source, template / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, template / part)
    hook = template / "hooks" / "pre_gen_project.py"
    table = "UNSUPPORTED_COMBINATIONS: dict[frozenset[tuple[str, str]], str] = {}"
    default = DEFAULT.extra_context()
    listed = frozenset((o, default[o]) for o in ("warehouse", "dagster_plus_deployment"))
    assert hook.read_text().count(table) == 1
    hook.write_text(hook.read_text().replace(table, f"{table[:-2]}{{{listed!r}: 'it is a drill'}}"))
    cases = [(template, DEFAULT), *((TEMPLATE_DIR, c) for c in UNSUPPORTED_COMBINATIONS)]
    for index, (template_dir, combination) in enumerate(cases):
        output_dir = tmp_path / f"out{index}"
        with pytest.raises(FailedHookException):
            render(output_dir, combination.extra_context(), template_dir=template_dir)
        assert "is not supported because" in _sentence(capfd.readouterr().err), combination
        assert _nothing_left(output_dir), combination


# --- unit tests of the hook functions ------------------------------------------------------------


def _default_context() -> dict[str, str]:
    return {
        "project_name": "Acme Data Platform",
        "project_slug": "acme-data-platform",
        "package_name": "acme_data_platform",
        "description": "A data platform.",
        "author_name": "Data Platform Team",
        "author_email": "data-platform@example.com",
        "github_repository": "acme/acme-data-platform",
        **DEFAULT.extra_context(),
    }


def test_defaults_are_valid() -> None:
    pre_gen.validate(_default_context())


def test_hook_choice_lists_match_cookiecutter_json() -> None:
    assert {option: list(values) for option, values in pre_gen.SUPPORTED.items()} == {
        option: choices(option) for option in OPTIONS
    }


def test_combination_table_rejects_a_listed_combination_with_its_reason() -> None:
    table = {frozenset({("python_version", "3.12"), ("warehouse", "motherduck")}): "it is a drill"}
    with pytest.raises(pre_gen.InvalidInput, match="it is a drill; change one of these options"):
        pre_gen.check_combination(_default_context(), table)
    pre_gen.check_combination({**_default_context(), "warehouse": "postgres"}, table)


def test_reserved_names_include_the_stack_and_the_standard_library() -> None:
    reserved = pre_gen.reserved_package_names()
    assert {
        "dagster",
        "sqlmesh",
        "duckdb",
        "pandas",
        "test",
        "tests",
        "src",
        "os",
        "sys",
    } <= reserved
    assert {"typing", "json", "asyncio"} <= reserved


@pytest.mark.parametrize("value", ["acme", "acme-data", "acme2-data-platform", "a1"])
def test_good_slugs_pass(value: str) -> None:
    pre_gen.check_project_slug(value)


@pytest.mark.parametrize("value", ["acme", "acme_data", "data_platform_2"])
def test_good_package_names_pass(value: str) -> None:
    pre_gen.check_package_name(value)


def test_main_prints_one_sentence_and_returns_1(capsys: pytest.CaptureFixture) -> None:
    assert pre_gen.main({**_default_context(), "author_email": "nope"}) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "ERROR: author_email 'nope' is not an e-mail address; set it to one address such as "
        "'data-platform@example.com'."
    )


def test_created_parents_are_the_slug_prefixes_inside_nothing_above(tmp_path: Path) -> None:
    assert pre_gen.created_parents(tmp_path, "a/b/c") == [tmp_path / "a/b", tmp_path / "a"]
    assert pre_gen.created_parents(tmp_path, "a/../b") == [tmp_path / "a"]
    assert pre_gen.created_parents(tmp_path, "../x") == []
    assert pre_gen.created_parents(tmp_path, "plain") == []


def test_created_parents_never_leave_the_output_folder(tmp_path: Path) -> None:
    output, outside = tmp_path / "output", tmp_path / "outside"
    (outside / "empty").mkdir(parents=True)
    output.mkdir()
    (output / "link").symlink_to(outside)
    assert pre_gen.created_parents(output, "../outside/empty/x") == []
    assert pre_gen.created_parents(output, "a/../../outside/x") == [output / "a"]
    assert pre_gen.created_parents(output, "link/empty/x") == []
    assert pre_gen.created_parents(output, "./x") == []


def test_main_hands_the_clean_up_only_folders_inside_the_output_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A rejected slug that climbs out of the output folder starts no clean-up at all; one that
    climbs out after a folder of its own gets that folder only (the helper removes what it is
    given, if empty)."""
    started: list[list[str]] = []
    monkeypatch.setattr(pre_gen.subprocess, "Popen", lambda command, **_: started.append(command))
    output = tmp_path / "output"
    output.mkdir()
    (tmp_path / "outside").mkdir()
    context = {**_default_context(), "_output_dir": str(output)}
    assert pre_gen.main({**context, "project_slug": "../outside/x"}) == 1
    assert started == []
    assert pre_gen.main({**context, "project_slug": "a/../../outside/x"}) == 1
    [command] = started
    assert command[-1:] == [str(output / "a")]
    assert capsys.readouterr().err.count("ERROR: project_slug") == 2


def test_remove_hybrid_files_removes_the_docker_files(tmp_path: Path) -> None:
    for name in ("Dockerfile", ".dockerignore", "README.md"):
        (tmp_path / name).write_text("x")
    removed = post_gen.remove_hybrid_files(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in removed) == [
        ".dockerignore",
        "Dockerfile",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_post_gen_main_keeps_hybrid_files_for_hybrid(tmp_path: Path, capsys) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python")
    context = {**_default_context(), "dagster_plus_deployment": "hybrid"}
    sample = tmp_path / "src" / context["package_name"] / "sqlmesh_project"
    sample.mkdir(parents=True)
    (sample / "config.py").write_text("config = None\n")
    assert post_gen.main(context, tmp_path) == 0
    assert (tmp_path / "Dockerfile").exists()
    assert "cd acme-data-platform" in capsys.readouterr().out


def test_the_sample_is_copied_into_the_test_fixtures_and_kept_once(default_project: Path) -> None:
    """The render's tests/fixtures/shop/ is its sample, file for file; the template has one."""

    def files(root: Path) -> dict[str, bytes]:
        return {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in root.rglob("*")
            if path.is_file()
        }

    package = default_project.name.replace("-", "_")
    sample = files(default_project / "src" / package / "sqlmesh_project")
    assert "models/marts/orders.sql" in sample
    assert files(default_project / post_gen.SHOP_FIXTURE) == sample
    assert not (PROJECT_TEMPLATE_DIR / post_gen.SHOP_FIXTURE).exists()


def test_next_steps_are_the_readme_quickstart(default_project: Path) -> None:
    import readme

    package = default_project.name.replace("-", "_")
    printed = [
        line.split("#")[0].strip()
        for line in post_gen.next_steps(default_project.name, package).splitlines()
        if line.strip().startswith("uv ")
    ]
    assert printed
    documented = readme.commands(default_project / "README.md")
    assert [command for command in printed if command not in documented] == []


def _git_repo(folder: Path) -> str:
    """A git repository in folder with one commit; returns the commit."""
    folder.mkdir(parents=True)
    (folder / "cookiecutter.json").write_text("{}\n")
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "template"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    return subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def _rendered_context(template: str, repo_dir: Path) -> dict[str, object]:
    """The context cookiecutter hands the hooks: the answers and what it adds about the machine."""
    return {
        **_default_context(),
        "_copy_without_render": COOKIECUTTER_JSON["_copy_without_render"],
        "_template": template,
        "_output_dir": str(repo_dir.parent / "out"),
        "_repo_dir": str(repo_dir),
        "_checkout": None,
    }


def test_cruft_file_records_a_local_template_its_commit_and_the_answers(tmp_path: Path) -> None:
    commit = _git_repo(tmp_path / "template")
    context = _rendered_context(str(tmp_path / "template"), tmp_path / "template")
    (tmp_path / "project").mkdir()
    written = post_gen.write_cruft_file(tmp_path / "project", context)
    assert written == tmp_path / "project" / ".cruft.json"
    state = json.loads(written.read_text())
    assert (state["template"], state["commit"]) == (str(tmp_path / "template"), commit)
    answers = state["context"]["cookiecutter"]
    assert {key: answers[key] for key in _default_context()} == _default_context()
    assert (answers["_template"], answers["_commit"]) == (str(tmp_path / "template"), commit)
    assert not {"_output_dir", "_repo_dir", "_checkout"} & answers.keys()  # nothing of the machine


def test_cruft_file_of_a_cloned_template_names_the_url_cookiecutter_cloned(tmp_path: Path) -> None:
    """An abbreviation such as gh:owner/name is recorded as the clone's URL, which cruft clones."""
    upstream = tmp_path / "upstream"
    commit = _git_repo(upstream)
    clone = tmp_path / "cookiecutters" / "template"
    subprocess.run(["git", "clone", "-q", str(upstream), str(clone)], check=True)
    context = _rendered_context("gh:acme/template", clone)
    state = post_gen.cruft_state(context, *post_gen.template_source(context))
    assert (state["template"], state["commit"]) == (str(upstream), commit)


@pytest.mark.parametrize(
    "case", ["relative-path", "not-git", "inside-another-repo", "rendered-by-cruft", "no-template"]
)
def test_no_cruft_file_where_cruft_could_not_clone_or_writes_its_own(
    case: str, tmp_path: Path
) -> None:
    _git_repo(tmp_path / "template")
    (tmp_path / "template" / "sub").mkdir()
    (tmp_path / "plain").mkdir()
    context: dict[str, object] = {
        "relative-path": _rendered_context("template", Path("template")),
        "not-git": _rendered_context(str(tmp_path / "plain"), tmp_path / "plain"),
        "inside-another-repo": _rendered_context(
            str(tmp_path / "template" / "sub"), tmp_path / "template" / "sub"
        ),
        "rendered-by-cruft": {
            **_rendered_context(str(tmp_path / "template"), tmp_path / "template"),
            "_commit": "0" * 40,
        },
        "no-template": _default_context(),
    }[case]
    (tmp_path / "project").mkdir()
    assert post_gen.write_cruft_file(tmp_path / "project", context) is None
    assert not (tmp_path / "project" / ".cruft.json").exists()

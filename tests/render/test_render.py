"""Render every supported option combination once and check the files it produces."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import jinja2
import pytest
import yaml
from rendering import (
    COOKIECUTTER_LEFTOVER_RE,
    JINJA_STATEMENT_RE,
    PROJECT_TEMPLATE_DIR,
    SUPPORTED_COMBINATIONS,
    Combination,
    files_of,
    load_hook,
    text_files,
)

post_gen = load_hook("post_gen_project")

COMBINATIONS = [pytest.param(c, id=c.id) for c in SUPPORTED_COMBINATIONS]

# Files every variant has (package-relative paths use {pkg}).
EXPECTED_FILES = [
    "README.md",
    "pyproject.toml",
    "tox.ini",
    ".pre-commit-config.yaml",
    ".gitignore",
    ".env.example",
    ".python-version",
    ".cruft.json",
    "src/{pkg}/sqlmesh_project/config.py",
    "src/{pkg}/sqlmesh_project/settings.yaml",
    "src/{pkg}/sqlmesh_project/external_models.yaml",
    "src/{pkg}/defs/sqlmesh/defs.yaml",
    "tests/fixtures/shop/config.py",
]


def is_sqlmesh_project_file(relative: Path) -> bool:
    """Files of a SQLMesh project (the sample or a test fixture): SQLMesh's Jinja lives there."""
    return "sqlmesh_project" in relative.parts or relative.parts[:2] == ("tests", "fixtures")


def package_of(project: Path) -> str:
    return tomllib.loads((project / "pyproject.toml").read_text())["tool"]["dg"]["project"][
        "root_module"
    ]


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_no_cookiecutter_jinja_left(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    leftovers = []
    for relative, text in text_files(project):
        if COOKIECUTTER_LEFTOVER_RE.search(text) or (
            not is_sqlmesh_project_file(relative) and JINJA_STATEMENT_RE.search(text)
        ):
            leftovers.append(str(relative))
    assert leftovers == []


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_expected_files_exist_and_removed_ones_do_not(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    pkg = package_of(project)
    missing = [p for p in EXPECTED_FILES if not (project / p.format(pkg=pkg)).is_file()]
    assert missing == []
    hybrid_in_template = [p for p in post_gen.HYBRID_ONLY if any(PROJECT_TEMPLATE_DIR.glob(p))]
    assert hybrid_in_template == list(post_gen.HYBRID_ONLY), "a removal pattern matches nothing"
    hybrid_rendered = [p for p in post_gen.HYBRID_ONLY if any(project.glob(p))]
    if combination.dagster_plus_deployment == "serverless":
        assert hybrid_rendered == []
    else:
        assert hybrid_rendered == hybrid_in_template


def _render_sqlmesh_jinja(text: str) -> str:
    """Render SQLMesh's config Jinja the way SQLMesh does, with every env_var unset."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return environment.from_string(text).render(env_var=lambda name, default=None: default or "x")


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_every_yaml_and_toml_file_parses(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    checked = 0
    for relative in files_of(project):
        path = project / relative
        if path.suffix in {".yml", ".yaml"}:
            text = path.read_text(encoding="utf-8")
            if is_sqlmesh_project_file(relative) and ("{{" in text or "{%" in text):
                text = _render_sqlmesh_jinja(text)
            yaml.safe_load(text)
            checked += 1
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text(encoding="utf-8"))
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_ruff_passes(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, f"ruff {' '.join(command)}:\n{result.stdout}{result.stderr}"


ENV_VAR_RE = re.compile(r"env_var\(\s*'([A-Z0-9_]+)'")


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_env_example_lists_every_variable_of_the_config(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    pkg = package_of(project)
    config = "\n".join(
        line
        for line in (project / f"src/{pkg}/sqlmesh_project/settings.yaml").read_text().splitlines()
        if not line.lstrip().startswith("#")
    )
    documented = {
        line.split("=", 1)[0]
        for line in (project / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert set(ENV_VAR_RE.findall(config)) - documented == set()


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_no_credential_like_strings(
    combination: Combination, render_project: Callable[[Combination], Path], default_project: Path
) -> None:
    """detect-secrets (the scanner the commit hooks run) finds nothing in any rendered file it
    scans (the hook's `exclude`: the template commit in .cruft.json).

    The defaults are scanned whole; other variants only where they differ from the defaults
    (the scan is the slow part, and identical files cannot hold new findings).
    """
    project = render_project(combination)
    excluded = re.compile(_detect_secrets_hook(project).get("exclude", "$^"))
    files = [
        str(relative)
        for relative in files_of(project)
        if not excluded.search(relative.as_posix())
        and (
            not (default_project / relative).is_file()
            or project == default_project
            or (default_project / relative).read_bytes() != (project / relative).read_bytes()
        )
    ]
    assert files
    result = subprocess.run(
        [sys.executable, "-m", "detect_secrets", "scan", *files],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    findings = json.loads(result.stdout)["results"]
    assert findings == {}


def _detect_secrets_hook(project: Path) -> dict[str, str]:
    """The detect-secrets commit hook of a render's .pre-commit-config.yaml."""
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    return next(hook for hook in hooks if hook["id"] == "detect-secrets")


def test_secret_scan_skips_only_the_template_commit(default_project: Path) -> None:
    """The hook's exclusion leaves out .cruft.json (a commit hash reads as a hex secret) alone."""
    excluded = re.compile(_detect_secrets_hook(default_project)["exclude"])
    assert [p for p in files_of(default_project) if excluded.search(p.as_posix())] == [
        Path(".cruft.json")
    ]


def test_secret_scan_finds_a_planted_credential(tmp_path: Path) -> None:
    """The scan above is not vacuous: a credential-like line is reported."""
    # Built at run time so this file itself holds no credential-like literal.
    key = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzEXAMPLEKEY"
    (tmp_path / "settings.env").write_text(f'AWS_SECRET_ACCESS_KEY="{key}"\n')
    result = subprocess.run(
        [sys.executable, "-m", "detect_secrets", "scan", "settings.env"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout)["results"] != {}

"""What the template tests share: paths, the supported option combinations, rendering, hook loading.

Imported by conftest.py and the test modules (`pythonpath` in tox.ini puts tests/support/ on
sys.path).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parents[2]
PROJECT_TEMPLATE_DIR = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
COOKIECUTTER_JSON: dict[str, Any] = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
OPTIONS = ("python_version", "warehouse", "dagster_plus_deployment")

# Leftovers of cookiecutter's Jinja in a rendered file. SQLMesh's own `{{ env_var(...) }}` and
# `{% if %}` in sqlmesh_project/ are legitimate, so anything naming cookiecutter or a raw block
# counts, and outside sqlmesh_project/ any `{%` does.
COOKIECUTTER_LEFTOVER_RE = re.compile(
    r"\{\{-?\s*cookiecutter|\{%-?[^%]*cookiecutter[^%]*%\}|\{%-?\s*(?:end)?raw\s*-?%\}"
)
JINJA_STATEMENT_RE = re.compile(r"\{%")


def load_hook(name: str) -> ModuleType:
    """Import hooks/<name>.py by path (the unrendered file is valid Python)."""
    path = TEMPLATE_DIR / "hooks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"template_hooks_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Combination:
    """One choice of every option; `id` is the readable pytest id."""

    python_version: str
    warehouse: str
    dagster_plus_deployment: str

    @property
    def id(self) -> str:
        return f"py{self.python_version}-{self.warehouse}-{self.dagster_plus_deployment}"

    def extra_context(self) -> dict[str, str]:
        return {option: getattr(self, option) for option in OPTIONS}


def choices(option: str) -> list[str]:
    """The choice list of an option in cookiecutter.json, default first."""
    values = COOKIECUTTER_JSON[option]
    assert isinstance(values, list), option
    return values


DEFAULT = Combination(*(choices(option)[0] for option in OPTIONS))


def is_unsupported(combination: Combination) -> bool:
    """Whether the pre-gen hook's one table of unsupported combinations rejects this combination."""
    chosen = set(combination.extra_context().items())
    table = load_hook("pre_gen_project").UNSUPPORTED_COMBINATIONS
    return any(pairs <= chosen for pairs in table)


ALL_COMBINATIONS = [Combination(*values) for values in itertools.product(*map(choices, OPTIONS))]
SUPPORTED_COMBINATIONS = [c for c in ALL_COMBINATIONS if not is_unsupported(c)]
UNSUPPORTED_COMBINATIONS = [c for c in ALL_COMBINATIONS if is_unsupported(c)]


def render(
    output_dir: Path,
    extra_context: dict[str, str] | None = None,
    template_dir: Path = TEMPLATE_DIR,
) -> Path:
    """Render the template (this checkout, or another copy of it) with cookiecutter's Python API,
    no prompts; return the project folder.

    The cookiecutter config (replay files, clones) is kept inside output_dir, never in ~.
    """
    from cookiecutter.main import cookiecutter

    output_dir.mkdir(parents=True, exist_ok=True)
    config = output_dir.parent / f"{output_dir.name}.cookiecutterrc.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(output_dir.parent / 'cookiecutters'))}\n"
        f"replay_dir: {json.dumps(str(output_dir.parent / 'replay'))}\n"
    )
    return Path(
        cookiecutter(
            str(template_dir),
            no_input=True,
            extra_context=extra_context or {},
            output_dir=str(output_dir),
            config_file=str(config),
        )
    )


def files_of(project: Path) -> list[Path]:
    """Every file of a rendered project, relative, outside tool-made folders."""
    skip = {".venv", ".tox", ".git", "__pycache__", ".ruff_cache", ".mypy_cache", ".pytest_cache"}
    return sorted(
        path.relative_to(project)
        for path in project.rglob("*")
        if path.is_file() and not skip.intersection(path.relative_to(project).parts)
    )


def text_files(project: Path) -> list[tuple[Path, str]]:
    """Every UTF-8 text file of a rendered project (see files_of) with its text; no binaries."""
    found = []
    for relative in files_of(project):
        try:
            found.append((relative, (project / relative).read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            continue
    return found

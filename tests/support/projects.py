"""A rendered project and a helper to run commands in it (used by conftest and the tests)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import readme
from rendering import DEFAULT, TEMPLATE_DIR

# Variables of the calling environment that would point uv or SQLMesh at the wrong place: tox's
# virtualenv, or a gateway choice leaking from the developer's shell.
_STRIPPED_ENV = (
    "VIRTUAL_ENV",
    "UV_PROJECT_ENVIRONMENT",
    "UV_INTERNAL__PARENT_INTERPRETER",
    "SQLMESH_GATEWAY",
    "PYTHONPATH",
    "CONDA_PREFIX",
)
# This suite's own pytest, xdist and tox variables: a project's own pytest or tox must not see them
# (tox reads TOX_WORK_DIR: a project's tox would build its environments in this suite's .tox).
_STRIPPED_PREFIXES = ("PYTEST_XDIST_", "PYTEST_CURRENT_TEST", "TOX_")


# The SQLMesh project a render ships (a Project's `models` unless a test replaced it).
SAMPLE = "sample"


def coverage_context(render: str, models: str = SAMPLE, gateway: str | None = None) -> str:
    """Where a command ran, as README coverage counts it (see readme.py): the render (a
    Combination id), the SQLMesh project in it and the gateway (None: the project's default)."""
    return f"{render} render, {models} SQLMesh project, {gateway or 'default'} gateway"


# Where the generated README's commands count: the default render, its sample, its default gateway.
GENERATED_README = coverage_context(DEFAULT.id)


class CommandFailed(AssertionError):
    """A command in a rendered project exited non-zero; the message holds its output."""


def project_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for commands run inside a rendered project."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _STRIPPED_ENV and not key.startswith(_STRIPPED_PREFIXES)
    }
    env.update(extra or {})
    return env


def run_demo(
    output: Path, env: Mapping[str, str] | None = None, *, timeout: float = 1500
) -> subprocess.CompletedProcess[str]:
    """The template README's demo command, rendering into `output`, with `env` on top of
    `project_env()`; its output is captured, its exit code left to the caller."""
    return subprocess.run(
        [*shlex.split(readme.DEMO_COMMAND), str(output)],
        cwd=TEMPLATE_DIR,
        env=project_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def python_missing(version: str) -> str:
    """The sentence that names a missing Python and how to get it."""
    return (
        f"Python {version} is not installed: install it with `uv python install {version}` or "
        f"`pyenv install {version}` to test the projects that pin it."
    )


def python_or_skip(version: str) -> str:
    """The interpreter for Python `version` (see find_python). When there is none, the test is
    skipped with the sentence that says how to install it, or fails where `CI` is set: CI runs
    every test (the template README names the Pythons the whole suite needs)."""
    python = find_python(version)
    if python is None:
        if os.environ.get("CI"):
            pytest.fail(f"{python_missing(version)} CI runs every test, so it fails here.")
        pytest.skip(python_missing(version))
    return python


def find_python(version: str) -> str | None:
    """The interpreter a project pinned to Python `version` gets, or None when there is none.

    Found the way the project's own `uv sync` finds it: uv's own installs, then `python3.X` on
    PATH, asked from a folder whose `.python-version` names the version, so pyenv's shims (which
    read that file) answer for an installed version that is not active. No PYENV_VERSION needed.
    """
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, ".python-version").write_text(f"{version}\n", encoding="utf-8")
        found = subprocess.run(
            ["uv", "python", "find", version],
            cwd=folder,
            capture_output=True,
            text=True,
            env=project_env(),
        )
    return found.stdout.strip() if found.returncode == 0 else None


def require_python(version: str) -> str:
    """The interpreter for Python `version` (see find_python); fails the test when there is none."""
    python = find_python(version)
    if python is None:
        pytest.fail(python_missing(version))
    return python


@dataclass(frozen=True)
class Project:
    """A rendered project with a helper to run commands in it."""

    path: Path
    package_name: str
    python: str
    render: str  # the combination rendered (rendering.Combination.id)
    models: str = SAMPLE  # the SQLMesh project in `sqlmesh_project/`

    def coverage_context(self, env: Mapping[str, str] | None = None) -> str:
        """Where a command run here with `env` ran, as README coverage counts it."""
        return coverage_context(self.render, self.models, (env or {}).get("SQLMESH_GATEWAY"))

    @property
    def sqlmesh_project(self) -> Path:
        return self.path / "src" / self.package_name / "sqlmesh_project"

    @property
    def defs_state_dir(self) -> Path:
        """Where Dagster keeps the components' defs state (LOCAL_FILESYSTEM), git-ignored."""
        return self.path / "src" / self.package_name / "defs" / ".local_defs_state"

    @property
    def defs_state(self) -> Path:
        """The SQLMesh component's state: its prepared manifest (`dg utils refresh-defs-state`)."""
        return self.defs_state_dir / "SQLMeshProjectComponent__sqlmesh_project__" / "state"

    def run(
        self,
        command: str | Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 1200,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` (a shell string, or an argument list) in the project root.

        Raises CommandFailed with stdout and stderr when it exits non-zero (unless check=False). A
        successful command is recorded with where it ran (`coverage_context`), so README commands
        run here count as covered where the README means them.
        """
        shell = isinstance(command, str)
        text = command if isinstance(command, str) else shlex.join(command)
        result = subprocess.run(
            command,
            shell=shell,
            cwd=self.path,
            env=project_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise CommandFailed(
                f"`{text}` exited {result.returncode} in {self.path}\n"
                f"--- stdout ---\n{result.stdout[-20000:]}\n"
                f"--- stderr ---\n{result.stderr[-20000:]}"
            )
        if result.returncode == 0:
            readme.record(text, self.coverage_context(env))
        return result

    def readme_commands(self) -> list[str]:
        """The commands of the project's README ```bash blocks, in order."""
        return readme.commands(self.path / "README.md")


def copy_project(source: Project, parent: Path, ignore: Sequence[str] = ()) -> Project:
    """Copies `source` into `parent` (same folder name), without the `ignore` patterns."""
    target = parent / source.path.name
    shutil.copytree(source.path, target, ignore=shutil.ignore_patterns(*ignore))
    return replace(source, path=target)

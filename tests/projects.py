"""A rendered project and a helper to run commands in it (used by conftest and the tests)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import readme

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
# This suite's own pytest and xdist variables: a project's own pytest run must not see them.
_STRIPPED_PREFIXES = ("PYTEST_XDIST_", "PYTEST_CURRENT_TEST")


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


def find_python(version: str) -> str:
    """The interpreter uv finds for `version` (pyenv's, or uv's own); fails the test if none."""
    found = subprocess.run(
        ["uv", "python", "find", version], capture_output=True, text=True, env=project_env()
    )
    if found.returncode != 0:
        pytest.fail(
            f"uv finds no Python {version}: {found.stderr.strip()} "
            "(with pyenv, export PYENV_VERSION=3.11.7:3.12.1:3.13.0 as .ci/run does)"
        )
    return found.stdout.strip()


@dataclass(frozen=True)
class Project:
    """A rendered project with a helper to run commands in it."""

    path: Path
    package_name: str
    python: str

    @property
    def sqlmesh_project(self) -> Path:
        return self.path / "src" / self.package_name / "sqlmesh_project"

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
        successful command is recorded, so README commands run here count as covered.
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
            readme.record(text)
        return result

    def readme_commands(self) -> list[str]:
        """The commands of the project's README ```bash blocks, in order."""
        return readme.commands(self.path / "README.md")


def copy_project(source: Project, parent: Path, ignore: Sequence[str] = ()) -> Project:
    """Copies `source` into `parent` (same folder name), without the `ignore` patterns."""
    target = parent / source.path.name
    shutil.copytree(source.path, target, ignore=shutil.ignore_patterns(*ignore))
    return Project(target, source.package_name, source.python)

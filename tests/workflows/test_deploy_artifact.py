"""The deploy artifact carries the SQLMesh project and its defs state, and loads outside the tree.

Serverless: the wheel is built the way `dg plus deploy` builds the source of a PEX deploy (the
project's build backend), installed into a fresh virtualenv in another folder, and the definitions
are loaded from there. Hybrid: the Dockerfile's instructions are replayed without a Docker engine
(its COPY on the filtered build context, its RUN commands with its ENV but for two install settings,
see REPLAY_ENV; /opt mapped into a temporary folder), and the definitions are loaded from the
virtualenv it builds.

Run alone with `pytest tests/workflows/test_deploy_artifact.py`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import dockerignore
import pytest
from projects import Project, copy_project, project_env
from rendering import DEFAULT, Combination

pytestmark = pytest.mark.slow

HYBRID = Combination(DEFAULT.python_version, DEFAULT.warehouse, "hybrid")
# The image's install settings that only cost time in the replay: copying every package out of uv's
# cache (an image has no cache to link to) and compiling all their byte code (for a faster first
# start). Replayed, packages are linked from the cache and compiled when imported; what is
# installed, and what the assertions read, is the same.
REPLAY_ENV = {"UV_LINK_MODE": "hardlink", "UV_COMPILE_BYTECODE": "0"}
# Files SQLMesh or the tools write into the project folder that are not part of it.
NOT_SOURCE = (".dagster", "logs", "__pycache__", ".cache")
# The SQLMesh component's defs state, relative to the package.
STATE = "defs/.local_defs_state/SQLMeshProjectComponent__sqlmesh_project__/state"


def run(
    command: list[str] | str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command,
        cwd=cwd,
        env=project_env(env),
        shell=isinstance(command, str),
        capture_output=True,
        text=True,
        timeout=1200,
        stdin=subprocess.DEVNULL,
    )
    text = command if isinstance(command, str) else shlex.join(command)
    assert result.returncode == 0, (
        f"`{text}` exited {result.returncode} in {cwd}\n"
        f"{result.stdout[-8000:]}\n{result.stderr[-8000:]}"
    )
    return result


def sqlmesh_source_files(project_dir: Path) -> set[str]:
    return {
        path.relative_to(project_dir).as_posix()
        for path in project_dir.rglob("*")
        if path.is_file()
        and not set(NOT_SOURCE).intersection(path.relative_to(project_dir).parts)
        and not path.name.endswith((".duckdb", ".pyc"))
    }


def asset_keys(python: Path, module: str, cwd: Path) -> list[str]:
    """The asset keys a code location module defines, listed by the `dagster` next to `python`."""
    dagster = python.parent / "dagster"
    listed = run([str(dagster), "asset", "list", "-m", module], cwd=cwd).stdout
    return sorted(line.strip() for line in listed.splitlines() if line.strip())


def assert_loads_outside_source(
    python: Path, package: str, source: Path, workdir: Path, expected_keys: list[str]
) -> None:
    """Imports and validates the definitions from an installed environment, far from the sources."""
    workdir.mkdir(parents=True, exist_ok=True)
    where = run(
        [
            str(python),
            "-c",
            f"import {package}.definitions as d, {package}; print({package}.__file__)",
        ],
        cwd=workdir,
    ).stdout.strip()
    assert "site-packages" in where and not where.startswith(str(source)), where
    installed_project = Path(where).parent / "sqlmesh_project"
    assert (Path(where).parent / STATE).is_file()
    # Shipped too: without it Dagster writes it at load, which a read-only deployment cannot.
    assert (Path(where).parent / "defs" / ".local_defs_state" / ".gitignore").is_file()
    assert sqlmesh_source_files(installed_project) == sqlmesh_source_files(
        source / "src" / package / "sqlmesh_project"
    )
    dagster = python.parent / "dagster"
    run([str(dagster), "definitions", "validate", "-m", f"{package}.definitions"], cwd=workdir)
    keys = asset_keys(python, f"{package}.definitions", workdir)
    assert keys, "the installed definitions have no assets"
    assert keys == expected_keys, "the installed definitions differ from the source tree's"


@pytest.fixture(scope="module")
def prepared_project(
    installed_sources: Project, tmp_path_factory: pytest.TempPathFactory
) -> Project:
    """A copy of the installed default (Serverless) project, with the SQLMesh component's state.

    `dg utils refresh-defs-state` on the default gateway, which has no database in the copy: the
    state comes from the SQLMesh project alone. The artifact's content is what matters here;
    test_ci_commands.py prepares it from applied state as CI does.
    """
    project = copy_project(installed_sources, tmp_path_factory.mktemp("artifact"))
    project.run("uv sync --frozen")
    project.run("uv run --frozen dg utils refresh-defs-state")
    assert project.defs_state.is_file()
    return project


@pytest.fixture(scope="module")
def source_asset_keys(prepared_project: Project) -> list[str]:
    """The asset keys the source tree's (editable) installation defines."""
    python = prepared_project.path / ".venv" / "bin" / "python"
    return asset_keys(python, f"{prepared_project.package_name}.definitions", prepared_project.path)


def test_serverless_wheel_carries_the_sqlmesh_project(
    prepared_project: Project, source_asset_keys: list[str], tmp_path: Path
) -> None:
    package = prepared_project.package_name
    run(["uv", "build", "--wheel", "--out-dir", str(tmp_path / "dist")], cwd=prepared_project.path)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    prefix = f"{package}/sqlmesh_project/"
    assert f"{package}/{STATE}" in names
    shipped = {name.removeprefix(prefix) for name in names if name.startswith(prefix)}
    missing = sqlmesh_source_files(prepared_project.sqlmesh_project) - shipped
    assert not missing, f"not in the wheel: {sorted(missing)}"

    venv = tmp_path / "deploy-venv"
    run(["uv", "venv", str(venv), "--python", prepared_project.python], cwd=tmp_path)
    run(
        ["uv", "pip", "install", "--python", str(venv / "bin" / "python"), str(wheel)], cwd=tmp_path
    )
    assert_loads_outside_source(
        venv / "bin" / "python",
        package,
        prepared_project.path,
        tmp_path / "elsewhere",
        source_asset_keys,
    )


@dataclass
class DockerBuild:
    """Replays a Dockerfile's instructions in `root` (which stands in for the image's /)."""

    context: Path
    root: Path
    python: str
    env: dict[str, str]
    args: dict[str, str]
    workdir: Path
    skipped: list[str]
    user: str = "root"

    def path(self, text: str) -> str:
        """Maps absolute image paths (/opt/...) into root."""
        return re.sub(r"(?<![\w.$])/opt/", f"{self.root}/opt/", text)

    def expand(self, text: str) -> str:
        values = {**self.args, **self.env}
        return re.sub(
            r"\$\{?(\w+)\}?",
            lambda m: values.get(m[1], os.environ.get(m[1], m[0])),
            text,
        )

    def instruction(self, keyword: str, value: str) -> None:
        if keyword == "ARG":
            name, _, default = value.partition("=")
            self.args[name] = default
        elif keyword == "FROM":
            image = self.expand(value)
            assert re.fullmatch(
                rf"python:{re.escape(self.args['PYTHON_VERSION'])}-slim@sha256:[0-9a-f]{{64}}",
                image,
            ), image
        elif keyword == "USER":
            self.user = value
        elif keyword == "ENV":
            for item in shlex.split(value):
                name, _, assigned = item.partition("=")
                self.env[name] = self.path(self.expand(assigned))
        elif keyword == "WORKDIR":
            self.workdir = Path(self.path(value))
            self.workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            *sources, destination = shlex.split(value)
            target = self.workdir / destination
            for source in sources:
                self.copy(self.context / source, target if len(sources) == 1 else target / source)
        elif keyword == "RUN":
            if re.match(r"pip install .*\buv\b", value):
                self.skipped.append(value)  # uv is already on this machine
                return
            if re.match(r"useradd\b", value):
                self.skipped.append(value)  # never add users to this machine
                return
            env = {**self.env, **REPLAY_ENV, "UV_PYTHON": self.python}
            run(["bash", "-euo", "pipefail", "-c", self.path(value)], cwd=self.workdir, env=env)
        else:
            raise AssertionError(f"the replay does not know the {keyword} instruction")

    def copy(self, source: Path, target: Path) -> None:
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
            return
        destination = target / source.name if target.is_dir() else target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(KEYWORD, value) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in dockerfile.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1].strip()) for text in logical]


def build_context(project: Path, target: Path) -> Path:
    """The project folder as Docker sends it: without what .dockerignore leaves out, by Docker's
    matching rules (dockerignore.py)."""
    patterns = dockerignore.read_patterns((project / ".dockerignore").read_text())
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project).as_posix()
        if path.is_file() and not dockerignore.is_ignored(relative, patterns):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)
    return target


def test_hybrid_dockerfile_builds_the_sqlmesh_project_into_the_image(
    render_project: Callable[[Combination], Path],
    prepared_project: Project,
    source_asset_keys: list[str],
    tmp_path: Path,
) -> None:
    rendered = render_project(HYBRID)
    package = prepared_project.package_name
    assert (rendered / "Dockerfile").is_file() and (rendered / ".dockerignore").is_file()

    project = tmp_path / "project"
    shutil.copytree(rendered, project)
    # The defs state is prepared by CI before the image build (scripts/ci/refresh-defs-state.sh).
    # The SQLMesh project does not depend on the deployment option, so the prepared one is reused.
    source_project = project / "src" / package / "sqlmesh_project"
    assert sqlmesh_source_files(source_project) == sqlmesh_source_files(
        prepared_project.sqlmesh_project
    )
    shutil.copytree(
        prepared_project.defs_state_dir, project / "src" / package / "defs" / ".local_defs_state"
    )
    shutil.copy2(prepared_project.path / "uv.lock", project / "uv.lock")

    context = build_context(project, tmp_path / "context")
    assert (context / "src" / package / STATE).is_file()
    assert not (context / "tests").exists() and not (context / ".github").exists()

    build = DockerBuild(
        context=context,
        root=tmp_path / "image",
        python=prepared_project.python,
        env={},
        args={},
        workdir=tmp_path / "image",
        skipped=[],
    )
    for keyword, value in instructions(project / "Dockerfile"):
        build.instruction(keyword, value)
    assert len(build.skipped) == 2, build.skipped
    assert build.user not in {"root", "0", "0:0"}, "the code server must not run as root"

    venv_python = Path(build.env["UV_PROJECT_ENVIRONMENT"]) / "bin" / "python"
    assert venv_python.exists()
    assert_loads_outside_source(
        venv_python, package, prepared_project.path, tmp_path / "elsewhere", source_asset_keys
    )
    # No dev tools in the image.
    assert not (venv_python.parent / "pytest").exists()

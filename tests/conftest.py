"""Session fixtures: every render happens once per test run, and one installed default project.

`render_project(combination)` renders a combination on first use (on any worker) and returns the
same folder afterwards. `installed_project` is the output of the README's demo command (the
defaults rendered, installed with `uv sync` and run through the quickstart); the end-to-end tests
and the README-command tests use it. uv's cache is shared, so installs take seconds when warm.

The suite runs on pytest-xdist workers (`tox.ini`). The demo runs once per test run, not once per
worker: the first worker that needs it runs it under a file lock in the folder the workers share,
and the others wait for it and reuse it. Tests that use `installed_project` itself are one xdist
group (`installed`, see GROUPS), so they run one after another on one worker; tests that change
files work on copies of `installed_sources`, the demo's files as it left them.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import readme
from projects import GENERATED_README, Project, copy_project, require_python, run_demo
from rendering import DEFAULT, Combination, render

# Tests that share one worker (xdist scopes), by node id: a module, or a module's test function.
# The `installed` group is every test that uses `installed_project` itself (checked at collection):
# they change its files and data, so they must not run at the same time.
GROUPS: dict[str, tuple[str, ...]] = {
    "installed": (
        "tests/running/test_end_to_end.py",
        "tests/running/test_readme_commands.py::test_demo_command",
        "tests/running/test_readme_commands.py::test_generated_readme_command",
        "tests/workflows/test_pr_diff.py::test_plan_preview_masks_and_fences_what_sqlmesh_prints",
    ),
    # They share a prepared project.
    "deploy_artifact": ("tests/workflows/test_deploy_artifact.py",),
    # The second test reads the first's data.
    "kitchen_sink": ("tests/running/test_kitchen_sink.py",),
    # One update, asserted on by each test.
    "template_update": ("tests/running/test_template_update.py",),
}
# Never in the shared sources: what installing and running the project made (the SQLMesh
# component's defs state included: a copy prepares its own, as a fresh render does).
_NOT_SOURCES = (".venv", ".tox", "*.duckdb*", ".cache", "logs", "__pycache__", ".local_defs_state")


def group_of(nodeid: str) -> str | None:
    """The group a test belongs to (see GROUPS), or None."""
    for group, members in GROUPS.items():
        for member in members:
            if nodeid == member or nodeid.startswith((f"{member}::", f"{member}[")):
                return group
    return None


@pytest.hookimpl(optionalhook=True)  # a hook of xdist's: unknown when it is not loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's `loadgroup`, with groups from GROUPS.

    xdist marks a group by appending `@group` to node ids, which pytest 9.2 no longer lets a
    plugin change (pytest-dev/pytest-xdist#1386: `xdist_group` marks are silently ignored); the
    scheduler, which sees only node ids, asks `group_of` instead.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    # Hand out work in collection order (xdist would start the scopes holding the most tests
    # first, whatever they wait for).
    config.option.loadscopereorder = False

    class GroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid) or nodeid

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Checks the `installed` group is complete; the run keeps pytest's collection order.

    No hand-made order: measured on 2 cores from fresh clones, the longest-first order this
    replaced took 882 s, collection order 857 s (same 789 tests, same result).
    """
    for item in items:
        uses_installed = "installed_project" in getattr(item, "fixturenames", ())
        if uses_installed and group_of(item.nodeid) != "installed":
            raise pytest.UsageError(
                f"{item.nodeid} uses installed_project: add it to GROUPS['installed'] in "
                "tests/conftest.py (or give it a copy with project_copy)."
            )


@pytest.hookimpl(optionalhook=True)  # a hook of xdist's: unknown when it is not loaded
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`--numprocesses auto`: one worker per core, plus one.

    Many tests spend part of their time waiting (on a daemon's tick, a webserver, Postgres, a
    lock, runs in a queue), when a worker per core leaves a core idle. Measured on 2 cores from
    fresh clones, same 789 tests: 1015-1064 s with 2 workers, 923 s with 3.
    """
    return (os.cpu_count() or 1) + 1


def _shared_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every worker of this test run shares (the session's own one without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Holds an exclusive lock on `lock_file` (other workers wait for it)."""
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """README commands a test phase ran count only when that phase passed (see readme.py)."""
    report = yield
    readme.settle(report.passed)
    return report


@pytest.fixture(scope="session", autouse=True)
def _readme_record(tmp_path_factory: pytest.TempPathFactory) -> None:
    """README commands run by any worker count for all (see readme.py)."""
    readme.RECORD_FILE = _shared_directory(tmp_path_factory) / "readme-commands-run.txt"


@pytest.fixture(scope="session")
def render_project(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Combination], Path]:
    """Render a combination once per test run; later calls, on any worker, return the same folder.

    The first worker that needs a combination renders it under a file lock in the folder the
    workers share; the others wait for it and reuse it. Renders are shared: copy, never change.
    """
    renders = _shared_directory(tmp_path_factory) / "renders"
    renders.mkdir(exist_ok=True)
    cache: dict[Combination, Path] = {}

    def _render(combination: Combination) -> Path:
        if combination not in cache:
            done = renders / f"{combination.id}.path"
            with _exclusive(renders / f"{combination.id}.lock"):
                if not done.exists():
                    output = renders / combination.id
                    shutil.rmtree(output, ignore_errors=True)  # a render that failed half-way
                    path = render(output / "project", combination.extra_context())
                    done.write_text(str(path))
            cache[combination] = Path(done.read_text())
        return cache[combination]

    return _render


@pytest.fixture(scope="session")
def default_project(render_project: Callable[[Combination], Path]) -> Path:
    """The defaults rendered once (not installed)."""
    return render_project(DEFAULT)


@pytest.fixture(scope="session")
def _demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Runs the demo once per test run (whichever worker comes first); the others reuse it.

    Returns the folders of the installed project and of its shared sources.
    """
    shared = _shared_directory(tmp_path_factory)
    outcome = shared / "demo-outcome.json"
    with _exclusive(shared / "demo.lock"):
        if not outcome.exists():
            try:
                result = _run_demo(shared / "demo", shared / "demo-sources")
            except BaseException as error:
                outcome.write_text(json.dumps({"error": f"{type(error).__name__}: {error}"}))
                raise
            outcome.write_text(json.dumps(result))
    result = json.loads(outcome.read_text())
    if "error" in result:
        pytest.fail(f"the demo failed in another worker: {result['error'][-5000:]}")
    return result  # type: ignore[no-any-return]


def _run_demo(output: Path, sources: Path) -> dict[str, str]:
    if shutil.which("uv") is None:
        pytest.fail("uv is not on PATH: run the tests with the README's `bash scripts/test.sh`")
    require_python(DEFAULT.python_version)
    output.mkdir()
    result = run_demo(output, {"TMPDIR": str(output)})
    assert result.returncode == 0, f"{result.stdout[-20000:]}\n{result.stderr[-20000:]}"
    path = next(child for child in output.iterdir() if child.is_dir())
    ran = [line[2:] for line in result.stdout.splitlines() if line.startswith("$ ")]
    assert ran == readme.bash_blocks(path / "README.md")[0], "the demo must run the quickstart"
    readme.record(readme.DEMO_COMMAND, readme.TEMPLATE)
    for command in ran:  # the default render, its sample, the default gateway
        readme.record(command, GENERATED_README)
    # Checked above, and the other workers use the demo as soon as the lock is released, before
    # this test phase ends: they count now.
    readme.settle(passed=True)
    shutil.copytree(path, sources / path.name, ignore=shutil.ignore_patterns(*_NOT_SOURCES))
    return {"path": str(path), "sources": str(sources / path.name)}


def _project_at(path: Path) -> Project:
    package_name = path.name.replace("-", "_")
    return Project(
        path=path,
        package_name=package_name,
        python=require_python(DEFAULT.python_version),
        render=DEFAULT.id,
    )


@pytest.fixture(scope="session")
def installed_project(_demo: dict[str, str]) -> Project:
    """The template README's demo command, run once per test run; returns the project it made.

    The demo renders the defaults and runs the generated README's quickstart verbatim (uv sync,
    sqlmesh plan, dg launch), so the project is installed and its local DuckDB holds the sample
    data. Tests that need other data start from a fresh database (see test_end_to_end.py). Its
    tests run one after another on one worker (the `installed` group).
    """
    return _project_at(Path(_demo["path"]))


@pytest.fixture(scope="session")
def installed_sources(_demo: dict[str, str]) -> Project:
    """The demo project's files as the demo left them (no .venv, no data): copy, never change."""
    return _project_at(Path(_demo["sources"]))


@pytest.fixture
def project_copy(installed_sources: Project, tmp_path: Path) -> Project:
    """A copy of the installed project's sources for a test that edits files (no .venv, no data)."""
    return copy_project(installed_sources, tmp_path)

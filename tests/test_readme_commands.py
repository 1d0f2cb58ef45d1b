"""Every command in a ```bash block of both READMEs is run by a test.

The template README's demo command is run here; its test command is the one .ci/run runs (checked
below), i.e. the command that runs this suite. The generated README's commands are run on the
installed default project unless another test of the run (the end-to-end tests, or the demo
here, which runs the quickstart block) already ran them through `installed_project.run`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest
import readme
from projects import Project, project_env
from rendering import TEMPLATE_DIR, render

TEMPLATE_README = TEMPLATE_DIR / "README.md"
TEST_COMMAND = "python3 -m pip install uv && uvx --with tox-uv tox"


def _generated_readme_commands(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return readme.commands(render(tmp_path_factory.mktemp("readme")) / "README.md")


def test_template_readme_has_exactly_the_two_setup_commands() -> None:
    assert readme.commands(TEMPLATE_README) == [readme.DEMO_COMMAND, TEST_COMMAND]


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run ends with the README's test command verbatim, and the workflow runs .ci/run."""
    script = (TEMPLATE_DIR / ".ci" / "run").read_text()
    last_command = [
        line.strip()
        for line in script.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ][-1]
    assert last_command == TEST_COMMAND
    assert "bash .ci/run" in (TEMPLATE_DIR / ".github" / "workflows" / "ci.yml").read_text()


def test_generated_readme_commands_are_all_known(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A new README command fails here until it is given a runner in GENERATED below."""
    commands = [
        re.sub(r"src/\w+/sqlmesh_project", "src/<pkg>/sqlmesh_project", c)
        for c in _generated_readme_commands(tmp_path_factory)
    ]
    assert commands == list(GENERATED)


@pytest.mark.slow
def test_demo_command(installed_project: Project) -> None:
    """The README's demo renders the defaults and runs the generated quickstart to the end.

    The `installed_project` fixture runs it (once per test run) and checks that it ran exactly the
    generated README's first block; here we only confirm it was recorded.
    """
    assert readme.was_run(readme.DEMO_COMMAND)
    assert all(readme.was_run(command) for command in installed_project.readme_commands()[:3])


def _run(project: Project, command: str) -> None:
    project.run(command)


def _serve_until_ready(project: Project, command: str) -> None:
    """Start a long-running server command, wait until the UI answers, then stop it."""
    process = subprocess.Popen(
        command,
        shell=True,
        cwd=project.path,
        env=project_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(
                    "http://127.0.0.1:3000/server_info", timeout=5
                ) as reply:
                    if reply.status == 200:
                        readme.record(command)
                        return
            except OSError:
                time.sleep(1)
        pytest.fail(f"`{command}` never served the UI (exit {process.poll()})")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        if not readme.was_run(command):
            print(output[-20000:])


def _in_a_git_copy(project_copy: Project, command: str) -> None:
    """Commit hooks look at the files git knows and may fix files: run them on a fresh copy."""
    project_copy.run("git init -q && git add -A")
    project_copy.run(command)


def _data_diff_in_a_copy(project_copy: Project, command: str) -> None:
    """The README's diff of `dev` against `prod`, on a copy with prod applied and a mart changed.

    Runs the command's whole block (apply `dev`, then diff), so both commands are recorded.
    """
    project = project_copy
    project.run(
        f"uv run sqlmesh -p src/{project.package_name}/sqlmesh_project plan prod"
        " --auto-apply --no-prompts"
    )
    customers = project.sqlmesh_project / "models" / "marts" / "customers.sql"
    text = customers.read_text()
    assert "order_history.order_count >= 4" in text
    customers.write_text(text.replace("order_count >= 4", "order_count >= 3"))
    block = next(b for b in readme.bash_blocks(project.path / "README.md") if command in b)
    outputs = [project.run(line).stdout for line in block]
    assert "## Data diff: `prod` → `dev`" in outputs[-1], outputs[-1]
    assert "### `marts.customers` (breaking)" in outputs[-1], outputs[-1]
    assert "Rows that differ, per column: `customer_segment`" in outputs[-1], outputs[-1]


# The generated README's commands in README order ("<pkg>" stands for the package), with how to run
# each; `_run` runs it in the installed default project.
GENERATED = {
    "uv sync": _run,
    (
        "uv run sqlmesh -p src/<pkg>/sqlmesh_project plan prod --auto-apply --no-prompts"
        " --skip-backfill"
    ): _run,
    "uv run dg launch --assets '*'": _run,
    "uv run pytest": _run,
    "uv run dg dev": _serve_until_ready,
    "uv run tox -e lint,sqlmesh": _run,
    "uv run pre-commit run --all-files": _in_a_git_copy,
    (
        "uv run sqlmesh -p src/<pkg>/sqlmesh_project plan dev --auto-apply --no-prompts"
        " --include-unmodified"
    ): _data_diff_in_a_copy,
    "uv run sqlmesh-dagster pr-diff dev": _data_diff_in_a_copy,
}
# Runners that work on a fresh copy of the project instead of the installed one.
ON_A_COPY = (_in_a_git_copy, _data_diff_in_a_copy)


@pytest.mark.slow
@pytest.mark.parametrize("pattern", list(GENERATED))
def test_generated_readme_command(
    pattern: str, installed_project: Project, request: pytest.FixtureRequest
) -> None:
    installed = installed_project
    command = pattern.replace("<pkg>", installed.package_name)
    assert command in installed.readme_commands()
    if readme.was_run(command):
        return  # already run (and asserted on) by another test of this run
    # A command may need the ones before it in its block (launch needs plan): run those first.
    block = next(b for b in readme.bash_blocks(installed.path / "README.md") if command in b)
    for earlier in block[: block.index(command)]:
        if not readme.was_run(earlier):
            installed.run(earlier)
    runner = GENERATED[pattern]
    if runner in ON_A_COPY:
        runner(request.getfixturevalue("project_copy"), command)
    else:
        runner(installed, command)
    assert readme.was_run(command)

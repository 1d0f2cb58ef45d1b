"""The generated docs/deployment.md walks a user through the settings the workflows rely on, on
every warehouse and deployment variant: each GitHub Environment the workflows name, with its
reviewers and branch rules; each secret and variable, in the environments of the jobs that read it;
the Dagster+ tokens and scopes; the repository settings; the apply timeout the workflow sets; and
the risk the setup leaves.

These are the settings no test can apply for the user, so the docs must not drift from the
workflows: a renamed secret, a new environment or a changed timeout fails here until the docs say
so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from rendering import DEFAULT, SUPPORTED_COMBINATIONS, Combination
from workflow_files import environment_of, jobs, secrets_of, variables_of, workflows_of

VARIANTS = [
    pytest.param(c, id=c.id)
    for c in SUPPORTED_COMBINATIONS
    if c.python_version == DEFAULT.python_version
]
ENVIRONMENTS = {"production", "production-ci", "preview", "github-settings"}
# The ones the SQLMesh and deploy jobs use ("all three" in the docs' table of secrets).
SQLMESH_ENVIRONMENTS = {"production", "production-ci", "preview"}
# What each GitHub Environment's setup step must say (docs/deployment.md, "One-time setup").
ENVIRONMENT_SETTINGS = {
    # The apply: reviewed, by someone else, from main only, with no admin bypass.
    "production": (
        r"\*\*Required reviewers\*\*",
        r"\*\*Prevent\s+self-review\*\*",
        r"\*\*Allow administrators to bypass configured protection rules\*\* unticked",
        r"\*\*Selected branches and\s+tags\*\* > (add )?`main`",
    ),
    # The jobs around the apply run the code of main only.
    "production-ci": (r"\*\*Selected branches and\s+tags\*\* > (add )?`main`",),
    # Pull request code gets credentials only after a maintainer (not its author) approves the run.
    "preview": (r"\*\*Required reviewers\*\*", r"\*\*Prevent\s+self-review\*\*"),
    # The weekly settings check's token: main only.
    "github-settings": (r"\*\*Selected branches and\s+tags\*\* > (add )?`main`",),
}


def section(text: str, heading: str) -> str:
    """The body of the Markdown section with this heading, up to the next heading of its level."""
    match = re.search(rf"^(#+) {re.escape(heading)}\n", text, re.MULTILINE)
    assert match, f"docs/deployment.md has no section {heading!r}"
    level = len(match[1])
    end = re.search(rf"^#{{1,{level}}} ", text[match.end() :], re.MULTILINE)
    return text[match.end() : match.end() + end.start()] if end else text[match.end() :]


def documented_environments(text: str) -> dict[str, set[str]]:
    """The "Secrets and variables" table: each name, with the GitHub Environments it goes in."""
    table = {}
    for row in section(text, "Secrets and variables").splitlines():
        if not row.startswith("| `"):
            continue
        names, _kind, where, *_ = (cell.strip() for cell in row.strip("|").split("|"))
        environments = set(SQLMESH_ENVIRONMENTS) if "all three" in where else set()
        environments |= set(re.findall(r"`([\w-]+)`", where)) & ENVIRONMENTS
        for name in re.findall(r"`(\w+)`", names):
            table[name] = environments
    return table


def environment_steps(text: str) -> dict[str, str]:
    """The "One-time setup" bullets that create each GitHub Environment, by environment."""
    setup = section(text, "One-time setup")
    step = re.search(r"^\d+\. \*\*GitHub, environments\.\*\*.*?(?=^\d+\. )", setup, re.S | re.M)
    assert step, "the one-time setup has no GitHub environments step"
    bullets = re.split(r"^   - `([\w-]+)`: ", step[0], flags=re.MULTILINE)[1:]
    return dict(zip(bullets[::2], bullets[1::2], strict=True))


@pytest.mark.parametrize("combination", VARIANTS)
def test_every_environment_is_set_up_step_by_step(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    steps = environment_steps((project / "docs" / "deployment.md").read_text())
    used = {environment_of(job) for _, _, job in jobs(project)} - {None}
    assert used == ENVIRONMENTS
    assert set(steps) == used, f"the docs set up {sorted(steps)}, the workflows use {sorted(used)}"
    for environment, settings in ENVIRONMENT_SETTINGS.items():
        for setting in settings:
            assert re.search(setting, steps[environment]), f"{environment}: no {setting}"
    # Pull requests come from any branch: preview must not be limited to main.
    assert "`main`" not in steps["preview"]


@pytest.mark.parametrize("combination", VARIANTS)
def test_every_secret_and_variable_is_documented_where_its_jobs_run(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    """The table names each secret and variable a job reads, in that job's environment."""
    project = render_project(combination)
    table = documented_environments((project / "docs" / "deployment.md").read_text())
    checked = 0
    for workflow_name, job_name, job in jobs(project):
        environment = environment_of(job)
        for name in sorted(secrets_of(job) | variables_of(job)):
            assert name in table, f"{name} ({workflow_name} job {job_name}) is not documented"
            if environment is not None:
                assert environment in table[name], (
                    f"{workflow_name} job {job_name} reads {name} in {environment!r}; the docs put "
                    f"it in {sorted(table[name])}"
                )
                checked += 1
    assert checked > 20


@pytest.mark.parametrize("combination", VARIANTS)
def test_repository_and_dagster_plus_settings(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    text = (project / "docs" / "deployment.md").read_text()
    setup = " ".join(section(text, "One-time setup").split())
    checks = workflows_of(project)["pull_request.yml"]["jobs"]["checks"]["name"]
    for setting in (
        # GitHub: nothing at repository level, main protected, the checks required.
        "Settings > Secrets and variables > Actions: no repository secrets",
        f"require the `{checks}` status check",
        "dismiss stale approvals on new pushes",
        # Dagster+: a deploy token, a branch-deployment-only token, values scoped per deployment.
        "`DAGSTER_CLOUD_API_TOKEN` in `production-ci`",
        "allow it **branch deployments** only (no full deployment)",
        "`DAGSTER_CLOUD_BRANCH_DEPLOYMENT_TOKEN` in `preview`",
        "the preview values scoped to **Branch deployments** only",
        "Do not set `SQLMESH_ENVIRONMENT` for branch deployments",
    ):
        assert setting in setup, f"the one-time setup does not say: {setting}"
    if combination.dagster_plus_deployment == "hybrid":
        # Branch images go to their own repository; neither repository lets a tag be moved.
        image = " ".join(section(text, "The Hybrid image").split())
        assert "pushes to `DAGSTER_BRANCH_IMAGE_REGISTRY` instead" in image
        assert "Turn on **tag immutability** on both repositories" in image


@pytest.mark.parametrize("combination", VARIANTS)
def test_the_residual_risk_is_written_down(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    text = (render_project(combination) / "docs" / "deployment.md").read_text()
    exposed = " ".join(section(text, "What is still exposed").split())
    for fact in (
        "one state and one physical layer for all environments",
        "can still write the tables prod adopts at the merge",
        "a separate warehouse database and state database",
    ):
        assert fact in exposed, f"'What is still exposed' does not say: {fact}"


@pytest.mark.parametrize("combination", VARIANTS)
def test_the_apply_timeout_is_the_documented_one(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    """The apply may run as long as a GitHub-hosted runner allows, as the docs say, and longer than
    any other job (a timeout stops an apply half-way)."""
    project = render_project(combination)
    deploy = workflows_of(project)["deploy.yml"]["jobs"]
    timeout = deploy["apply"]["timeout-minutes"]
    documented = section((project / "docs" / "deployment.md").read_text(), "Apply timeout")
    assert re.findall(r"`timeout-minutes: (\d+)`", documented) == [str(timeout)]
    assert timeout == 360
    others = [job["timeout-minutes"] for _, name, job in jobs(project) if name != "apply"]
    assert max(others) < timeout

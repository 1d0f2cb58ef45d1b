"""The generated workflows' commands, run in workflow order on DuckDB (`SQLMESH_GATEWAY=ci`).

The steps are read from the rendered .github/workflows/ files, so this test runs what CI runs. Each
`run:` step is classified below: run as it is, run in a local form, run as it is against a Dagster+
stand-in (the materialize step: fake_dagster_plus.py records the `dg api run launch` and
runs it locally, as the deployed code location would), or skipped because it only talks to the
Dagster+ API. A step the table does not know fails the test, so a new workflow step has to be
classified here.

The scenario is a new project's first pull request, then its merge:
1. pull request opened: the `checks` job in a throwaway checkout (its ci.duckdb is scratch, as on
   a CI runner); then `branch-deployment` (which ends with the data diff) and, once closed,
   `close` in the "production" checkout, whose ci.duckdb stands in for the production warehouse
   and SQLMesh state;
2. push to main: `plan` -> `apply` -> `deploy` -> `materialize` in the same production checkout.
Outcomes are asserted where they live: environments and versions in SQLMesh state against the defs
state each job prepared, the launched asset keys against the models SQLMesh runs (outcomes.py),
intervals in SQLMesh state, rows in the tables against the seeds.

Every step that does not need Dagster+ runs (in a git repository, as Actions' checkout gives one).
The tox step builds its `py` and `lint` environments from the lock and runs them, with the
generated tests not marked slow (the slow ones run as the README's `uv run pytest`); its `lint`
environment is left out when a passed test of this run already ran it on the same files as the
README's `uv run tox -e lint,sqlmesh` (ruff, and mypy, which takes about 40 s without its cache).
The pre-commit step is the generated README's `uv run pre-commit run --all-files` on the same
files: it is left out only when a passed test of this run already ran that command
(test_readme_commands.py, on a git copy of the same project), and runs here otherwise, so it
always runs once.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fake_dagster_plus
import pytest
import readme
import yaml
from outcomes import asset_keys, expected_rows, probe
from projects import Project, copy_project

pytestmark = pytest.mark.slow

PR_NUMBER = "7"
PR_ENVIRONMENT = f"pr_{PR_NUMBER}"

# The tox step's local form: the generated tests not marked slow (the slow ones run as the README's
# `uv run pytest`).
TOX_CHECKS = "uv run --frozen tox -e py,lint -- -m 'not slow'"

# (pattern of a `run:` command, what to do): "run", "skip: <why>", "local: <command>",
# "unless run: <README command>" (run as it is, unless a passed test of this run ran that command),
# or "fake: <what>" (run as it is, with the Dagster+ stand-in installed: see step_command).
STEPS: list[tuple[str, str]] = [
    (r"bash scripts/ci/setup\.sh", "run"),
    (r"uv run --frozen pre-commit run\b.*", "unless run: uv run pre-commit run --all-files"),
    (r"uv run --frozen tox -e py,lint", f"local: {TOX_CHECKS}"),
    (r"bash scripts/ci/check-sqlmesh\.sh", "run"),
    (r"bash scripts/ci/check-definitions\.sh", "run"),
    (r"bash scripts/ci/doctor\.sh", "run"),
    (r"bash scripts/ci/plan-apply\.sh( prod)?", "run"),
    (r"bash scripts/ci/plan-preview\.sh prod", "run"),
    (r"bash scripts/ci/refresh-defs-state\.sh( prod)?", "run"),
    (r"bash scripts/ci/dagster-deploy\.sh", "skip: Dagster+ API"),
    (r"bash scripts/ci/close-branch-deployment\.sh", "skip: Dagster+ API"),
    (r"bash scripts/ci/invalidate-environment\.sh", "run"),
    (r"bash scripts/ci/pr-diff\.sh", "run"),
    (r"bash scripts/ci/pr-comment\.sh .*", "skip: GitHub API (test_pr_diff.py fakes it)"),
    (r'echo "No data diff: pull requests from forks.*', "skip: forks only"),
    (r'echo "keys=\$\(bash scripts/ci/asset-keys\.sh\)" >> "\$GITHUB_OUTPUT"', "run"),
    (r"bash scripts/ci/materialize\.sh dagster-plus", "fake: Dagster+ (fake_dagster_plus.py)"),
    # The check it starts with; the sync itself talks to Dagster+ (test_alert_policies_sync.py
    # runs it against a stand-in for Dagster+'s API).
    (
        r"bash scripts/ci/sync-alert-policies\.sh",
        "local: uv run --frozen sqlmesh-dagster alert-policies alert_policies.yaml",
    ),
]
# What the materialize job gets from the workflow's variables and secrets (the stand-in checks
# that they arrive, and talks to nothing).
DAGSTER_PLUS_VARIABLES = {
    "DAGSTER_CLOUD_ORGANIZATION": "template-tests",
    "DAGSTER_CLOUD_API_TOKEN": "unused-by-the-stand-in",
}


# Local forms narrowed once a passed test of this run ran a README command that covers part of
# them on the same files: local form -> (README command, narrowed form).
NARROWED: dict[str, tuple[str, str]] = {
    TOX_CHECKS: (
        "uv run tox -e lint,sqlmesh",
        "uv run --frozen tox -e py -- -m 'not slow'",
    ),
}


def classify(command: str) -> str:
    for pattern, action in STEPS:
        if re.fullmatch(pattern, command.strip()):
            return action
    raise AssertionError(f"workflow step `{command}` is not classified in test_ci_commands.STEPS")


def step_command(project: Project, command: str, action: str) -> str:
    """The command a classified step runs: its local form, or the step as it is (a "fake:" step
    only once the Dagster+ stand-in is installed in `project`)."""
    if action.startswith("local: "):
        return action.removeprefix("local: ")
    if action.startswith("fake: "):
        assert fake_dagster_plus.installed(project), f"`{command}` needs the Dagster+ stand-in"
    return command


def load_jobs(project: Path, workflow: str) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((project / ".github" / "workflows" / workflow).read_text())
    return data["jobs"]


def job_env(job: dict[str, Any]) -> dict[str, str]:
    """The job's env as a local run sees it: no secrets or variables, the pull request number."""
    env = {}
    for name, value in (job.get("env") or {}).items():
        if value == "${{ github.event.pull_request.number }}":
            env[name] = PR_NUMBER
    return env


def expand(value: str, runner_temp: Path) -> str:
    """A step's env value in a local run: `runner.temp` is a folder, other expressions empty."""
    value = value.replace("${{ runner.temp }}", str(runner_temp))
    return re.sub(r"\$\{\{[^}]*\}\}", "", value)


@dataclass
class Runner:
    """Runs workflow jobs' steps in a checkout, with the files Actions provides."""

    project: Project
    log: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    def run_job(self, jobs: dict[str, dict[str, Any]], name: str) -> dict[str, str]:
        """Runs one job's steps; returns its step outputs ($GITHUB_OUTPUT)."""
        job = jobs[name]
        # A fresh checkout per job, as on a runner: nothing prepared by an earlier job is left.
        shutil.rmtree(self.project.defs_state_dir, ignore_errors=True)
        folder = self.project.path.parent / f"actions-{name}"
        folder.mkdir(exist_ok=True)
        output, summary = folder / "output", folder / "summary.md"
        env = {
            **job_env(job),
            "SQLMESH_GATEWAY": "ci",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "CI": "true",
        }
        env.update(self.extra_env)
        for step in job["steps"]:
            if "run" not in step:
                continue
            action = classify(step["run"])
            if action.startswith("unless run: "):
                covering = action.removeprefix("unless run: ")
                if readme.was_run(covering, self.project.coverage_context()):
                    self.log.append(f"{name}: skipped `{step['run']}` (`{covering}` passed)")
                    continue
                action = "run"
            if action.startswith("skip"):
                self.log.append(f"{name}: skipped `{step['run']}` ({action})")
                continue
            command = step_command(self.project, step["run"], action)
            covering, narrowed = NARROWED.get(command, ("", ""))
            if covering and readme.was_run(covering, self.project.coverage_context()):
                self.log.append(f"{name}: narrowed `{command}` (`{covering}` passed)")
                command = narrowed
            self.log.append(f"{name}: {command}")
            step_env = {
                key: expand(value, folder) for key, value in (step.get("env") or {}).items()
            }
            self.project.run(command, env={**env, **step_env}, timeout=1800)
        outputs = {}
        if output.exists():
            for line in output.read_text().splitlines():
                key, _, value = line.partition("=")
                outputs[key] = value
        return outputs


def query(project: Project, sql: str) -> list[tuple[Any, ...]]:
    """Runs SQL on the production stand-in (ci.duckdb) with the project's DuckDB."""
    script = (
        "import duckdb, json, sys; "
        "c = duckdb.connect('ci.duckdb', read_only=True); "
        "print(json.dumps(c.sql(sys.argv[1]).fetchall(), default=str))"
    )
    out = project.run(["uv", "run", "--frozen", "python", "-c", script, sql]).stdout
    return [tuple(row) for row in json.loads(out.strip().splitlines()[-1])]


def assert_defs_state_of(project: Project, environment: str) -> None:
    """The defs state is the manifest of `environment` on the `ci` gateway: every model SQLMesh
    holds there at the version SQLMesh applied, and every external table."""
    manifest = json.loads(project.defs_state.read_text())
    sql = f"SELECT snapshots FROM sqlmesh._environments WHERE name = '{environment}'"
    ((snapshots,),) = query(project, sql)
    nodes = [node for node in json.loads(snapshots) if node["node_type"] == "model"]
    assert manifest["gateway"] == "ci", manifest["gateway"]
    assert {model["name"]: model["snapshot_version"] for model in manifest["models"]} == {
        node["name"]: node["version"] for node in nodes if node["kind_name"] != "EXTERNAL"
    }
    assert {table["name"] for table in manifest["external_tables"]} == {
        node["name"] for node in nodes if node["kind_name"] == "EXTERNAL"
    }


def environments(project: Project) -> dict[str, int | None]:
    """SQLMesh environments in the state, with their expiry (epoch ms, None: never)."""
    rows = query(project, "SELECT name, expiration_ts FROM sqlmesh._environments")
    return {name: expiry for name, expiry in rows}


@pytest.fixture(scope="module")
def checkouts(installed_sources: Project, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two copies of the installed default project: a scratch one for `checks`, and production."""
    copies = tuple(
        copy_project(
            installed_sources, tmp_path_factory.mktemp(label), ignore=(".local_defs_state",)
        )
        for label in ("checks", "production")
    )
    for checkout in copies:
        checkout.run("git init -q && git add -A")  # a checkout is a git repository
    return copies


def test_workflow_commands_in_order(checkouts: tuple[Project, Project]) -> None:
    checks_checkout, production = checkouts
    pull_request = load_jobs(production.path, "pull_request.yml")
    deploy = load_jobs(production.path, "deploy.yml")
    assert set(pull_request) == {"checks", "branch-deployment", "comment", "close"}
    assert list(deploy) == ["plan", "apply", "deploy", "materialize", "alerts"]

    # 1. Pull request opened: checks (scratch DuckDB), then the pull request's environment.
    Runner(checks_checkout).run_job(pull_request, "checks")
    assert_defs_state_of(checks_checkout, "prod")  # check-definitions.sh applies the ci prod
    # The doctor found SQLMesh and Dagster agreeing, and said so in the job summary.
    checks_summary = (checks_checkout.path.parent / "actions-checks" / "summary.md").read_text()
    assert "no difference between SQLMesh and Dagster" in checks_summary, checks_summary

    runner = Runner(production)
    runner.run_job(pull_request, "branch-deployment")
    state = environments(production)
    assert PR_ENVIRONMENT in state and "prod" not in state, state
    summary = (production.path.parent / "actions-branch-deployment" / "summary.md").read_text()
    assert "SQLMesh plan preview: `prod`" in summary and "Explained plan" in summary, summary
    assert_defs_state_of(production, PR_ENVIRONMENT)

    # The data diff: a new project's first pull request has no prod yet, so counts only.
    folder = production.path.parent / "actions-branch-deployment"
    summary = (folder / "summary.md").read_text()
    assert f"## Data diff: `prod` → `{PR_ENVIRONMENT}`" in summary, summary
    assert "`prod` does not exist yet" in summary and "`marts.customers` (new)" in summary, summary
    comment = (folder / "pr-diff" / "comment.md").read_text().strip()
    assert comment.startswith(f"## Data diff: `prod` → `{PR_ENVIRONMENT}`") and comment in summary

    # Pull request closed: its environment is invalidated (expires now).
    runner.run_job(pull_request, "close")
    expiry = environments(production)[PR_ENVIRONMENT]
    assert expiry is not None and expiry <= time.time() * 1000, expiry

    # 2. Merged, push to main: the preview applies nothing; apply creates prod.
    runner.run_job(deploy, "plan")
    assert "prod" not in environments(production), "the plan preview applied something"
    summary = (production.path.parent / "actions-plan" / "summary.md").read_text()
    assert "Explained plan" in summary, summary

    runner.run_job(deploy, "apply")
    assert "prod" in environments(production)

    outputs = runner.run_job(deploy, "deploy")
    assert_defs_state_of(production, "prod")

    # The materialize job, against the Dagster+ stand-in: the deployment runs the defs state the
    # deploy job prepared (each job starts from a fresh checkout, so keep a copy of it).
    deployed_state = production.path.parent / "deployed-defs-state"
    shutil.copytree(production.defs_state_dir, deployed_state)
    launches = production.path.parent / "dagster-plus-launches.jsonl"
    fake_dagster_plus.install(production, launches, deployed_state)
    runner.extra_env = {**DAGSTER_PLUS_VARIABLES, "ASSET_KEYS": outputs["keys"]}
    runner.run_job(deploy, "materialize")
    found = probe(production, {"SQLMESH_GATEWAY": "ci"})
    (launch,) = fake_dagster_plus.launches(launches)
    # Exactly the models SQLMesh runs: no external source, which Dagster+ would refuse.
    models = asset_keys(found["models"])
    assert set(launch["asset_keys"]) == models == set(json.loads(outputs["keys"])), launch
    assert launch["location"] == production.path.name and launch["wait"], launch
    assert launch["deployment"] == "prod", launch
    assert found["missing"] == {}, "SQLMesh state still has missing intervals"
    assert found["rows"] == expected_rows(production)

    runner.run_job(deploy, "alerts")  # alert_policies.yaml is in Dagster+'s format

    print("\n".join(runner.log))


def test_steps_left_to_the_readme_name_its_commands(checkouts: tuple[Project, Project]) -> None:
    """A step left out because a README command ran must name a command the README has."""
    commands = checkouts[1].readme_commands()
    covering = [a.removeprefix("unless run: ") for _, a in STEPS if a.startswith("unless run: ")]
    covering += [readme_command for readme_command, _ in NARROWED.values()]
    local_forms = {a.removeprefix("local: ") for _, a in STEPS if a.startswith("local: ")}
    assert set(NARROWED) <= local_forms, "NARROWED must name local forms of STEPS"
    assert covering and all(command in commands for command in covering), covering

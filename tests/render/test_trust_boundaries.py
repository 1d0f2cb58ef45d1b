"""Pull request code never reaches production: the policies of issue 21, on every supported render.

Each test below is one row of the review that found ways around the `preview` approval (the
generated docs/threat-model.md explains each control). Covered elsewhere: masking and the safe
data diff comment (the generated tests/integration/test_masking.py, test_comment_safety.py), the
run's consistency check (tests/integration/test_state_integrity.py), the guarded Postgres state
(test_state_guard.py), the GitHub settings check (test_github_settings.py), the plan
preview's fence (test_pr_diff.py), the image and .dockerignore (test_least_privilege.py).

- No cache crosses a trust boundary: no job that holds a secret, an environment or a write token
  restores a cache, so nothing a job without approval saved reaches one (and the policy catches a
  job that would).
- Trusted clean-up: the `close` and `comment` jobs check out the default branch, not the pull
  request; `close` holds the SQLMesh state's credentials and the branch deployment token only.
- Sample rows of production data are off unless a variable opts in.
- Hybrid branch deployments run on their own agent, which never serves prod (and the production
  agent never serves a branch deployment).
- The template's own CI pins its service images by digest.
- The docs: MotherDuck's tokens cannot be limited to previews (and the safe setup), and a threat
  model walks every stage.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from rendering import SUPPORTED_COMBINATIONS, TEMPLATE_DIR, Combination
from test_least_privilege import WAREHOUSE_SECRET_PREFIXES
from workflow_files import environment_of, load_workflow, secrets_of, workflows_of

RENDERS = [pytest.param(c, id=c.id) for c in SUPPORTED_COMBINATIONS]
HYBRID_RENDERS = [
    pytest.param(c, id=c.id)
    for c in SUPPORTED_COMBINATIONS
    if c.dagster_plus_deployment == "hybrid"
]
MOTHERDUCK_RENDERS = [
    pytest.param(c, id=c.id) for c in SUPPORTED_COMBINATIONS if c.warehouse == "motherduck"
]
# Actions that keep a cache between runs, with the inputs that turn restoring and saving off.
SETUP_ACTIONS_WITH_A_CACHE_INPUT = (
    "actions/setup-python@",
    "actions/setup-node@",
    "actions/setup-go@",
)
CACHE_ACTIONS = ("actions/cache@", "actions/cache/restore@", "actions/cache/save@")
DEFAULT_BRANCH = "${{ github.event.repository.default_branch }}"


def trusted(job: dict[str, Any]) -> bool:
    """A job approval or `main` stands in front of: it has an environment, a secret or a write
    token."""
    permissions = job.get("permissions") or {}
    writes = isinstance(permissions, str) or "write" in permissions.values()
    return environment_of(job) is not None or bool(secrets_of(job)) or writes


def cache_use(step: dict[str, Any]) -> tuple[str, bool, bool] | None:
    """(which cache, restores, saves) of a step that uses a cache between runs, else None.

    setup-uv caches by default on GitHub-hosted runners (`enable-cache: auto`): only an explicit
    `enable-cache: false` turns it off.
    """
    uses = str(step.get("uses", ""))
    inputs = step.get("with") or {}
    if uses.startswith("astral-sh/setup-uv@"):
        if inputs.get("enable-cache") is False or str(inputs.get("enable-cache")) == "false":
            return None
        suffix = str(inputs.get("cache-suffix", ""))
        restores = str(inputs.get("restore-cache", "true")) != "false"
        saves = str(inputs.get("save-cache", "true")) != "false"
        return f"setup-uv:{suffix}", restores, saves
    if uses.startswith(CACHE_ACTIONS):
        key = str(inputs.get("key", ""))
        return f"actions/cache:{key}", not uses.startswith("actions/cache/save@"), True
    if uses.startswith(SETUP_ACTIONS_WITH_A_CACHE_INPUT) and inputs.get("cache"):
        return f"{uses.split('@')[0]}:{inputs['cache']}", True, True
    return None


def cache_violations(workflows: dict[str, dict[str, Any]]) -> list[str]:
    """Every cache a trusted job restores, and every cache an untrusted job saves that a trusted
    job reads."""
    violations = []
    read_by_trusted: set[str] = set()
    saved_by_untrusted: dict[str, str] = {}
    for workflow_name, workflow in workflows.items():
        for job_name, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                use = cache_use(step)
                if use is None:
                    continue
                cache, restores, saves = use
                where = f"{workflow_name} job {job_name}"
                if trusted(job) and restores:
                    read_by_trusted.add(cache)
                    violations.append(f"{where} restores a cache ({cache}) and holds credentials")
                if not trusted(job) and saves:
                    saved_by_untrusted[cache] = where
    for cache, where in sorted(saved_by_untrusted.items()):
        if cache in read_by_trusted:
            violations.append(f"{where} saves {cache}, which a job with credentials restores")
    return violations


@pytest.mark.parametrize("combination", RENDERS)
def test_no_cache_crosses_the_approval(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    workflows = workflows_of(render_project(combination))
    assert cache_violations(workflows) == []
    # The one job that caches runs the pull request's code unapproved, and holds nothing.
    cachers = {
        (name, job_name)
        for name, workflow in workflows.items()
        for job_name, job in workflow["jobs"].items()
        if any(cache_use(step) for step in job["steps"])
    }
    assert cachers == {("pull_request.yml", "checks")}
    assert not trusted(workflows["pull_request.yml"]["jobs"]["checks"])


def test_the_cache_policy_catches_a_cache_in_an_approved_job(default_project: Path) -> None:
    workflows = workflows_of(default_project)
    for workflow_name, job_name in (
        ("pull_request.yml", "branch-deployment"),
        ("pull_request.yml", "close"),
        ("deploy.yml", "apply"),
    ):
        changed = copy.deepcopy(workflows)
        steps = changed[workflow_name]["jobs"][job_name]["steps"]
        setup_uv = next(
            s for s in steps if str(s.get("uses", "")).startswith("astral-sh/setup-uv@")
        )
        del setup_uv["with"]["enable-cache"]  # the action's default: cache on hosted runners
        [violation] = cache_violations(changed)
        assert f"{workflow_name} job {job_name} restores a cache" in violation
    changed = copy.deepcopy(workflows)
    changed["pull_request.yml"]["jobs"]["comment"]["steps"].insert(
        0, {"uses": "actions/cache/restore@0000000000000000000000000000000000000000", "with": {}}
    )
    assert cache_violations(changed) == [
        "pull_request.yml job comment restores a cache (actions/cache:) and holds credentials"
    ]


@pytest.mark.parametrize("combination", RENDERS)
def test_clean_up_and_the_comment_run_the_default_branch(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    jobs = workflows_of(render_project(combination))["pull_request.yml"]["jobs"]
    for name in ("close", "comment"):
        checkouts = [
            s for s in jobs[name]["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")
        ]
        assert [step["with"].get("ref") for step in checkouts] == [DEFAULT_BRANCH], name
    # The branch deployment itself builds the pull request's head.
    checkout = jobs["branch-deployment"]["steps"][0]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
    # Clean-up holds the state's credentials and the branch deployment token, nothing else.
    secrets = secrets_of(jobs["close"])
    assert {name for name in secrets if not name.startswith("SQLMESH_STATE_")} == {
        "DAGSTER_CLOUD_BRANCH_DEPLOYMENT_TOKEN"
    }


@pytest.mark.parametrize("combination", RENDERS)
def test_sample_rows_are_opt_in(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    jobs = workflows_of(project)["pull_request.yml"]["jobs"]
    step = next(s for s in jobs["branch-deployment"]["steps"] if "pr-diff.sh" in s.get("run", ""))
    assert step["env"]["PR_DIFF_SAMPLE_ROWS"] == "${{ vars.PR_DIFF_SAMPLE_ROWS }}"
    [cli] = project.glob("src/*/sqlmesh_integration/cli.py")
    assert re.search(r"^DEFAULT_SAMPLE_ROWS = 0$", cli.read_text(), re.MULTILINE)


@pytest.mark.parametrize("combination", HYBRID_RENDERS)
def test_branch_deployments_have_their_own_agent(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    production = yaml.safe_load((project / "agents" / "production.dagster.yaml").read_text())
    branches = yaml.safe_load((project / "agents" / "branch-deployments.dagster.yaml").read_text())
    for agent in (production, branches):
        assert agent["instance_class"] == {
            "module": "dagster_cloud.instance",
            "class": "DagsterCloudAgentInstance",
        }
        assert agent["dagster_cloud_api"]["agent_token"] == {"env": "DAGSTER_CLOUD_AGENT_TOKEN"}
    # Production: the full deployment only, no branch deployment's code location.
    assert production["dagster_cloud_api"]["deployment"] == "prod"
    assert production["dagster_cloud_api"]["branch_deployments"] is False
    assert production["allowed_branch_deployment_locations"] == []
    # Branch deployments: no full deployment, none of its code locations.
    api = branches["dagster_cloud_api"]
    assert api["branch_deployments"] is True and not {"deployment", "deployments"} & set(api)
    assert branches["allowed_full_deployment_locations"] == {"prod": []}
    # The same names, each from its own agent's environment (not the same network either).
    names = [agent["user_code_launcher"]["config"]["env_vars"] for agent in (production, branches)]
    assert names[0] == names[1]
    launchers = [
        agent["user_code_launcher"]["config"]["networks"] for agent in (production, branches)
    ]
    assert not set(launchers[0]) & set(launchers[1])
    # Every name a branch deployment's runs need: the state's and the warehouse's that CI maps.
    env = workflows_of(project)["pull_request.yml"]["jobs"]["branch-deployment"]["env"]
    prefixes = (
        "SQLMESH_STATE_",
        "PGSSLROOTCERT",
        *WAREHOUSE_SECRET_PREFIXES[combination.warehouse],
    )
    expected = {name for name in env if name.startswith(prefixes)}
    if combination.warehouse == "bigquery":  # runs read the key from a file, CI from the secret
        expected = expected - {"GOOGLE_CREDENTIALS_JSON"} | {"GOOGLE_APPLICATION_CREDENTIALS"}
    assert {name.split("=")[0] for name in names[0]} >= expected
    docs = " ".join((project / "docs" / "deployment.md").read_text().split())
    assert "agents/branch-deployments.dagster.yaml" in docs
    assert "never serves a branch deployment" in docs


def test_template_ci_pins_its_service_images_by_digest() -> None:
    workflow = load_workflow(TEMPLATE_DIR / ".github" / "workflows" / "ci.yml")
    images = [
        service["image"]
        for job in workflow["jobs"].values()
        for service in (job.get("services") or {}).values()
    ]
    assert images, "the template's CI runs its Postgres as a service"
    for image in images:
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), image


@pytest.mark.parametrize("combination", MOTHERDUCK_RENDERS)
def test_motherduck_docs_say_its_tokens_cannot_be_limited(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    text = " ".join((render_project(combination) / "docs" / "deployment.md").read_text().split())
    secrets = text[text.index("## Secrets and variables") :]
    for fact in (
        "A MotherDuck token cannot be limited to a preview role",
        "a separate MotherDuck database",
        "share",
    ):
        assert fact in secrets, (
            f"docs/deployment.md does not say, where the secrets are set: {fact}"
        )


STAGES = (
    "Pull request, before approval",
    "Pull request, approved",
    "Main",
    "Deploy",
    "Branch deployment",
    "Clean-up",
)


@pytest.mark.parametrize("combination", RENDERS)
def test_the_threat_model_walks_every_stage(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    text = (project / "docs" / "threat-model.md").read_text()
    headings = re.findall(r"^### (.+)$", text, re.MULTILINE)
    assert headings[: len(STAGES)] == list(STAGES), headings
    for stage in STAGES:
        body = text.split(f"### {stage}\n", 1)[1].split("\n### ", 1)[0]
        for part in ("**Runs:**", "**Holds:**", "**Stops:**", "**Remains:**"):
            assert part in body, f"{stage}: no {part}"
    for topic in ("Shared physical tables", "Tampered state"):
        assert f"## {topic}" in text
    assert "(threat-model.md)" in (project / "docs" / "deployment.md").read_text()

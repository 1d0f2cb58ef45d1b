"""Checks that the repository's GitHub settings are the ones the workflows rely on.

The workflows keep production credentials away from pull request code only if GitHub is set up as
docs/deployment.md ("One-time setup") says: credentials in GitHub Environments limited to `main`
or behind reviewers, none at repository level, `main` protected, a read-only default token and
approval for fork pull requests. None of that lives in the repository, so nothing else checks it.
This script reads the settings through the GitHub REST API (`gh api`, with GH_TOKEN and GH_REPO)
and prints one line per rule, PASS or FAIL, with the fix for each failure; it exits 1 if any
rule fails. `.github/workflows/github-settings.yml` runs it every week.

The token needs read access to the repository's administration, environments, secrets and actions
settings (a fine-grained token with those four read-only permissions; see docs/deployment.md).

Usage: GH_TOKEN=... GH_REPO=owner/name python3 scripts/ci/github_settings.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The status check `main` must require: the name of pull_request.yml's `checks` job.
REQUIRED_CHECK = "Checks (pre-commit, tests, SQLMesh, definitions)"
BRANCH = "main"
# GitHub Environment: (needs required reviewers, branches it may deploy from; None for any).
ENVIRONMENTS: dict[str, tuple[bool, frozenset[str] | None]] = {
    "production": (True, frozenset({BRANCH})),
    "production-ci": (False, frozenset({BRANCH})),
    "preview": (True, None),
    "github-settings": (False, frozenset({BRANCH})),
}
WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
SECRET_RE = re.compile(r"\$\{\{\s*secrets\.(\w+)\s*\}\}")
SETTINGS = "Settings > Environments"


class NotFound(Exception):
    """The API answered 404: the thing does not exist (or the token may not see it)."""


class Forbidden(Exception):
    """The API refused the token (401 or 403)."""


@dataclass(frozen=True)
class Result:
    """One rule's outcome: `fix` says what to change when it failed."""

    rule: str
    passed: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The printed line."""
        if self.passed:
            return f"PASS {self.rule}: {self.detail}"
        return f"FAIL {self.rule}: {self.detail}. Fix: {self.fix}"


def api(path: str) -> Any:
    """GET `path` of the repository's API through `gh api` (all pages of a list)."""
    result = subprocess.run(
        ["gh", "api", "--paginate", "--slurp", path],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if "HTTP 404" in result.stderr:
            raise NotFound(path)
        if "HTTP 403" in result.stderr or "HTTP 401" in result.stderr:
            raise Forbidden(path)
        raise RuntimeError(f"gh api {path} failed: {result.stderr.strip()}")
    pages = json.loads(result.stdout)
    if len(pages) == 1:
        return pages[0]
    if all(isinstance(page, list) for page in pages):
        return [item for page in pages for item in page]
    merged: dict[str, Any] = dict(pages[0])
    for page in pages[1:]:
        for key, value in page.items():
            if isinstance(value, list):
                merged[key] = merged.get(key, []) + value
    return merged


def workflow_secrets() -> set[str]:
    """Every secret the workflows read (all must live in GitHub Environments)."""
    names: set[str] = set()
    for path in sorted(WORKFLOWS.glob("*.yml")):
        names |= set(SECRET_RE.findall(path.read_text(encoding="utf-8")))
    return names - {"GITHUB_TOKEN"}


def check_environments(repo: str) -> Iterator[Result]:
    """Each environment exists, with its reviewers and deployment branches."""
    listed = {item["name"]: item for item in api(f"repos/{repo}/environments")["environments"]}
    for name, (reviewed, branches) in ENVIRONMENTS.items():
        rule = f"environment `{name}`"
        environment = listed.get(name)
        if environment is None:
            yield Result(rule, False, "does not exist", f"{SETTINGS} > New environment `{name}`")
            continue
        rules = {item["type"]: item for item in environment.get("protection_rules") or []}
        reviewers = rules.get("required_reviewers")
        if reviewed:
            if not reviewers or not reviewers.get("reviewers"):
                yield Result(
                    f"{rule} reviewers",
                    False,
                    "no required reviewers",
                    f"{SETTINGS} > {name} > Required reviewers: add the people who approve",
                )
            elif not reviewers.get("prevent_self_review"):
                yield Result(
                    f"{rule} reviewers",
                    False,
                    "a run's author may approve it",
                    f"{SETTINGS} > {name}: tick Prevent self-review",
                )
            else:
                count = len(reviewers["reviewers"])
                yield Result(f"{rule} reviewers", True, f"{count} required reviewer(s)")
            if name == "production" and environment.get("can_admins_bypass", True):
                yield Result(
                    f"{rule} bypass",
                    False,
                    "administrators may bypass its protection rules",
                    f"{SETTINGS} > {name}: untick Allow administrators to bypass",
                )
        yield _branch_rule(repo, name, environment.get("deployment_branch_policy"), branches)


def _branch_rule(
    repo: str, name: str, policy: dict[str, Any] | None, branches: frozenset[str] | None
) -> Result:
    rule = f"environment `{name}` branches"
    if branches is None:
        if policy is None:
            return Result(rule, True, "any branch may use it (pull requests come from any branch)")
        return Result(
            rule,
            False,
            "limited to some branches, so pull requests from others get no preview",
            f"{SETTINGS} > {name} > Deployment branches and tags: No restriction",
        )
    allowed: set[str] = set()
    if policy and policy.get("custom_branch_policies"):
        found = api(f"repos/{repo}/environments/{name}/deployment-branch-policies")
        allowed = {
            item["name"]
            for item in found["branch_policies"]
            if item.get("type", "branch") == "branch"
        }
        tags = [item["name"] for item in found["branch_policies"] if item.get("type") == "tag"]
        if allowed == branches and not tags:
            return Result(rule, True, f"only {', '.join(sorted(branches))}")
    detail = "any branch may use it" if policy is None else "not limited to `main` alone"
    if policy and policy.get("protected_branches"):
        detail = "every protected branch may use it"
    elif allowed:
        detail = f"branches {', '.join(sorted(allowed))} may use it"
    return Result(
        rule,
        False,
        detail,
        f"{SETTINGS} > {name} > Deployment branches and tags > Selected branches and tags: "
        f"`{BRANCH}` only",
    )


def check_repository_secrets(repo: str) -> Iterator[Result]:
    """No secret the workflows read sits at repository or organization level."""
    needed = workflow_secrets()
    for level, path in (
        ("repository", f"repos/{repo}/actions/secrets"),
        ("organization", f"repos/{repo}/actions/organization-secrets"),
    ):
        names = {item["name"] for item in api(path)["secrets"]}
        exposed = sorted(names & needed)
        rule = f"no {level} secret the workflows read"
        if exposed:
            yield Result(
                rule,
                False,
                f"{', '.join(exposed)} at {level} level: any workflow of any branch can read it",
                "move each into the GitHub Environment of the jobs that read it "
                "(docs/deployment.md, Secrets and variables), then delete it there",
            )
        else:
            yield Result(rule, True, f"none of the {len(needed)} is set at {level} level")


def check_branch_protection(repo: str) -> Iterator[Result]:
    """`main` needs a reviewed pull request and the checks job, by branch protection or rules."""
    checks: set[str] = set()
    approvals = 0
    try:
        protection = api(f"repos/{repo}/branches/{BRANCH}/protection")
    except NotFound:
        protection = {}
    status = protection.get("required_status_checks") or {}
    checks |= set(status.get("contexts") or [])
    checks |= {item["context"] for item in status.get("checks") or []}
    reviews = protection.get("required_pull_request_reviews") or {}
    approvals = max(approvals, int(reviews.get("required_approving_review_count") or 0))
    for rule in api(f"repos/{repo}/rules/branches/{BRANCH}"):
        parameters = rule.get("parameters") or {}
        if rule.get("type") == "required_status_checks":
            checks |= {item["context"] for item in parameters.get("required_status_checks", [])}
        if rule.get("type") == "pull_request":
            count = int(parameters.get("required_approving_review_count") or 0)
            approvals = max(approvals, count)
    fix = f"Settings > Branches (or Rules > Rulesets) for `{BRANCH}`"
    if approvals < 1:
        yield Result(
            f"`{BRANCH}` needs a reviewed pull request",
            False,
            "a change can reach it without an approval",
            f"{fix}: require a pull request with at least one approval",
        )
    else:
        yield Result(f"`{BRANCH}` needs a reviewed pull request", True, f"{approvals} approval(s)")
    if REQUIRED_CHECK not in checks:
        yield Result(
            f"`{BRANCH}` requires the checks",
            False,
            f"`{REQUIRED_CHECK}` is not a required status check",
            f"{fix}: require the status check `{REQUIRED_CHECK}`",
        )
    else:
        yield Result(f"`{BRANCH}` requires the checks", True, f"`{REQUIRED_CHECK}` is required")


def check_default_token(repo: str) -> Iterator[Result]:
    """The Actions token defaults to read-only and cannot approve pull requests."""
    settings = api(f"repos/{repo}/actions/permissions/workflow")
    fix = "Settings > Actions > General > Workflow permissions"
    if settings.get("default_workflow_permissions") != "read":
        yield Result(
            "default Actions token is read-only",
            False,
            "jobs without `permissions:` get a token that can write",
            f"{fix}: Read repository contents and packages permissions",
        )
    elif settings.get("can_approve_pull_request_reviews"):
        yield Result(
            "default Actions token is read-only",
            False,
            "workflows may approve pull requests",
            f"{fix}: untick Allow GitHub Actions to create and approve pull requests",
        )
    else:
        yield Result("default Actions token is read-only", True, "read, and approves nothing")


def check_fork_approval(repo: str) -> Iterator[Result]:
    """Workflows of fork pull requests wait for a maintainer's approval."""
    rule = "fork pull requests need approval"
    fix = "Settings > Actions > General > Fork pull request workflows"
    if api(f"repos/{repo}")["private"]:
        settings = api(f"repos/{repo}/actions/permissions/fork-pr-workflows-private-repos")
        if not settings.get("run_workflows_from_fork_pull_requests"):
            yield Result(rule, True, "fork pull requests run no workflow")
        elif settings.get("send_secrets_and_variables") or settings.get(
            "send_write_tokens_to_workflows"
        ):
            yield Result(
                rule,
                False,
                "fork pull requests get secrets or a write token",
                f"{fix}: untick Send write tokens and Send secrets",
            )
        elif not settings.get("require_approval_for_fork_pr_workflows"):
            yield Result(
                rule,
                False,
                "fork pull requests run without approval",
                f"{fix}: tick Require approval for fork pull request workflows",
            )
        else:
            yield Result(rule, True, "approval required, no secrets, no write token")
        return
    policy = api(f"repos/{repo}/actions/permissions/fork-pr-contributor-approval")
    if policy.get("approval_policy") == "all_external_contributors":
        yield Result(rule, True, "every outside contributor's run waits for approval")
    else:
        yield Result(
            rule,
            False,
            f"approval policy `{policy.get('approval_policy')}`: some outside contributors' runs "
            "start without approval",
            f"{fix}: Require approval for all external contributors",
        )


CHECKS: tuple[tuple[str, Callable[[str], Iterator[Result]]], ...] = (
    ("environments", check_environments),
    ("repository secrets", check_repository_secrets),
    ("branch protection", check_branch_protection),
    ("default token", check_default_token),
    ("fork pull requests", check_fork_approval),
)


def run_checks(repo: str) -> list[Result]:
    """Every rule's result; a settings group the token may not read fails, naming the access."""
    results = []
    for name, check in CHECKS:
        try:
            results.extend(check(repo))
        except Forbidden as error:
            results.append(
                Result(
                    name,
                    False,
                    f"the token may not read {error}",
                    "give GH_TOKEN read access to the repository's administration, environments, "
                    "secrets and actions settings (docs/deployment.md, GitHub settings check)",
                )
            )
    return results


def main() -> int:
    """Prints every rule's line; 1 if any failed."""
    repo = os.environ.get("GH_REPO", "").strip()
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo) or not os.environ.get("GH_TOKEN"):
        print("Set GH_REPO (owner/name) and GH_TOKEN (see docs/deployment.md).", file=sys.stderr)
        return 2
    results = run_checks(repo)
    lines = [result.line() for result in results]
    print("\n".join(lines))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write("## GitHub settings\n\n```\n" + "\n".join(lines) + "\n```\n")
    failed = [result for result in results if not result.passed]
    if failed:
        print(f"{len(failed)} of {len(results)} rule(s) failed.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

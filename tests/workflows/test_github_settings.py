"""The generated GitHub settings check (`scripts/ci/check-github-settings.sh`), against recorded
GitHub API responses (`tests/support/github_api/`, written from GitHub's REST documentation).

A fake `gh` on PATH answers `gh api` from those files, so no test calls GitHub. A repository set
up as the docs say passes every rule; each change below (one field of one response) fails exactly
its rule, with the fix in the line. The rules' expectations are the workflows' own: the status
check is the `checks` job's name, the environments are the ones the jobs use.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from workflow_files import environment_of, jobs, workflows_of

RECORDED = Path(__file__).parents[1] / "support" / "github_api"
REPOSITORY = "acme/platform"
# Answers `gh api --paginate --slurp <path>` from a folder of recorded responses (GH_FAKE_API):
# the file named after the path, as one slurped page; no file is HTTP 404; a file holding
# {"status": 403} is HTTP 403. (A shell script: it starts once per API call.)
FAKE_GH = f"""#!/usr/bin/env bash
set -euo pipefail
[[ "$1" == api ]] || exit 64
path="${{!#}}"
name="${{path#repos/{REPOSITORY}}}"
name="${{name#/}}"
name="${{name//\\//__}}"
file="${{GH_FAKE_API}}/${{name:-repository}}.json"
if [[ ! -f "$file" ]]; then
    echo "gh: Not Found (HTTP 404)" >&2
    exit 1
fi
if grep -q '"status": 403' "$file"; then
    echo "gh: Resource not accessible by personal access token (HTTP 403)" >&2
    exit 1
fi
printf '['
cat "$file"
printf ']'
"""
RULES = [
    "environment `production` reviewers",
    "environment `production` branches",
    "environment `production-ci` branches",
    "environment `preview` reviewers",
    "environment `preview` branches",
    "environment `github-settings` branches",
    "no repository secret the workflows read",
    "no organization secret the workflows read",
    "`main` needs a reviewed pull request",
    "`main` requires the checks",
    "default Actions token is read-only",
    "fork pull requests need approval",
]


@pytest.fixture
def api(tmp_path: Path) -> Path:
    """A copy of the recorded responses the test may change."""
    folder = tmp_path / "api"
    shutil.copytree(RECORDED, folder, ignore=shutil.ignore_patterns("*.md"))
    return folder


def edit(api: Path, name: str, change: Callable[[Any], Any]) -> None:
    """Changes one recorded response (`change` returns the new body, or edits it in place)."""
    path = api / f"{name}.json"
    body = json.loads(path.read_text())
    changed = change(body)
    path.write_text(json.dumps(body if changed is None else changed))


def environment(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(item for item in body["environments"] if item["name"] == name)


def check(project: Path, api: Path, tmp_path: Path) -> tuple[int, dict[str, str], str]:
    """Runs the check with the fake `gh`; returns the exit code, PASS/FAIL line by rule, stderr."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "gh"
    fake.write_text(FAKE_GH)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GH_TOKEN": "recorded",
        "GH_REPO": REPOSITORY,
        "GH_FAKE_API": str(api),
    }
    result = subprocess.run(
        ["bash", "scripts/ci/check-github-settings.sh"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = {}
    for line in result.stdout.splitlines():
        verdict, _, rest = line.partition(" ")
        rule, _, detail = rest.partition(": ")
        assert verdict in ("PASS", "FAIL"), line
        lines[rule] = f"{verdict}: {detail}"
    return result.returncode, lines, result.stderr


def test_a_repository_set_up_as_documented_passes_every_rule(
    default_project: Path, api: Path, tmp_path: Path
) -> None:
    code, lines, stderr = check(default_project, api, tmp_path)
    assert code == 0, (lines, stderr)
    assert list(lines) == RULES
    assert all(line.startswith("PASS") for line in lines.values()), lines


def test_main_protected_by_a_ruleset_passes(
    default_project: Path, api: Path, tmp_path: Path
) -> None:
    (api / "branches__main__protection.json").unlink()  # 404: no branch protection
    shutil.copy(
        api / "rules__branches__main.with-rulesets.json", api / "rules__branches__main.json"
    )
    code, lines, _ = check(default_project, api, tmp_path)
    assert code == 0 and lines["`main` requires the checks"].startswith("PASS"), lines


def _drop_production(body: dict[str, Any]) -> None:
    body["environments"] = [e for e in body["environments"] if e["name"] != "production"]


def _no_reviewers(body: dict[str, Any]) -> None:
    environment(body, "production")["protection_rules"] = []


def _self_review(body: dict[str, Any]) -> None:
    environment(body, "preview")["protection_rules"][0]["prevent_self_review"] = False


def _admins_bypass(body: dict[str, Any]) -> None:
    environment(body, "production")["can_admins_bypass"] = True


def _protected_branches(body: dict[str, Any]) -> None:
    environment(body, "production-ci")["deployment_branch_policy"] = {
        "protected_branches": True,
        "custom_branch_policies": False,
    }


def _all_branches(body: dict[str, Any]) -> None:
    environment(body, "production")["deployment_branch_policy"] = None


def _preview_on_main_only(body: dict[str, Any]) -> None:
    environment(body, "preview")["deployment_branch_policy"] = {
        "protected_branches": False,
        "custom_branch_policies": True,
    }


def _release_branches(body: dict[str, Any]) -> None:
    body["branch_policies"].append({"id": 2, "node_id": "x", "name": "release/*", "type": "branch"})


def _state_secret(body: dict[str, Any]) -> None:
    body["secrets"].append(
        {"name": "SQLMESH_STATE_PASSWORD", "created_at": "2026-01-01T00:00:00Z", "updated_at": ""}
    )


def _no_required_check(body: dict[str, Any]) -> None:
    body["required_status_checks"]["contexts"] = ["lint"]
    body["required_status_checks"]["checks"] = [{"context": "lint", "app_id": 15368}]


def _no_review(body: dict[str, Any]) -> None:
    del body["required_pull_request_reviews"]


CHANGES = [
    pytest.param(
        "environments",
        _drop_production,
        "environment `production`",
        "New environment",
        id="production-missing",
    ),
    pytest.param(
        "environments",
        _no_reviewers,
        "environment `production` reviewers",
        "Required reviewers",
        id="production-without-reviewers",
    ),
    pytest.param(
        "environments",
        _self_review,
        "environment `preview` reviewers",
        "Prevent self-review",
        id="preview-self-review",
    ),
    pytest.param(
        "environments",
        _admins_bypass,
        "environment `production` bypass",
        "untick Allow administrators to bypass",
        id="production-admin-bypass",
    ),
    pytest.param(
        "environments",
        _protected_branches,
        "environment `production-ci` branches",
        "`main` only",
        id="production-ci-protected-branches",
    ),
    pytest.param(
        "environments",
        _all_branches,
        "environment `production` branches",
        "`main` only",
        id="production-any-branch",
    ),
    pytest.param(
        "environments",
        _preview_on_main_only,
        "environment `preview` branches",
        "No restriction",
        id="preview-restricted",
    ),
    pytest.param(
        "environments__production__deployment-branch-policies",
        _release_branches,
        "environment `production` branches",
        "`main` only",
        id="production-release-branches",
    ),
    pytest.param(
        "actions__secrets",
        _state_secret,
        "no repository secret the workflows read",
        "move each into the GitHub Environment",
        id="repository-secret",
    ),
    pytest.param(
        "actions__organization-secrets",
        _state_secret,
        "no organization secret the workflows read",
        "move each into the GitHub Environment",
        id="organization-secret",
    ),
    pytest.param(
        "branches__main__protection",
        _no_required_check,
        "`main` requires the checks",
        "require the status check",
        id="checks-not-required",
    ),
    pytest.param(
        "branches__main__protection",
        _no_review,
        "`main` needs a reviewed pull request",
        "at least one approval",
        id="no-review",
    ),
    pytest.param(
        "actions__permissions__workflow",
        lambda body: {**body, "default_workflow_permissions": "write"},
        "default Actions token is read-only",
        "Workflow permissions",
        id="write-token",
    ),
    pytest.param(
        "actions__permissions__workflow",
        lambda body: {**body, "can_approve_pull_request_reviews": True},
        "default Actions token is read-only",
        "create and approve pull requests",
        id="token-approves",
    ),
    pytest.param(
        "actions__permissions__fork-pr-contributor-approval",
        lambda body: {"approval_policy": "first_time_contributors"},
        "fork pull requests need approval",
        "all external contributors",
        id="first-timers-only",
    ),
    pytest.param(
        "environments",
        lambda body: {"status": 403},
        "environments",
        "give GH_TOKEN read access",
        id="token-may-not-read",
    ),
]


@pytest.mark.parametrize(("name", "change", "rule", "fix"), CHANGES)
def test_each_rule_fails_with_its_fix(
    default_project: Path,
    api: Path,
    tmp_path: Path,
    name: str,
    change: Callable[[Any], Any],
    rule: str,
    fix: str,
) -> None:
    edit(api, name, change)
    code, lines, _ = check(default_project, api, tmp_path)
    assert code == 1
    failed = {key: line for key, line in lines.items() if line.startswith("FAIL")}
    assert list(failed) == [rule], lines
    assert f"Fix: {fix}" in failed[rule] or fix in failed[rule], failed[rule]


def test_a_private_repository_is_checked_by_its_fork_settings(
    default_project: Path, api: Path, tmp_path: Path
) -> None:
    edit(api, "repository", lambda body: {**body, "private": True, "visibility": "private"})
    (api / "actions__permissions__fork-pr-contributor-approval.json").unlink()  # public only
    code, lines, _ = check(default_project, api, tmp_path)
    assert code == 0, lines
    edit(
        api,
        "actions__permissions__fork-pr-workflows-private-repos",
        lambda body: {**body, "send_secrets_and_variables": True},
    )
    code, lines, _ = check(default_project, api, tmp_path)
    assert code == 1 and lines["fork pull requests need approval"].startswith("FAIL"), lines


def test_the_rules_follow_the_workflows(default_project: Path) -> None:
    """The check's expectations are the workflows' own names, so it cannot drift from them."""
    script = (default_project / "scripts" / "ci" / "github_settings.py").read_text()
    checks = workflows_of(default_project)["pull_request.yml"]["jobs"]["checks"]["name"]
    assert f'REQUIRED_CHECK = "{checks}"' in script
    used = {environment_of(job) for _, _, job in jobs(default_project)} - {None}
    for name in used:
        assert f'"{name}": (' in script, f"the check does not know environment {name}"
    settings = workflows_of(default_project)["github-settings.yml"]
    assert settings["on"]["schedule"], "the check runs on a schedule"

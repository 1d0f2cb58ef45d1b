"""Reading a rendered project's GitHub Actions workflows: jobs, the secrets and variables they map,
their GitHub Environments (used by test_workflows.py, test_least_privilege.py and
test_deployment_docs.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = ("pull_request.yml", "deploy.yml", "github-settings.yml")
SECRET_RE = re.compile(r"\$\{\{\s*secrets\.(\w+)\s*\}\}")
VARIABLE_RE = re.compile(r"\$\{\{\s*vars\.(\w+)\s*\}\}")


def load_workflow(path: Path) -> dict[str, Any]:
    """A workflow file as data, with its triggers under `on` (YAML 1.1 reads `on:` as True)."""
    data = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def workflows_of(project: Path) -> dict[str, dict[str, Any]]:
    """Every workflow of a rendered project, by file name."""
    return {name: load_workflow(project / ".github" / "workflows" / name) for name in WORKFLOWS}


def jobs(project: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(workflow file name, job name, job) for every job of a rendered project."""
    for name, workflow in workflows_of(project).items():
        for job_name, job in workflow["jobs"].items():
            yield name, job_name, job


def secrets_of(job: dict[str, Any]) -> set[str]:
    """The secrets a job reads anywhere (job env, step env, `with:`, `run:`), but GITHUB_TOKEN."""
    return set(SECRET_RE.findall(yaml.safe_dump(job))) - {"GITHUB_TOKEN"}


def variables_of(job: dict[str, Any]) -> set[str]:
    """The configuration variables (`vars.`) a job reads anywhere."""
    return set(VARIABLE_RE.findall(yaml.safe_dump(job)))


def environment_of(job: dict[str, Any]) -> str | None:
    """The name of the GitHub Environment a job runs in, if any."""
    environment = job.get("environment")
    return environment.get("name") if isinstance(environment, dict) else environment

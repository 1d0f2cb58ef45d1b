"""`sqlmesh-dagster`: the project's commands for CI and local use.

- `sqlmesh-dagster prepare` writes the manifest that Dagster loads definitions from (CI runs it
  before the
  deploy build; locally the manifest refreshes itself).
- `sqlmesh-dagster environment [--pull-request N]` prints the SQLMesh environment a run targets (the
  same
  function the Dagster resource uses, so CI's plan step and the branch deployment agree).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import SQLMeshIntegrationError
from .project import SQLMeshProject, environment_from_env, pull_request_environment


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    parser = argparse.ArgumentParser(prog="sqlmesh-dagster", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="The SQLMesh project folder (default: the one shipped in this package).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare", help="Write the manifest Dagster loads assets from.")
    prepare.add_argument(
        "--no-state",
        action="store_true",
        help="Do not read applied versions from the SQLMesh state database.",
    )
    environment = commands.add_parser("environment", help="Print the SQLMesh environment name.")
    environment.add_argument(
        "--pull-request",
        default=None,
        help="A pull request number (default: DAGSTER_CLOUD_PULL_REQUEST_ID or GITHUB_PR_NUMBER).",
    )
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "environment":
            print(_environment(arguments.pull_request))
            return 0
        return _prepare(_project(arguments.project_dir), read_state=not arguments.no_state)
    except (SQLMeshIntegrationError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _environment(pull_request: str | None) -> str:
    number = pull_request or os.environ.get("GITHUB_PR_NUMBER", "").strip()
    if number:
        return pull_request_environment(number)
    return environment_from_env()


def _prepare(project: SQLMeshProject, *, read_state: bool) -> int:
    from .manifest import write_manifest
    from .prepare import prepare_manifest

    manifest = prepare_manifest(project, read_state=read_state)
    path = write_manifest(project, manifest)
    print(
        f"Wrote {path} ({len(manifest.models)} models, {len(manifest.external_tables)} external "
        f"tables, gateway `{manifest.gateway}`)."
    )
    return 0


def _project(project_dir: Path | None) -> SQLMeshProject:
    if project_dir is not None:
        return SQLMeshProject(project_dir)
    return SQLMeshProject.next_to(__file__)


if __name__ == "__main__":
    raise SystemExit(main())

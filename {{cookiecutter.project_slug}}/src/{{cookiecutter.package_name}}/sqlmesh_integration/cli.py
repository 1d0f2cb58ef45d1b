"""`sqlmesh-dagster`: the project's commands for CI and local use.

- `sqlmesh-dagster prepare` writes the manifest file the `@sqlmesh_assets` decorator reads (the
  component keeps its manifest as Dagster defs state instead: `dg utils refresh-defs-state`).
- `sqlmesh-dagster environment [--pull-request N]` prints the SQLMesh environment a run targets (the
  same
  function the Dagster resource uses, so CI's plan step and the branch deployment agree).
- `sqlmesh-dagster pr-diff pr_<number>` writes the data diff of a pull request's environment against
  `prod` as Markdown (`scripts/ci/pr-diff.sh`; see `pr_diff/collect.py`).
- `sqlmesh-dagster doctor [--environment E]` puts SQLMesh's view of the project beside the Dagster
  definitions, one line per difference, and exits 1 on any (see `doctor.py`): the first thing to
  run after dropping in a project, and a pull request check (`scripts/ci/doctor.sh`).
- `sqlmesh-dagster state-guard --preview-role R` limits the pull request role to writing pull
  request state, with grants and row-level security on Postgres (see `state_guard.py`).
- `sqlmesh-dagster mirror [--environment E]` reports what SQLMesh filled outside Dagster (a plan's
  backfill, a CLI `sqlmesh run`) as runless materializations in the Dagster instance of
  DAGSTER_HOME, with the CI run's URL when it runs in CI (see `mirror.py`).
- `sqlmesh-dagster alert-policies [FILE] [--resolve-to OUT]` checks `alert_policies.yaml` against
  Dagster+'s alert policy format; with `--resolve-to`, writes it with its `${VARIABLES}` filled for
  the deploy job's sync (see `alert_policies.py`).
- `sqlmesh-dagster projects` prints the SQLMesh project folders of the code location's SQLMesh
  components, one a line: what CI plans together (`sqlmesh -p <each> plan`; see
  `code_location.py`).

`--project-dir` names the SQLMesh project (default: the one shipped in this package); repeat it
for SQLMesh's multi-repo mode (`--project-dir a --project-dir b`, as `sqlmesh -p a -p b`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .definitions.project import (
    PROD_ENVIRONMENT,
    SQLMeshProject,
    environment_from_env,
    pull_request_environment,
)
from .errors import InvalidInputError, SQLMeshIntegrationError
from .operations.state_guard import add_state_guard_parser, run_state_guard

# The data diff's row samples (changed rows, keys on one side only): rows per sample. Off by
# default: the comment is readable by everyone who can read the repository, and sample rows are
# production data. A number opts in.
SAMPLE_ROWS_VARIABLE = "PR_DIFF_SAMPLE_ROWS"
DEFAULT_SAMPLE_ROWS = 0


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    parser = argparse.ArgumentParser(prog="sqlmesh-dagster", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--project-dir",
        type=Path,
        action="append",
        default=None,
        help=(
            "The SQLMesh project folder (default: the one shipped in this package); repeat it "
            "for projects loaded together (multi-repo)."
        ),
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
    _add_pr_diff_parser(commands)
    commands.add_parser(
        "projects",
        help="Print the SQLMesh project folders of this code location's SQLMesh components.",
    )
    add_state_guard_parser(commands)
    mirror = commands.add_parser(
        "mirror", help="Report what SQLMesh filled outside Dagster as Dagster materializations."
    )
    mirror.add_argument(
        "--environment",
        default=None,
        help="The SQLMesh environment (default: SQLMESH_ENVIRONMENT, else prod).",
    )
    _add_doctor_parser(commands)
    alerts = commands.add_parser(
        "alert-policies", help="Check alert_policies.yaml against Dagster+'s format."
    )
    alerts.add_argument("file", type=Path, nargs="?", default=Path("alert_policies.yaml"))
    alerts.add_argument(
        "--resolve-to",
        type=Path,
        default=None,
        help="Write the file there with its ${VARIABLES} filled from the environment.",
    )
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "environment":
            print(_environment(arguments.pull_request))
            return 0
        if arguments.command == "pr-diff":
            return _pr_diff(_project(arguments.project_dir), arguments)
        if arguments.command == "projects":
            return _projects()
        if arguments.command == "doctor":
            return _doctor(_project(arguments.project_dir), arguments)
        if arguments.command == "state-guard":
            return run_state_guard(_project(arguments.project_dir), arguments)
        if arguments.command == "mirror":
            return _mirror(_project(arguments.project_dir), arguments.environment)
        if arguments.command == "alert-policies":
            from .operations.alert_policies import check_file

            print(check_file(arguments.file, arguments.resolve_to))
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
    from .definitions.manifest import write_manifest
    from .prepare.manifest_builder import prepare_manifest

    manifest = prepare_manifest(project, read_state=read_state)
    path = write_manifest(project.resolved_manifest_path, manifest)
    print(
        f"Wrote {path} ({len(manifest.models)} models, {len(manifest.external_tables)} external "
        f"tables, gateway `{manifest.gateway}`)."
    )
    return 0


def _mirror(project: SQLMeshProject, environment: str | None) -> int:
    import dagster as dg

    from .assets import project_specs
    from .automation.mirror import InstanceLedger, ci_run_url, mirror_pass, summary
    from .automation.sensor import run_touching

    if not os.environ.get("DAGSTER_HOME", "").strip():
        raise InvalidInputError(
            "DAGSTER_HOME is not set: point it at the Dagster instance to report to, e.g. "
            '`export DAGSTER_HOME="$PWD/dagster_home"`.'
        )
    from .prepare.manifest_builder import prepare_manifest

    environment = environment or environment_from_env()
    # Prepared from the project's files (SQLMesh is imported here anyway), with the default
    # translator: the asset keys of a `translation` in defs.yaml are the sensor's to mirror.
    specs = project_specs(project, manifest=prepare_manifest(project, read_state=False)).assets
    with dg.DagsterInstance.get() as instance:
        busy = run_touching(instance, [spec.key for spec in specs])
        if busy is not None:
            print(
                f"Mirror skipped: run {busy.run_id} materializes these assets; try again after it."
            )
            return 0
        result = mirror_pass(
            specs, project, environment, InstanceLedger(instance), run_url=ci_run_url()
        )
        for event in result.events:
            instance.report_runless_asset_event(event)
    if result.skipped:
        print(f"Mirror skipped: {result.skipped}")
    elif result.events:
        print(f"Mirrored from SQLMesh `{environment}`: {summary(result.events)}.")
    else:
        print(f"Nothing to mirror: Dagster shows everything SQLMesh filled in `{environment}`.")
    return 0


def _add_doctor_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = commands.add_parser(
        "doctor", help="Compare SQLMesh's view of the project with the Dagster definitions."
    )
    doctor.add_argument(
        "--environment",
        default=None,
        help="The SQLMesh environment to compare (default: SQLMESH_ENVIRONMENT, else prod).",
    )
    doctor.add_argument(
        "--definitions",
        default=None,
        help="The code location's module (default: this package's `definitions`).",
    )


def _doctor(project: SQLMeshProject, arguments: argparse.Namespace) -> int:
    from .operations.doctor import diagnose, load_code_location, render

    module = arguments.definitions or f"{__package__.rpartition('.')[0]}.definitions"
    definitions, error = load_code_location(module)
    diagnosis = diagnose(
        project,
        definitions,
        arguments.environment or environment_from_env(),
        definitions_error=error,
    )
    print(render(diagnosis))
    return 0 if diagnosis.clean else 1


def _add_pr_diff_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pr_diff = commands.add_parser(
        "pr-diff", help="Write the data diff of a pull request's environment against prod."
    )
    pr_diff.add_argument("environment", help="The pull request's SQLMesh environment, e.g. pr_7.")
    pr_diff.add_argument(
        "--summary-file",
        type=Path,
        default=None,
        help="Append the Markdown here (the GitHub job summary); default: stdout.",
    )
    pr_diff.add_argument(
        "--comment-file",
        type=Path,
        default=None,
        help="Also write the Markdown here, cut to fit a GitHub comment.",
    )
    pr_diff.add_argument(
        "--deployment-url", default=None, help="The Dagster+ branch deployment to link."
    )


def _pr_diff(project: SQLMeshProject, arguments: argparse.Namespace) -> int:
    from .connection.context import open_context
    from .pr_diff.collect import collect_data_diff
    from .pr_diff.markdown import COMMENT_MAX_CHARACTERS, SUMMARY_MAX_CHARACTERS, render_markdown

    environment = arguments.environment.strip()
    if environment == PROD_ENVIRONMENT or not environment:
        raise InvalidInputError(
            f"pr-diff compares a pull request's environment with prod, not {environment!r}: "
            "pass the environment, e.g. `sqlmesh-dagster pr-diff pr_7`."
        )
    sample_rows = _sample_rows(os.environ.get(SAMPLE_ROWS_VARIABLE, ""))
    # SQLMesh logs every diff query at the level its context logs at (WARNING without a logging
    # setup): the queries would bury the report in the CI log.
    logging.getLogger("sqlmesh.core.engine_adapter").setLevel(logging.ERROR)
    context = open_context(project)
    try:
        report = collect_data_diff(context, environment, sample_rows=sample_rows)
    finally:
        context.close()
    switch = f"{SAMPLE_ROWS_VARIABLE}=0"
    url = arguments.deployment_url or None
    summary = render_markdown(
        report, max_characters=SUMMARY_MAX_CHARACTERS, deployment_url=url, sample_switch=switch
    )
    if arguments.summary_file is None:
        print(summary)
    else:
        with arguments.summary_file.open("a", encoding="utf-8") as summary_file:
            summary_file.write(summary)
    if arguments.comment_file is not None:
        arguments.comment_file.parent.mkdir(parents=True, exist_ok=True)
        arguments.comment_file.write_text(
            render_markdown(
                report,
                max_characters=COMMENT_MAX_CHARACTERS,
                deployment_url=url,
                sample_switch=switch,
            ),
            encoding="utf-8",
        )
    print(
        f"Data diff of {len(report.models)} model(s): {environment} against prod.", file=sys.stderr
    )
    return 0


def _sample_rows(text: str) -> int:
    """Rows per sample from PR_DIFF_SAMPLE_ROWS: none unless it is set to a number above 0."""
    text = text.strip()
    if not text:
        return DEFAULT_SAMPLE_ROWS
    if not text.isdigit():
        raise InvalidInputError(
            f"{SAMPLE_ROWS_VARIABLE}={text!r} is not a row count: set it to a number of rows "
            "per sample, such as 5, or to 0 (or unset it) to keep data values out of the pull "
            "request."
        )
    return int(text)


def _projects() -> int:
    from .code_location import component_project_dirs, display_path

    for folder in component_project_dirs(Path.cwd()):
        print(display_path(folder))
    return 0


def _project(project_dirs: Sequence[Path] | None) -> SQLMeshProject:
    if project_dirs:
        first, *others = project_dirs
        return SQLMeshProject(first, other_project_dirs=tuple(others))
    return SQLMeshProject.next_to(__file__)


if __name__ == "__main__":
    raise SystemExit(main())

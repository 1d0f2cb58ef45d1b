"""A stand-in for Dagster+ in a rendered project: `dg api run launch` recorded, then run locally.

The deploy workflow's materialize step (`scripts/ci/materialize.sh dagster-plus`) launches a run in
the Dagster+ deployment with `uv run --frozen dg api run launch --location ... --asset-key=...`.
`install` puts a `dg` in the project's environment (the folder `uv run` puts first on PATH) that
answers that command as the deployment would, and hands every other command to the real `dg`:

- it records the launch (its arguments and the Dagster+ variables) as one JSON line in a file;
- it refuses, as Dagster+ does, a location other than the project's and an asset key that is not
  an executable asset of the code location (an external source such as `raw/exchange_rates`);
- it runs the selected assets, as the deployed code location would: the code of the checkout, the
  defs state the deploy job prepared (copied in place first), `DAGSTER_CLOUD_DEPLOYMENT_NAME` set,
  a run without a partition of the asset job, on an ephemeral instance; it exits 1 when the run
  fails, as `--wait` does.

Run as a script by the installed `dg`, with the project's Python (it imports Dagster then); the
tests import it for `install`, `installed` and `launches` (no Dagster needed).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # run as a script in a project's environment, this module imports no test module
    from projects import Project

_MARK = "# fake_dagster_plus"  # first comment line of the installed `dg`
_REAL = "dg-real"  # the real `dg`, renamed beside it


def install(project: Project, record: Path, deployed_state: Path) -> None:
    """Installs the fake `dg` in `project`'s environment.

    `record` receives one JSON line per launch; `deployed_state` is the defs state folder the
    deploy job prepared (a copy of `project.defs_state_dir`), which the deployment runs with.
    """
    bin_folder = project.path / ".venv" / "bin"
    dg, real = bin_folder / "dg", bin_folder / _REAL
    if not real.exists():
        dg.rename(real)
    arguments = [
        str(bin_folder / "python"),
        str(Path(__file__).resolve()),
        *("--record", str(record)),
        *("--deployed-state", str(deployed_state)),
        *("--defs-state", str(project.defs_state_dir)),
        *("--package", project.package_name),
        *("--code-location", project.path.name),  # the project's slug (CODE_LOCATION_NAME)
    ]
    dg.write_text(
        "#!/usr/bin/env bash\n"
        f"{_MARK}: Dagster+ stand-in installed by the template's tests.\n"
        'if [[ "${1:-} ${2:-} ${3:-}" == "api run launch" ]]; then\n'
        f'    exec {shlex.join(arguments)} "${{@:4}}"\n'
        "fi\n"
        f'exec {shlex.quote(str(real))} "$@"\n'
    )
    dg.chmod(0o755)


def installed(project: Project) -> bool:
    dg = project.path / ".venv" / "bin" / "dg"
    return dg.is_file() and _MARK in dg.read_text(errors="replace")


def launches(record: Path) -> list[dict[str, Any]]:
    """The launches recorded in `record`, in order."""
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dg api run launch (fake Dagster+)")
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--deployed-state", type=Path, required=True)
    parser.add_argument("--defs-state", type=Path, required=True)
    parser.add_argument("--package", required=True)
    parser.add_argument("--code-location", required=True)
    # `dg api run launch`'s own options (dagster-dg-cli 1.13.27).
    parser.add_argument("--location", "-l", required=True)
    parser.add_argument("--repository", "-r", default="__repository__")
    parser.add_argument("--job", "-j", dest="job_name")
    parser.add_argument("--asset-key", dest="asset_keys", action="append", default=[])
    parser.add_argument("--partition")
    parser.add_argument("--tag", dest="tags", action="append", default=[])
    parser.add_argument("--config-json")
    parser.add_argument("--wait", "-w", action="store_true")
    parser.add_argument("--interval", "-i", type=int, default=30)
    parser.add_argument("--json", dest="output_json", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    options = _parse(argv)
    launch = {
        "location": options.location,
        "job": options.job_name,
        "asset_keys": options.asset_keys,
        "partition": options.partition,
        "tags": dict(tag.split("=", 1) for tag in options.tags),
        "wait": options.wait,
        "organization": os.environ.get("DAGSTER_CLOUD_ORGANIZATION"),
        "deployment": os.environ.get("DAGSTER_CLOUD_DEPLOYMENT"),
        "api_token_set": bool(os.environ.get("DAGSTER_CLOUD_API_TOKEN")),
    }
    with options.record.open("a") as record:
        record.write(json.dumps(launch) + "\n")
    if options.location != options.code_location:
        print(f"fake Dagster+: no code location `{options.location}`", file=sys.stderr)
        return 1

    # The deployed code location: this checkout's code with the defs state the deploy shipped.
    shutil.rmtree(options.defs_state, ignore_errors=True)
    shutil.copytree(options.deployed_state, options.defs_state)
    os.environ["DAGSTER_CLOUD_DEPLOYMENT_NAME"] = launch["deployment"] or "prod"

    import dagster as dg

    definitions = importlib.import_module(f"{options.package}.definitions").defs()
    job = definitions.resolve_implicit_global_asset_job_def()
    graph = definitions.resolve_asset_graph()
    keys = [dg.AssetKey.from_user_string(key) for key in options.asset_keys]
    refused = [key.to_user_string() for key in keys if key not in graph.executable_asset_keys]
    if refused or not keys:
        print(f"fake Dagster+: not executable assets: {refused or 'none given'}", file=sys.stderr)
        return 1
    result = job.execute_in_process(
        asset_selection=keys,
        instance=dg.DagsterInstance.ephemeral(),
        tags=launch["tags"],
        raise_on_error=False,
    )
    print(f"Run ID: {result.run_id}\nStatus: {'SUCCESS' if result.success else 'FAILURE'}")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

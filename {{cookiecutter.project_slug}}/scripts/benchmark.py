"""Benchmark of the SQLMesh integration against plain SQLMesh and a bare `import dagster`.

Run from the repository root (see docs/benchmark.md for the latest results):

    uv run python scripts/benchmark.py --models 10 100 1000 --repeat 3

For each size it generates a synthetic SQLMesh project in a temporary folder (seed models, then
layers of FULL and INCREMENTAL_BY_TIME_RANGE models, two audits each, DuckDB, daily intervals from
a few days ago), wires it to Dagster with this project's integration (`sqlmesh_definitions` in a
generated `definitions.py`), applies it with `sqlmesh plan prod --auto-apply --no-prompts
--skip-backfill` (so a run has every interval to fill) and prepares the manifest. Then it measures,
side by side, each sample in a fresh `python -c` subprocess of this interpreter, and reports
medians. It never fails on timing: targets are reported as met or not met.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DAYS = 3  # daily intervals to fill per incremental model: small, so runs stay short
IDS = 20  # rows per day in each seed
TARGETS = {"load": 1.3, "materialize": 1.15, "nothing_due": 1.3}
LOAD_TARGET_SIZE = 1000  # the load target applies at this size
AUDITS = "not_null(columns := (id, ds)), unique_combination_of_columns(columns := (id, ds))"
IMPORT_DAGSTER = "import dagster"
LOAD_DEFS = "import definitions; definitions.defs.get_repository_def()"
SQLMESH_CLI = "import sys; from sqlmesh.cli.main import cli; sys.argv[0] = 'sqlmesh'; cli()"
MATERIALIZE = (
    "import json, definitions; "
    "r = definitions.defs.resolve_implicit_global_asset_job_def().execute_in_process(); "
    "print(json.dumps({'success': r.success, "
    "'materialized': len(r.get_asset_materialization_events()), "
    "'checks': len(r.get_asset_check_evaluations())}))"
)
MEASURED = {
    "load": "process wall time of `python -c '" + LOAD_DEFS + "'` (manifest prepared, "
    "SQLMESH_MANIFEST_REFRESH=never) vs `python -c 'import dagster'`",
    "materialize": "process wall time of the whole asset job through Dagster "
    "(`execute_in_process` on an ephemeral instance, as `dagster.materialize` does) vs "
    "`sqlmesh -p <project> run prod`, each on a fresh copy of the applied, not backfilled DuckDB",
    "nothing_due": "the same two commands on a copy of the DuckDB after a full run",
    "memory": "max RSS of the definitions-load process (and of `import dagster`)",
    "setup": "untimed: generate, plan (skip backfill), prepare the manifest, one full run, and a "
    "warm-up load and run (byte-code caches written; SQLMesh analytics off on both sides)",
}


COMPARISONS = [  # (target, label, integration sample, baseline sample)
    ("load", "load definitions vs `import dagster`", "load", "import_dagster"),
    ("materialize", "materialize all vs `sqlmesh run`", "dagster_run", "sqlmesh_run"),
    ("nothing_due", "nothing due vs `sqlmesh run`", "dagster_idle", "sqlmesh_idle"),
]


@dataclass
class Sample:
    """One measured subprocess."""

    seconds: float
    max_rss_mb: float
    stdout: str


def find_package() -> str:
    """Returns the project's package name (the folder under `src/` holding the integration)."""
    found = sorted(ROOT.glob("src/*/sqlmesh_integration/__init__.py"))
    if not found:
        raise SystemExit(
            f"No src/*/sqlmesh_integration under {ROOT}: run it in a generated project."
        )
    return found[0].parent.parent.name


def model_sql(name: str, kind: str, parents: list[str]) -> str:
    """The SQL of one synthetic model selecting from its parents (joined on id and ds)."""
    kind_sql = "INCREMENTAL_BY_TIME_RANGE (time_column ds)" if kind == "incremental" else "FULL"
    head = (
        f"MODEL (\n  name {name},\n  kind {kind_sql},\n  grain (id, ds),\n"
        f"  audits ({AUDITS})\n);\n\n"
    )
    first = parents[0]
    value = " + ".join(f"p{i}.value" for i in range(len(parents))) + " + 1"
    joins = "".join(
        f"\nJOIN {parent} AS p{i} ON p{i}.id = p0.id AND p{i}.ds = p0.ds"
        for i, parent in enumerate(parents[1:], start=1)
    )
    where = "\nWHERE p0.ds BETWEEN @start_date AND @end_date" if kind == "incremental" else ""
    return f"{head}SELECT p0.id, p0.ds, {value} AS value\nFROM {first} AS p0{joins}{where}\n"


def generate(folder: Path, models: int, package: str, start: date) -> dict[str, int]:
    """Writes a synthetic SQLMesh project with `models` models and its Dagster wiring."""
    project = folder / "sqlmesh_project"
    (project / "models").mkdir(parents=True)
    (project / "seeds").mkdir()
    (project / "config.yaml").write_text(
        "gateways:\n  local:\n    connection:\n      type: duckdb\n"
        f"      database: {folder / 'bench.duckdb'}\n"
        "default_gateway: local\n"
        f"model_defaults:\n  dialect: duckdb\n  start: '{start.isoformat()}'\n  cron: '@daily'\n"
    )
    rows = [f"{i},{start + timedelta(days=d)},{i * d}.5" for d in range(DAYS) for i in range(IDS)]
    (project / "seeds" / "data.csv").write_text("id,ds,value\n" + "\n".join(rows) + "\n")
    seeds = max(1, models // 10)
    width = max(3, seeds)
    layer = [f"bench.s{i:04d}" for i in range(seeds)]
    for name in layer:
        (project / "models" / f"{name.split('.')[1]}.sql").write_text(
            f"MODEL (\n  name {name},\n  kind SEED (path '../seeds/data.csv'),\n"
            "  columns (id INT, ds DATE, value DOUBLE),\n  grain (id, ds),\n"
            f"  audits ({AUDITS})\n);\n"
        )
    index, layers, incremental = seeds, 1, 0
    while index < models:
        current = []
        for position in range(min(width, models - index)):
            parents = [layer[position % len(layer)]]
            if len(layer) > 1:
                parents.append(layer[(position + 1) % len(layer)])
            name = f"bench.m{index:04d}"
            kind = "incremental" if index % 2 else "full"
            incremental += kind == "incremental"
            (project / "models" / f"m{index:04d}.sql").write_text(model_sql(name, kind, parents))
            current.append(name)
            index += 1
        layer, layers = current, layers + 1
    (folder / "definitions.py").write_text(
        '"""Dagster wiring of the synthetic project (generated by scripts/benchmark.py)."""\n\n'
        "from pathlib import Path\n\n"
        f"from {package}.sqlmesh_integration import SQLMeshProject, sqlmesh_definitions\n\n"
        "HERE = Path(__file__).parent\n"
        'project = SQLMeshProject(HERE / "sqlmesh_project", working_dir=HERE)\n'
        "defs = sqlmesh_definitions(project)\n"
    )
    return {
        "seeds": seeds,
        "incremental": incremental,
        "full": models - seeds - incremental,
        "layers": layers,
    }


def run(code: str, args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> Sample:
    """Runs `python -c code args` and returns its wall time, max RSS and stdout.

    The RSS comes from `wait4` on this very child, so samples do not mix.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        deadline = started + timeout
        try:
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    raise SystemExit(f"Timed out after {timeout:.0f} s: python -c {code!r}")
                time.sleep(0.005)
        except BaseException:  # a timeout or Ctrl-C: leave no child behind
            process.kill()
            process.wait()
            raise
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise SystemExit(
            f"`python -c {code!r} {' '.join(args)}` exited {process.returncode} in {cwd}\n"
            f"{stdout[-5000:]}\n{stderr[-5000:]}"
        )
    return Sample(seconds, usage.ru_maxrss / 1024, stdout)


def restore(folder: Path, copy: str) -> None:
    """Replaces the benchmark DuckDB (and its WAL) with a saved copy."""
    for suffix in ("", ".wal"):
        target = folder / f"bench.duckdb{suffix}"
        target.unlink(missing_ok=True)
        source = folder / f"{copy}{suffix}"
        if source.exists():
            shutil.copyfile(source, target)


def save(folder: Path, copy: str) -> None:
    """Saves the benchmark DuckDB (and its WAL) under another name."""
    for suffix in ("", ".wal"):
        source = folder / f"bench.duckdb{suffix}"
        (folder / f"{copy}{suffix}").unlink(missing_ok=True)
        if source.exists():
            shutil.copyfile(source, folder / f"{copy}{suffix}")


def materialized(sample: Sample) -> dict[str, Any]:
    """The JSON summary the Dagster materialize snippet printed last."""
    return json.loads(sample.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def bench_size(
    models: int, repeat: int, workdir: Path, package: str, timeout: float, load_only: bool
) -> dict[str, Any]:
    """Generates, applies and measures one project size; returns its results.

    With `load_only`, the manifest is prepared from the code alone (no plan, no state) and only
    the definitions load and its memory are measured.
    """
    folder = workdir / f"models_{models}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQLMESH_", "DAGSTER_CLOUD"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # byte-code caches are written once, then reused
    env |= {
        "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1",  # no network calls at exit, both sides
        "SQLMESH_MANIFEST_REFRESH": "never",  # measure the prepared manifest, never a refresh
        "DAGSTER_HOME": str(workdir / "dagster_home"),
    }
    Path(env["DAGSTER_HOME"]).mkdir(exist_ok=True)
    project = str(folder / "sqlmesh_project")
    setup: dict[str, float] = {}
    clock = time.perf_counter()
    shape = generate(folder, models, package, datetime.now(UTC).date() - timedelta(days=DAYS))
    setup["generate_s"] = time.perf_counter() - clock
    prepare = f"from {package}.sqlmesh_integration.cli import main; raise SystemExit(main())"
    keys = ["import_dagster", "load"]
    if load_only:
        arguments = ["--project-dir", project, "prepare", "--no-state"]
        setup["prepare_s"] = run(prepare, arguments, folder, env, timeout).seconds
    else:
        plan = ["-p", project, "plan", "prod", "--auto-apply", "--no-prompts", "--skip-backfill"]
        setup["plan_s"] = run(SQLMESH_CLI, plan, folder, env, timeout).seconds
        save(folder, "applied.duckdb")
        arguments = ["--project-dir", project, "prepare"]
        setup["prepare_s"] = run(prepare, arguments, folder, env, timeout).seconds
        fill = ["-p", project, "run", "prod"]
        setup["fill_s"] = run(SQLMESH_CLI, fill, folder, env, timeout).seconds
        save(folder, "filled.duckdb")
        # Untimed: a check that nothing is due after the fill (and a warm-up of the run path).
        check = materialized(run(MATERIALIZE, [], folder, env, timeout))
        if not check["success"] or check["materialized"]:
            raise SystemExit(f"Expected nothing due after a full run at {models} models: {check}")
        keys += ["sqlmesh_run", "dagster_run", "sqlmesh_idle", "dagster_idle"]
    run(LOAD_DEFS, [], folder, env, timeout)  # warm-up (untimed): byte-code caches
    samples: dict[str, list[Sample]] = {key: [] for key in keys}
    sqlmesh_run = ["-p", project, "run", "prod"]
    for attempt in range(repeat):
        order = [("import_dagster", IMPORT_DAGSTER), ("load", LOAD_DEFS)]
        for key, code in order if attempt % 2 == 0 else order[::-1]:
            samples[key].append(run(code, [], folder, env, timeout))
        if load_only:
            continue
        pairs = [("sqlmesh", SQLMESH_CLI, sqlmesh_run), ("dagster", MATERIALIZE, [])]
        for side, code, arguments in pairs if attempt % 2 == 0 else pairs[::-1]:
            restore(folder, "applied.duckdb")
            samples[f"{side}_run"].append(run(code, arguments, folder, env, timeout))
            restore(folder, "filled.duckdb")
            samples[f"{side}_idle"].append(run(code, arguments, folder, env, timeout))
    for sample in samples.get("dagster_run", []):
        result = materialized(sample)
        if not result["success"] or result["materialized"] != models:
            raise SystemExit(f"Dagster materialized {result} of {models} models.")
    for sample in samples.get("dagster_idle", []):
        if materialized(sample)["materialized"]:
            raise SystemExit(f"Dagster materialized models with nothing due: {sample.stdout}")
    median = {key: statistics.median(s.seconds for s in values) for key, values in samples.items()}
    ratios = {
        key: median[ours] / median[theirs]
        for key, _, ours, theirs in COMPARISONS
        if ours in median and theirs in median
    }
    return {
        "models": models,
        "shape": shape,
        "setup": setup,
        "median_s": median,
        "samples_s": {key: [s.seconds for s in values] for key, values in samples.items()},
        "max_rss_mb": {
            "load": max(s.max_rss_mb for s in samples["load"]),
            "import_dagster": max(s.max_rss_mb for s in samples["import_dagster"]),
        },
        "ratios": ratios,
        "met": {
            key: ratio <= TARGETS[key]
            for key, ratio in ratios.items()
            if key != "load" or models == LOAD_TARGET_SIZE
        },
    }


def machine() -> dict[str, Any]:
    """The machine and versions the benchmark ran on."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: version(name) for name in ("dagster", "sqlmesh", "duckdb")},
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def table(results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (medians in seconds)."""
    lines = [
        "| models | measurement | integration | baseline | ratio | target | met |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for result in results:
        n, median, ratios, met = (result[k] for k in ("models", "median_s", "ratios", "met"))
        for key, label, ours, theirs in COMPARISONS:
            if key not in ratios:
                lines.append(f"| {n} | {label} | not measured | | | | |")
                continue
            verdict = ("met" if met[key] else "**not met**") if key in met else "n/a"
            target = f"≤ {TARGETS[key]}x" + (f" at {LOAD_TARGET_SIZE}" if key == "load" else "")
            lines.append(
                f"| {n} | {label} | {median[ours]:.2f} s | {median[theirs]:.2f} s | "
                f"{ratios[key]:.2f}x | {target} | {verdict} |"
            )
        rss = result["max_rss_mb"]
        lines.append(
            f"| {n} | peak memory (max RSS) of the load process vs `import dagster` | "
            f"{rss['load']:.0f} MB | {rss['import_dagster']:.0f} MB | "
            f"{rss['load'] / rss['import_dagster']:.2f}x | — | — |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3, help="samples per measurement (median)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--workdir", type=Path, help="keep the generated projects here")
    parser.add_argument(
        "--load-only",
        action="store_true",
        help="only load and memory: manifest from the code, no plan and no runs (fast at 1000)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per subprocess")
    arguments = parser.parse_args(argv)
    package = find_package()
    temporary = None if arguments.workdir else tempfile.TemporaryDirectory(prefix="benchmark-")
    workdir = arguments.workdir or Path(temporary.name)  # type: ignore[union-attr]
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "command": "uv run python scripts/benchmark.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "repeat": arguments.repeat,
        "measured": MEASURED,
        "targets": TARGETS,
        "results": [],
    }
    try:
        for models in arguments.models:
            print(f"... {models} models", file=sys.stderr, flush=True)
            result = bench_size(
                models, arguments.repeat, workdir, package, arguments.timeout, arguments.load_only
            )
            report["results"].append(result)
            print(table([result]), file=sys.stderr, flush=True)
            if arguments.json:  # after each size, so a long run keeps what it measured
                arguments.json.write_text(json.dumps(report, indent=2) + "\n")
    finally:
        if temporary is not None:
            temporary.cleanup()
    info = report["machine"]
    print(
        f"Medians of {arguments.repeat} run(s); {info['cores']} cores, {info['cpu']}; "
        f"Python {info['python']}; {info['date']}.\n"
    )
    print(table(report["results"]))
    print("\nMeasured (every sample a fresh subprocess of the same Python):")
    for key, text in MEASURED.items():
        print(f"- {key}: {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

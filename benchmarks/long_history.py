"""Long histories: N daily models five years back, filled through Dagster beside `sqlmesh run`.

Run from the root of a render of the template, in the render's environment (README.md here has the
latest results):

    uv run --with dagster-postgres==0.29.27 python <template>/benchmarks/long_history.py \\
        --models 4 20 --json long_history.json

For each size it generates a synthetic SQLMesh project (one daily INCREMENTAL_BY_TIME_RANGE model
generating rows and N-1 reading it, one audit each, DuckDB, starting five years back), wires it to
Dagster with the render's integration (`sqlmesh_definitions`) and applies it with `--skip-backfill`.
Then, on fresh copies of the same DuckDB file, two cases:

- the initial fill: every day of five years (about 1,826 partitions per model);
- the next day: one day per model (the history filled up to the day before).

Each case runs on three paths: plain `sqlmesh run` (baseline), `dg launch --job __ASSET_JOB` of
the integration, and `dg launch` of Dagster's own floor: the same multi-asset (specs, checks,
partitions, executor) whose body runs nothing and reports the same events the same way (the same
partition materializations in the same write batches, the same check evaluations). Each `dg
launch` runs on each storage: the local instance's SQLite, Postgres, and a simulated Dagster+
(Postgres with a fixed latency added to every write call: `--write-latency-ms`, 20 by default, an
assumption), with Dagster's write batching and without it (`DAGSTER_EVENT_BATCH_SIZE=0`). The
event storage is instrumented (`instrumented_storage.py`): each run reports its write calls and
the events written.

It also measures SQLMesh's janitor alone on the filled state (`Context.run` runs it by default) and
opening a context from state against one that parses the model files. It checks that every path
filled and reported the same partitions (SQLMesh state and the instance's event log), and never
fails on timing: the targets are figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import benchmark as common

HERE = Path(__file__).resolve().parent
YEARS = 5
LATENCY_MS = 20.0
# (key, label, event storage class, Postgres, simulated latency, Dagster's batching)
STORAGES = [
    ("sqlite", "shipped instance (SQLite)", "CountingSqliteEventLogStorage", False, False, True),
    ("postgres", "Postgres storage", "CountingPostgresEventLogStorage", True, False, True),
    (
        "dagster_plus",
        "simulated Dagster+ (Postgres + latency per write call)",
        "CountingPostgresEventLogStorage",
        True,
        True,
        True,
    ),
    (
        "dagster_plus_unbatched",
        "simulated Dagster+, batching off (`DAGSTER_EVENT_BATCH_SIZE=0`)",
        "CountingPostgresEventLogStorage",
        True,
        True,
        False,
    ),
]
CASES = [("fill", "initial fill"), ("next_day", "next day")]
TARGETS = {
    "postgres_ratio": 1.3,  # dg launch / sqlmesh run, initial fill, Postgres and simulated Dagster+
    "sqlite_floor_ratio": 1.1,  # dg launch / Dagster's floor, initial fill, SQLite
    "write_calls_share": 1 / 50,  # write calls / partition events, Postgres and Dagster+
    "postgres_marginal_ms": 1.0,  # marginal cost of one partition event on Postgres
}


# Samples: `python long_history.py sample <name> <argument>` in a fresh process.


def sample_dg_launch(module: str) -> None:
    """`dg launch -m <module> --job __ASSET_JOB` on the instance of DAGSTER_HOME."""
    from dagster_dg_cli.cli import main

    sys.argv = ["dg", "launch", "-m", module, "--job", "__ASSET_JOB"]
    main()


def sample_last_run(_: str = "") -> None:
    """The latest run's status, partitions materialized per asset and check evaluations."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs(limit=1)
        partitions: dict[str, int] = {}
        checks = 0
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key:
                key = event.asset_key.to_user_string()
                partitions[key] = partitions.get(key, 0) + 1
            elif event.event_type_value == "ASSET_CHECK_EVALUATION":
                checks += 1
        print(json.dumps({"status": run.status.value, "partitions": partitions, "checks": checks}))


def sample_janitor(project: str) -> None:
    """SQLMesh's janitor alone on the state (what every `Context.run` also does by default)."""
    from sqlmesh.core.context import Context

    context = Context(paths=[project], load=False)
    started = time.perf_counter()
    context.run_janitor(ignore_ttl=False)
    janitor = time.perf_counter() - started
    context.close()
    print(json.dumps({"janitor_s": janitor}))


def sample_open_context(arguments: str) -> None:
    """Opening a context and reading the environment from state, with or without the model files."""
    project, load = arguments.split("|")
    started = time.perf_counter()
    from sqlmesh.core.context import Context

    imported = time.perf_counter()
    context = Context(paths=[project], load=load == "load")
    environment = context.state_reader.get_environment("prod")
    assert environment is not None
    context.state_reader.get_snapshots(environment.snapshots)
    context.close()
    ended = time.perf_counter()
    print(json.dumps({"import_s": imported - started, "open_s": ended - imported}))


SAMPLES = {
    name.removeprefix("sample_"): function
    for name, function in globals().items()
    if name.startswith("sample_")
}


def sample(
    name: str, argument: str, cwd: Path, env: dict[str, str], timeout: float
) -> common.Sample:
    return common.run(name, argument, cwd, env, timeout, script=__file__)


def generate(folder: Path, models: int, package: str, start: date) -> None:
    """Writes the synthetic project, its Dagster definitions and the floor's."""
    project = folder / "sqlmesh_project"
    (project / "models").mkdir(parents=True)
    (project / "config.yaml").write_text(
        "gateways:\n  local:\n    connection:\n      type: duckdb\n"
        f"      database: {folder / 'bench.duckdb'}\n"
        "default_gateway: local\n"
        f"model_defaults:\n  dialect: duckdb\n  start: '{start.isoformat()}'\n  cron: '@daily'\n"
    )
    head = (
        "MODEL (\n  name history.m{index:03d},\n"
        "  kind INCREMENTAL_BY_TIME_RANGE (time_column ds),\n  grain ds,\n"
        "  audits (not_null(columns := (ds, value)))\n);\n\n"
    )
    (project / "models" / "m000.sql").write_text(
        head.format(index=0) + "SELECT day::DATE AS ds, 1 AS value\n"
        "FROM GENERATE_SERIES(@start_ds::TIMESTAMP, @end_ds::TIMESTAMP, INTERVAL 1 DAY)"
        " AS days(day)\n"
    )
    for index in range(1, models):
        (project / "models" / f"m{index:03d}.sql").write_text(
            head.format(index=index) + f"SELECT ds, value + {index} AS value\n"
            "FROM history.m000\nWHERE ds BETWEEN @start_ds AND @end_ds\n"
        )
    wiring = (
        "from pathlib import Path\n\n"
        f"from {package}.sqlmesh_integration import SQLMeshProject, sqlmesh_definitions\n\n"
        "HERE = Path(__file__).parent\n"
        'project = SQLMeshProject(HERE / "sqlmesh_project", working_dir=HERE)\n'
    )
    (folder / "definitions.py").write_text(
        '"""The integration (generated by benchmarks/long_history.py)."""\n\n'
        + wiring
        + "defs = sqlmesh_definitions(project)\n"
    )
    (folder / "floor_definitions.py").write_text(
        '"""Dagster\'s floor (generated by benchmarks/long_history.py): the same multi-asset,\n'
        "specs, checks, partitions and executor; a body that runs nothing and reports the events\n"
        'the integration reports (BENCHMARK_CASE: fill, every partition; next_day, the last)."""'
        "\n\n"
        "import os\n\nimport dagster as dg\n\n"
        + wiring
        + f"from {package}.sqlmesh_integration.execution.event_writes import (\n"
        "    batched_materializations, data_version, data_version_tags\n)\n"
        f"from {package}.sqlmesh_integration.definitions.partitions import (\n"
        "    interval_text, partition_interval\n)\n\n\n"
        "def report(context, sqlmesh):\n"
        '    last_only = os.environ["BENCHMARK_CASE"] == "next_day"\n'
        "    specs = context.assets_def.specs_by_key\n"
        "    for key in sorted(context.selected_asset_keys, key=lambda k: k.path):\n"
        "        spec = specs[key]\n"
        "        keys = spec.partitions_def.get_partition_keys()\n"
        "        version = spec.code_version\n"
        "        events = []\n"
        "        for partition in keys[-1:] if last_only else keys:\n"
        "            window = partition_interval(spec.partitions_def, partition, partition)\n"
        "            events.append(dg.AssetMaterialization(\n"
        "                asset_key=key, partition=partition,\n"
        '                metadata={"sqlmesh/environment": "prod", "sqlmesh/snapshot_version":'
        ' version,\n                          "sqlmesh/partition_interval":'
        " interval_text(*window)},\n"
        "                tags=data_version_tags(data_version(version, [window]), version),\n"
        "            ))\n"
        "        yield from batched_materializations(context, events)\n"
        "        for check in context.assets_def.check_specs:\n"
        "            if check.asset_key == key:\n"
        "                context.log_event(dg.AssetCheckEvaluation(\n"
        "                    asset_key=key, check_name=check.name, passed=True))\n\n\n"
        "defs = sqlmesh_definitions(project, execute=report)\n"
    )


def instance_home(
    path: Path, env: dict[str, str], storage_class: str, database: str | None
) -> dict[str, str]:
    """A DAGSTER_HOME with the shipped dagster.yaml and an instrumented event log storage."""
    path.mkdir(parents=True, exist_ok=True)
    text = common.shipped_instance().read_text()
    if database:
        postgres = "".join(f"      {key}: {value!r}\n" for key, value in common.POSTGRES.items())
        postgres += f"      db_name: {database}\n      scheme: {common.PG_SCHEME}\n"
        text += (
            "run_storage:\n  module: dagster_postgres.run_storage\n"
            "  class: PostgresRunStorage\n  config:\n    postgres_db:\n"
            + postgres.replace("      ", "      ")
            + "schedule_storage:\n  module: dagster_postgres.schedule_storage\n"
            "  class: PostgresScheduleStorage\n  config:\n    postgres_db:\n"
            + postgres
            + f"event_log_storage:\n  module: instrumented_storage\n  class: {storage_class}\n"
            "  config:\n    postgres_db:\n" + postgres
        )
    else:
        text += (
            "run_storage:\n  module: dagster.core.storage.runs\n  class: SqliteRunStorage\n"
            f"  config:\n    base_dir: {path / 'history'}\n"
            "schedule_storage:\n  module: dagster.core.storage.schedules\n"
            f"  class: SqliteScheduleStorage\n  config:\n    base_dir: {path / 'schedules'}\n"
            f"event_log_storage:\n  module: instrumented_storage\n  class: {storage_class}\n"
            f"  config:\n    base_dir: {path / 'history' / 'runs'}\n"
        )
    (path / "dagster.yaml").write_text(text)
    home_env = env | {
        "DAGSTER_HOME": str(path),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
    }
    common.setup_command(
        [sys.executable, "-m", "dagster", "instance", "migrate"], path, home_env, 600
    )
    return home_env


def filled_partitions(project: str, env: dict[str, str], folder: Path) -> int:
    """Days SQLMesh state holds as filled, summed over the models."""
    script = (
        "import json, sys\nfrom sqlmesh.core.context import Context\n"
        "c = Context(paths=[sys.argv[1]], load=False)\n"
        "e = c.state_reader.get_environment('prod')\n"
        "s = c.state_reader.get_snapshots(e.snapshots).values()\n"
        "print(sum((end - start) // 86400000 for x in s for start, end in x.intervals))\n"
    )
    return int(common.setup_command([sys.executable, "-c", script, project], folder, env, 600))


def bench_size(
    models: int,
    options: argparse.Namespace,
    workdir: Path,
    package: str,
    base_env: dict[str, str],
) -> dict[str, Any]:
    """One project size: both cases, every path and storage."""
    folder = workdir / f"history_{models}"
    project = str(folder / "sqlmesh_project")
    today = datetime.now(UTC).date()
    start = today - timedelta(days=round(365.25 * options.years))
    generate(folder, models, package, start)
    env = base_env | {"DAGSTER_HOME": str(folder / "unused_home")}
    Path(env["DAGSTER_HOME"]).mkdir()
    common.setup_command(
        common.sqlmesh_cli(
            project, "plan", "prod", "--auto-apply", "--no-prompts", "--skip-backfill"
        ),
        folder,
        env,
        options.timeout,
    )
    common.setup_command(
        common.integration_cli(package, "--project-dir", project, "prepare"),
        folder,
        env,
        options.timeout,
    )
    common.copy_database(folder, "bench.duckdb", "fill.duckdb")
    yesterday = (today - timedelta(days=1)).isoformat()
    # The history up to the day before (the CLI's `run` takes no execution time; the API does).
    common.setup_command(
        [
            sys.executable,
            "-c",
            "import sys; from sqlmesh.core.context import Context; "
            "Context(paths=[sys.argv[1]]).run('prod', execution_time=sys.argv[2])",
            project,
            yesterday,
        ],
        folder,
        env,
        options.timeout,
    )
    common.copy_database(folder, "bench.duckdb", "next_day.duckdb")
    before = {"fill": 0, "next_day": filled_partitions(project, env, folder)}
    storages = [s for s in STORAGES if s[0] in options.storages]
    databases: dict[str, str] = {}
    if any(s[3] for s in storages) and not common.postgres_available():
        print("Postgres not available: its rows are not measured", file=sys.stderr)
        storages = [s for s in storages if not s[3]]
    results: dict[str, Any] = {"models": models, "start": start.isoformat(), "cases": {}}
    # One instance per storage and path, made once: the next day runs on the instance of the fill.
    homes: dict[tuple[str, str], dict[str, str]] = {}
    try:
        for case, _ in CASES:
            measured: dict[str, Any] = {}
            for attempt in range(options.repeat):
                common.copy_database(folder, f"{case}.duckdb", "bench.duckdb")
                clock = time.perf_counter()
                common.setup_command(
                    common.sqlmesh_cli(project, "run", "prod"), folder, env, options.timeout
                )
                measured.setdefault("sqlmesh", []).append(time.perf_counter() - clock)
                after = filled_partitions(project, env, folder)
                expected = after - before[case]  # the partitions `sqlmesh run` filled
                measured["sqlmesh_filled"] = expected
                for key, _, storage_class, postgres, latency, batching in storages:
                    for path, module in (("ours", "definitions"), ("floor", "floor_definitions")):
                        if key == "dagster_plus_unbatched" and (
                            path == "floor" or models > options.unbatched_max
                        ):
                            continue  # one write call per event: slow, and only ours matters
                        if (key, path) not in homes:
                            database = None
                            if postgres:
                                database = f"history_{os.getpid()}_{uuid.uuid4().hex[:8]}"
                                databases[database] = database
                                common.psql(f"CREATE DATABASE {database}")
                            homes[key, path] = instance_home(
                                folder / f"home_{key}_{path}", env, storage_class, database
                            )
                        home = dict(homes[key, path])
                        counts = Path(home["DAGSTER_HOME"]) / f"writes_{case}_{attempt}.jsonl"
                        home |= {"BENCHMARK_WRITE_COUNTS": str(counts), "BENCHMARK_CASE": case}
                        if latency:
                            home["BENCHMARK_WRITE_LATENCY_MS"] = str(options.write_latency_ms)
                        if not batching:
                            home["DAGSTER_EVENT_BATCH_SIZE"] = "0"
                        common.copy_database(folder, f"{case}.duckdb", "bench.duckdb")
                        print(f"... {models} models, {case}, {key}, {path}", file=sys.stderr)
                        launched = sample("dg_launch", module, folder, home, options.timeout)
                        writes = [json.loads(line) for line in counts.read_text().splitlines()]
                        home.pop("BENCHMARK_WRITE_LATENCY_MS", None)
                        run = common.last_json(sample("last_run", "", folder, home, 600))
                        reported = sum(run["partitions"].values())
                        if run["status"] != "SUCCESS" or reported != expected:
                            raise SystemExit(
                                f"{path} on {key}, {case}: expected {expected} partitions "
                                f"and success, got {run}"
                            )
                        if path == "ours" and filled_partitions(project, env, folder) != after:
                            raise SystemExit(
                                f"dg launch filled other days than sqlmesh run: {case}"
                            )
                        total = {
                            k: sum(w.get(k, 0) for w in writes)
                            for k in {k for w in writes for k in w}
                            if k != "pid"
                        }
                        measured.setdefault(f"{key}_{path}", []).append(launched.seconds)
                        measured[f"{key}_{path}_writes"] = total
                        measured[f"{key}_{path}_reported"] = {
                            "partitions": reported,
                            "checks": run["checks"],
                        }
            results["cases"][case] = {
                name: statistics.median(values)
                if isinstance(values, list) and all(isinstance(v, float) for v in values)
                else values
                for name, values in measured.items()
            } | {"samples_s": {k: v for k, v in measured.items() if isinstance(v, list)}}
        common.copy_database(folder, "fill.duckdb", "bench.duckdb")
        common.setup_command(
            common.sqlmesh_cli(project, "run", "prod"), folder, env, options.timeout
        )
        results["janitor_s"] = common.last_json(
            sample("janitor", project, folder, env, options.timeout)
        )["janitor_s"]
        results["open_context"] = {
            load: common.last_json(
                sample("open_context", f"{project}|{load}", folder, env, options.timeout)
            )
            for load in ("state", "load")
        }
    finally:
        for database in databases:
            common.psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    return results


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """Ratios, per-event costs and write-call shares of one size."""
    fill, next_day = result["cases"]["fill"], result["cases"].get("next_day", {})
    out: dict[str, Any] = {}
    events = fill.get("sqlite_ours_reported", {}).get("partitions") or next(
        (v["partitions"] for k, v in fill.items() if k.endswith("_ours_reported")), 0
    )
    for key, *_ in STORAGES:
        if f"{key}_ours" not in fill:
            continue
        out[f"{key}_vs_sqlmesh"] = fill[f"{key}_ours"] / fill["sqlmesh"]
        if f"{key}_floor" in fill:
            out[f"{key}_vs_floor"] = fill[f"{key}_ours"] / fill[f"{key}_floor"]
        writes = fill[f"{key}_ours_writes"]
        out[f"{key}_write_calls"] = writes.get("write_calls", 0)
        out[f"{key}_events_written"] = writes.get("events", 0)
        out[f"{key}_write_share"] = writes.get("write_calls", 0) / max(events, 1)
        if f"{key}_ours" in next_day:
            extra = events - next_day[f"{key}_ours_reported"]["partitions"]
            ours = (fill[f"{key}_ours"] - fill["sqlmesh"]) - (
                next_day[f"{key}_ours"] - next_day["sqlmesh"]
            )
            out[f"{key}_marginal_ms"] = 1000 * ours / max(extra, 1)
            if f"{key}_floor" in fill and f"{key}_floor" in next_day:
                floor = fill[f"{key}_floor"] - next_day[f"{key}_floor"]
                out[f"{key}_floor_marginal_ms"] = 1000 * floor / max(extra, 1)
    return out


def tables(report: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    lines = [
        "| models | case | path | storage | seconds | / `sqlmesh run` | / floor | events written "
        "| write calls |",
        "|---:|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for result in report["results"]:
        for case, case_label in CASES:
            data = result["cases"].get(case)
            if not data:
                continue
            lines.append(
                f"| {result['models']} | {case_label} | `sqlmesh run` | — | "
                f"{data['sqlmesh']:.1f} s | 1.00x | | | |"
            )
            for key, label, *_ in STORAGES:
                for path, path_label in (("ours", "`dg launch`"), ("floor", "Dagster's floor")):
                    if f"{key}_{path}" not in data:
                        continue
                    seconds = data[f"{key}_{path}"]
                    writes = data[f"{key}_{path}_writes"]
                    floor = data.get(f"{key}_floor")
                    versus_floor = f"{seconds / floor:.2f}x" if floor else ""
                    lines.append(
                        f"| {result['models']} | {case_label} | {path_label} | {label} | "
                        f"{seconds:.1f} s | {seconds / data['sqlmesh']:.2f}x | "
                        f"{versus_floor} | {writes.get('events', 0)} | "
                        f"{writes.get('write_calls', 0)} |"
                    )
    lines += ["", "| models | figure | value |", "|---:|---|---:|"]
    for result in report["results"]:
        for name, value in figures(result).items():
            lines.append(f"| {result['models']} | {name} | {value:.3f} |")
        lines.append(
            f"| {result['models']} | SQLMesh janitor alone (s) | {result['janitor_s']:.3f} |"
        )
        for load, opened in result["open_context"].items():
            lines.append(
                f"| {result['models']} | open context from {load} (s, after import) | "
                f"{opened['open_s']:.3f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["sample"]:
        SAMPLES[arguments[1]](*arguments[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="*", default=[4, 20])
    parser.add_argument("--years", type=float, default=YEARS, help="history of each model")
    parser.add_argument(
        "--storages", nargs="*", default=[key for key, *_ in STORAGES], help="storages to measure"
    )
    parser.add_argument("--repeat", type=int, default=1, help="samples per measurement (median)")
    parser.add_argument("--write-latency-ms", type=float, default=LATENCY_MS)
    parser.add_argument(
        "--unbatched-max",
        type=int,
        default=4,
        help="largest size measured with batching off (one write call per event: slow)",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--project", type=Path, default=Path.cwd())
    options = parser.parse_args(arguments)
    common.ROOT = options.project.resolve()
    package = common.find_package()
    temporary = None if options.workdir else tempfile.TemporaryDirectory(prefix="history-")
    workdir = options.workdir or Path(temporary.name)  # type: ignore[union-attr]
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQLMESH_", "DAGSTER_"))}
    env |= {"SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1"}
    report: dict[str, Any] = {
        "command": "python benchmarks/long_history.py " + " ".join(arguments),
        "machine": common.machine(),
        "repeat": options.repeat,
        "write_latency_ms": options.write_latency_ms,
        "targets": TARGETS,
        "results": [],
    }
    try:
        for models in options.models:
            report["results"].append(bench_size(models, options, workdir, package, env))
            report["results"][-1]["figures"] = figures(report["results"][-1])
            if options.json:
                options.json.write_text(json.dumps(report, indent=2) + "\n")
    finally:
        if temporary is not None:
            temporary.cleanup()
    report["machine"]["load_average_after"] = os.getloadavg()
    if options.json:
        options.json.write_text(json.dumps(report, indent=2) + "\n")
    info = report["machine"]
    print(
        f"Medians of {options.repeat} run(s); {info['cores']} cores; load average "
        f"{info['load_average'][0]:.1f} before, {info['load_average_after'][0]:.1f} after; "
        f"{info['date']}; write latency {options.write_latency_ms} ms per call (simulated).\n"
    )
    print(tables(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

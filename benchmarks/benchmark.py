"""Benchmark of the paths users take through Dagster, side by side with plain `sqlmesh run`.

The template's own benchmark (benchmarks/README.md has the latest results and what each row
measures). Run it from the root of a render of the template, in the render's environment:

    uv run --with dagster-postgres==0.29.27 python <template>/benchmarks/benchmark.py --repeat 3

For each size it generates a synthetic SQLMesh project in a temporary folder (seed models, then
layers of FULL and INCREMENTAL_BY_TIME_RANGE models, two audits each, DuckDB, daily intervals from a
few days ago), wires it to Dagster with this project's integration (`sqlmesh_definitions` in a
generated `definitions.py`), applies it with `sqlmesh plan prod --auto-apply --skip-backfill` and
prepares the manifest. Then, each sample a fresh subprocess and each run on a fresh copy of the same
DuckDB file, it measures `sqlmesh run`, `dg launch --job __ASSET_JOB` on the shipped instance
(`dagster_home/dagster.yaml`, migrated, SQLite storage) and on Postgres run and event storage, a
nothing-due tick of the sensor evaluated by the daemon, and `execute_in_process` (the floor). It
also measures the cost of one event on each storage and, at `--load-size`, the definitions load
against a bare multi-asset built from the same specs and against dagster-dbt. It never fails on
timing: targets are reported as met or not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

# The render measured: the current folder, or --project.
ROOT = Path.cwd()


def shipped_instance() -> Path:
    """The render's shipped Dagster instance config (`dagster_home/dagster.yaml`)."""
    return ROOT / "dagster_home" / "dagster.yaml"


DAYS = 3  # daily intervals to fill per incremental model: small, so runs stay short
IDS = 20  # rows per day in each seed
AUDITS = "not_null(columns := (id, ds)), unique_combination_of_columns(columns := (id, ds))"
POSTGRES = {"hostname": "127.0.0.1", "port": 5432, "username": "postgres", "password": ""}
PG_SCHEME = "postgresql+psycopg2"  # the driver dagster-postgres installs
TICK_INTERVAL_SECONDS = 5
TARGETS = {
    "launch_ratio": 1.5,  # dg launch with work / sqlmesh run, shipped instance, 100 models
    "per_model_ms": 15.0,  # (dg launch - sqlmesh run) slope per model
    "tick_s": 1.0,  # a nothing-due tick, warm code server
    "load_ratio": 1.1,  # our load / bare multi-asset floor at --load-size
}
PATHS = [  # (key, label): every run path, user paths first, the floor last
    ("sqlmesh", "`sqlmesh -p <project> run prod` (baseline)"),
    ("launch_sqlite", "`dg launch --job __ASSET_JOB`, shipped instance (SQLite)"),
    ("launch_postgres", "`dg launch --job __ASSET_JOB`, Postgres run and event storage"),
    ("floor", "`execute_in_process()`, ephemeral instance (floor)"),
]
STAGES = [
    ("cli_load_create", "start `dg`, load the definitions, create the run"),
    ("start", "start the run and its step (in process)"),
    ("step", "the step: import SQLMesh, `Context.run`, events"),
    ("finish", "end the run"),
    ("exit", "exit the process"),
]

# Every sample is `python <this file> sample <name> <args>`: the functions below, in a fresh
# process of the benchmark's interpreter (with dagster-postgres when installed); dagster-dbt runs
# in a Python of its own.


def sample_import_dagster(_: str = "") -> None:
    """`import dagster`: the cost every Dagster process pays."""
    import dagster  # noqa: F401


def sample_load(folder: str) -> None:
    """Loads the synthetic project's definitions (what a code server does)."""
    sys.path.insert(0, folder)
    import definitions

    definitions.defs.get_repository_def()


def sample_floor_load(specs_json: str) -> None:
    """Dagster's own floor: one multi-asset of the same specs and checks, built from JSON."""
    import dagster as dg
    from dagster._serdes import deserialize_value

    def value(item: Any) -> Any:
        return deserialize_value(item["serdes"]) if isinstance(item, dict) else item

    data = json.loads(Path(specs_json).read_text())
    specs = [
        dg.AssetSpec(
            key=dg.AssetKey(spec["key"]),
            deps=[dg.AssetKey(dep) for dep in spec["deps"]],
            group_name=spec["group"],
            description=spec["description"],
            kinds=set(spec["kinds"]),
            tags=spec["tags"],
            code_version=spec["code_version"],
            metadata={key: value(item) for key, item in spec["metadata"].items()},
        )
        for spec in data["assets"]
    ]
    checks = [
        dg.AssetCheckSpec(name=check["name"], asset=dg.AssetKey(check["asset"]))
        for check in data["checks"]
    ]

    @dg.multi_asset(specs=specs, check_specs=checks, can_subset=True)
    def models():  # type: ignore[no-untyped-def]  # (an annotation would be read as outputs)
        return None

    dg.Definitions(assets=[models]).get_repository_def()


def sample_dbt_load(manifest: str) -> None:
    """dagster-dbt's load of a manifest of the same size (one `@dbt_assets`)."""
    import dagster as dg
    from dagster_dbt import dbt_assets

    @dbt_assets(manifest=Path(manifest))
    def models():  # type: ignore[no-untyped-def]  # (an annotation would be read as outputs)
        return None

    dg.Definitions(assets=[models]).get_repository_def()


def sample_sqlmesh(project: str) -> None:
    """`sqlmesh -p <project> run prod`."""
    from sqlmesh.cli.main import cli

    sys.argv = ["sqlmesh", "-p", project, "run", "prod"]
    cli()


def sample_dg_launch(folder: str) -> None:
    """`dg launch -m definitions --job __ASSET_JOB` on the instance of DAGSTER_HOME."""
    from dagster_dg_cli.cli import main

    os.chdir(folder)
    sys.argv = ["dg", "launch", "-m", "definitions", "--job", "__ASSET_JOB"]
    main()


def sample_floor(folder: str) -> None:
    """The whole asset job with `execute_in_process()` on an ephemeral instance."""
    sys.path.insert(0, folder)
    import definitions

    job = definitions.defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process()
    # Assets, not events: a partitioned model reports one materialization per partition.
    materialized = len({event.asset_key for event in result.get_asset_materialization_events()})
    print(json.dumps({"success": result.success, "materialized": materialized}))


def sample_last_run(_: str) -> None:
    """Prints the latest run's status, materialization count and stage times (DAGSTER_HOME)."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs(limit=1)
        times: dict[str, float] = {}
        materialized: set[str] = set()  # assets, not events (one per partition)
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            times.setdefault("first", entry.timestamp)
            times.setdefault(event.event_type_value, entry.timestamp)
            if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key:
                materialized.add(event.asset_key.to_user_string())
        print(json.dumps({"status": run.status.value, "materialized": len(materialized), **times}))


def sample_tick_in_process(folder: str) -> None:
    """Two evaluations of the sensor in one process (the first imports SQLMesh)."""
    import dagster as dg

    sys.path.insert(0, folder)
    import definitions

    defs = definitions.defs
    sensor = defs.resolve_sensor_def("sqlmesh_due_models")
    seconds = []
    with dg.DagsterInstance.get() as instance:
        for _ in range(3):
            context = dg.build_sensor_context(
                instance=instance, resources={"sqlmesh": defs.resources["sqlmesh"]}
            )
            started = time.perf_counter()
            data = sensor.evaluate_tick(context)
            seconds.append(time.perf_counter() - started)
            if data.run_requests:
                raise SystemExit(f"Expected nothing due, got {data.run_requests}")
    print(json.dumps({"seconds": seconds, "skip": data.skip_message}))


def sample_events(count: str) -> None:
    """Seconds to store `count` materializations, check results and observations (DAGSTER_HOME)."""
    import dagster as dg

    size = int(count)
    metadata = {  # the shape of the integration's materialization metadata
        "sqlmesh/environment": "prod",
        "sqlmesh/snapshot_version": "1234567890",
        "sqlmesh/physical_table": '"bench"."sqlmesh__bench"."bench__m0001__1234567890"',
        "sqlmesh/intervals": dg.MetadataValue.text("2026-11-28 to 2026-12-01"),
        "sqlmesh/interval_count": 3,
        "sqlmesh/interval_end": "2026-12-01T00:00:00+00:00",
        "sqlmesh/duration_seconds": 0.123,
    }
    keys = [dg.AssetKey(["bench", f"m{index:04d}"]) for index in range(size)]
    specs = [dg.AssetSpec(key) for key in keys]
    checks = [dg.AssetCheckSpec("not_null", asset=key) for key in keys]

    @dg.multi_asset(specs=specs, check_specs=checks, can_subset=True)
    def models(context):  # type: ignore[no-untyped-def]  # (a string annotation fails here)
        mode = context.run.tags["mode"]
        for key in sorted(context.selected_asset_keys):
            if mode == "observe":
                context.log_event(dg.AssetObservation(asset_key=key, metadata=metadata))
                continue
            yield dg.MaterializeResult(asset_key=key, metadata=metadata)
            if mode == "check":
                yield dg.AssetCheckResult(asset_key=key, check_name="not_null", passed=True)

    job = dg.Definitions(assets=[models]).resolve_implicit_global_asset_job_def()
    all_checks = [dg.AssetCheckKey(key, "not_null") for key in keys]
    samples = [
        ("observe", 1),
        ("observe", size),
        ("materialize", 1),
        ("materialize", size),
        ("check", size),
    ]
    results: dict[str, list[float]] = {}
    subsets = {
        (mode, selected): job.get_subset(
            asset_selection=set(keys[:selected]),
            asset_check_selection=set(all_checks[:selected] if mode == "check" else []),
        )
        for mode, selected in samples
    }
    with dg.DagsterInstance.get() as instance:
        for _ in range(3):
            for mode, selected in samples:
                started = time.perf_counter()
                subsets[mode, selected].execute_in_process(instance=instance, tags={"mode": mode})
                results.setdefault(f"{mode}_{selected}", []).append(time.perf_counter() - started)
    print(json.dumps(results))


SAMPLES = {
    name.removeprefix("sample_"): function
    for name, function in globals().items()
    if name.startswith("sample_")
}


@dataclass
class Sample:
    """One measured subprocess."""

    seconds: float
    started: float  # epoch seconds
    ended: float
    stdout: str


def run(
    name: str,
    argument: str,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    python: str = sys.executable,
    script: str = __file__,
) -> Sample:
    """Runs one sample (`script sample <name> <argument>`) in a fresh subprocess of `python`."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started_epoch = time.time()
        started = time.perf_counter()
        process = subprocess.Popen(
            [python, script, "sample", name, argument],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        try:
            returncode = process.wait(timeout=timeout)
        except BaseException:  # a timeout or Ctrl-C: leave no child behind
            process.kill()
            process.wait()
            raise
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if returncode != 0:
        raise SystemExit(
            f"Sample `{name} {argument}` exited {returncode} in {cwd}\n"
            f"{stdout[-3000:]}\n{stderr[-5000:]}"
        )
    return Sample(seconds, started_epoch, started_epoch + seconds, stdout)


def setup_command(arguments: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    """Runs an untimed setup command; exits with its output when it fails."""
    done = subprocess.run(
        arguments, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise SystemExit(
            f"`{' '.join(arguments)}` failed in {cwd}:\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-5000:]}"
        )
    return done.stdout


def integration_cli(package: str, *arguments: str) -> list[str]:
    """The render's `sqlmesh-dagster` command (its integration's CLI) with `arguments`."""
    return [
        sys.executable,
        "-c",
        f"from {package}.sqlmesh_integration.cli import main; raise SystemExit(main())",
        *arguments,
    ]


def sqlmesh_cli(project: str, *arguments: str) -> list[str]:
    """The SQLMesh CLI on `project` with `arguments`, in this interpreter."""
    return [
        sys.executable,
        "-c",
        "import sys; from sqlmesh.cli.main import cli; sys.argv[0] = 'sqlmesh'; cli()",
        "-p",
        project,
        *arguments,
    ]


def last_json(sample: Sample) -> Any:
    """The JSON a sample printed last."""
    return json.loads(sample.stdout.strip().splitlines()[-1])


def find_package() -> str:
    """Returns the project's package name (the folder under `src/` holding the integration)."""
    found = sorted(ROOT.glob("src/*/sqlmesh_integration/__init__.py"))
    if not found:
        raise SystemExit(
            f"No src/*/sqlmesh_integration under {ROOT}: run it in a render of the template "
            "(or pass --project)."
        )
    return found[0].parent.parent.name


def model_sql(name: str, kind: str, parents: list[str]) -> str:
    """The SQL of one synthetic model selecting from its parents (joined on id and ds)."""
    kind_sql = "INCREMENTAL_BY_TIME_RANGE (time_column ds)" if kind == "incremental" else "FULL"
    head = (
        f"MODEL (\n  name {name},\n  kind {kind_sql},\n  grain (id, ds),\n"
        f"  audits ({AUDITS})\n);\n\n"
    )
    value = " + ".join(f"p{i}.value" for i in range(len(parents))) + " + 1"
    joins = "".join(
        f"\nJOIN {parent} AS p{i} ON p{i}.id = p0.id AND p{i}.ds = p0.ds"
        for i, parent in enumerate(parents[1:], start=1)
    )
    where = "\nWHERE p0.ds BETWEEN @start_date AND @end_date" if kind == "incremental" else ""
    return f"{head}SELECT p0.id, p0.ds, {value} AS value\nFROM {parents[0]} AS p0{joins}{where}\n"


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
        '"""Dagster wiring of the synthetic project (generated by benchmarks/benchmark.py)."""\n\n'
        "from pathlib import Path\n\n"
        "import dagster as dg\n\n"
        f"from {package}.sqlmesh_integration import SQLMeshProject, sqlmesh_definitions\n"
        f"from {package}.sqlmesh_integration.automation.sensor import sqlmesh_due_sensor\n\n"
        "HERE = Path(__file__).parent\n"
        'project = SQLMeshProject(HERE / "sqlmesh_project", working_dir=HERE)\n'
        "defs = sqlmesh_definitions(project)\n"
        "# The same sensor, switched on and ticking every few seconds so the daemon is measured.\n"
        "(models,) = [\n"
        "    a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.is_executable\n"
        "]\n"
        "defs = dg.Definitions(\n"
        "    assets=defs.assets, resources=defs.resources, executor=defs.executor,\n"
        "    sensors=[sqlmesh_due_sensor(models, minimum_interval_seconds="
        f"{TICK_INTERVAL_SECONDS}, default_status=dg.DefaultSensorStatus.RUNNING)],\n"
        ")\n"
    )
    return {
        "seeds": seeds,
        "incremental": incremental,
        "full": models - seeds - incremental,
        "layers": layers,
    }


def copy_database(folder: Path, source: str, target: str) -> None:
    """Copies a DuckDB file (and its WAL) under another name, replacing the target."""
    for suffix in ("", ".wal"):
        (folder / f"{target}{suffix}").unlink(missing_ok=True)
        if (folder / f"{source}{suffix}").exists():
            shutil.copyfile(folder / f"{source}{suffix}", folder / f"{target}{suffix}")


def has_module(name: str) -> bool:
    """Whether a module can be imported in this interpreter."""
    return find_spec(name) is not None


def dbt_python(workdir: Path) -> str | None:
    """A Python of its own with Dagster and dagster-dbt at the pinned versions (None: cannot).

    dagster-dbt is never installed into the project's environment: it would bring its own sqlglot.
    """
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        return None
    major, minor, patch = version("dagster").split(".")[:3]
    library = f"0.{int(minor) + 16}.{patch}"  # dagster 1.13.x pairs with libraries 0.29.x
    folder = workdir / "dbt-env"
    python = folder / "bin" / "python"
    for command in (
        [uv, "venv", "--quiet", "--python", sys.executable, str(folder)],
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            f"dagster=={major}.{minor}.{patch}",
            f"dagster-dbt=={library}",
            "dbt-core<1.11",
        ],  # 1.11+ builds from source
    ):
        if python.exists() and command[1] == "venv":
            continue
        if subprocess.run(command, capture_output=True, check=False).returncode != 0:
            return None
    return str(python)


def postgres_available() -> bool:
    """Whether dagster-postgres is installed and the machine's Postgres answers."""
    if not has_module("dagster_postgres") or shutil.which("psql") is None:
        return False
    return psql("SELECT 1").returncode == 0


def psql(sql: str) -> subprocess.CompletedProcess[str]:
    """Runs one statement on the machine's Postgres (database `postgres`)."""
    return subprocess.run(
        [
            "psql",
            "-h",
            POSTGRES["hostname"],
            "-p",
            str(POSTGRES["port"]),
            "-U",
            POSTGRES["username"],
            "-d",
            "postgres",
            "-tAc",
            sql,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def instance_home(path: Path, env: dict[str, str], database: str | None) -> dict[str, str]:
    """A DAGSTER_HOME with the shipped dagster.yaml (plus Postgres storage), migrated."""
    path.mkdir(parents=True, exist_ok=True)
    text = shipped_instance().read_text()
    if database:
        text += (
            "storage:\n  postgres:\n    postgres_db:\n"
            + "".join(f"      {key}: {value!r}\n" for key, value in POSTGRES.items())
            + f"      db_name: {database}\n      scheme: {PG_SCHEME}\n"
        )
    (path / "dagster.yaml").write_text(text)
    home_env = env | {"DAGSTER_HOME": str(path)}
    setup_command([sys.executable, "-m", "dagster", "instance", "migrate"], path, home_env, 600)
    return home_env


def daemon_ticks(folder: Path, env: dict[str, str], ticks: int, timeout: float) -> dict[str, Any]:
    """Runs `dagster-daemon run` until the sensor ticked `ticks` times; returns tick durations."""
    log = folder / "daemon.log"
    with log.open("w") as output:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "dagster._daemon", "run", "-m", "definitions"],
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    check = (
        "import json, dagster as dg\n"
        "with dg.DagsterInstance.get() as i:\n"
        "    states = [s for s in i.all_instigator_state() if s.name == 'sqlmesh_due_models']\n"
        "    ticks = (i.get_ticks(states[0].instigator_origin_id, states[0].selector_id)\n"
        "             if states else [])\n"
        "    runs = i.get_runs(dg.RunsFilter(tags={'dagster/sensor_name': 'sqlmesh_due_models'}))\n"
        "    print(json.dumps({'runs': len(runs), 'ticks': [\n"
        "        [t.timestamp, t.end_timestamp, t.status.value, t.skip_reason] for t in ticks\n"
        "        if t.end_timestamp]}))\n"
    )
    deadline = time.monotonic() + timeout
    try:
        while True:
            time.sleep(TICK_INTERVAL_SECONDS)
            state = json.loads(
                subprocess.run(
                    [sys.executable, "-c", check],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            if len(state["ticks"]) >= ticks or time.monotonic() > deadline:
                break
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
    ordered = sorted(state["ticks"])
    if len(ordered) < 2:
        raise SystemExit(f"The daemon ticked {len(ordered)} time(s) in {timeout:.0f} s: {log}")
    return {
        "runs_launched": state["runs"],
        "statuses": sorted({tick[2] for tick in ordered}),
        "skip_reason": ordered[-1][3],
        "first_s": ordered[0][1] - ordered[0][0],
        "warm_s": [end - start for start, end, _, _ in ordered[1:]],
    }


def stage_times(launch: Sample, events: dict[str, Any]) -> dict[str, float]:
    """Where a `dg launch` spent its time, from the run's event timestamps."""
    step_end = events.get("STEP_SUCCESS") or events.get("STEP_FAILURE") or events["first"]
    run_end = events.get("PIPELINE_SUCCESS") or events.get("PIPELINE_FAILURE") or step_end
    step_start = events.get("STEP_START", events["first"])
    return {
        "cli_load_create": events["first"] - launch.started,
        "start": step_start - events["first"],
        "step": step_end - step_start,
        "finish": run_end - step_end,
        "exit": launch.ended - run_end,
    }


def bench_size(
    models: int,
    repeat: int,
    workdir: Path,
    package: str,
    timeout: float,
    base_env: dict[str, str],
    *,
    postgres: bool,
) -> dict[str, Any]:
    """Generates, applies and measures one project size (on Postgres too when `postgres`)."""
    folder = workdir / f"models_{models}"
    env = base_env | {"DAGSTER_HOME": str(folder / "dagster_home_ephemeral")}
    project = str(folder / "sqlmesh_project")
    setup: dict[str, float] = {}
    clock = time.perf_counter()
    shape = generate(folder, models, package, datetime.now(UTC).date() - timedelta(days=DAYS))
    Path(env["DAGSTER_HOME"]).mkdir()
    setup["generate_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    setup_command(
        sqlmesh_cli(project, "plan", "prod", "--auto-apply", "--no-prompts", "--skip-backfill"),
        folder,
        env,
        timeout,
    )
    setup["plan_s"] = time.perf_counter() - clock
    copy_database(folder, "bench.duckdb", "applied.duckdb")
    setup_command(
        integration_cli(package, "--project-dir", project, "prepare"), folder, env, timeout
    )
    setup["fill_s"] = run("sqlmesh", project, folder, env, timeout).seconds
    copy_database(folder, "bench.duckdb", "filled.duckdb")
    homes = {"launch_sqlite": instance_home(folder / "home_sqlite", env, None)}
    database = None
    if postgres:
        database = f"benchmark_{os.getpid()}_{models}_{uuid.uuid4().hex[:8]}"
        psql(f"CREATE DATABASE {database}")
        homes["launch_postgres"] = instance_home(folder / "home_postgres", env, database)
    try:
        run("load", str(folder), folder, env, timeout)  # warm-up (untimed): byte-code caches
        samples: dict[str, list[float]] = {}
        stages: dict[str, list[dict[str, float]]] = {"run": [], "idle": []}
        checks: list[dict[str, Any]] = []
        paths = [("sqlmesh", "sqlmesh", project, env), ("floor", "floor", str(folder), env)]
        paths += [(key, "dg_launch", str(folder), home) for key, home in homes.items()]
        for attempt in range(repeat):
            for key, name, argument, sample_env in paths if attempt % 2 == 0 else paths[::-1]:
                for state, database_copy in (("run", "applied.duckdb"), ("idle", "filled.duckdb")):
                    copy_database(folder, database_copy, "bench.duckdb")
                    sample = run(name, argument, folder, sample_env, timeout)
                    samples.setdefault(f"{key}_{state}", []).append(sample.seconds)
                    if key == "floor":
                        checks.append({"path": key, "state": state, **last_json(sample)})
                    if key.startswith("launch_"):
                        events = last_json(run("last_run", "", folder, sample_env, timeout))
                        checks.append({"path": key, "state": state, **events})
                        if key == "launch_sqlite":
                            stages[state].append(stage_times(sample, events))
            for key in ("import_dagster", "load"):
                samples.setdefault(key, []).append(
                    run(key, str(folder), folder, env, timeout).seconds
                )
        for check in checks:
            expected = models if check["state"] == "run" else 0
            if (
                check.get("materialized") != expected
                or check.get("status", "SUCCESS") not in ("SUCCESS",)
                or check.get("success") is False
            ):
                raise SystemExit(
                    f"Expected {expected} materializations at {models} models: {check}"
                )
        copy_database(folder, "filled.duckdb", "bench.duckdb")
        tick_home = homes["launch_sqlite"]
        in_process = last_json(run("tick_in_process", str(folder), folder, tick_home, timeout))
        # The first tick, then `repeat` warm ones (4 ticks at the default --repeat 3).
        daemon = daemon_ticks(folder, tick_home, ticks=1 + repeat, timeout=max(120.0, timeout / 10))
        if daemon["runs_launched"]:
            raise SystemExit(f"The nothing-due sensor launched runs: {daemon}")
    finally:
        if database:
            psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    median = {key: statistics.median(values) for key, values in samples.items()}
    return {
        "models": models,
        "shape": shape,
        "setup": setup,
        "median_s": median,
        "samples_s": samples,
        "stages_s": {
            state: {key: statistics.median(s[key] for s in values) for key, _ in STAGES}
            for state, values in stages.items()
        },
        "tick": {
            "daemon_first_s": daemon["first_s"],
            "daemon_warm_s": statistics.median(daemon["warm_s"]),
            "daemon_statuses": daemon["statuses"],
            "runs_launched": daemon["runs_launched"],
            "skip_reason": daemon["skip_reason"],
            "in_process_first_s": in_process["seconds"][0],
            "in_process_warm_s": statistics.median(in_process["seconds"][1:]),
        },
    }


def dbt_manifest(path: Path, models: int) -> None:
    """Writes a synthetic dbt manifest: `models` models in layers, two tests each."""
    nodes: dict[str, Any] = {}
    parent_map: dict[str, list[str]] = {}
    width = max(3, models // 10)
    for index in range(models):
        unique_id = f"model.bench.m{index:04d}"
        parents = [] if index < width else [f"model.bench.m{index - width:04d}"]
        nodes[unique_id] = {
            "unique_id": unique_id,
            "resource_type": "model",
            "name": f"m{index:04d}",
            "package_name": "bench",
            "original_file_path": f"models/m{index:04d}.sql",
            "path": f"m{index:04d}.sql",
            "fqn": ["bench", f"m{index:04d}"],
            "database": "bench",
            "schema": "main",
            "alias": f"m{index:04d}",
            "description": "",
            "columns": {},
            "meta": {},
            "tags": [],
            "config": {"enabled": True, "materialized": "table", "meta": {}, "tags": []},
            "depends_on": {"nodes": parents, "macros": []},
            "checksum": {"name": "sha256", "checksum": f"{index:064d}"},
            "raw_code": "select 1",
            "language": "sql",
        }
        parent_map[unique_id] = parents
        for test in ("not_null", "unique"):
            test_id = f"test.bench.{test}_m{index:04d}_id.{index:010d}"
            nodes[test_id] = {
                "unique_id": test_id,
                "resource_type": "test",
                "name": f"{test}_m{index:04d}_id",
                "package_name": "bench",
                "original_file_path": f"models/m{index:04d}.yml",
                "path": f"{test}.sql",
                "fqn": ["bench", f"{test}_m{index:04d}_id"],
                "database": "bench",
                "schema": "main",
                "alias": f"{test}_m{index:04d}_id",
                "description": "",
                "columns": {},
                "meta": {},
                "tags": [],
                "config": {"enabled": True, "severity": "ERROR", "meta": {}, "tags": []},
                "depends_on": {"nodes": [unique_id], "macros": []},
                "attached_node": unique_id,
                "test_metadata": {"name": test, "kwargs": {"column_name": "id"}},
                "column_name": "id",
                "checksum": {"name": "none", "checksum": ""},
                "raw_code": "",
                "language": "sql",
            }
            parent_map[test_id] = [unique_id]
    child_map: dict[str, list[str]] = {unique_id: [] for unique_id in nodes}
    for child, parents in parent_map.items():
        for parent in parents:
            child_map[parent].append(child)
    path.write_text(
        json.dumps(
            {
                "metadata": {
                    "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
                    "dbt_version": "1.9.0",
                    "project_name": "bench",
                    "adapter_type": "duckdb",
                },
                "nodes": nodes,
                "sources": {},
                "macros": {},
                "docs": {},
                "exposures": {},
                "metrics": {},
                "groups": {},
                "selectors": {},
                "disabled": {},
                "parent_map": parent_map,
                "child_map": child_map,
                "group_map": {},
                "saved_queries": {},
                "semantic_models": {},
                "unit_tests": {},
            }
        )
    )


def bench_load(
    models: int,
    repeat: int,
    workdir: Path,
    package: str,
    timeout: float,
    base_env: dict[str, str],
    *,
    with_dbt: bool = True,
) -> dict[str, Any]:
    """Load at `models`: ours, the bare multi-asset floor, dagster-dbt, `import dagster`."""
    folder = workdir / f"load_{models}"
    env = base_env | {"DAGSTER_HOME": str(folder / "dagster_home")}
    generate(folder, models, package, datetime.now(UTC).date() - timedelta(days=DAYS))
    Path(env["DAGSTER_HOME"]).mkdir()
    setup_command(
        integration_cli(
            package, "--project-dir", str(folder / "sqlmesh_project"), "prepare", "--no-state"
        ),
        folder,
        env,
        timeout,
    )
    dump = (
        "import json, sys; sys.path.insert(0, '.'); import definitions, dagster as dg\n"
        "(models,) = [a for a in definitions.defs.assets if isinstance(a, dg.AssetsDefinition)"
        " and a.is_executable]\n"
        "from dagster._serdes import serialize_value\n"
        "plain = lambda v: v if isinstance(v, (str, int, float, bool)) else "
        "{'serdes': serialize_value(v)}\n"
        "print(json.dumps({'assets': [{'key': s.key.path,"
        " 'deps': [d.asset_key.path for d in s.deps],"
        " 'group': s.group_name, 'description': s.description, 'kinds': sorted(s.kinds),"
        " 'tags': dict(s.tags), 'code_version': s.code_version,"
        " 'metadata': {k: plain(v) for k, v in s.metadata.items()}} for s in models.specs],"
        " 'checks': [{'name': c.name, 'asset': c.asset_key.path} for c in models.check_specs]}))\n"
    )
    specs_json = folder / "specs.json"
    specs_json.write_text(setup_command([sys.executable, "-c", dump], folder, env, timeout))
    samples: dict[str, list[float]] = {}
    order = [("import_dagster", ""), ("load", str(folder)), ("floor_load", str(specs_json))]
    pythons = {name: sys.executable for name, _ in order}
    dbt = dbt_python(workdir) if with_dbt else None
    if dbt:
        dbt_manifest(folder / "manifest.json", models)
        order.append(("dbt_load", str(folder / "manifest.json")))
        pythons["dbt_load"] = dbt
    for name, argument in order:  # warm-up (untimed)
        run(name, argument, folder, env, timeout, pythons[name])
    for attempt in range(repeat):
        for name, argument in order if attempt % 2 == 0 else order[::-1]:
            sample = run(name, argument, folder, env, timeout, pythons[name])
            samples.setdefault(name, []).append(sample.seconds)
    return {
        "models": models,
        "median_s": {k: statistics.median(v) for k, v in samples.items()},
        "samples_s": samples,
    }


def bench_events(
    count: int, workdir: Path, base_env: dict[str, str], *, postgres: bool
) -> dict[str, Any]:
    """Cost of one stored event (materialization, check result, observation) per storage."""
    results: dict[str, Any] = {}
    storages: list[tuple[str, str | None]] = [("sqlite", None)]
    if postgres:
        storages.append(("postgres", f"benchmark_events_{os.getpid()}_{uuid.uuid4().hex[:8]}"))
    for storage, database in storages:
        if database:
            psql(f"CREATE DATABASE {database}")
        try:
            env = instance_home(workdir / f"events_{storage}", base_env, database)
            timings = last_json(run("events", str(count), workdir, env, 3600))
        finally:
            if database:
                psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        median = {key: statistics.median(values) for key, values in timings.items()}
        extra = count - 1
        results[storage] = {
            "materialization_ms": 1000
            * (median[f"materialize_{count}"] - median["materialize_1"])
            / extra,
            "check_result_ms": 1000
            * (median[f"check_{count}"] - median[f"materialize_{count}"])
            / count,
            "observation_ms": 1000 * (median[f"observe_{count}"] - median["observe_1"]) / extra,
        }
    return results


def machine() -> dict[str, Any]:
    """The machine, its load and the versions the benchmark ran on."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    versions = {}
    for name in ("dagster", "sqlmesh", "duckdb", "dagster-postgres", "dagster-dbt"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def verdicts(report: dict[str, Any]) -> dict[str, Any]:
    """The targets: each figure, its target, and whether it is met (None: not measured)."""
    by_size = {result["models"]: result for result in report["results"]}
    small = by_size.get(100) or (report["results"][0] if report["results"] else None)
    figures: dict[str, Any] = {}
    if small:
        median = small["median_s"]
        figures["launch_ratio"] = median["launch_sqlite_run"] / median["sqlmesh_run"]
        figures["tick_s"] = small["tick"]["daemon_warm_s"]
    sizes = sorted(by_size)
    if len(sizes) >= 2:
        low, high = by_size[sizes[0]]["median_s"], by_size[sizes[-1]]["median_s"]
        overhead = [m["launch_sqlite_run"] - m["sqlmesh_run"] for m in (low, high)]
        figures["per_model_ms"] = 1000 * (overhead[1] - overhead[0]) / (sizes[-1] - sizes[0])
    load = report.get("load")
    if load:
        figures["load_ratio"] = load["median_s"]["load"] / load["median_s"]["floor_load"]
        if "dbt_load" in load["median_s"]:
            figures["load_vs_dbt"] = load["median_s"]["load"] / load["median_s"]["dbt_load"]
    met = {key: figures[key] <= TARGETS[key] for key in TARGETS if key in figures}
    if "load_vs_dbt" in figures:
        met["load_vs_dbt"] = figures["load_vs_dbt"] < 1.0
    return {"figures": figures, "met": met}


def tables(report: dict[str, Any]) -> str:
    """The results as Markdown tables (medians in seconds)."""
    lines = [
        "| path | models | with work | nothing due | with work / `sqlmesh run` |",
        "|---|---:|---:|---:|---:|",
    ]
    for result in report["results"]:
        median = result["median_s"]
        for key, label in PATHS:
            if f"{key}_run" not in median:
                lines.append(f"| {label} | {result['models']} | not measured | | |")
                continue
            ratio = median[f"{key}_run"] / median["sqlmesh_run"]
            lines.append(
                f"| {label} | {result['models']} | {median[f'{key}_run']:.2f} s | "
                f"{median[f'{key}_idle']:.2f} s | {ratio:.2f}x |"
            )
    lines += [
        "",
        "| nothing-due sensor tick | models | first (imports SQLMesh) | warm | runs launched |",
        "|---|---:|---:|---:|---:|",
    ]
    for result in report["results"]:
        tick = result["tick"]
        lines.append(
            f"| evaluated by `dagster-daemon` (code server over gRPC) | {result['models']} | "
            f"{tick['daemon_first_s']:.2f} s | {tick['daemon_warm_s']:.2f} s | "
            f"{tick['runs_launched']} |"
        )
        lines.append(
            f"| evaluated in process (`build_sensor_context`) | {result['models']} | "
            f"{tick['in_process_first_s']:.2f} s | {tick['in_process_warm_s']:.2f} s | 0 |"
        )
    lines += [
        "",
        "| where `dg launch` spends its time (shipped instance) | models | with work | "
        "nothing due |",
        "|---|---:|---:|---:|",
    ]
    for result in report["results"]:
        for key, label in STAGES:
            lines.append(
                f"| {label} | {result['models']} | {result['stages_s']['run'][key]:.2f} s | "
                f"{result['stages_s']['idle'][key]:.2f} s |"
            )
        median = result["median_s"]
        lines.append(
            f"| (for scale) `import dagster` / load the definitions | {result['models']} | "
            f"{median['import_dagster']:.2f} s | {median['load']:.2f} s |"
        )
    if report.get("events"):
        lines += ["", "| one stored event | SQLite | Postgres |", "|---|---:|---:|"]
        for key, label in (
            ("materialization_ms", "materialization"),
            ("check_result_ms", "check result"),
            ("observation_ms", "observation"),
        ):
            cells = [
                f"{report['events'][s][key]:.1f} ms" if s in report["events"] else "not measured"
                for s in ("sqlite", "postgres")
            ]
            lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    if report.get("load"):
        load = report["load"]["median_s"]
        size = report["load"]["models"]
        lines += [
            "",
            f"| load at {size} models | seconds | / bare multi-asset |",
            "|---|---:|---:|",
        ]
        for key, label in (
            ("load", "this integration (`sqlmesh_definitions`, prepared manifest)"),
            ("floor_load", "bare multi-asset, same specs and checks from JSON (floor)"),
            ("dbt_load", "dagster-dbt `@dbt_assets`, synthetic manifest, 2 tests each"),
            ("import_dagster", "`import dagster`"),
        ):
            value = load.get(key)
            cell = (
                f"{value:.2f} s | {value / load['floor_load']:.2f}x" if value else "not measured |"
            )
            lines.append(f"| {label} | {cell} |")
    judged = verdicts(report)
    lines += ["", "| target | figure | target | met |", "|---|---:|---:|---|"]
    labels = {
        "launch_ratio": ("`dg launch` with work / `sqlmesh run`", "x"),
        "per_model_ms": ("per-model overhead (slope of `dg launch` - `sqlmesh run`)", " ms"),
        "tick_s": ("nothing-due tick, warm (daemon)", " s"),
        "load_ratio": ("load / bare multi-asset", "x"),
        "load_vs_dbt": ("load / dagster-dbt", "x"),
    }
    for key, (label, unit) in labels.items():
        if key not in judged["figures"]:
            lines.append(f"| {label} | not measured | | |")
            continue
        target = f"≤ {TARGETS[key]}{unit}" if key in TARGETS else "< 1x"
        verdict = "met" if judged["met"][key] else "**not met**"
        lines.append(f"| {label} | {judged['figures'][key]:.2f}{unit} | {target} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark; returns the exit code."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["sample"]:
        SAMPLES[arguments[1]](*arguments[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        type=int,
        nargs="*",
        default=[100, 400],
        help="run sizes; the per-model slope is taken from the smallest to the largest",
    )
    parser.add_argument(
        "--load-size", type=int, default=1000, help="models for the load comparison (0: skip)"
    )
    parser.add_argument(
        "--events", type=int, default=200, help="events per per-event sample (0: skip)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="samples per measurement (median)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--workdir", type=Path, help="keep the generated projects here")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per subprocess")
    parser.add_argument(
        "--without-dbt",
        action="store_true",
        help="skip the dagster-dbt load (it installs dagster-dbt into an environment of its own)",
    )
    parser.add_argument(
        "--storages",
        nargs="*",
        choices=("sqlite", "postgres"),
        default=["sqlite", "postgres"],
        help="instance storages `dg launch` and the per-event cost are measured on (Postgres only "
        "where one answers at 127.0.0.1:5432)",
    )
    parser.add_argument(
        "--project", type=Path, default=Path.cwd(), help="the render to measure (its root)"
    )
    options = parser.parse_args(arguments)
    if "sqlite" not in options.storages:
        parser.error("--storages needs sqlite: the shipped instance is the reference path")
    global ROOT
    ROOT = options.project.resolve()
    package = find_package()
    postgres = "postgres" in options.storages and postgres_available()
    if "postgres" in options.storages and not postgres:
        print("Postgres not available: its rows are not measured", file=sys.stderr)
    temporary = None if options.workdir else tempfile.TemporaryDirectory(prefix="benchmark-")
    workdir = options.workdir or Path(temporary.name)  # type: ignore[union-attr]
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQLMESH_", "DAGSTER_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # byte-code caches are written once, then reused
    # No network calls at exit, both sides. The prepared manifest is read as it is (a stale one is
    # an error, never a refresh, outside `dg` commands).
    env |= {"SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1"}
    report: dict[str, Any] = {
        "command": "python benchmarks/benchmark.py " + " ".join(arguments),
        "machine": machine(),
        "repeat": options.repeat,
        "targets": TARGETS,
        "results": [],
    }

    def save() -> None:
        report["verdicts"] = verdicts(report)
        if options.json:  # after each part, so a long run keeps what it measured
            options.json.write_text(json.dumps(report, indent=2) + "\n")

    try:
        for models in options.models:
            print(f"... {models} models", file=sys.stderr, flush=True)
            report["results"].append(
                bench_size(
                    models,
                    options.repeat,
                    workdir,
                    package,
                    options.timeout,
                    env,
                    postgres=postgres,
                )
            )
            save()
        if options.events:
            print(f"... {options.events} events per sample", file=sys.stderr, flush=True)
            report["events"] = bench_events(options.events, workdir, env, postgres=postgres)
            save()
        if options.load_size:
            print(f"... load at {options.load_size} models", file=sys.stderr, flush=True)
            report["load"] = bench_load(
                options.load_size,
                options.repeat,
                workdir,
                package,
                options.timeout,
                env,
                with_dbt=not options.without_dbt,
            )
            save()
    finally:
        if temporary is not None:
            temporary.cleanup()
    report["machine"]["load_average_after"] = os.getloadavg()
    save()
    info = report["machine"]
    print(
        f"Medians of {options.repeat} run(s); {info['cores']} cores, {info['cpu']}; "
        f"Python {info['python']}; load average {info['load_average'][0]:.1f} before, "
        f"{info['load_average_after'][0]:.1f} after; {info['date']}.\n"
    )
    print(tables(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

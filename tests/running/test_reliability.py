"""Reliability drills with real processes on a copy of the installed default project.

- Four `dg launch` at once through one Dagster instance (the project's `dagster_home/`, pool limit
  1): all succeed, none hits DuckDB's lock, and the data is what one run makes.
- A run killed with SIGKILL while SQLMesh evaluates a model: the DuckDB lock is released, and the
  next run fills exactly the missing intervals (no duplicated or missing rows, counted against the
  seeds).
- SQLMesh state in a real PostgreSQL server with data in DuckDB, and data and state in Postgres:
  plan with the SQLMesh CLI, materialize with `dg launch`. The server is TEMPLATE_TEST_POSTGRES_DSN
  (default postgresql://postgres@127.0.0.1:5432/postgres; `.ci/run` starts one when none answers);
  each test creates its own database and drops it.

Drills that need only the generated project's fixtures run in its own test suite: the SQL error and
blocking audit mid-graph with their healing reruns and code changed but not applied
(tests/test_materialize.py), the unreachable state database and Dagster's report checked against
SQLMesh state (tests/test_reliability.py).

`dg launch` here passes the in-process executor as run config: the README's default (a child
process per step) takes the same pool slot and file lock and costs a second Python start per run.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from outcomes import asset_keys, expected_rows, materialized, probe
from postgres import POSTGRES_DSN, add_gateway, postgres_sql
from projects import Project, project_env

pytestmark = pytest.mark.slow

LAUNCH_ALL = ["uv", "run", "--no-sync", "dg", "launch", "--job", "__ASSET_JOB"]
MARTS = ("marts.orders", "marts.daily_revenue", "marts.customers")
# Evaluation of marts.orders waits here (in the test copy only) once its batch reaches February.
HOLD_MACRO = '''"""Reliability drill only: hold marts.orders so the test can kill the run."""

import os
import time
from pathlib import Path
from typing import Any

from sqlmesh import macro


@macro()
def drill_hold(evaluator, start_ds):
    marker = os.environ.get("DRILL_HOLD_MARKER")
    start = getattr(start_ds, "this", str(start_ds))
    if marker and evaluator.runtime_stage == "evaluating" and start >= "2024-02-01":
        Path(marker).write_text(start)
        time.sleep(900)
    return True
'''


@pytest.fixture
def project(project_copy: Project) -> Project:
    """A copy of the installed project (no data) with its own environment."""
    project_copy.run(["uv", "sync", "--frozen", "--quiet"])
    return project_copy


def assert_one_runs_data(project: Project, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Every interval filled, each mart holds its seed-derived rows once (no duplicates).

    Returns what the probe found (SQLMesh state; with DAGSTER_HOME in `env`, the instance's runs).
    """
    found = probe(project, env)
    assert found["missing"] == {}, "SQLMesh state still has missing intervals"
    expected = {table: rows for table, rows in expected_rows(project).items() if "marts." in table}
    assert set(expected) == set(found["grains"]) and all(expected.values()), expected
    rows, grains = found["rows"], found["grains"]
    assert {table: (rows[table], grains[table]) for table in expected} == {
        table: (count, count) for table, count in expected.items()
    }
    return found


def plan(project: Project, env: dict[str, str] | None = None) -> None:
    """The README's plan command (applies the models to prod without backfilling them)."""
    command = next(line for line in project.readme_commands() if " plan prod " in line)
    project.run(command, env=env)


def test_four_concurrent_launches_queue_and_make_one_runs_data(
    project: Project, tmp_path: Path
) -> None:
    home = project.path / "dagster_home"
    assert (home / "dagster.yaml").is_file(), "the project ships its local Dagster instance"
    env = {"DAGSTER_HOME": str(home)}
    # Created once before the runs: several processes creating a fresh instance at once collide.
    project.run(["uv", "run", "--no-sync", "dagster", "instance", "migrate"], env=env)
    plan(project)
    # As on a fresh render: no defs state, so every launch prepares it at load while another
    # launch's run holds the DuckDB file (loading must never open it).
    shutil.rmtree(project.defs_state_dir, ignore_errors=True)

    logs = [tmp_path / f"launch-{index}.log" for index in range(4)]
    processes = []
    for log in logs:
        with log.open("w") as output:
            processes.append(
                subprocess.Popen(
                    LAUNCH_ALL,
                    cwd=project.path,
                    env=project_env(env),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
    codes = [process.wait(timeout=1200) for process in processes]
    texts = [log.read_text() for log in logs]

    assert codes == [0, 0, 0, 0], "\n\n".join(text[-5000:] for text in texts)
    for text in texts:
        assert "Could not set lock" not in text and "Conflicting lock" not in text
        assert "RunLockTimeoutError" not in text
    # What each run reported, from the instance, against the models SQLMesh runs: one run
    # materialized every model; the others found nothing due and observed every model up to date.
    found = assert_one_runs_data(project, env)
    models = sorted(asset_keys(found["models"]))
    runs = found["runs"]
    assert len(runs) == len(logs) and {run["status"] for run in runs} == {"SUCCESS"}, runs
    assert sorted(run["materialized"] for run in runs) == [[], [], [], models], runs
    # Each idle run said every model is up to date: an observation, or, when the model's latest
    # event already says the same (nothing new to store), a line in the run's log.
    said = "\n".join(texts)
    for run in runs:
        if not run["materialized"]:
            for model in models:
                assert model in run["observed"] or f"{model}: Up to date through" in said, run


ORDERS_REPORTED = "Materialized value marts orders."  # a log line per reported partition


def test_sigkill_mid_model_then_next_run_fills_exactly_the_gap(
    project: Project, tmp_path: Path
) -> None:
    (project.sqlmesh_project / "macros" / "drill_hold.py").write_text(HOLD_MACRO)
    orders = project.sqlmesh_project / "models" / "marts" / "orders.sql"
    text = orders.read_text()
    held = text.replace(
        "time_column order_date\n", "time_column order_date,\n    batch_size 60\n", 1
    ).replace(
        "BETWEEN @start_date AND @end_date",
        "BETWEEN @start_date AND @end_date AND @drill_hold(@start_ds)",
        1,
    )
    assert held.count("batch_size 60") == 1 and held.count("@drill_hold") == 1
    orders.write_text(held)
    plan(project)

    marker = tmp_path / "held"
    log = tmp_path / "killed.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            LAUNCH_ALL,  # the README command, default executor: the step runs in a child process
            cwd=project.path,
            env=project_env({"DRILL_HOLD_MARKER": str(marker)}),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 900  # a safety net against a hang, not a timed assertion
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert marker.exists(), log.read_text()[-5000:]
        # SQLMesh holds the second batch: the first one is recorded, and its 60 partitions are
        # being written. Their log lines are awaited (bounded) so that the kill does not cut
        # them short; if they never come, the count below says so.
        while (
            log.read_text().count(ORDERS_REPORTED) < 60
            and process.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.5)
        os.killpg(process.pid, signal.SIGKILL)  # the run, its step process and SQLMesh at once
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        wait_for_group_exit(process.pid)
    assert process.returncode == -signal.SIGKILL

    # The OS released the run's file lock with its processes; DuckDB's own lock went with them too.
    assert lock_is_released(project.path / "local.duckdb.lock")
    killed = probe(project)
    covered = killed["covered_days"]
    assert 0 < covered["marts.orders"] < covered["seeds.raw_orders"]  # some batches, not all
    assert covered["marts.daily_revenue"] == 0
    assert "marts.orders" in killed["missing"]
    # Nothing was reported that SQLMesh did not record: the upstream models that finished, and of
    # the model killed mid-way the batches SQLMesh recorded (reported batch by batch), day by day.
    reported = materialized(log.read_text())
    assert reported and all(covered[name] > 0 for name in reported)
    orders_reported = log.read_text().count(ORDERS_REPORTED)
    assert orders_reported == covered["marts.orders"], (orders_reported, covered["marts.orders"])

    project.run(LAUNCH_ALL)  # no hold: the next run

    assert_one_runs_data(project)


def wait_for_group_exit(group: int) -> None:
    """Waits until no live thread is left in a process group (killed children exit a bit later).

    Every thread counts, not only each process's main one: a killed multi-threaded process shows
    its main thread as a zombie while its other threads are still exiting, and those still hold
    the process's open files (and so its file locks).
    """
    deadline = time.monotonic() + 120  # a safety net, not a timed assertion
    while time.monotonic() < deadline:
        alive = sorted({stat.parent.parent.parent.name for stat in _live_threads(group)})
        if not alive:
            return
        time.sleep(0.2)
    pytest.fail(f"processes {alive} of the killed run are still alive")


def lock_is_released(lock_file: Path) -> bool:
    """Whether an exclusive lock on `lock_file` can be taken (retried while the kernel tidies)."""
    descriptor = os.open(lock_file, os.O_RDWR)
    try:
        deadline = time.monotonic() + 60  # a safety net: a leaked lock is held for good
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.2)
            else:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
                return True
    finally:
        os.close(descriptor)


def _live_threads(group: int) -> list[Path]:
    """/proc/<pid>/task/<tid>/stat of every thread in `group` that is not a zombie or dead."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/task/[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[2]) == group and fields[0] not in ("Z", "X", "x"):
            live.append(stat)
    return live


@pytest.fixture
def postgres_database(project: Project) -> Iterator[dict[str, str]]:
    """A throwaway database on the test server, dropped afterwards: host, port, user, password."""
    parts = urlsplit(POSTGRES_DSN)
    server = {
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 5432),
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "maintenance": parts.path.lstrip("/") or "postgres",
        "database": f"template_test_{uuid.uuid4().hex[:12]}",
    }
    postgres_sql(project, server, f'CREATE DATABASE "{server["database"]}"')
    try:
        yield server
    finally:
        drop = f'DROP DATABASE IF EXISTS "{server["database"]}" WITH (FORCE)'
        postgres_sql(project, server, drop)


def postgres_yaml(server: dict[str, str]) -> str:
    return (
        "type: postgres\n"
        f"host: {server['host']}\n"
        f"port: {server['port']}\n"
        f"user: {json.dumps(server['user'])}\n"
        f"password: {json.dumps(server['password'])}\n"
        f"database: {server['database']}\n"
    )


def indent(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


@pytest.mark.parametrize("data", ["duckdb", "postgres"])
def test_state_in_postgres_plan_apply_materialize(
    project: Project, postgres_database: dict[str, str], data: str
) -> None:
    state = postgres_yaml(postgres_database)
    if data == "duckdb":
        connection = "type: duckdb\ndatabase: local.duckdb\n"
        body = f"connection:\n{indent(connection)}state_connection:\n{indent(state)}"
    else:  # no state_connection: SQLMesh keeps its state in the data connection, Postgres
        body = f"connection:\n{indent(state)}"
    add_gateway(project, "drill", body + "variables:\n  land_sample_sources: true\n")
    env = {"SQLMESH_GATEWAY": "drill"}

    plan(project, env)
    launch = project.run(LAUNCH_ALL, env=env)

    found = assert_one_runs_data(project, env)
    assert materialized(launch.stdout + launch.stderr) == set(found["models"])
    assert (project.path / "local.duckdb").exists() is (data == "duckdb")
    environments = "SELECT name FROM sqlmesh._environments ORDER BY name"
    assert postgres_sql(
        project, postgres_database, environments, postgres_database["database"]
    ) == ("[('prod',)]")


# Opens the shipped `prod` gateway's state connection as SQLMesh configures it, and runs SELECT 1.
STATE_CONNECT = """
import sys
from pathlib import Path
from typing import Any

from sqlmesh.core.config import Config
from sqlmesh.core.config.loader import load_configs

# As SQLMesh loads the project: its config.py, which reads settings.yaml.
config = next(iter(load_configs("config", Config, [Path(sys.argv[1])]).values()))
state = config.get_state_connection("prod")
print(f"sslmode={state.sslmode}")
state.create_engine_adapter().fetchone("SELECT 1")
print("connected")
"""


def test_prod_state_connection_verifies_tls_unless_sslmode_says_otherwise(
    project: Project, postgres_database: dict[str, str]
) -> None:
    """`verify-full` by default, so the test server (no TLS) is refused; SQLMESH_STATE_SSLMODE,
    the variable settings.yaml reads, turns it off for a server without TLS like this one."""
    env = {
        "SQLMESH_STATE_HOST": postgres_database["host"],
        "SQLMESH_STATE_PORT": postgres_database["port"],
        "SQLMESH_STATE_USER": postgres_database["user"],
        "SQLMESH_STATE_PASSWORD": postgres_database["password"],
        "SQLMESH_STATE_DATABASE": postgres_database["database"],
    }
    command = [str(project.path / ".venv/bin/python"), "-c", STATE_CONNECT, project.sqlmesh_project]
    command = [str(part) for part in command]

    refused = project.run(command, env=env, check=False)
    assert refused.returncode != 0
    assert "sslmode=verify-full" in refused.stdout
    assert "SSL was required" in refused.stderr, refused.stderr

    allowed = project.run(command, env={**env, "SQLMESH_STATE_SSLMODE": "disable"})
    assert allowed.stdout.split() == ["sslmode=disable", "connected"]

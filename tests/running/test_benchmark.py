"""Smoke test of the template's benchmark (benchmarks/) on a render, at its smallest size.

No timing checks: targets are figures in benchmarks/README.md, never assertions.

Smallest: 3 models (one seed, one incremental and one full model: every kind the script generates,
in two layers), one sample per measurement, 2 events per event sample (the per-event cost is the
difference between 1 and 2), and the load compared at 3 models.

The benchmark generates its synthetic SQLMesh projects in a temporary folder, so it must not create
or touch the project's own `local.duckdb`. It runs in a copy of the installed project (with its own
environment), so it can run beside the tests that use the installed project itself; the generated
project ships no benchmark (it is the template's work).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from projects import Project
from rendering import TEMPLATE_DIR

pytestmark = pytest.mark.slow

MODELS = 3
BENCHMARK = TEMPLATE_DIR / "benchmarks" / "benchmark.py"
LONG_HISTORY = TEMPLATE_DIR / "benchmarks" / "long_history.py"
PATH_ROW = re.compile(
    rf"^\| (?P<label>[^|]+) \| {MODELS} \| [0-9.]+ s \| [0-9.]+ s \| [0-9.]+x \|$"
)


def test_benchmark_runs_at_the_smallest_size(project_copy: Project, tmp_path: Path) -> None:
    project_copy.run(["uv", "sync", "--frozen", "--quiet"])
    assert not (project_copy.path / "scripts" / "benchmark.py").exists()
    assert not (project_copy.path / "docs" / "benchmark.md").exists()
    database = project_copy.path / "local.duckdb"
    assert not database.exists()
    report_path = tmp_path / "benchmark.json"

    result = project_copy.run(
        [
            "uv",
            "run",
            "--no-sync",
            "python",
            str(BENCHMARK),
            "--models",
            str(MODELS),
            "--load-size",
            str(MODELS),
            "--events",
            "2",
            "--repeat",
            "1",
            # dagster-dbt's environment of its own is installed only for the real measurement.
            "--without-dbt",
            # Postgres paths run the same code on another storage (long_history.py likewise).
            "--storages",
            "sqlite",
            "--json",
            str(report_path),
        ],
        env={"TMPDIR": str(tmp_path)},
        timeout=3600,
    )

    lines = result.stdout.splitlines()
    measured = [match["label"] for line in lines if (match := PATH_ROW.match(line))]
    assert "`sqlmesh -p <project> run prod` (baseline)" in measured, result.stdout
    assert "`dg launch --job __ASSET_JOB`, shipped instance (SQLite)" in measured
    assert "`execute_in_process()`, ephemeral instance (floor)" in measured

    report = json.loads(report_path.read_text())
    assert report["repeat"] == 1
    assert report["machine"]["cores"] >= 1
    (size,) = report["results"]
    assert size["models"] == MODELS
    assert size["shape"] == {"seeds": 1, "incremental": 1, "full": 1, "layers": 2}
    medians = size["median_s"]
    assert {"sqlmesh_run", "sqlmesh_idle", "launch_sqlite_run", "launch_sqlite_idle"} <= set(
        medians
    )
    assert {"floor_run", "floor_idle", "import_dagster", "load"} <= set(medians)
    assert not any(key.startswith("launch_postgres") for key in medians)  # --storages sqlite
    assert all(value > 0 for value in medians.values())
    # The nothing-due sensor was ticked by the daemon and launched nothing.
    assert size["tick"]["runs_launched"] == 0
    assert size["tick"]["daemon_statuses"] == ["SKIPPED"]
    assert "Nothing is due" in size["tick"]["skip_reason"]
    assert set(size["stages_s"]["run"]) == {"cli_load_create", "start", "step", "finish", "exit"}
    assert set(report["events"]) == {"sqlite"}
    assert set(report["events"]["sqlite"]) == {
        "materialization_ms",
        "check_result_ms",
        "observation_ms",
    }
    assert {"load", "floor_load", "import_dagster"} <= set(report["load"]["median_s"])
    # Targets are figures, never assertions on timing: only their shape is checked.
    assert all(isinstance(value, bool) for value in report["verdicts"]["met"].values())

    # The long-history case at its smallest: one model, four days, the local instance only.
    history_path = tmp_path / "long_history.json"
    project_copy.run(
        [
            "uv",
            "run",
            "--no-sync",
            "python",
            str(LONG_HISTORY),
            "--models",
            "1",
            "--years",
            "0.01",
            "--storages",
            "sqlite",
            "--json",
            str(history_path),
        ],
        env={"TMPDIR": str(tmp_path)},
        timeout=3600,
    )
    (history,) = json.loads(history_path.read_text())["results"]
    fill, next_day = history["cases"]["fill"], history["cases"]["next_day"]
    # Both paths reported what `sqlmesh run` filled (the script checks it against SQLMesh state
    # and the instance's events), through the instrumented storage.
    assert fill["sqlite_ours_reported"]["partitions"] == fill["sqlmesh_filled"] >= 3
    assert next_day["sqlite_ours_reported"]["partitions"] == next_day["sqlmesh_filled"] == 1
    assert fill["sqlite_floor_reported"] == fill["sqlite_ours_reported"]
    assert fill["sqlite_ours_writes"]["events"] >= fill["sqlmesh_filled"]
    assert history["janitor_s"] > 0

    assert not database.exists(), "the benchmark touched the project's own database"

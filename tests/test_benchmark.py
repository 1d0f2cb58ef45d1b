"""Smoke test of the generated project's benchmark script at its smallest size (no timing checks).

The benchmark generates its synthetic SQLMesh projects in a temporary folder, so it must not create
or touch the project's own `local.duckdb`. It runs in a copy of the installed project (with its own
environment), so it can run beside the tests that use the installed project itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from projects import Project

pytestmark = pytest.mark.slow

ROW = re.compile(r"^\| 10 \| (?P<label>[^|]+) \| [0-9.]+ (s|MB) \| [0-9.]+ (s|MB) \| [0-9.]+x \|")


def test_benchmark_runs_at_the_smallest_size(project_copy: Project, tmp_path: Path) -> None:
    project_copy.run(["uv", "sync", "--frozen", "--quiet"])
    database = project_copy.path / "local.duckdb"
    assert not database.exists()
    report_path = tmp_path / "benchmark.json"

    result = project_copy.run(
        [
            "uv",
            "run",
            "--no-sync",
            "python",
            "scripts/benchmark.py",
            "--models",
            "10",
            "--repeat",
            "1",
            "--json",
            str(report_path),
        ],
        env={"TMPDIR": str(tmp_path)},
    )

    lines = result.stdout.splitlines()
    assert "| models | measurement | integration | baseline | ratio | target | met |" in lines
    rows = [match["label"].strip() for line in lines if (match := ROW.match(line))]
    assert rows == [
        "load definitions vs `import dagster`",
        "materialize all vs `sqlmesh run`",
        "nothing due vs `sqlmesh run`",
        "peak memory (max RSS) of the load process vs `import dagster`",
    ], result.stdout

    report = json.loads(report_path.read_text())
    assert report["repeat"] == 1
    assert set(report["measured"]) >= {"load", "materialize", "nothing_due", "memory"}
    assert report["machine"]["cores"] >= 1
    (size,) = report["results"]
    assert size["models"] == 10
    assert size["shape"]["seeds"] + size["shape"]["incremental"] + size["shape"]["full"] == 10
    assert size["shape"]["incremental"] > 0 and size["shape"]["full"] > 0
    medians = size["median_s"]
    assert set(medians) == {
        "import_dagster",
        "load",
        "sqlmesh_run",
        "dagster_run",
        "sqlmesh_idle",
        "dagster_idle",
    }
    assert all(value > 0 for value in medians.values())
    assert all(len(samples) == 1 for samples in size["samples_s"].values())
    assert set(size["ratios"]) == {"load", "materialize", "nothing_due"}
    # The load target applies at 1000 models only; the run targets at every size.
    assert set(size["met"]) == {"materialize", "nothing_due"}
    assert all(isinstance(value, bool) for value in size["met"].values())
    assert size["max_rss_mb"]["load"] > 0

    assert not database.exists(), "the benchmark touched the project's own database"

"""A SQLMesh project with every feature SQLMesh has, run end to end through Dagster.

`tests/support/projects/kitchen_sink/` replaces the sample in a copy of the installed project:
Python models (one importing a helper module of the project, one yielding no rows), a model in
another dialect, blueprints, a signal that holds back every odd hour, SCD type 2 by time and by
column, a custom materialization, VIEW, SEED, EMBEDDED and disabled models, `batch_size`, relative
starts, hourly and monthly intervals, INCREMENTAL_BY_* and INCREMENTAL_UNMANAGED kinds, FULL, a
standalone audit, audits on an external model, Python and SQL macros, a Jinja query, and a
`config.py` config.

Outcomes are read where they live: intervals in SQLMesh state before and after, and the events of
the Dagster run in the Dagster instance (`DAGSTER_HOME`), never only the command's output.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from projects import Project, copy_project

pytestmark = pytest.mark.slow

SUPPORT = Path(__file__).parents[1] / "support"
KITCHEN_SINK = SUPPORT / "projects" / "kitchen_sink"
PROBE = SUPPORT / "kitchen_sink_probe.py"
CHECKS_ONLY_JOB = '''"""Only the asset checks (what the UI's Execute button on a check runs)."""

import dagster as dg

checks = dg.AssetSelection.all_asset_checks()
defs = dg.Definitions(jobs=[dg.define_asset_job("sqlmesh_checks_only", selection=checks)])
'''
# What the kitchen sink's models are and must be reported as.
EMBEDDED = "staging/customer_tiers"
DISABLED = "staging/disabled_model"
STANDALONE_CHECK = ("marts/customer_summary", "every_customer_scored")
HOUR_KEY = "%Y-%m-%d-%H:%M"  # an hourly partition's key


@pytest.fixture(scope="module")
def kitchen_sink(installed_sources: Project, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A copy of the installed project whose SQLMesh project is the kitchen sink, applied."""
    project = copy_project(installed_sources, tmp_path_factory.mktemp("kitchen_sink"))
    # Its commands cover none of the README's, which are meant for the sample (see readme.py).
    project = dataclasses.replace(project, models="kitchen sink")
    shutil.rmtree(project.sqlmesh_project)
    shutil.copytree(KITCHEN_SINK, project.sqlmesh_project)
    (project.path / "src" / project.package_name / "defs" / "checks_only.py").write_text(
        CHECKS_ONLY_JOB
    )
    (project.path / "dagster_home_test").mkdir()
    # Dagster 1.13.27's telemetry reads `AssetsDefinition.partitions_def`, which fails for a
    # multi-asset whose specs have several partitions definitions (hourly, daily, monthly here).
    (project.path / "dagster_home_test" / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
    )
    project.run(["uv", "sync", "--frozen", "--quiet"])
    project.run(
        f"uv run sqlmesh -p src/{project.package_name}/sqlmesh_project "
        "plan prod --auto-apply --no-prompts --skip-backfill"
    )
    return project


def probe(project: Project, *options: str) -> dict[str, Any]:
    result = project.run(
        ["uv", "run", "--no-sync", "python", str(PROBE), project.package_name, *options],
        env={"DAGSTER_HOME": str(project.path / "dagster_home_test")},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def launch(project: Project, arguments: str, *options: str) -> dict[str, Any]:
    """`dg launch` on the project's test instance; the probe's findings, with the run's `log`."""
    result = project.run(
        f"uv run dg launch {arguments}",  # the code location's in-process executor
        env={"DAGSTER_HOME": str(project.path / "dagster_home_test")},
    )
    return {**probe(project, *options), "log": result.stdout + result.stderr}


def duckdb_sql(project: Project, *statements: str) -> list[list[list[Any]]]:
    """Runs statements on the kitchen sink's DuckDB file (one Python start); each one's rows."""
    script = (
        "import duckdb, json, sys\n"
        "with duckdb.connect('local.duckdb') as connection:\n"
        "    rows = [connection.execute(statement).fetchall() for statement in sys.argv[1:]]\n"
        "print(json.dumps(rows, default=str))\n"
    )
    result = project.run(["uv", "run", "--no-sync", "python", "-c", script, *statements])
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def asset_key(node: str) -> str:
    return "/".join(part.strip('"') for part in node.split(".")[-2:])


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """Nodes whose intervals changed, with the number of intervals added."""
    return {
        name: node["interval_count"] - before[name]["interval_count"]
        for name, node in after.items()
        if node["intervals"] != before[name]["intervals"]
    }


def test_materialize_all_runs_everything_sqlmesh_would_and_reports_it_truthfully(
    kitchen_sink: Project,
) -> None:
    project = kitchen_sink
    before = probe(project)["nodes"]
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")

    # Everything, without a partition range: what SQLMesh has due, reported per partition for the
    # partitioned models (`dg launch --assets '*'` refuses partitioned assets without one).
    found = launch(project, "--job __ASSET_JOB", "--graph")

    run, after = found["run"], found["nodes"]
    assert run["status"] == "SUCCESS"
    # Every node of the environment but the standalone audit is an asset, executable unless it
    # has no table SQLMesh fills (EMBEDDED, shown for its lineage; external); disabled models
    # are not in the environment, so not in Dagster either.
    assets = found["assets"]
    assert set(assets) == {
        asset_key(name) for name, node in after.items() if node["kind"] != "AUDIT"
    }
    for name, node in after.items():
        if node["kind"] != "AUDIT":
            executable = node["kind"] not in ("EMBEDDED", "EXTERNAL")
            assert assets[asset_key(name)]["executable"] == executable, name
    assert assets[EMBEDDED]["kind"] == "EMBEDDED" and DISABLED not in assets
    added = changed(before, after)
    models = {name for name in added if after[name]["kind"] not in ("EXTERNAL", "AUDIT")}
    materialized = {event["asset"]: event["metadata"] for event in run["materializations"]}
    # Dagster reports materialized exactly the models whose SQLMesh intervals changed.
    assert set(materialized) == {asset_key(name) for name in models}
    # Incremental-by-time models: one materialization per interval SQLMesh filled (days, hours
    # held back by the signal are not among them, months); the other kinds: one, unpartitioned.
    partitions: dict[str, list[str | None]] = {}
    for event in run["materializations"]:
        partitions.setdefault(event["asset"], []).append(event["partition"])
    for name in models:
        found_partitions = partitions[asset_key(name)]
        if after[name]["kind"] == "INCREMENTAL_BY_TIME_RANGE":
            assert None not in found_partitions, name
            assert len(set(found_partitions)) == added[name], name
        else:
            assert found_partitions == [None], name
    assert EMBEDDED not in materialized and DISABLED not in materialized
    assert EMBEDDED not in run["observations"] and DISABLED not in run["observations"]
    assert {after[name]["kind"] for name in added} >= {
        "SEED", "VIEW", "FULL", "CUSTOM", "INCREMENTAL_BY_TIME_RANGE",
        "INCREMENTAL_BY_UNIQUE_KEY", "INCREMENTAL_BY_PARTITION", "INCREMENTAL_UNMANAGED",
        "SCD_TYPE_2_BY_TIME",
        "SCD_TYPE_2_BY_COLUMN", "EXTERNAL", "AUDIT",
    }  # fmt: skip
    # The metadata counts what it names: a batch of 7 daily intervals is 7 intervals.
    for name in models:
        assert materialized[asset_key(name)]["sqlmesh/interval_count"] == added[name], name
    # Row counts are the engine's: `COUNT(*)` of each table it wrote (a view holds none), and no
    # `rows_processed`, which DuckDB does not report.
    for name in models:
        metadata = materialized[asset_key(name)]
        # Counted after the run, except views (counting runs their query) and partitioned
        # models (the table's count is the rows of no single partition).
        counted = after[name]["kind"] not in {"VIEW", "INCREMENTAL_BY_TIME_RANGE"}
        assert ("dagster/row_count" in metadata) == counted, name
        assert "sqlmesh/rows_processed" not in metadata, name
    # A Python model that yields no rows: SQLMesh evaluated it, so it is materialized, empty.
    assert materialized["marts/no_rows"]["dagster/row_count"] == 0
    days = materialized["staging/days"]
    assert (days["sqlmesh/interval_count"], days["sqlmesh/batch_count"]) == (7, 1)
    # The signal holds back every odd hour: SQLMesh fills the even ones only, and Dagster reports
    # exactly those.
    hours = [datetime.strptime(key, HOUR_KEY) for key in partitions["staging/hours"]]
    assert len(hours) >= 10 and all(hour.hour % 2 == 0 for hour in hours), hours
    filled_hours = after[next(name for name in after if name.endswith('"hours"'))]["intervals"]
    assert all(end - start == 3_600_000 for start, end in filled_hours), filled_hours
    assert {datetime.fromtimestamp(start / 1000, tz=UTC).hour % 2 for start, _ in filled_hours} == {
        0
    }
    # Every audit SQLMesh ran has exactly one check result: model audits, the external model's
    # audits (on the external asset) and the standalone audit.
    ran = Counter(
        STANDALONE_CHECK if after[name]["kind"] == "AUDIT" else (asset_key(name), audit)
        for name in added
        for audit in after[name]["audits"]
    )
    reported = Counter((check["asset"], check["check"]) for check in run["checks"])
    assert reported == ran
    assert ("raw/currencies", "unique_values") in reported
    assert all(check["passed"] for check in run["checks"])

    # `sqlmesh run` has nothing left to do (up to when the launch started: a cron that came round
    # since then has new work, legitimately).
    result = project.run(
        f"uv run sqlmesh -p src/{project.package_name}/sqlmesh_project run prod --end '{started}'"
    )
    assert probe(project)["nodes"] == after, result.stdout


def test_a_run_with_little_due_reports_what_sqlmesh_did_and_never_the_tableless_models(
    kitchen_sink: Project,
) -> None:
    """Again, right after: mostly nothing is due (a cron that came round since has work).

    Models with nothing due are said up to date (observed, or logged when their latest event says
    it already); an EMBEDDED model, which has no intervals to be due, is neither that nor
    materialized, and a disabled one is nowhere.
    """
    project = kitchen_sink
    before = probe(project)["nodes"]
    assert any(node["intervals"] for node in before.values()), "runs after the first test"

    found = launch(project, "--job __ASSET_JOB")

    run, after = found["run"], found["nodes"]
    assert run["status"] == "SUCCESS"
    added = changed(before, after)
    materialized = {event["asset"] for event in run["materializations"]}
    assert materialized == {
        asset_key(name) for name in added if after[name]["kind"] not in ("EXTERNAL", "AUDIT")
    }
    tables = {
        asset_key(name)
        for name, node in after.items()
        if node["kind"] not in ("EMBEDDED", "EXTERNAL", "AUDIT")
    }
    observed = set(run["observations"])
    assert observed <= tables and not observed & materialized, observed
    # Every table with nothing due is said up to date: an observation, or a line in the run's log
    # when its latest event already says the same (nothing new to store).
    for key in tables - materialized:
        said = [line for line in found["log"].splitlines() if key.replace("/", ".") in line]
        assert key in observed or f"{key}: Up to date through" in found["log"], (key, said)
    assert EMBEDDED not in materialized | observed and DISABLED not in materialized | observed
    # The odd hours are still held back by the signal: neither filled nor reported. (Few hours,
    # maybe none, were due in this run: the check is on every hour SQLMesh holds.)
    filled_hours = {
        datetime.fromtimestamp(hour / 1000, tz=UTC).replace(tzinfo=None)
        for name, node in after.items()
        if name.endswith('"hours"')
        for start, end in node["intervals"]
        for hour in range(start, end, 3_600_000)
    }
    assert filled_hours and all(hour.hour % 2 == 0 for hour in filled_hours), filled_hours
    hours = {
        datetime.strptime(event["partition"], HOUR_KEY)
        for event in run["materializations"]
        if event["asset"] == "staging/hours"
    }
    assert hours <= filled_hours, hours - filled_hours


def test_checks_alone_audit_filled_intervals_and_materialize_nothing(
    kitchen_sink: Project,
) -> None:
    project = kitchen_sink
    before = probe(project)["nodes"]
    assert any(node["intervals"] for node in before.values()), "runs after the first test"

    found = launch(project, "--job sqlmesh_checks_only")

    run = found["run"]
    assert run["status"] == "SUCCESS"
    assert run["materializations"] == []
    assert found["nodes"] == before
    expected = Counter(
        STANDALONE_CHECK if node["kind"] == "AUDIT" else (asset_key(name), audit)
        for name, node in before.items()
        if node["intervals"]
        for audit in node["audits"]
    )
    assert Counter((check["asset"], check["check"]) for check in run["checks"]) == expected


def test_column_lineage_is_traced_where_sqlmesh_can_and_omitted_elsewhere(
    kitchen_sink: Project,
) -> None:
    path = kitchen_sink.sqlmesh_project / ".dagster" / "manifest.json"
    if not path.exists():  # prepared when an earlier test loaded the definitions
        kitchen_sink.run("uv run --no-sync sqlmesh-dagster prepare")
    manifest = json.loads(path.read_text())
    lineage = {
        asset_key(model["name"]): {
            column: sorted((asset_key(upstream), name) for upstream, name in sources)
            for column, sources in model["column_lineage"].items()
        }
        for model in manifest["models"]
    }

    assert lineage["marts/scored_customers"] == {}  # a Python model: no query to trace
    assert lineage["seeds/customers"] == {}
    # A blueprint, reading an external table; the literal column has no lineage.
    assert lineage["marts/customers_eu"] == {
        "customer_id": [("seeds/customers", "customer_id")],
        "currency_label": [("raw/currencies", "label")],
    }
    # Another dialect: traced through its `::` cast.
    assert lineage["staging/postgres_style"]["customer_name"] == [("seeds/customers", "name")]


def test_a_partition_range_restated_from_the_command_line_reports_exactly_its_days(
    kitchen_sink: Project,
) -> None:
    project = kitchen_sink
    before = probe(project)["nodes"]
    days = [name for name in before if name.endswith('"days"')]
    assert days and before[days[0]]["intervals"], "runs after the first test"
    end = datetime.fromtimestamp(before[days[0]]["intervals"][-1][1] / 1000, tz=UTC)
    first, last = (f"{end - timedelta(days=offset):%Y-%m-%d}" for offset in (3, 2))
    restate = '{"ops": {"sqlmesh_models": {"config": {"restate": true}}}}'
    # Every stored day made wrong in the table SQLMesh wrote, so that the rows tell which days the
    # restatement recomputed: unchanged intervals alone are also what a no-op leaves.
    table = before[days[0]]["table"]
    select = f"SELECT CAST(event_date AS VARCHAR), events FROM {table} ORDER BY 1"
    rows, _, wrong = duckdb_sql(project, select, f"UPDATE {table} SET events = -1", select)
    assert {day for day, _ in rows} >= {first, last} and {e for _, e in wrong} == {-1}, wrong

    found = launch(
        project,
        f"--assets staging/days --partition-range {first}...{last} --config-json '{restate}'",
    )

    run = found["run"]
    assert run["status"] == "SUCCESS"
    reported = [
        event["partition"] for event in run["materializations"] if event["asset"] == "staging/days"
    ]
    assert sorted(reported) == [first, last]
    assert found["nodes"][days[0]]["intervals"] == before[days[0]]["intervals"]
    # Exactly the range's days recomputed, to what they held before; the others untouched.
    (after,) = duckdb_sql(project, select)
    assert after == [[day, events if first <= day <= last else -1] for day, events in rows], after


def test_a_pull_request_data_diff_over_every_kind(kitchen_sink: Project, tmp_path: Path) -> None:
    """`scripts/ci/pr-diff.sh` on the kitchen sink: a changed seed reaches a model of every kind
    downstream (VIEW, FULL, Python, CUSTOM, SCD type 2, by unique key, by partition, unmanaged,
    blueprints, another dialect, EMBEDDED); each gets its line, and no diff fails. Last in this
    module: it leaves the project changed."""
    project = kitchen_sink
    seed = project.sqlmesh_project / "seeds" / "customers.csv"
    text = seed.read_text()
    assert "2,Grace,silver," in text
    # One customer renamed, one added.
    changed_text = text.replace("2,Grace,silver,", "2,Grace Hopper,silver,")
    seed.write_text(changed_text + "4,Edsger,gold,2024-01-04 00:00:00\n")
    local = {"SQLMESH_GATEWAY": "local"}  # the kitchen sink's one gateway
    project.run("bash scripts/ci/plan-apply.sh pr_7", env=local)
    summary, comment = tmp_path / "summary.md", tmp_path / "comment.md"
    project.run(
        "bash scripts/ci/pr-diff.sh pr_7",
        env={**local, "GITHUB_STEP_SUMMARY": str(summary), "PR_COMMENT_FILE": str(comment)},
    )

    markdown = summary.read_text()
    assert "The diff failed" not in markdown, markdown
    sections = dict(re.findall(r"^### `([^`]+)` \((.+)\)$", markdown, re.M))
    assert sections["seeds.customers"] == "breaking", markdown
    seed_section = markdown.split("### `seeds.customers`")[1].split("### ")[0]
    assert "Joined on `customer_id`: 0 only in prod, 1 only in `pr_7`, 1 of 3 changed." in (
        seed_section
    )
    assert "Rows that differ, per column: `name` 1." in seed_section
    for model in (
        "staging.customers_view",
        "staging.postgres_style",
        "marts.scored_customers",
        "marts.customer_summary",
        "marts.custom_kind",
        "marts.customers_by_key",
        "marts.customers_history_by_column",
        "marts.customers_history_by_time",
    ):
        assert model in sections, f"{model} has no section:\n{markdown}"
    assert "`staging.customer_tiers` (indirect breaking; EMBEDDED, no table)" in markdown
    # An SCD type 2 history is matched on its unique key and each version's start.
    for history in ("marts.customers_history_by_column", "marts.customers_history_by_time"):
        assert sections[history] == "forward-only"
        history_section = markdown.split(f"### `{history}`")[1].split("### ")[0]
        assert "Joined on `customer_id`, `valid_from`:" in history_section, history_section
    assert comment.read_text().strip() == markdown.strip()

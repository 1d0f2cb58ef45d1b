"""Guarded SQLMesh state on a real Postgres server (the generated `sqlmesh-dagster state-guard`).

A copy of the installed project keeps its data in DuckDB and SQLMesh state in a new Postgres
database, with two new roles: the owner (prod's apply) and the pull request role, guarded by the
command. As the pull request role, through the project's own CI scripts: a pull request's plan
and apply (`plan-apply.sh` with GITHUB_PR_NUMBER), a second push that demotes a prod snapshot from
the pull request's environment (SQLMesh touches it), and the invalidation when it closes
(`invalidate-environment.sh`) all succeed. Then, still as that role, every attempt to change
prod's environment, one of its snapshots or its intervals (and the guard itself) is refused, and
prod's state is what it was. Last, prod lagging behind its schedule: the pull request's plan would
record prod's missing intervals, and is refused with a sentence that says why.

The server is TEMPLATE_TEST_POSTGRES_DSN (default postgresql://postgres@127.0.0.1:5432/postgres,
`.ci/run` starts one); the database and both roles are new and dropped afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import pytest
from postgres import POSTGRES_DSN, add_gateway
from projects import Project

pytestmark = pytest.mark.slow

# Runs statements on a database as one role, each in its own transaction; prints, per
# statement, the error (or null) and the rows it changed.
RUN_AS = """
import json, sys, psycopg2
host, port, user, password, database, statements = sys.argv[1:7]
connection = psycopg2.connect(host=host, port=port, user=user, password=password, dbname=database)
connection.autocommit = True
results = []
for statement in json.loads(statements):
    cursor = connection.cursor()
    try:
        cursor.execute(statement)
        rows = cursor.fetchall() if cursor.description else None
        results.append({"error": None, "rowcount": cursor.rowcount, "rows": rows})
    except psycopg2.Error as error:
        results.append({"error": str(error).strip(), "rowcount": None, "rows": None})
print(json.dumps(results, default=str))
"""
# Prod's rows: its environment, its snapshots (the unpaused ones: prod's apply unpauses what it
# promotes; all columns but `updated_ts`, which SQLMesh touches on snapshots that leave a pull
# request's environment) and the intervals of its versions.
PROD_STATE = (
    "SELECT * FROM sqlmesh._environments WHERE name = 'prod'",
    "SELECT * FROM sqlmesh._environment_statements WHERE environment_name = 'prod'",
    "SELECT name, identifier, version, dev_version, snapshot, kind_name, unpaused_ts, ttl_ms,"
    " unrestorable, forward_only, fingerprint FROM sqlmesh._snapshots"
    " WHERE unpaused_ts IS NOT NULL ORDER BY 1, 2",
    "SELECT i.* FROM sqlmesh._intervals AS i JOIN sqlmesh.sqlmesh_dagster_guard_prod_versions()"
    " AS p ON p.name = i.name AND p.version = i.version WHERE NOT i.is_dev ORDER BY i.id",
)
# Prod's snapshot of marts.orders, for the attacks below.
PROD_SNAPSHOT = (
    "(SELECT name, identifier, version FROM sqlmesh._snapshots"
    " WHERE unpaused_ts IS NOT NULL AND name LIKE '%marts\"%orders\"')"
)
INTERVAL_COLUMNS = (
    "id, created_ts, name, identifier, version, dev_version, start_ts, end_ts, is_dev, is_removed,"
    " is_compacted, is_pending_restatement"
)


def prod_interval(row_id: str, *, dev: bool, removed: bool = False, restate: bool = False) -> str:
    """An INSERT of one interval row (a day) for the prod snapshot of marts.orders."""
    flags = ", ".join(str(flag).upper() for flag in (dev, removed, False, restate))
    return (
        f"INSERT INTO sqlmesh._intervals ({INTERVAL_COLUMNS}) SELECT '{row_id}', 0, name,"
        f" identifier, version, version, 0, 86400000, {flags} FROM {PROD_SNAPSHOT} AS p"
    )


# (what is attempted, the statement): each must fail or change no row.
ATTACKS = (
    (
        "rewrite prod's environment",
        "UPDATE sqlmesh._environments SET snapshots = '[]' WHERE name = 'prod'",
    ),
    ("delete prod's environment", "DELETE FROM sqlmesh._environments WHERE name = 'prod'"),
    (
        "rename a pull request environment to prod",
        "UPDATE sqlmesh._environments SET name = 'prod' WHERE name LIKE 'pr\\_%'",
    ),
    (
        "insert another prod environment",
        "INSERT INTO sqlmesh._environments (name, snapshots) VALUES ('production', '[]')",
    ),
    (
        "rewrite prod's environment statements",
        "UPDATE sqlmesh._environment_statements SET environment_statements = '[]'"
        " WHERE environment_name = 'prod'",
    ),
    (
        "rewrite a prod snapshot's definition",
        "UPDATE sqlmesh._snapshots SET snapshot = replace(snapshot, 'SELECT', 'SELECT 1,')"
        f" WHERE (name, identifier) IN (SELECT name, identifier FROM {PROD_SNAPSHOT} AS p)",
    ),
    (
        "pause a prod snapshot",
        "UPDATE sqlmesh._snapshots SET unpaused_ts = NULL"
        f" WHERE (name, identifier) IN (SELECT name, identifier FROM {PROD_SNAPSHOT} AS p)",
    ),
    (
        "delete a prod snapshot",
        "DELETE FROM sqlmesh._snapshots"
        f" WHERE (name, identifier) IN (SELECT name, identifier FROM {PROD_SNAPSHOT} AS p)",
    ),
    (
        "plant a snapshot marked as promoted",
        "INSERT INTO sqlmesh._snapshots (name, identifier, version, snapshot, unpaused_ts)"
        " VALUES ('\"x\".\"y\".\"z\"', '1', '1', '{}', 1)",
    ),
    ("mark an interval of prod's table filled", prod_interval("guard-1", dev=False)),
    ("remove an interval of prod's table", prod_interval("guard-2", dev=False, removed=True)),
    ("queue a restatement of prod's table", prod_interval("guard-3", dev=True, restate=True)),
    ("delete prod's intervals", "DELETE FROM sqlmesh._intervals"),
    ("shorten prod's intervals", "UPDATE sqlmesh._intervals SET end_ts = start_ts"),
    ("empty the intervals", "TRUNCATE sqlmesh._intervals"),
    ("change the state version", "UPDATE sqlmesh._versions SET schema_version = 0"),
    ("switch the guard off", "ALTER TABLE sqlmesh._intervals DISABLE ROW LEVEL SECURITY"),
    ("drop a policy", "DROP POLICY sqlmesh_dagster_guard_insert ON sqlmesh._intervals"),
    (
        "redefine prod's versions",
        "CREATE OR REPLACE FUNCTION sqlmesh.sqlmesh_dagster_guard_prod_versions()"
        " RETURNS TABLE (name text, version text) LANGUAGE sql AS $$ SELECT NULL, NULL $$",
    ),
)


@dataclass(frozen=True)
class StateDatabase:
    """The test's Postgres database and its two roles."""

    host: str
    port: str
    admin: str
    password: str
    maintenance: str
    database: str
    owner: str
    preview: str

    def gateway(self, role: str) -> str:
        """A gateway body: data in the project's DuckDB file, state here as `role`."""
        return (
            "connection:\n  type: duckdb\n  database: local.duckdb\n"
            "state_connection:\n  type: postgres\n"
            f"  host: {self.host}\n  port: {self.port}\n  user: {role}\n"
            f"  password: {json.dumps(self.password)}\n  database: {self.database}\n"
            "variables:\n  land_sample_sources: true\n"
        )


def run_as(
    project: Project, state: StateDatabase, role: str, statements: list[str], database: str = ""
) -> list[dict[str, object]]:
    """Runs statements as `role` (each in its own transaction); returns each one's outcome."""
    result = project.run(
        [
            str(project.path / ".venv" / "bin" / "python"),
            "-c",
            RUN_AS,
            state.host,
            state.port,
            role,
            state.password,
            database or state.database,
            json.dumps(statements),
        ],
        timeout=120,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def prod_state(project: Project, state: StateDatabase) -> list[object]:
    """Prod's rows in state, read as the owner."""
    results = run_as(project, state, state.owner, list(PROD_STATE))
    assert all(result["error"] is None for result in results), results
    return [result["rows"] for result in results]


@pytest.fixture
def state(project_copy: Project) -> Iterator[tuple[Project, StateDatabase]]:
    """The project copy, installed, with gateways `owner` and `preview` on a new database."""
    project_copy.run(["uv", "sync", "--frozen", "--quiet"])
    parts = urlsplit(POSTGRES_DSN)
    suffix = uuid.uuid4().hex[:10]
    database = StateDatabase(
        host=parts.hostname or "127.0.0.1",
        port=str(parts.port or 5432),
        admin=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        maintenance=parts.path.lstrip("/") or "postgres",
        database=f"template_test_guard_{suffix}",
        owner=f"template_test_owner_{suffix}",
        preview=f"template_test_preview_{suffix}",
    )
    # Both roles log in as the server allows the admin (trust on the test server); same password.
    password = f" PASSWORD '{database.password}'" if database.password else ""
    setup = [
        f"CREATE ROLE {database.owner} LOGIN{password}",
        f"CREATE ROLE {database.preview} LOGIN{password}",
        f"CREATE DATABASE {database.database} OWNER {database.owner}",
    ]
    outcomes = run_as(project_copy, database, database.admin, setup, database.maintenance)
    try:
        assert all(outcome["error"] is None for outcome in outcomes), outcomes
        for role in ("owner", "preview"):
            add_gateway(project_copy, role, database.gateway(getattr(database, role)))
        yield project_copy, database
    finally:
        teardown = [
            f"DROP DATABASE IF EXISTS {database.database} WITH (FORCE)",
            f"DROP ROLE IF EXISTS {database.preview}",
            f"DROP ROLE IF EXISTS {database.owner}",
        ]
        run_as(project_copy, database, database.admin, teardown, database.maintenance)


def test_the_pull_request_role_plans_applies_and_invalidates_but_never_touches_prod(
    state: tuple[Project, StateDatabase],
) -> None:
    project, database = state
    owner = {"SQLMESH_GATEWAY": "owner"}
    preview = {"SQLMESH_GATEWAY": "preview", "GITHUB_PR_NUMBER": "7"}
    project.run("bash scripts/ci/plan-apply.sh prod", env=owner)
    guard = ["uv", "run", "--frozen", "sqlmesh-dagster", "state-guard"]
    project.run([*guard, "--preview-role", database.preview], env=owner)
    # Idempotent: run again after every `sqlmesh migrate`.
    project.run([*guard, "--preview-role", database.preview], env=owner)
    refused = project.run([*guard, "--preview-role", database.owner], env=owner, check=False)
    assert refused.returncode == 1 and "the guard cannot hold it" in refused.stderr
    before = prod_state(project, database)

    # A pull request: a breaking change to a mart, planned and applied to pr_7.
    marts = project.sqlmesh_project / "models" / "marts"
    revenue = marts / "daily_revenue.sql"
    revenue.write_text(
        revenue.read_text().replace("COUNT(*) AS order_count", "COUNT(*) + 0 AS order_count", 1)
    )
    project.run("bash scripts/ci/plan-apply.sh", env=preview)
    # A second push: a metadata change demotes prod's customers snapshot from pr_7 (touched).
    customers = marts / "customers.sql"
    customers.write_text(customers.read_text().replace("owner 'analytics'", "owner 'finance'", 1))
    project.run("bash scripts/ci/plan-apply.sh", env=preview)
    environments = (
        "SELECT name, COALESCE(expiration_ts <= EXTRACT(EPOCH FROM now()) * 1000, FALSE)"
        " FROM sqlmesh._environments ORDER BY 1"
    )
    (listed,) = run_as(project, database, database.preview, [environments])
    assert listed["rows"] == [["pr_7", False], ["prod", False]], listed
    # Closed: the environment is invalidated (it has expired).
    project.run("bash scripts/ci/invalidate-environment.sh", env=preview)
    (listed,) = run_as(project, database, database.preview, [environments])
    assert listed["rows"] == [["pr_7", True], ["prod", False]], listed

    outcomes = run_as(project, database, database.preview, [sql for _, sql in ATTACKS])
    for (attempt, _), outcome in zip(ATTACKS, outcomes, strict=True):
        assert outcome["error"] or outcome["rowcount"] == 0, f"{attempt}: {outcome}"
    errors = " ".join(str(outcome["error"]) for outcome in outcomes)
    for reason in ("row-level security", "permission denied", "must be owner"):
        assert reason in errors, errors
    assert prod_state(project, database) == before, "prod's state changed"

    # Prod lags behind its schedule (its intervals of customers are gone): a pull request's plan
    # would fill them in prod's table, and may not record them.
    remove = "DELETE FROM sqlmesh._intervals WHERE name LIKE '%marts\"%customers\"' AND NOT is_dev"
    (removed,) = run_as(project, database, database.owner, [remove])
    assert removed["rowcount"], removed
    lagging = prod_state(project, database)
    refused = project.run(
        "bash scripts/ci/plan-apply.sh", env={**preview, "GITHUB_PR_NUMBER": "8"}, check=False
    )
    assert refused.returncode == 1
    assert "refuses that to the pull request role" in refused.stderr, refused.stderr
    assert prod_state(project, database) == lagging, "prod's intervals changed"

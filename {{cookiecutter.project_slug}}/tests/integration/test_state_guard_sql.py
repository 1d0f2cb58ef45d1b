"""`sqlmesh-dagster state-guard --print`: the SQL a database administrator reviews, without a
database. (The guard itself runs on a real Postgres server in the template's tests,
tests/test_state_guard.py there: a pull request's plan, apply and invalidate succeed as the guarded
role, and every change to prod's rows is refused.)"""

from __future__ import annotations

import re

import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration.cli import main

from ..support import SampleProject


def printed_sql(sample: SampleProject, capsys: pytest.CaptureFixture[str], role: str) -> str:
    project_dir = str(sample.project.project_dir)
    arguments = ["--project-dir", project_dir, "state-guard", "--preview-role", role, "--print"]
    assert main(arguments) == 0
    return capsys.readouterr().out


def test_the_sql_limits_the_role_and_replaces_itself(
    sample: SampleProject, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = printed_sql(sample, capsys, "sqlmesh_preview")
    assert sql.startswith("BEGIN;\n") and sql.endswith("COMMIT;\n")
    statements = [line for line in sql.splitlines() if line not in ("BEGIN;", "COMMIT;")]
    # Everything is revoked first, then granted back table by table (idempotent).
    assert statements[0] == 'REVOKE ALL ON ALL TABLES IN SCHEMA "sqlmesh" FROM "sqlmesh_preview";'
    grants = [line for line in statements if line.startswith("GRANT ")]
    assert 'GRANT UPDATE (updated_ts) ON "sqlmesh"."_snapshots" TO "sqlmesh_preview";' in grants
    assert not any('"_versions"' in line or '"_auto_restatements"' in line for line in grants)
    assert not any(re.search(r"\bDELETE\b.*_(snapshots|intervals)", line) for line in grants)
    # Row-level security on every table it writes, each policy dropped before it is created.
    for table in ("_snapshots", "_intervals", "_environments", "_environment_statements"):
        assert f'ALTER TABLE "sqlmesh"."{table}" ENABLE ROW LEVEL SECURITY;' in statements
    created = [line for line in statements if line.startswith("CREATE POLICY")]
    dropped = [line for line in statements if line.startswith("DROP POLICY IF EXISTS")]
    assert created and all("RESTRICTIVE" in line or "TO PUBLIC" in line for line in created)
    assert len(dropped) == 4 * 4
    environments = [line for line in created if "_environment" in line and "_all" not in line]
    assert environments and all("'^pr_[0-9]+$'" in line for line in environments)


def test_a_role_name_that_is_not_one_is_refused(
    sample: SampleProject, capsys: pytest.CaptureFixture[str]
) -> None:
    project = ["--project-dir", str(sample.project.project_dir)]
    assert main([*project, "state-guard", "--preview-role", "x; DROP", "--print"]) == 1
    assert "is not a Postgres role name" in capsys.readouterr().err
